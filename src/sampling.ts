// Next-token selection, in the order Hugging Face's generate applies its logits processors:
// repetition penalty → temperature → top-k → top-p → sample. Temperature 0 is greedy argmax.

import { Rng } from '../core/rng.ts';

export { Rng };

export interface SamplingOptions {
  temperature: number;
  topK?: number; // 0 or undefined: off
  topP?: number; // 1 or undefined: off
  repetitionPenalty?: number; // 1 or undefined: off
  seed?: number;
}


export function argmax(logits: Float32Array): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  return best;
}

/** HF's RepetitionPenaltyLogitsProcessor: seen tokens' positive logits are divided, negative multiplied. */
export function applyRepetitionPenalty(logits: Float32Array, seen: Iterable<number>, penalty: number): void {
  if (penalty === 1) return;
  for (const id of new Set(seen)) logits[id] = logits[id] > 0 ? logits[id] / penalty : logits[id] * penalty;
}

export class Sampler {
  private readonly rng: Rng;
  constructor(private readonly opts: SamplingOptions) {
    this.rng = new Rng(opts.seed ?? Date.now());
  }

  /** Picks the next token. `logits` is modified in place. `history` holds the ids so far (prompt included). */
  sample(logits: Float32Array, history: readonly number[]): number {
    const { temperature, topK = 0, topP = 1, repetitionPenalty = 1 } = this.opts;
    applyRepetitionPenalty(logits, history, repetitionPenalty);
    if (temperature === 0) return argmax(logits);
    // candidates sorted by logit, descending; top-k cuts the list
    let ids = Array.from(logits.keys()).sort((a, b) => logits[b] - logits[a]);
    if (topK > 0 && topK < ids.length) ids = ids.slice(0, topK);
    const max = logits[ids[0]];
    const probs = ids.map((id) => Math.exp((logits[id] - max) / temperature));
    const total = probs.reduce((a, b) => a + b, 0);
    for (let i = 0; i < probs.length; i++) probs[i] /= total;
    // top-p keeps the smallest prefix whose mass reaches topP (always at least one token)
    let keep = probs.length;
    if (topP < 1) {
      let mass = 0;
      for (let i = 0; i < probs.length; i++) {
        mass += probs[i];
        if (mass >= topP) { keep = i + 1; break; }
      }
    }
    const kept = probs.slice(0, keep);
    const keptMass = kept.reduce((a, b) => a + b, 0);
    let r = this.rng.nextFloat() * keptMass;
    for (let i = 0; i < keep; i++) {
      r -= kept[i];
      if (r < 0) return ids[i];
    }
    return ids[keep - 1];
  }
}
