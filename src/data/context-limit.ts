// --max_length against the model's context (max_position_embeddings). As ms-swift, the default is the model's
// context; a longer --max_length is refused unless --ignore_context_limit is given. ms-swift has no such flag (it
// stretches the context with --rope_scaling instead, which webtune does not offer for training): RoPE computes any
// position, so training past the context runs, but the model has never seen those positions and `infer` stops at
// the context, so going past it must be asked for by name.
import { UserError } from '../../core/errors.ts';

/** What a model directory says about the data: its context and vocabulary size, when it says. */
export interface ModelLimits { context?: number; vocabSize?: number }

export interface ResolvedLength {
  maxLength?: number;
  /** Set when maxLength is the default rather than the user's. */
  defaultFrom?: string;
  /** Set when the user went past the context with --ignore_context_limit. */
  warning?: string;
}

export function resolveMaxLength(o: { maxLength?: number; context?: number; ignoreContextLimit?: boolean; model: string }): ResolvedLength {
  const { maxLength, context } = o;
  if (context === undefined) return { maxLength };
  if (maxLength === undefined) return { maxLength: context, defaultFrom: "the model's context, max_position_embeddings" };
  if (maxLength <= context) return { maxLength };
  if (!o.ignoreContextLimit) {
    throw new UserError(`--max_length ${maxLength} is over the context of --model ${o.model} (max_position_embeddings ${context}): ` +
      `lower --max_length to ${context} or less, or pass --ignore_context_limit to train on longer sequences anyway`);
  }
  return { maxLength, warning: `--max_length ${maxLength} is over the model's context of ${context} tokens (--ignore_context_limit): ` +
    `positions ${context} and up were never trained (RoPE runs there, quality may not), and infer still stops at ${context} tokens` };
}
