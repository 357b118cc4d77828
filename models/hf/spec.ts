// What a Hugging Face tokenizer is made of once tokenizer.json (+ tokenizer_config.json) has been validated: the
// packed BPE model and the small configuration objects. tokenizer-json.ts builds it, compact.ts caches it.
import type { PackedBpe } from './bpe-pack.ts';

// Added-token flags, as asm/tokenizer/hf/added.ts reads them.
export const A_LSTRIP = 1, A_RSTRIP = 2, A_SINGLE_WORD = 4, A_NORMALIZED = 8, A_SPECIAL = 16;
export interface AddedSpec { id: number; content: string; flags: number }

export interface HfSpec {
  name: string;
  model: PackedBpe;
  byteLevel: boolean;
  added: AddedSpec[];
  normalizer: unknown;
  preTokenizer: unknown;
  postProcessor: unknown;
  decoder: unknown;
  bosToken?: string;
  eosToken?: string;
  padToken?: string;
  unkToken?: string;
  /** Extra special token contents from tokenizer_config.json (skip_special_tokens drops them too). */
  additionalSpecial: string[];
  cleanUpSpaces: boolean;
}

