// Entry of the edge bundle (dist/edge/worker.mjs): a module Worker serving generation from the WASM
// backend. The .wasm files and the model are module imports: edge runtimes such as workerd refuse to
// compile WebAssembly at run time and have no file system.
//   GET /?prompt=TEXT&max_new_tokens=N&temperature=T[&top_k=K&top_p=P&seed=S]  →  the continuation as text
import kernels from '../build/kernels.wasm';
import tokenizer from '../build/tokenizer.wasm';
// Bound by the deployment (workerd config: data modules named model.bin and tokenizer.bin).
// @ts-ignore: provided by the worker's module table, not by this repository
import modelBin from './model.bin';
// @ts-ignore: likewise
import tokenizerBin from './tokenizer.bin';
import { registerWasm } from '../runtime/wasm.ts';
import { loadModelFromBytes } from '../models/load.ts';
import { createWasmOps } from './backend/wasm-ops.ts';
import { Generator } from './generate.ts';
import { UserError } from './errors.ts';

registerWasm('kernels', kernels as unknown as WebAssembly.Module);
registerWasm('tokenizer', tokenizer as unknown as WebAssembly.Module);

let generator: Promise<Generator> | undefined;
const getGenerator = () => (generator ??= (async () => {
  const loaded = await loadModelFromBytes(new Uint8Array(modelBin as ArrayBuffer), new Uint8Array(tokenizerBin as ArrayBuffer),
    { modelFile: 'model.bin', tokenizerFile: 'tokenizer.bin' });
  return new Generator(await createWasmOps(), loaded);
})());

// One generation at a time: the model's KV cache is shared.
let queue: Promise<unknown> = Promise.resolve();

function numberParam(url: URL, name: string, fallback: number, min: number, max: number): number {
  const raw = url.searchParams.get(name);
  if (raw === null) return fallback;
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n) || n < min || n > max) throw new RangeError(`${name} must be a number in [${min}, ${max}]`);
  return n;
}

export default {
  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === '/health') return new Response('ok\n');
    let opts;
    try {
      opts = {
        maxNewTokens: numberParam(url, 'max_new_tokens', 256, 0, 1 << 20),
        temperature: numberParam(url, 'temperature', 1, 0, 100),
        topK: numberParam(url, 'top_k', 0, 0, 1 << 30),
        topP: numberParam(url, 'top_p', 0.9, 0, 1),
        seed: url.searchParams.has('seed') ? numberParam(url, 'seed', 0, 0, 2 ** 53) : undefined,
      };
    } catch (e) {
      return new Response(`${(e as Error).message}\n`, { status: 400 });
    }
    const prompt = url.searchParams.get('prompt') ?? '';
    const run = queue.then(async () => (await getGenerator()).generate(prompt, opts));
    queue = run.catch(() => undefined);
    try {
      const result = await run;
      return new Response(result.text, { headers: { 'content-type': 'text/plain; charset=utf-8' } });
    } catch (e) {
      return new Response(`${(e as Error).message}\n`, { status: e instanceof UserError ? 400 : 500 });
    }
  },
};
