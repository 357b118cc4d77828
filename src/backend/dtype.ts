// --torch_dtype (ms-swift's flag) → how weights are stored on a backend. WGSL has no bfloat16, so bfloat16 is held as
// float16 (same 16 bits of storage, fewer exponent bits: values past float16's range would saturate; checkpoint
// weights sit far inside it). Arithmetic is f32 everywhere; only storage narrows.
import type { Ops } from '../../core/ops.ts';

export const TORCH_DTYPES = ['float32', 'float16', 'bfloat16'] as const;
export type TorchDtype = typeof TORCH_DTYPES[number];

/** Whether `dtype` asks for 16-bit matrices, and a line saying what this backend stores (null for float32). */
export function weightStorage(dtype: TorchDtype | undefined, ops: Ops, what = 'weights'): { half: boolean; note: string | null } {
  if (!dtype || dtype === 'float32') return { half: false, note: null };
  const f16 = ops.caps.f16Storage;
  return {
    half: true,
    note: `torch_dtype ${dtype}: ${what} stored as ${f16 ? 'float16' : `float32 holding float16-rounded values (no 16-bit storage on ${ops.name})`}` +
      `${dtype === 'bfloat16' ? ' (WebGPU has no bfloat16)' : ''}; arithmetic in float32`,
  };
}
