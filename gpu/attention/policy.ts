// Which attention kernel a device runs, as one policy over a device profile and the phase's shape, instead of
// if-chains inside each op. GPUs take the tiled (workgroup) kernels. CPU adapters (profile kind 'cpu':
// lavapipe, SwiftShader) take kernels without barriers for training: the subgroup-broadcast ones where the adapter
// has subgroups of one fixed size, else the blocked ones, and the serial ones where the head dim is not whole vec4s.
// Decode keeps the tiled kernel everywhere, as before the generator: its row-wise variants exist but are not yet
// measured against it. Table-tested without a GPU (test/attention-policy.test.ts).
import type { DeviceProfile } from '../gemm/policy.ts';
import { attentionRowsPerLane, type AttentionPhase, type AttentionPlan } from './kernel.ts';

/** What the choice depends on about the device: gemm/policy.ts's profile and the tiled kernel's workgroup size. */
export interface AttentionDevice extends Pick<DeviceProfile, 'kind' | 'subgroupSize'> {
  /** invocations per workgroup of the tiled kernels (KernelConfig.attentionWG) */
  workgroup: number;
}

export function chooseAttention(d: AttentionDevice, s: { phase: Exclude<AttentionPhase, 'stats'>; headDim: number }): AttentionPlan {
  const plan = (strategy: AttentionPlan['strategy'], lanes = 1, rows = 1): AttentionPlan => ({ strategy, lanes, rows, wg: d.workgroup });
  if (d.kind === 'gpu' || s.phase === 'decode') return plan('tiled');
  if (s.headDim % 4) return plan('serial');
  if (d.subgroupSize > 1) return plan('subgroup', d.subgroupSize, attentionRowsPerLane(s.headDim, d.subgroupSize));
  return plan('blocked', 1, attentionRowsPerLane(s.headDim, 1));
}
