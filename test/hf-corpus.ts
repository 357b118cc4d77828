// A varied text corpus for tokenizer comparisons (test/hf-tokenizer.test.ts) and the encode benchmark
// (bench/tokenize.ts): every string of the shared SFT datasets, cut into lines and random slices, plus generated
// adversarial cases (scripts, combining marks, emoji sequences, code, digit runs, whitespace runs, special-token
// strings inside text, lone surrogates). Deterministic: the same seed gives the same corpus.
import { readFileSync, readdirSync } from 'node:fs';
import { resolve } from 'node:path';

export const DATASETS = resolve('../shared/datasets');

export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function strings(v: unknown, out: string[]): void {
  if (typeof v === 'string') { if (v) out.push(v); } else if (Array.isArray(v)) v.forEach((x) => strings(x, out));
  else if (v && typeof v === 'object') Object.values(v).forEach((x) => strings(x, out));
}

/** Every string value in the shared datasets (JSON and JSON Lines files), in file order. */
export function datasetStrings(): string[] {
  const out: string[] = [];
  for (const sub of ['llamafactory', 'ms-swift']) {
    const dir = resolve(DATASETS, sub);
    for (const f of readdirSync(dir).sort()) {
      const text = readFileSync(resolve(dir, f), 'utf8');
      if (f.endsWith('.json')) strings(JSON.parse(text), out);
      else if (f.endsWith('.jsonl')) for (const line of text.split('\n')) if (line.trim()) strings(JSON.parse(line), out);
    }
  }
  return out;
}

const SCRIPTS = [
  '生活的真谛是什么？我们一起去北京吧。人工智能正在改变世界，２０２４年。',
  '東京都に住んでいます。カタカナとひらがな、漢字を混ぜた文章です。ｶﾀｶﾅ',
  '안녕하세요. 한국어 문장입니다. 감사합니다!',
  '\u1100\u1161\u11a8 \u1112\u1161\u11ab\u1100\u1173\u11af', // conjoining jamo (NFC composes them)
  'مرحبا بالعالم، هذه جملة عربية مع تشكيل: العَرَبِيَّة ١٢٣٤٥',
  'नमस्ते दुनिया, यह हिंदी वाक्य है। क्षत्रिय ज्ञान',
  'ภาษาไทยไม่มีการเว้นวรรค שלום עולם Привет, мир! Γειά σου Κόσμε',
  'Ǆǅǆ ǈ ß ẞ İstanbul ıi Σίσυφος ﬁ ﬂ ﬃ ㎏ ① Ⅻ ½ ²³',
]; 
const COMBINING = ['e\u0301', 'a\u0300\u0316', 'n\u0303', 'o\u0308\u0304', 'Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d\u034f\u0334\u0319\u0324\u031e\u0349\u035a\u032f\u031e\u0320\u034d', '\u0065\u0301\u0302\u0303', 'é', 'ﬀ', '\u1e9b\u0323'];
const EMOJI = ['😂', '👍🏽', '🧑‍🤝‍🧑', '👩‍❤‍💋‍👨', '👨‍👩‍👧‍👦', '🏳️‍🌈', '🇺🇸', '🇯🇵🇫🇷🇩🇪', '1️⃣', '#️⃣', '❤️', '🕵‍♂️', '🧙🏻‍♂', '👁️', '🤗', '\u{1F9D1}\u{1F3FB}\u200D\u{1F91D}\u200D\u{1F9D1}\u{1F3FB}', '🏴󠁧󠁢󠁳󠁣󠁴󠁿'];
const CODE = [
  'def main():\n\tpass\n\nif __name__ == "__main__":\n    main()\n',
  'function f(a, b) {\n  return a?.b ?? [1, 2, 3].map((x) => x ** 2);\n}\n',
  'fn main() -> Result<(), Box<dyn Error>> {\n    let v: Vec<u8> = vec![0xff; 16];\n    Ok(())\n}',
  '#include <stdio.h>\nint main(void){printf("%d\\n", 42);return 0;}',
  'SELECT id, name FROM users WHERE age >= 18 ORDER BY name DESC;',
  '<div class="x">&nbsp;&lt;b&gt;</div>\r\n<script>let s = `${a}`;</script>',
  '$ ls -la | grep "\\.ts$" && echo \'done\' # comment',
  '{"name": "search_recipes", "arguments": {"ingredients": ["chicken", "rice"]}}',
];
const SPECIAL = ['<|endoftext|>', '<|im_start|>', '<|im_end|>', '<|begin_of_text|>', '<|end_of_text|>', '<|eot_id|>',
  '<|start_header_id|>', '<|reserved_special_token_5|>', '<s>', '</s>', '<unk>', '<tool_call>', '</tool_call>', '<think>',
  '</think>', '<|fim_prefix|>', '<|im_st', '<|endoftext|', 'endoftext|>', '<<|im_end|>>', '<|<|im_start|>|>'];
const SPACES = [' ', '  ', '   ', '\t', '\t\t', '\n', '\n\n', '\n\n\n', '\r\n', ' \n ', '\u00a0', '\u3000', '\u2028',
  '\u200b', '\ufeff', '\u0085', '\v\f', ' \t \n'];
const CONTRACTIONS = ["I'm", "can't", "WE'LL", "she's", "they'VE", "it’s", "'s'd'll", "o'clock", "rock 'n' roll"];
const LONE = ['\uD800', '\uDBFF', '\uDC00', '\uDFFF', '\uDE00x', 'a\uD83D', '\uDE00\uD83D', '\uD83D\uD83D\uDE00'];
const WORDS = ['the', 'quick', 'brown', 'fox', 'tokenizer', 'BPE', 'Hello', 'WORLD', 'naïve', 'café', 'Ünïcödé', 'x',
  'supercalifragilisticexpialidocious', 'ThisIsCamelCase', 'snake_case_name', 'UPPER', '3.14159', '1,000,000', '$42.00', '€4',
  '100%', 'e-mail', 'https://example.com/a?b=c&d=e#f', 'user@example.org', '---', '...', '!!!', '???', '(x)', '[y]', '{z}'];

function randomCodePoint(r: () => number): string {
  const blocks = [[0x20, 0x7e], [0xa0, 0x24f], [0x300, 0x36f], [0x370, 0x52f], [0x590, 0x6ff], [0x900, 0x97f],
    [0xe00, 0xe7f], [0x1100, 0x11ff], [0x2000, 0x206f], [0x20a0, 0x20cf], [0x2190, 0x23ff], [0x2460, 0x24ff],
    [0x3000, 0x30ff], [0x4e00, 0x9fff], [0xac00, 0xd7a3], [0xe000, 0xe0ff], [0xf900, 0xfaff], [0xfb00, 0xfb4f],
    [0xfe00, 0xfe0f], [0xff00, 0xffef], [0x10000, 0x1007f], [0x1d400, 0x1d7ff], [0x1f300, 0x1faff], [0x20000, 0x2a6df],
    [0xe0000, 0xe007f], [0x0, 0x1f]];
  const [a, b] = blocks[Math.floor(r() * blocks.length)];
  return String.fromCodePoint(a + Math.floor(r() * (b - a + 1)));
}

const pick = <T>(r: () => number, xs: T[]): T => xs[Math.floor(r() * xs.length)];

/** One generated adversarial string. */
function adversarial(r: () => number): string {
  const parts: string[] = [];
  const n = 1 + Math.floor(r() * 12);
  for (let i = 0; i < n; i++) {
    const k = Math.floor(r() * 11);
    if (k === 0) parts.push(pick(r, SCRIPTS).slice(Math.floor(r() * 10)));
    else if (k === 1) parts.push(pick(r, COMBINING));
    else if (k === 2) parts.push(pick(r, EMOJI));
    else if (k === 3) parts.push(pick(r, CODE));
    else if (k === 4) parts.push(Array.from({ length: 1 + Math.floor(r() * 60) }, () => String(Math.floor(r() * 10))).join(''));
    else if (k === 5) parts.push(Array.from({ length: 1 + Math.floor(r() * 8) }, () => pick(r, SPACES)).join(''));
    else if (k === 6) parts.push(pick(r, SPECIAL));
    else if (k === 7) parts.push(pick(r, CONTRACTIONS));
    else if (k === 8) parts.push(r() < 0.3 ? pick(r, LONE) : pick(r, WORDS));
    else if (k === 9) parts.push(Array.from({ length: 1 + Math.floor(r() * 10) }, () => randomCodePoint(r)).join(''));
    else parts.push(pick(r, WORDS));
    if (r() < 0.5) parts.push(r() < 0.8 ? ' ' : pick(r, SPACES));
  }
  return parts.join('');
}

/** A slice of s cut at random UTF-16 positions (may split a surrogate pair: that makes lone surrogates too). */
function slice(r: () => number, s: string): string {
  const a = Math.floor(r() * s.length), len = 1 + Math.floor(r() * 200);
  return s.slice(a, a + len);
}

/** `count` distinct strings: dataset strings and lines (40%), random slices of them (20%), generated adversarial
 *  strings (25%) and special-token mixes (15%), after the fixed adversarial lists. */
export function buildCorpus(count = 20000, seed = 1): string[] {
  const r = rng(seed);
  const base = datasetStrings();
  const pool = [...new Set([...base, ...base.flatMap((s) => s.split('\n')).filter((l) => l.length > 1)])];
  const out: string[] = [];
  const seen = new Set<string>();
  const add = (s: string) => { if (out.length < count && !seen.has(s)) { seen.add(s); out.push(s); } };
  for (const s of [...SCRIPTS, ...COMBINING, ...EMOJI, ...CODE, ...SPECIAL, ...SPACES, ...CONTRACTIONS, ...LONE, ...WORDS]) add(s);
  // every k-th dataset string, spread over all files
  const fromData = Math.floor(count * 0.4);
  for (let i = 0; i < fromData && i < pool.length; i++) add(pool[Math.floor(i * pool.length / fromData)]);
  const quota = [Math.floor(count * 0.6), Math.floor(count * 0.85), count];
  for (let guard = 0; out.length < count && guard < count * 20; guard++) {
    if (out.length < quota[0]) add(slice(r, pick(r, base)));
    else if (out.length < quota[1]) add(adversarial(r));
    else add(`${pick(r, SPECIAL)}${slice(r, pick(r, base))}${pick(r, SPACES)}${pick(r, SPECIAL)}${adversarial(r)}`);
  }
  return out;
}

/** About `bytes` UTF-8 bytes of dataset text (strings repeated in shuffled order), as separate documents. */
export function benchCorpus(bytes: number, seed = 7): string[] {
  const r = rng(seed);
  const base = datasetStrings().filter((s) => s.length > 0);
  const out: string[] = [];
  let total = 0;
  const enc = new TextEncoder();
  while (total < bytes) {
    for (let i = base.length - 1; i > 0; i--) { const j = Math.floor(r() * (i + 1)); [base[i], base[j]] = [base[j], base[i]]; }
    for (const s of base) {
      out.push(s);
      total += enc.encode(s).length;
      if (total >= bytes) break;
    }
  }
  return out;
}
