// Picks the compute backend for --device auto|webgpu|wasm and explains the choice.
import { acquireGPU } from '../../runtime/webgpu.ts';
import { UserError } from '../../core/errors.ts';
import type { Ops } from '../../core/ops.ts';
import { createWasmOps } from './wasm-ops.ts';
import { createWebGpuOps } from '../../gpu/webgpu-ops.ts';

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
