// --torch_dtype (ms-swift's flag) → how weights are stored on a backend: float16 as IEEE half, bfloat16 as bfloat16
// (WebGPU packs either two to a u32 word: gpu/ops/half.ts; a bf16 checkpoint's values so stay exactly what they
// were). Arithmetic is f32 everywhere; only storage narrows.
import type { Half, Ops } from '../../core/ops.ts';

export const TORCH_DTYPES = ['float32', 'float16', 'bfloat16'] as const;
export type TorchDtype = typeof TORCH_DTYPES[number];

/** Whether `dtype` asks for 16-bit matrices, and a line saying what this backend stores (null for float32). */
export function weightStorage(dtype: TorchDtype | undefined, ops: Ops, what = 'weights'): { half: Half | false; note: string | null } {
  if (!dtype || dtype === 'float32') return { half: false, note: null };
  return { half: halfOf(dtype), note: `torch_dtype ${dtype}: ${what} stored as ${storedAs(dtype, ops)}; arithmetic in float32` };
}

/** The 16-bit storage a --torch_dtype names (false: float32). */
export const halfOf = (dtype: TorchDtype): Half | false => (dtype === 'float16' ? 'f16' : dtype === 'bfloat16' ? 'bf16' : false);

/** How a backend holds a 16-bit dtype, in words. */
export const storedAs = (dtype: 'float16' | 'bfloat16', ops: Ops) =>
  (ops.caps.f16Storage ? dtype : `float32 holding ${dtype}-rounded values (no 16-bit storage on ${ops.name})`);
