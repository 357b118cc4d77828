// Test data for hf-pipeline.test.ts: dataset text, adversarial alphabets and a seeded random string generator.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

const DATA = resolve('../shared/datasets');

/** Every string value (at least 2 chars) in the llamafactory and ms-swift demo datasets, up to maxChars in all. */
export function corpusTexts(maxChars: number): string[] {
  const files = ['llamafactory/alpaca_en_demo.json', 'llamafactory/alpaca_zh_demo.json', 'llamafactory/glaive_toolcall_en_demo.json',
    'llamafactory/identity.json', 'ms-swift/self_cognition.jsonl', 'ms-swift/format-chatml.jsonl', 'ms-swift/format-sharegpt.jsonl'];
  const perFile: string[][] = files.map((f) => {
    const text = readFileSync(resolve(DATA, f), 'utf8');
    const docs = f.endsWith('.jsonl') ? text.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l)) : JSON.parse(text);
    const out: string[] = [];
    const walk = (x: unknown): void => {
      if (typeof x === 'string') { if (x.length > 1) out.push(x); } else if (x && typeof x === 'object') Object.values(x).forEach(walk);
    };
    walk(docs);
    return out;
  });
  // round-robin over the files so every source is represented within the budget
  const texts: string[] = [];
  let total = 0;
  for (let i = 0; total < maxChars && perFile.some((l) => i < l.length); i++) {
    for (const l of perFile) if (i < l.length && total < maxChars) { texts.push(l[i]); total += l[i].length; }
  }
  return texts;
}

/** Seeded PRNG (xorshift32) for reproducible random strings. */
export function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s / 0x100000000; };
}

/** Strings built from `atoms`: n strings of 0..maxAtoms atoms each. */
export function randomStrings(atoms: readonly string[], n: number, maxAtoms: number, seed: number): string[] {
  const r = rng(seed);
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    let s = '';
    const k = Math.floor(r() * (maxAtoms + 1));
    for (let j = 0; j < k; j++) s += atoms[Math.floor(r() * atoms.length)];
    out.push(s);
  }
  return out;
}

/** Atoms for pre-tokenizer tests: every class boundary the patterns care about. */
export const SPLIT_ATOMS: readonly string[] = [
  ' ', ' ', '  ', '\t', '\n', '\r', '\r\n', '\n\n', '\u00a0', '\u0085', '\ufeff', '\u3000', '\u2028', '\u000b', '\u000c', '\u001c',
  'a', 'Z', 'hello', 'World', 'é', 'ß', 'Σ', '中文', 'あ', 'カタカナ', '한국어', 'مرحبا', 'नमस्ते', 'ि', '\u0301', '\u200d',
  '👍', '👨‍👩‍👧', '🇺🇸', '🏽', '0', '7', '12345', '٣', '²', 'Ⅻ', '①', '.', ',', '!', '?', '"', "'", '-', '_', '(', ')', '{', '}',
  '，', '。', '「', '$', '+', '©', '€', "'s", "'S", "'t", "'re", "'RE", "'ve", "'Ve", "'ll", "'LL", "'d", "'D", "'m", "'M", "'x",
  '\ud800', '\udc00', '\u0000', 'def f(x):\n    return x', '▁', '_▁', 'ſ',
];

/** Atoms for normalizer tests: combining sequences, Hangul, compatibility characters, casing specials. */
export const NORM_ATOMS: readonly string[] = [
  'a', 'e', 'A', 'o', 'u', 'i', ' ', '\u0301', '\u0300', '\u0308', '\u0323', '\u0327', '\u0345', '\u031b', '\u0334', '\u05b0', '\u0651',
  '\u0f71', '\u0f72', '\u0f73', '\u0344', '\u0340', '\u093c', 'क', '\u09be', '\u09c7', '\u0bc6', '\u0bbe', '\u0b92', '\u0bd7',
  'é', 'Å', 'Å', 'ḉ', 'ṩ', 'ệ', 'ǖ', 'Ω', 'K', '가', '각', '\u1100', '\u1161', '\u11a8', '\u3131', 'ﬁ', 'ﬀ', '①', '㍿', 'Ａ', '１',
  '！', '｡', 'ｶ', '\u00a0', '²', '½', 'ℌ', '𝐀', '\u2126', '\u212b', 'Σ', 'ς', 'σ', 'İ', 'I', 'ı', 'ẞ', 'ǅ', 'ΐ', '\u00ad', "'", '.',
  ':', '\u200d', '\ufeff', '\u3099', 'か', 'が', '\u0955', '中', '𠀀', '\ud800', '😀', '\u1e9b', '\u0387', '\u037e', '\u2000',
];
