// Picks the compute backend and explains the choice: for inference (--device auto|webgpu|wasm) WebGPU when an adapter
// exists, else WASM; for training (sft --device) a hardware GPU, else WASM SIMD (measured faster than a CPU adapter
// such as lavapipe at every model size bench/train.ts runs). Every backend reports what it can do (Ops.caps);
// commands configure themselves from that report.
import { acquireGPU } from '../../runtime/webgpu.ts';
import { UserError } from '../../core/errors.ts';
import type { Ops } from '../../core/ops.ts';
import type { TrainOps } from '../../core/train-ops.ts';
import type { LlamaModel } from '../../models/llama.ts';
import { createWasmOps } from './wasm-ops.ts';
import { createWasmTrainOps } from './wasm-train-ops.ts';
import { defaultThreads } from './wasm-pool.ts';
import { createWebGpuOps } from '../../gpu/webgpu-ops.ts';
import { createWebGpuTrainOps } from '../../gpu/train-ops.ts';

export type DeviceChoice = 'auto' | 'webgpu' | 'wasm';

export interface SelectedBackend {
  ops: Ops;
  /** one line for stderr: which backend and why */
  reason: string;
}

/** How the WASM backend runs where it is chosen: threads (--threads; default: the physical cores, shared among
 *  the ranks of a distributed job on this host). */
export interface WasmChoice { threads?: number; ranksOnHost?: number }

/** --threads as given, else this host's physical cores divided among the job's ranks on it (at least 1). */
export async function wasmThreads(o: WasmChoice = {}): Promise<number> {
  return o.threads ?? Math.max(1, Math.floor((await defaultThreads()) / Math.max(1, o.ranksOnHost ?? 1)));
}

const wasmLine = (ops: Ops, why: string) => `device: wasm on ${ops.caps.device} (${why})`;

export async function selectBackend(device: DeviceChoice, wasmOpts: WasmChoice = {}): Promise<SelectedBackend> {
  const wasm = async (why: string) => {
    const ops = await createWasmOps({ threads: await wasmThreads(wasmOpts) });
    return { ops, reason: wasmLine(ops, why) };
  };
  if (device === 'wasm') return wasm('requested with --device wasm');
  const gpu = await acquireGPU();
  if (gpu.ok) {
    const why = device === 'webgpu' ? 'requested with --device webgpu' : 'auto: a WebGPU adapter is available';
    return { ops: await createWebGpuOps(gpu.gpu), reason: `device: webgpu on ${gpu.gpu.description} (${why})` };
  }
  if (device === 'webgpu') throw new UserError(`--device webgpu: ${gpu.reason}`);
  return wasm(`auto: ${gpu.reason}`);
}

/**
 * Whether WASM SIMD should train a model of this many parameters instead of a CPU WebGPU adapter (lavapipe,
 * SwiftShader): measured with bench/train.ts on one machine (see the report of issue 17), WASM was ahead at every
 * size run, stories260K to 42M, LoRA and full, since a CPU adapter emulates every storage load. The limit is memory:
 * wasm32 addresses 4 GiB, so a model whose f32 weights alone pass 3 GiB (gradients, activations and the optimizer
 * need the rest) stays on the adapter.
 */
export function wasmTrainsBetter(params: number): { wasm: boolean; why: string } {
  const gib = (params * 4) / 2 ** 30;
  return gib > 3 ? { wasm: false, why: `its f32 weights (${gib.toFixed(1)} GiB) do not fit WASM's 4 GiB memory` }
    : { wasm: true, why: 'WASM SIMD trains faster on the CPU' };
}

/** Parameters of a model (its weight elements). */
const paramCount = (m: LlamaModel) => [m.weights.embedTokens, m.weights.norm, m.weights.lmHead,
  ...m.weights.layers.flatMap((l) => Object.values(l))].reduce((n, a) => n + ((a as Float32Array | undefined)?.length ?? 0), 0);

/** The backend `webtune sft` trains on, with its `device:` line; model: what it trains (auto weighs its size). */
export async function selectTrainBackend(device: DeviceChoice = 'auto', model?: LlamaModel, wasmOpts: WasmChoice = {}): Promise<{ ops: TrainOps; reason: string }> {
  const wasm = async (why: string) => {
    const ops = await createWasmTrainOps({ threads: await wasmThreads(wasmOpts) });
    return { ops, reason: wasmLine(ops, why) };
  };
  if (device === 'wasm') return wasm('requested with --device wasm');
  const gpu = await acquireGPU();
  if (device === 'webgpu') {
    if (!gpu.ok) throw new UserError(`--device webgpu: ${gpu.reason}`);
    return { ops: await createWebGpuTrainOps(gpu.gpu), reason: `device: webgpu on ${gpu.gpu.description} (requested with --device webgpu)` };
  }
  if (!gpu.ok) return wasm(`auto: ${gpu.reason}`);
  const choice = gpu.gpu.isCpu ? wasmTrainsBetter(model ? paramCount(model) : 0) : null;
  if (choice?.wasm) return wasm(`auto: the WebGPU adapter runs on the CPU (${gpu.gpu.description}) and ${choice.why}; --device webgpu to use it anyway`);
  const why = choice ? `the adapter runs on the CPU, but ${choice.why}` : 'a GPU adapter is available';
  return { ops: await createWebGpuTrainOps(gpu.gpu), reason: `device: webgpu on ${gpu.gpu.description} (auto: ${why})` };
}
