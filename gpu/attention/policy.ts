// Which attention kernel a device runs, as one policy over a device profile and the phase's shape, instead of
// if-chains inside each op. GPUs take the flash kernels for training (the tiled ones where a head is too large to
// stage in the device's workgroup storage). CPU adapters (profile kind 'cpu':
// lavapipe, SwiftShader) take kernels without barriers for training: the subgroup-broadcast ones where the adapter
// has subgroups of one fixed size, else the blocked ones, and the serial ones where the head dim is not whole vec4s.
// Decode keeps the tiled kernel everywhere, as before the generator: its row-wise variants exist but are not yet
// measured against it. Table-tested without a GPU (test/attention-policy.test.ts).
import type { DeviceProfile } from '../gemm/policy.ts';
import { attentionRowsPerLane, flashBytes, flashTile, type AttentionPhase, type AttentionPlan } from './kernel.ts';

/** What the choice depends on about the device: gemm/policy.ts's profile and the tiled kernel's workgroup size. */
export interface AttentionDevice extends Pick<DeviceProfile, 'kind' | 'subgroupSize'> {
  /** invocations per workgroup of the tiled and flash kernels (KernelConfig.attentionWG) */
  workgroup: number;
  /** the device's maxComputeWorkgroupStorageSize (flash kernels stage tiles in it) */
  sharedBytes: number;
  /** flash: rows staged per tile instead of the most that fit (KernelConfig.attentionTile); 0: no flash kernels */
  tile?: number;
}

export function chooseAttention(d: AttentionDevice, s: { phase: Exclude<AttentionPhase, 'stats'>; headDim: number }): AttentionPlan {
  const plan = (strategy: AttentionPlan['strategy'], lanes = 1, rows = 1, tile = 0): AttentionPlan => ({ strategy, lanes, rows, wg: d.workgroup, tile });
  const tile = d.tile ?? flashTile(s.headDim, d.sharedBytes);
  if (flashBytes(s.headDim, tile) > d.sharedBytes) {
    throw new Error(`webgpu: a flash attention tile of ${tile} rows of head dim ${s.headDim} needs ${flashBytes(s.headDim, tile)} bytes of workgroup storage, over this device's ${d.sharedBytes}`);
  }
  if (d.kind === 'gpu' && s.phase !== 'decode' && tile) return plan('flash', 1, 1, tile);
  if (d.kind === 'gpu' || s.phase === 'decode') return plan('tiled');
  if (s.headDim % 4) return plan('serial');
  if (d.subgroupSize > 1) return plan('subgroup', d.subgroupSize, attentionRowsPerLane(s.headDim, d.subgroupSize));
  return plan('blocked', 1, attentionRowsPerLane(s.headDim, 1));
}
