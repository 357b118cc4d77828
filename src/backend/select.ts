// Picks the compute backend and explains the choice: for inference (--device auto|webgpu|wasm) WebGPU when an adapter
// exists, else WASM; for training WebGPU, else the reference kernels (WASM has no training kernels yet). Every backend
// reports what it can do (Ops.caps); commands configure themselves from that report.
import { acquireGPU } from '../../runtime/webgpu.ts';
import { UserError } from '../../core/errors.ts';
import type { Ops } from '../../core/ops.ts';
import type { TrainOps } from '../../core/train-ops.ts';
import { createWasmOps } from './wasm-ops.ts';
import { ReferenceTrainOps } from './reference-train-ops.ts';
import { createWebGpuOps } from '../../gpu/webgpu-ops.ts';
import { createWebGpuTrainOps } from '../../gpu/train-ops.ts';

export type DeviceChoice = 'auto' | 'webgpu' | 'wasm';

export interface SelectedBackend {
  ops: Ops;
  /** one line for stderr: which backend and why */
  reason: string;
}

export async function selectBackend(device: DeviceChoice): Promise<SelectedBackend> {
  if (device === 'wasm') return { ops: await createWasmOps(), reason: 'device: wasm (requested with --device wasm)' };
  const gpu = await acquireGPU();
  if (gpu.ok) {
    const why = device === 'webgpu' ? 'requested with --device webgpu' : 'auto: a WebGPU adapter is available';
    return { ops: await createWebGpuOps(gpu.gpu), reason: `device: webgpu on ${gpu.gpu.description} (${why})` };
  }
  if (device === 'webgpu') throw new UserError(`--device webgpu: ${gpu.reason}`);
  return { ops: await createWasmOps(), reason: `device: wasm (auto: ${gpu.reason})` };
}

/** The backend `webtune sft` trains on, with its `device:` line. */
export async function selectTrainBackend(): Promise<{ ops: TrainOps; reason: string }> {
  const gpu = await acquireGPU();
  if (gpu.ok) return { ops: await createWebGpuTrainOps(gpu.gpu), reason: `device: webgpu on ${gpu.gpu.description}` };
  return { ops: new ReferenceTrainOps(), reason: `device: reference CPU kernels (slow; ${gpu.reason})` };
}
