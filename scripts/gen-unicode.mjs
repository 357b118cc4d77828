// Generates asm/tokenizer/unicode/tables.ts from the running Node's own Unicode data (RegExp \p{..}, \s,
// String.prototype.normalize, toLowerCase), so the WASM engine agrees with JS (and so with
// @huggingface/tokenizers) on the same Node. Deterministic: same Node/ICU version → same file.
// Usage: node scripts/gen-unicode.mjs [out.ts]
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const outFile = process.argv[2] ?? join(root, 'asm/tokenizer/unicode/tables.ts');
const MAX = 0x110000;
const isSur = (cp) => cp >= 0xd800 && cp < 0xe000;
const str = (cp) => String.fromCodePoint(cp);
const cps = (s) => [...s].map((c) => c.codePointAt(0));

// ---- character classes (one byte per code point); bit values mirror unicode/props.ts
const CLASSES = [
  ['L', /^\p{L}$/u], ['N', /^\p{N}$/u], ['WS_JS', /^\s$/u], ['WS_UNI', /^\p{White_Space}$/u],
  ['M', /^\p{M}$/u], ['P', /^\p{P}$/u], ['CASED', /^\p{Cased}$/u], ['CASE_IGNORABLE', /^\p{Case_Ignorable}$/u],
];
const ctype = new Uint8Array(MAX);
for (let cp = 0; cp < MAX; cp++) {
  if (isSur(cp)) continue;
  const s = str(cp);
  let v = 0;
  CLASSES.forEach(([, re], i) => { if (re.test(s)) v |= 1 << i; });
  ctype[cp] = v;
}

// ---- canonical combining classes. JS exposes no ccc, but NFD's canonical reordering reveals the order of
// classes: NFD(y x) === x y exactly when 0 < ccc(x) < ccc(y). Ranks (1..K) in that order replace the UCD
// numbers; reordering and composition blocking only ever compare classes, so ranks are equivalent.
const nfd = (s) => s.normalize('NFD');
const LOW = 0x334, HIGH = 0x345; // ccc 1 and ccc 240: the smallest and largest non-zero classes
const nonStarters = [];
for (let cp = 0; cp < MAX; cp++) {
  if (isSur(cp) || nfd(str(cp)) !== str(cp)) continue;
  const x = str(cp);
  if (cp === LOW || cp === HIGH || nfd(x + str(LOW)) !== x + str(LOW) || nfd(str(HIGH) + x) !== str(HIGH) + x) nonStarters.push(cp);
}
const less = (a, b) => nfd(str(b) + str(a)) === str(a) + str(b); // ccc(a) < ccc(b)
nonStarters.sort((a, b) => (less(a, b) ? -1 : less(b, a) ? 1 : a - b));
const ccc = new Uint8Array(MAX);
let rank = 0;
nonStarters.forEach((cp, i) => { if (i === 0 || less(nonStarters[i - 1], cp)) rank++; ccc[cp] = rank; });
if (rank > 255) throw new Error('too many combining classes');

// ---- decompositions (full, as NFD/NFKD of one code point), Hangul syllables left to the algorithm
const SBASE = 0xac00, SCOUNT = 11172;
const isHangulSyllable = (cp) => cp >= SBASE && cp < SBASE + SCOUNT;
const decomp = []; // [cp, kind (0 canonical, 1 compat), code points]
for (let cp = 0; cp < MAX; cp++) {
  if (isSur(cp) || isHangulSyllable(cp)) continue;
  const s = str(cp), d = s.normalize('NFD'), kd = s.normalize('NFKD');
  if (d !== s) decomp.push([cp, 0, cps(d)]);
  if (kd !== d) decomp.push([cp, 1, cps(kd)]);
}

// ---- canonical composition pairs: each primary composite c (NFD(c) ≠ c, NFC(c) = c) composes from
// (NFC of NFD(c) minus its last code point, that last code point); verified by NFC(a b) === c.
const pairs = [];
const seconds = new Set();
for (let cp = 0; cp < MAX; cp++) {
  if (isSur(cp) || isHangulSyllable(cp)) continue;
  const s = str(cp), d = cps(nfd(s));
  if (d.length < 2 || s.normalize('NFC') !== s) continue;
  const first = cps(String.fromCodePoint(...d.slice(0, -1)).normalize('NFC'));
  const b = d[d.length - 1];
  if (first.length !== 1 || (str(first[0]) + str(b)).normalize('NFC') !== s) throw new Error(`no pair for U+${cp.toString(16)}`);
  pairs.push([first[0], b, cp]);
  seconds.add(b);
}
for (let v = 0x1161; v <= 0x1175; v++) seconds.add(v); // Hangul V and T compose algorithmically
for (let t = 0x11a8; t <= 0x11c2; t++) seconds.add(t);
pairs.sort((x, y) => x[0] - y[0] || x[1] - y[1]);

// ---- lowercase (JS toLowerCase of one code point; Σ's final form is context, done in code)
const lowerRuns = []; // [start, count, stride, delta]
const lowerMulti = []; // [cp, code points]
const lowerChanges = new Uint8Array(MAX);
{
  const single = [];
  for (let cp = 0; cp < MAX; cp++) {
    if (isSur(cp)) continue;
    const l = cps(str(cp).toLowerCase());
    if (l.length === 1 && l[0] === cp) continue;
    lowerChanges[cp] = 1;
    if (l.length === 1) single.push([cp, l[0] - cp]); else lowerMulti.push([cp, l]);
  }
  // greedy runs of equal delta with stride 1 or 2
  for (let i = 0; i < single.length;) {
    const [cp, delta] = single[i];
    let best = 1, bestStride = 1;
    for (const stride of [1, 2]) {
      let n = 1;
      while (i + n < single.length && single[i + n][0] === cp + n * stride && single[i + n][1] === delta) n++;
      if (n > best) { best = n; bestStride = stride; }
    }
    if (best > 1023 || Math.abs(delta) >= 1 << 19) throw new Error("lower run out of range");
    lowerRuns.push([cp, best, bestStride, delta]);
    i += best;
  }
}

// ---- normalization properties: a u8 record number per code point; NORM_RECORDS[n] = ccc rank | flags << 8
// (bits mirror unicode/props.ts). Few distinct (class, flags) pairs exist, so the per-code-point table stays u8.
const NF = { NFD_NO: 1, NFKD_NO: 2, NFC_NO: 4, NFC_MAYBE: 8, NFKC_NO: 16, NFKC_MAYBE: 32, LOWER: 64 };
const records = [0], recordOf = new Map([[0, 0]]);
const norm = new Uint8Array(MAX);
for (let cp = 0; cp < MAX; cp++) {
  if (isSur(cp)) continue;
  const s = str(cp);
  let f = 0;
  if (s.normalize('NFD') !== s) f |= NF.NFD_NO;
  if (s.normalize('NFKD') !== s) f |= NF.NFKD_NO;
  if (s.normalize('NFC') !== s) f |= NF.NFC_NO; else if (seconds.has(cp)) f |= NF.NFC_MAYBE;
  if (s.normalize('NFKC') !== s) f |= NF.NFKC_NO; else if (seconds.has(cp)) f |= NF.NFKC_MAYBE;
  if (lowerChanges[cp]) f |= NF.LOWER;
  const rec = ccc[cp] | (f << 8);
  if (!recordOf.has(rec)) { recordOf.set(rec, records.length); records.push(rec); }
  norm[cp] = recordOf.get(rec);
}
if (records.length > 256) throw new Error('too many normalization records');

// ---- two-level tables over a folded code space: [0, 0x40000) as is, then plane 14's first 4096 code points
// (tags, variation selectors), then one all-zero block for everything else (asserted below).
const FOLD = 0x40000, P14 = 0xe0000, P14_LEN = 0x1000;
const fold = (values) => {
  const v = new Uint8Array(FOLD + P14_LEN + 512);
  v.set(values.subarray(0, FOLD));
  v.set(values.subarray(P14, P14 + P14_LEN), FOLD);
  for (let cp = FOLD; cp < MAX; cp++) if (values[cp] && (cp < P14 || cp >= P14 + P14_LEN)) throw new Error(`U+${cp.toString(16)} outside the folded range`);
  return v;
};
function twoLevel(values) {
  let best = null;
  for (let shift = 4; shift <= 9; shift++) {
    const size = 1 << shift, seen = new Map(), blocks = [], index = [];
    for (let b = 0; b < values.length >> shift; b++) {
      const blk = Array.from(values.subarray(b << shift, (b + 1) << shift));
      const key = blk.join(',');
      if (!seen.has(key)) { seen.set(key, blocks.length); blocks.push(blk); }
      index.push(seen.get(key));
    }
    if (blocks.length > 256) continue;
    const bytes = index.length + blocks.length * size;
    if (!best || bytes < best.bytes) best = { shift, index, blocks: blocks.flat(), bytes };
  }
  return best;
}
const ct = twoLevel(fold(ctype)), nt = twoLevel(fold(norm));
for (const cp of lowerMulti.map((m) => m[0]).concat(decomp.map((d) => d[0]))) if (cp >= FOLD) throw new Error('mapping outside the folded range');

// ---- emit
const arr = (type, xs) => {
  const lines = [];
  for (let i = 0; i < xs.length; i += 48) lines.push(xs.slice(i, i + 48).join(','));
  return `memory.data<${type}>([\n${lines.join(',\n')}\n])`;
};
const decompData = [], decompKeys = [], decompOffs = [];
for (const [cp, kind, d] of decomp) { decompKeys.push(cp * 2 + kind); decompOffs.push(decompData.length); decompData.push(...d); }
decompOffs.push(decompData.length);

const out = `// GENERATED by scripts/gen-unicode.mjs from Node ${process.versions.node} (Unicode ${process.versions.unicode}). Do not edit.
// Two-level tables over folded code points f (props.ts): value = BLOCKS[INDEX[f >> SHIFT] << SHIFT | f & mask].

/** Character classes (u8 bits, see props.ts). */
export const CTYPE_SHIFT: i32 = ${ct.shift};
export const CTYPE_INDEX: usize = ${arr('u8', ct.index)};
export const CTYPE_BLOCKS: usize = ${arr('u8', ct.blocks)};

/** Normalization record number per code point, and the records (u16: combining-class rank | flags << 8). */
export const NORM_SHIFT: i32 = ${nt.shift};
export const NORM_INDEX: usize = ${arr('u8', nt.index)};
export const NORM_BLOCKS: usize = ${arr('u8', nt.blocks)};
export const NORM_RECORDS: usize = ${arr('u16', records)};

/** Full decompositions, sorted by key = cp * 2 + (0 canonical | 1 compatibility; compat only where it differs). */
export const DECOMP_COUNT: i32 = ${decompKeys.length};
export const DECOMP_KEYS: usize = ${arr('u32', decompKeys)};
export const DECOMP_OFFS: usize = ${arr('u16', decompOffs)};
export const DECOMP_DATA: usize = ${arr('u32', decompData)};

/** Canonical composition pairs (first, second) → composite, sorted by (first, second); Hangul is algorithmic. */
export const COMP_COUNT: i32 = ${pairs.length};
export const COMP_KEYS: usize = ${arr('u64', pairs.map(([a, b]) => `0x${(BigInt(a) * 0x200000n + BigInt(b)).toString(16)}`))};
export const COMP_VALUES: usize = ${arr('u32', pairs.map((p) => p[2]))};

/** Lowercase runs: cp in [start, start + count * stride) stepping by stride maps to cp + delta. */
export const LOWER_RUN_COUNT: i32 = ${lowerRuns.length};
export const LOWER_RUN_START: usize = ${arr('u32', lowerRuns.map((r) => r[0]))};
export const LOWER_RUN_INFO: usize = ${arr('i32', lowerRuns.map(([, n, stride, delta]) => `${(delta * 2 + (stride - 1)) * 1024 + n}`))};
/** One-to-many lowercase mappings: cp, count, code points... */
export const LOWER_MULTI_COUNT: i32 = ${lowerMulti.length};
export const LOWER_MULTI: usize = ${arr('u32', lowerMulti.flatMap(([cp, l]) => [cp, l.length, ...l]))};
`;
writeFileSync(outFile, out);
console.log(`wrote ${outFile}: ${out.length} chars; ctype shift ${ct.shift} ${ct.bytes} B, norm shift ${nt.shift} ${nt.bytes} B, ${records.length} records,`
  + ` ${decompKeys.length} decompositions (${decompData.length} cps), ${pairs.length} pairs, ${lowerRuns.length} lower runs,`
  + ` ${nonStarters.length} non-starters in ${rank} classes`);
