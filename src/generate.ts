// Autoregressive generation over a LlamaRunner: the prompt in chunks of positions (one device submit per chunk),
// then sampled tokens one at a time, streamed as text that never splits a UTF-8 sequence.
import { LlamaRunner } from '../models/llama.ts';
import type { LoadedModel } from '../models/load.ts';
import type { Half, Ops } from '../core/ops.ts';
import { UserError } from '../core/errors.ts';
import { Sampler, type SamplingOptions } from './sampling.ts';

export interface GenerateOptions extends SamplingOptions {
  maxNewTokens: number;
  /** ids that end generation besides EOS/BOS (e.g. a chat template's end-of-turn token) */
  stopIds?: number[];
}

export interface GenerateEvent {
  /** the generated token id */
  id: number;
  /** text completed by this token (may be empty while a UTF-8 sequence is incomplete) */
  text: string;
}

export interface GenerateResult {
  ids: number[];
  text: string;
  promptTokens: number;
  /** why generation ended: 'length' (max_new_tokens or context), 'stop' (EOS/BOS) */
  finishReason: 'length' | 'stop';
}

/**
 * Encodes a prompt as llama2.c does (BOS, then for non-empty text the dummy-prefixed pieces) and checks that it
 * leaves room in the context for at least one generated token.
 */
export function encodePrompt(loaded: LoadedModel, prompt: string | number[], contextLength = loaded.model.config.maxPositionEmbeddings): number[] {
  // As Hugging Face's tokenizer(prompt) does: the post-processor's special tokens (BOS for llama2.c and Llama).
  // Ids (an already templated and tokenized prompt) are taken as they are.
  const ids = typeof prompt === 'string' ? loaded.tokenizer.encode(prompt, { addSpecialTokens: true }) : [...prompt];
  if (ids.length === 0) throw new UserError('--prompt is empty and this tokenizer adds no BOS token to start from');
  if (ids.length >= contextLength) {
    throw new UserError(`--prompt is ${ids.length} tokens; the model's context is ${contextLength}`);
  }
  return ids;
}

/** Prompt tokens per forward pass: up to 64, fewer for a large vocabulary (every row's logits are computed). */
function prefillChunk(context: number, vocab: number): number {
  return Math.max(1, Math.min(64, context, Math.floor((1 << 22) / vocab)));
}

export class Generator {
  private readonly runner: LlamaRunner;

  /** halfWeights: the model's matrices in 16-bit storage (LlamaRunner), for --torch_dtype float16/bfloat16 */
  constructor(readonly ops: Ops, readonly loaded: LoadedModel, opts: { halfWeights?: Half | false } = {}) {
    const c = loaded.model.config;
    this.runner = new LlamaRunner(ops, loaded.model, { maxTokens: prefillChunk(c.maxPositionEmbeddings, c.vocabSize), halfWeights: opts.halfWeights });
  }

  /** Token ids whose keys and values are in the KV cache at positions 0…n−1, from earlier calls. */
  private cached: number[] = [];

  /**
   * Runs the prompt through the model in chunks (one submit per chunk, not per token); the last row's logits.
   * A prefix already in the KV cache (the earlier turns of a chat, a shared system prompt) is not run again; the
   * last prompt token always is, for its logits.
   */
  private async prefill(ids: number[]): Promise<Float32Array> {
    const V = this.loaded.model.config.vocabSize, chunk = this.runner.maxTokens;
    let start = 0;
    const reusable = Math.min(this.cached.length, ids.length - 1);
    while (start < reusable && this.cached[start] === ids[start]) start++;
    this.cached.length = start;
    let logits: Float32Array = new Float32Array();
    for (let at = start; at < ids.length; at += chunk) {
      const part = ids.slice(at, at + chunk);
      logits = await this.runner.forward(part, part.map((_, j) => at + j));
      this.cached.push(...part);
      logits = logits.subarray((part.length - 1) * V, part.length * V);
    }
    return logits;
  }

  get contextLength(): number { return this.runner.maxSeq; }


  async *stream(prompt: string | number[], opts: GenerateOptions, result?: GenerateResult): AsyncGenerator<GenerateEvent> {
    const tok = this.loaded.tokenizer;
    const ids = encodePrompt(this.loaded, prompt, this.runner.maxSeq);
    const promptTokens = ids.length;
    const sampler = new Sampler(opts);
    const decoder = tok.streamDecoder();
    const out: number[] = [];
    let text = '';
    let finishReason: GenerateResult['finishReason'] = 'length';
    // The KV cache is overwritten position by position, so no reset is needed between calls.
    let logits = await this.prefill(ids);
    let prev = ids[ids.length - 1];
    while (out.length < opts.maxNewTokens && ids.length <= this.runner.maxSeq) {
      if (out.length > 0) {
        logits = await this.runner.forward([prev], [ids.length - 1]);
        this.cached.push(prev);
      }
      const next = sampler.sample(logits, ids);
      if (next === tok.eosId || next === tok.bosId || opts.stopIds?.includes(next)) { finishReason = 'stop'; break; }
      const piece = decoder.push(prev, next);
      ids.push(next);
      out.push(next);
      text += piece;
      prev = next;
      yield { id: next, text: piece };
    }
    const tail = decoder.flush();
    if (tail) { text += tail; yield { id: -1, text: tail }; }
    if (result) Object.assign(result, { ids: out, text, promptTokens, finishReason });
  }

  async generate(prompt: string | number[], opts: GenerateOptions): Promise<GenerateResult> {
    const result = {} as GenerateResult;
    for await (const _ of this.stream(prompt, opts, result)) { /* drain */ }
    return result;
  }
}
