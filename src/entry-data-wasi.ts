// Entry of a bundle's prepare-data.mjs (copied into every bundle beside data.wasm): runs the bundle's WASI data stage
// under Node's node:wasi, writing OUT/data/train.shard (and val.shard), byte for byte the shards `webtune bundle`
// wrote. Any other WASI host runs data.wasm the same way:  wasmtime run --dir JOB::/job --dir OUT::/out data.wasm /job /out
//   node JOB/prepare-data.mjs [OUT]        (OUT: default the bundle itself)
// node:wasi is what this entry is for, so it imports it directly (like the CLI's entries).
import { WASI } from 'node:wasi';
import { UserError } from '../core/errors.ts';
import { argv, exit, fileSystem, readFile, readText, resolvePath, stat, writeStderr } from '../runtime/platform.ts';
import { JOB_FILE, parseManifest, verifyFiles } from './bundle/job.ts';

const root = decodeURIComponent(new URL('.', import.meta.url).pathname).replace(/\/$/, '');

/**
 * The host functions behind plain JS functions. Node 20's node:wasi functions imported by the module directly crash
 * the process (SIGSEGV after the module's last call, about one run in two on a tokenizer.json job) where the same
 * functions called through JS never did (0 of 16 runs): wasm→C++ fast calls, by the look of it.
 */
function jsCalled(imports: WebAssembly.Imports): WebAssembly.Imports {
  return Object.fromEntries(Object.entries(imports).map(([mod, fns]) => [mod, Object.fromEntries(Object.entries(fns)
    .map(([name, f]) => [name, typeof f === 'function' ? (...a: unknown[]) => (f as (...x: unknown[]) => unknown)(...a) : f]))]));
}

async function run(args: string[]): Promise<number> {
  if (args.length > 1 || args[0]?.startsWith('-')) throw new UserError('usage: prepare-data.mjs [OUT] (where data/*.shard go; default: the bundle)');
  const out = resolvePath(args[0] ?? root);
  const m = parseManifest(await readText(`${root}/${JOB_FILE}`), `${root}/${JOB_FILE}`);
  if (!m.data.wasi) throw new UserError(`${root}/${JOB_FILE}: this bundle has no WASI data stage (its tokenizer is not a llama2.c one)`);
  // a tampered data.wasm, input or tokenizer is refused before it runs, as train.mjs refuses any altered file
  await verifyFiles(m, async (rel) => ((await stat(`${root}/${rel}`))?.isFile ? readFile(`${root}/${rel}`) : undefined), root);
  await fileSystem().mkdir(out, { recursive: true });
  const wasi = new WASI({ version: 'preview1', args: ['data.wasm', '/job', '/out'], env: {}, preopens: { '/job': root, '/out': out }, returnOnExit: true });
  const module = await WebAssembly.compile(await readFile(`${root}/${m.data.wasi.module}`) as BufferSource);
  const instance = await WebAssembly.instantiate(module, jsCalled(wasi.getImportObject() as WebAssembly.Imports));
  return wasi.start(instance);
}

let code = 0;
try {
  code = await run(argv());
} catch (e) {
  writeStderr(`prepare-data: error: ${((e as Error)?.message ?? String(e)).split('\n')[0]}\n`);
  code = 1;
}
await exit(code);
