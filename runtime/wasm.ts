// Loads webtune's WebAssembly modules (built from asm/ into build/NAME.wasm) on every runtime.
// Bundles register the module bytes (Node/Deno: embedded by esbuild) or a precompiled
// WebAssembly.Module (edge workers import .wasm as modules and forbid runtime compilation).
// Unbundled code (tests, tsx) falls back to reading build/NAME.wasm from the repository.
export type WasmName = 'kernels' | 'kernels-threads' | 'tokenizer' | 'collate';
export type WasmSource = Uint8Array | WebAssembly.Module;

import { host } from './platform.ts';

const sources = new Map<WasmName, WasmSource>();
const modules = new Map<WasmName, Promise<WebAssembly.Module>>();

export function registerWasm(name: WasmName, source: WasmSource): void {
  sources.set(name, source);
  modules.delete(name);
}

function compile(name: WasmName): Promise<WebAssembly.Module> {
  let m = modules.get(name);
  if (!m) {
    m = (async () => {
      const src = sources.get(name) ?? await host.readBuiltWasm(name);
      return src instanceof WebAssembly.Module ? src : WebAssembly.compile(src as BufferSource);
    })();
    modules.set(name, m);
  }
  return m;
}

/** The compiled module (compiled once; a worker pool instantiates it again on each thread). */
export const wasmModule = (name: WasmName): Promise<WebAssembly.Module> => compile(name);

/** A fresh instance (own memory) of a webtune wasm module. AssemblyScript's abort is wired to a JS error. */
export async function instantiateWasm(name: WasmName, extraImports: WebAssembly.Imports = {}): Promise<WebAssembly.Instance> {
  const module = await compile(name);
  let memory: WebAssembly.Memory | undefined;
  const imports: WebAssembly.Imports = {
    ...extraImports,
    env: {
      abort(msg: number, file: number, line: number, col: number) {
        throw new Error(`webtune ${name}.wasm aborted at ${readAsString(memory, file)}:${line}:${col}: ${readAsString(memory, msg)}`);
      },
      ...(extraImports.env ?? {}),
    },
  };
  const instance = await WebAssembly.instantiate(module, imports);
  memory = instance.exports.memory as WebAssembly.Memory;
  return instance;
}

/** Decode an AssemblyScript string (UTF-16, length in the header 4 bytes before the pointer). */
function readAsString(memory: WebAssembly.Memory | undefined, ptr: number): string {
  if (!memory || !ptr) return '';
  const len = new Uint32Array(memory.buffer, ptr - 4, 1)[0] >>> 1;
  return String.fromCharCode(...new Uint16Array(memory.buffer, ptr, len));
}
