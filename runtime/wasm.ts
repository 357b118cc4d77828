// Loads webtune's WebAssembly modules (built from asm/ into build/NAME.wasm) on every runtime.
// Bundles register the module bytes (Node/Deno: embedded by esbuild) or a precompiled
// WebAssembly.Module (edge workers import .wasm as modules and forbid runtime compilation).
// Unbundled code (tests, tsx) falls back to reading build/NAME.wasm from the repository.
export type WasmName = 'kernels' | 'kernels-threads' | 'kernels-relaxed' | 'kernels-threads-relaxed' | 'tokenizer' | 'collate';
export type WasmSource = Uint8Array | WebAssembly.Module;

import { UserError } from '../core/errors.ts';
import { getEnv, host } from './platform.ts';

const sources = new Map<WasmName, WasmSource>();
const modules = new Map<WasmName, Promise<WebAssembly.Module>>();

export function registerWasm(name: WasmName, source: WasmSource): void {
  sources.set(name, source);
  modules.delete(name);
}

// The kernels are also built with relaxed SIMD (fused multiply-add: asm/kernels/simd.ts). Asking for `kernels` gets
// that build wherever the runtime validates it (V8 ≥ 11.4; Node 20 after enableRelaxedSimd), unless
// WEBTUNE_WASM_RELAXED=0; edge bundles register only the plain build.
const RELAXED: Partial<Record<WasmName, WasmName>> = { kernels: 'kernels-relaxed', 'kernels-threads': 'kernels-threads-relaxed' };
let relaxedInUse = false;
/** whether the kernels compiled so far are the relaxed-SIMD build */
export const kernelsRelaxed = (): boolean => relaxedInUse;

const sourceOf = async (name: WasmName): Promise<WasmSource> => sources.get(name) ?? await host.readBuiltWasm(name);

async function relaxedBuild(name: WasmName): Promise<WasmSource | null> {
  const alt = RELAXED[name], want = getEnv('WEBTUNE_WASM_RELAXED');
  if (!alt) return null;
  if (want !== undefined && want !== '' && want !== '0' && want !== '1') {
    throw new UserError(`WEBTUNE_WASM_RELAXED=${want}: expected 0 (plain SIMD kernels) or 1 (relaxed SIMD where the runtime has it, the default)`);
  }
  if (want === '0') return null;
  const src = await sourceOf(alt).catch(() => null);
  if (!src || src instanceof WebAssembly.Module) return src;
  if (!WebAssembly.validate(src as BufferSource)) {
    await host.enableRelaxedSimd?.();
    if (!WebAssembly.validate(src as BufferSource)) return null;
  }
  return src;
}

function compile(name: WasmName): Promise<WebAssembly.Module> {
  let m = modules.get(name);
  if (!m) {
    m = (async () => {
      const relaxed = await relaxedBuild(name);
      if (relaxed) relaxedInUse = true;
      const src = relaxed ?? await sourceOf(name);
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
