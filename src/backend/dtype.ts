// --torch_dtype (ms-swift's flag) → how weights are stored on a backend: float16 as IEEE half, bfloat16 as bfloat16
// (WebGPU packs either two to a u32 word: gpu/ops/half.ts; a bf16 checkpoint's values so stay exactly what they
// were). Arithmetic is f32 everywhere; only storage narrows.
import type { Half, Ops } from '../../core/ops.ts';
import type { LlamaModel } from '../../models/llama.ts';

export const TORCH_DTYPES = ['float32', 'float16', 'bfloat16'] as const;
export type TorchDtype = typeof TORCH_DTYPES[number];

/** A dtype and where it came from (the flag, a run's args.json, the model's config.json), for the log line. */
export interface DtypeChoice { dtype: TorchDtype; from: string }

/**
 * --torch_dtype as ms-swift settles it: the flag; else the training run's (args.json, for `infer --adapters`, as
 * ms-swift's load_args); else the model's config.json `torch_dtype` (`dtype` where newer transformers wrote that);
 * else float32 (a llama2.c checkpoint, or a config naming none or another type).
 */
export function resolveTorchDtype(flag: TorchDtype | undefined, model: LlamaModel, run?: TorchDtype): DtypeChoice {
  if (flag) return { dtype: flag, from: '--torch_dtype' };
  if (run) return { dtype: run, from: 'the run\'s args.json' };
  const json = model.configJson ?? {}, value = json.torch_dtype ?? json.dtype;
  return TORCH_DTYPES.includes(value as TorchDtype)
    ? { dtype: value as TorchDtype, from: `config.json's ${'torch_dtype' in json ? 'torch_dtype' : 'dtype'}` }
    : { dtype: 'float32', from: 'default' };
}

/** "torch_dtype bfloat16", naming its source unless the user typed it. */
export const dtypeLabel = (c: DtypeChoice) => `torch_dtype ${c.dtype}${c.from === '--torch_dtype' ? '' : ` (${c.from})`}`;

/** Whether `dtype` asks for 16-bit matrices, and a line saying what this backend stores (null for float32). */
export function weightStorage(choice: DtypeChoice, ops: Ops, what = 'weights'): { half: Half | false; note: string | null } {
  const { dtype } = choice;
  if (dtype === 'float32') return { half: false, note: null };
  return { half: halfOf(dtype), note: `${dtypeLabel(choice)}: ${what} stored as ${storedAs(dtype, ops)}; arithmetic in float32` };
}

/** The 16-bit storage a --torch_dtype names (false: float32). */
export const halfOf = (dtype: TorchDtype): Half | false => (dtype === 'float16' ? 'f16' : dtype === 'bfloat16' ? 'bf16' : false);

/** How a backend holds a 16-bit dtype, in words. */
export const storedAs = (dtype: 'float16' | 'bfloat16', ops: Ops) =>
  (ops.caps.f16Storage ? dtype : `float32 holding ${dtype}-rounded values (no 16-bit storage on ${ops.name})`);
