// The browser host, which scripts/build.mjs puts in place of runtime/node-host.ts in dist/browser/webtune.mjs: files
// in a MemoryFs, hashing with WebCrypto, deflate with CompressionStream. No node: module is imported here.
import type { Host } from './host-api.ts';
import { MemoryFs } from './memory-fs.ts';

async function concat(chunks: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of chunks) parts.push(c);
  return new Uint8Array(await new Blob(parts as BlobPart[]).arrayBuffer());
}

export const host: Host = {
  fs: new MemoryFs(),
  cwd: () => '/',
  hostname: async () => globalThis.location?.hostname || 'browser',
  async deflate(data) {
    const stream = new Blob([data as BlobPart]).stream().pipeThrough(new CompressionStream('deflate'));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  },
  async hash(algo, chunks) {
    // WebCrypto digests whole buffers only; files hashed in a page are in memory anyway
    const digest = await crypto.subtle.digest(algo === 'sha256' ? 'SHA-256' : 'SHA-1', await concat(chunks) as BufferSource);
    return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
  },
  filterNativeStderr: async (fn) => fn(),
  async readBuiltWasm(name) { throw new Error(`webtune: ${name}.wasm is not registered (the browser bundle embeds it)`); },
  async openLineReader() { throw new Error('a browser page has no standard input to read lines from'); },
};
