// The browser host, which scripts/build.mjs puts in place of runtime/node-host.ts in dist/browser/webtune.mjs: files
// in a MemoryFs, hashing with WebCrypto (@noble/hashes outside secure contexts), deflate with CompressionStream. No node: module is imported here.
import type { Host } from './host-api.ts';
import { sha256 } from '@noble/hashes/sha2.js';
import { sha1 } from '@noble/hashes/legacy.js';
import { MemoryFs } from './memory-fs.ts';
import { startWebWorker } from './web-worker.ts';

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
    // WebCrypto digests whole buffers only (files hashed in a page are in memory anyway), and only in secure contexts:
    // a page served over plain http from another host (python3 -m http.server on a LAN) hashes with @noble/hashes
    const data = await concat(chunks), subtle = globalThis.crypto?.subtle;
    const digest = subtle ? new Uint8Array(await subtle.digest(algo === 'sha256' ? 'SHA-256' : 'SHA-1', data as BufferSource))
      : (algo === 'sha256' ? sha256 : sha1)(data);
    return [...digest].map((b) => b.toString(16).padStart(2, '0')).join('');
  },
  filterNativeStderr: async (fn) => fn(),
  async readBuiltWasm(name) { throw new Error(`webtune: ${name}.wasm is not registered (the browser bundle embeds it)`); },
  async openLineReader() { throw new Error('a browser page has no standard input to read lines from'); },
  cpuCount: async () => globalThis.navigator?.hardwareConcurrency || 1,  // logical: a page cannot see cores
  startWorker: async (source) => startWebWorker(source),
};
