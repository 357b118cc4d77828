import '../runtime/wasm-embedded.ts';
// The WASM llama2.c tokenizer against a plain, independent TypeScript transcription of run.c's encode
// (O(n²): rescan every pair after each merge), on real text, plus decode, streaming and file validation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { loadLlama2cTokenizer, type Llama2cTokenizer } from '../models/tokenizer.ts';

const STORIES = resolve('../shared/models/stories260K');
const DATA = resolve('../shared/datasets/llamafactory');
const tokBytes = new Uint8Array(readFileSync(resolve(STORIES, 'tok512.bin')));
const VOCAB = 512;
const tok = await loadLlama2cTokenizer(tokBytes, VOCAB);

// ---- reference: run.c, transcribed. Pieces are binary strings (one char per byte) so "+" concatenates bytes.
const pieces: string[] = [];
const scores: number[] = [];
const pieceId = new Map<string, number>();
{
  const dv = new DataView(tokBytes.buffer, tokBytes.byteOffset, tokBytes.byteLength);
  let off = 4;
  for (let i = 0; i < VOCAB; i++) {
    scores.push(dv.getFloat32(off, true));
    const len = dv.getInt32(off + 4, true);
    const s = String.fromCharCode(...tokBytes.subarray(off + 8, off + 8 + len));
    pieces.push(s);
    if (!pieceId.has(s)) pieceId.set(s, i);
    off += 8 + len;
  }
}
const bin = (b: Uint8Array) => String.fromCharCode(...b);

function refEncode(bytes: Uint8Array, bos: boolean, eos: boolean): number[] {
  const tokens: number[] = [];
  if (bos) tokens.push(1);
  if (bytes.length > 0) tokens.push(pieceId.get(' ')!); // dummy prefix
  // A code point: one byte plus at most 3 continuation bytes (10xxxxxx); else one id per byte (b + 3).
  for (let i = 0; i < bytes.length;) {
    let j = i + 1;
    while (j < bytes.length && j - i < 4 && (bytes[j] & 0xc0) === 0x80) j++;
    const id = pieceId.get(bin(bytes.subarray(i, j)));
    if (id !== undefined) tokens.push(id);
    else for (let k = i; k < j; k++) tokens.push(bytes[k] + 3);
    i = j;
  }
  for (;;) {
    let best = Math.fround(-1e10), bestId = -1, bestIdx = -1;
    for (let i = 0; i + 1 < tokens.length; i++) {
      const id = pieceId.get(pieces[tokens[i]] + pieces[tokens[i + 1]]);
      if (id !== undefined && scores[id] > best) { best = scores[id]; bestId = id; bestIdx = i; }
    }
    if (bestIdx < 0) break;
    tokens.splice(bestIdx, 2, bestId);
  }
  if (eos) tokens.push(2);
  return tokens;
}

const utf8 = (s: string) => new TextEncoder().encode(s);
const expectedStory: string = JSON.parse(readFileSync(resolve(STORIES, 'expected.json'), 'utf8')).greedy_empty_prompt_200;
const alpacaEn: { instruction: string; input: string; output: string }[] = JSON.parse(readFileSync(resolve(DATA, 'alpaca_en_demo.json'), 'utf8'));
const alpacaZh: { instruction: string; input: string; output: string }[] = JSON.parse(readFileSync(resolve(DATA, 'alpaca_zh_demo.json'), 'utf8'));

function sameAsReference(texts: string[]) {
  for (const t of texts) {
    for (const [bos, eos] of [[true, false], [false, true]]) {
      assert.deepEqual(tok.encode(t, { bos, eos }), refEncode(utf8(t), bos, eos), JSON.stringify(t.slice(0, 80)));
    }
  }
}

test('tok512.bin loads: 512 pieces, no duplicate piece strings', () => {
  assert.equal(tok.vocabSize, 512);
  assert.equal(tok.bosId, 1);
  assert.equal(tok.eosId, 2);
  assert.equal(tok.duplicatePieces, 0);
  assert.equal(pieceId.size, 512);
});

test('hand-checked ids', () => {
  assert.deepEqual(tok.encode('', { bos: true }), [1]);
  assert.deepEqual(tok.encode(''), []);
  assert.deepEqual(tok.encode('', { bos: true, eos: true }), [1, 2]);
  assert.equal(pieces[410], ' ');
  assert.equal(pieces[261], ' a');
  assert.deepEqual(tok.encode('a', { bos: true }), [1, 261]); // " " + "a" merge into " a"
  assert.deepEqual(tok.encode(' ', { bos: true }), [1, 410, 410]); // no "  " piece
  // CJK is not in the vocabulary: each UTF-8 byte b falls back to id b + 3, and nothing merges with those.
  assert.deepEqual(tok.encode('你好', { bos: true }), [1, 410, 0xe4 + 3, 0xbd + 3, 0xa0 + 3, 0xe5 + 3, 0xa5 + 3, 0xbd + 3]);
  assert.deepEqual(tok.encode('Once upon a time', { bos: true }).map((i) => pieces[i]), [pieces[1], ' Once', ' upon', ' a', ' time']);
  // The engine encodes NUL like any byte (byte fallback); run.c would stop at it (C string).
  assert.deepEqual(tok.encode('\0', { bos: true }), [1, 410, 3]);
});

test('encode matches run.c on the stories260K reference text', () => {
  sameAsReference([expectedStory, ...expectedStory.split('\n'), expectedStory.replace(/\n/g, ' ')]);
});

test('encode matches run.c on Alpaca (English) samples', () => {
  const texts: string[] = [];
  alpacaEn.forEach((r, i) => {
    texts.push(r.instruction, r.input);
    if (i % 10 === 0) texts.push(r.output);
  });
  sameAsReference(texts);
});

test('encode matches run.c on Chinese (byte fallback) samples', () => {
  sameAsReference(alpacaZh.slice(0, 100).flatMap((r) => [r.instruction, r.input, r.output.slice(0, 300)]));
});

test('encode matches run.c on edge cases', () => {
  sameAsReference([
    '', ' ', '  ', '\n', '\n\n\n', '\t \t', ' '.repeat(50), 'a', 'aaaaaaaaaaaaaaaaaaaaa', 'Lily', ' Lily', 'Lily ',
    'é', 'naïve café', '€100 ™', 'Ã¢', '😀', 'Hi 😀👍🏽!', '👨‍👩‍👧', '\u{10FFFF}', '\uD800 lone surrogate', 'x\uFFFDy',
    '<unk>', '<s>', '\n<s>\n', '<0x41>', '<0x0A>', '~|[]\\%', 'Ǆ ǅ', 'a\u0301', 'THE END.', '1234567890',
    "Lily's mom said, \"Lily, let's go!\"", 'é'.repeat(20) + 'e'.repeat(20),
  ]);
});

test('encode matches run.c on invalid UTF-8 bytes', () => {
  const cases = [[0x80], [0x80, 0x80, 0x80, 0x80, 0x80], [0x61, 0x80], [0xff], [0xc3], [0xc3, 0x61],
    [0xf0, 0x9f, 0x98, 0x80, 0x80, 0x80], [0xe2, 0x82], [0x20, 0xc3, 0xa9, 0xa9], [0xed, 0xa0, 0x80]];
  for (const c of cases) {
    const b = new Uint8Array(c);
    for (const [bos, eos] of [[true, true], [false, false]]) assert.deepEqual(tok.encodeBytes(b, { bos, eos }), refEncode(b, bos, eos), c.join(','));
  }
});

test('encode matches run.c on random strings over a mixed alphabet', () => {
  const alphabet = [...'aeiou tnslrhdcm.,\'"\n!?ABCTéü€😀你<0x>', '  '];
  let seed = 12345;
  const rand = (n: number) => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n);
  const texts = Array.from({ length: 300 }, () => Array.from({ length: rand(60) }, () => alphabet[rand(alphabet.length)]).join(''));
  sameAsReference(texts);
});

test('encode matches run.c on long runs of mergeable pieces (the heap path)', () => {
  // Mostly a segment ends at each space or punctuation mark; these strings keep merging across 100+ bytes.
  const words = pieces.slice(259).filter((p) => /^ ?[a-z]+$/.test(p)).map((p) => p.trim());
  let seed = 777;
  const rand = (n: number) => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n);
  const texts = [1, 2, 8, 9, 30, 60].map((n) => 'the'.repeat(n));
  for (let i = 0; i < 200; i++) texts.push(Array.from({ length: 5 + rand(60) }, () => words[rand(words.length)]).join(rand(4) ? '' : ' '));
  sameAsReference(texts);
});

test('decode(encode(x)) round-trips, with and without BOS', () => {
  const texts = [expectedStory, 'Hello world', '  two leading spaces', 'tabs\tand\nnewlines\n', 'naïve café 😀 你好',
    ...alpacaEn.slice(0, 50).map((r) => r.output)];
  for (const t of texts) {
    assert.equal(tok.decode(tok.encode(t, { bos: true, eos: true })), t);
    assert.equal(tok.decode(tok.encode(t)), t);
  }
  assert.equal(tok.decode([]), '');
});

test('decodePiece: run.c decode semantics', () => {
  const a = pieceId.get(' a')!;
  assert.deepEqual([...tok.decodePiece(1, a)], [...utf8('a')]); // after BOS the leading space goes
  assert.deepEqual([...tok.decodePiece(5, a)], [...utf8(' a')]);
  assert.deepEqual([...tok.decodePiece(-1, a)], [...utf8(' a')]);
  assert.deepEqual([...tok.decodePiece(7, 3 + 0x41)], [0x41]); // <0x41>
  assert.deepEqual([...tok.decodePiece(7, 3 + 0xff)], [0xff]);
  assert.deepEqual([...tok.decodePiece(1, 3 + 0x20)], [0x20]); // "<0x20>" does not start with a space
  assert.deepEqual([...tok.decodePiece(7, 1)], [...utf8('\n<s>\n')]); // the raw piece, as run.c returns it
  assert.throws(() => tok.decodePiece(0, 512), RangeError);
  assert.throws(() => tok.decodePiece(0, -1), RangeError);
  assert.throws(() => tok.decode([5, 600]), /600 is outside/);
  assert.equal(tok.decode([3 + 0xe4, 3 + 0xbd, 3 + 0xa0]), '你');
  const ids = tok.encode('Once upon', { bos: true });
  assert.deepEqual([...tok.decodeBytes(ids, -1, false)], [...utf8('\n<s>\nOnce upon')]); // raw run.c pieces
  assert.deepEqual([...tok.decodeBytes(ids.slice(1), -1, true)], [...utf8(' Once upon')]);
  assert.throws(() => tok.encode('x'.repeat((32 << 20) + 1)), /too long/);
});

test('streaming decoder holds split UTF-8 sequences until complete', () => {
  const text = 'Lily saw 你好 and 😀! é';
  const ids = tok.encode(text, { bos: true });
  const d = tok.streamDecoder();
  const parts: string[] = [];
  for (let i = 1; i < ids.length; i++) parts.push(d.push(ids[i - 1], ids[i]));
  parts.push(d.flush());
  assert.equal(parts.join(''), text);
  for (const p of parts) assert.ok(!p.includes('\uFFFD'), JSON.stringify(parts));
  // The three byte tokens of 你: nothing until the third.
  const d2 = tok.streamDecoder();
  assert.deepEqual([d2.push(5, 3 + 0xe4), d2.push(3 + 0xe4, 3 + 0xbd), d2.push(3 + 0xbd, 3 + 0xa0), d2.flush()], ['', '', '你', '']);
  // An unfinished sequence at the end is flushed as U+FFFD; BOS/EOS print nothing.
  const d3 = tok.streamDecoder();
  assert.deepEqual([d3.push(1, 2), d3.push(5, 3 + 0xf0), d3.flush()], ['', '', '\uFFFD']);
});

test('repeated encodes do not grow wasm memory', () => {
  const big = alpacaEn.map((r) => r.output).join('\n');
  const memory = (tok as unknown as { e: { memory: WebAssembly.Memory } }).e.memory;
  const first = tok.encode(big, { bos: true });
  const size = memory.buffer.byteLength;
  for (let i = 0; i < 5; i++) {
    assert.deepEqual(tok.encode(big, { bos: true }), first);
    tok.decode(first);
    tok.encode('short', { bos: true });
  }
  assert.equal(memory.buffer.byteLength, size);
  assert.equal(tok.decode(first), big);
});

test('a truncated or corrupt tokenizer file throws a one-line error', async () => {
  const bad = async (bytes: Uint8Array, vocab: number, re: RegExp) => {
    await assert.rejects(loadLlama2cTokenizer(bytes, vocab), (e: Error) => re.test(e.message) && !e.message.includes('\n'));
  };
  await bad(tokBytes.slice(0, 0), VOCAB, /too short/);
  await bad(tokBytes.slice(0, 3), VOCAB, /too short/);
  await bad(tokBytes.slice(0, 4), VOCAB, /truncated at piece 0 of 512/);
  await bad(tokBytes.slice(0, 100), VOCAB, /truncated at piece/);
  await bad(tokBytes.slice(0, tokBytes.length - 1), VOCAB, /truncated at piece 511 of 512/);
  await bad(tokBytes, 513, /truncated at piece 512 of 513/);
  await bad(tokBytes, 511, /left after the 511 pieces/);
  await bad(new Uint8Array([...tokBytes, 0]), VOCAB, /1 bytes left/);
  await bad(tokBytes, 100, /vocab_size 100 is too small/);
  await assert.rejects(loadLlama2cTokenizer(tokBytes, 0), /invalid vocab_size/);
  const corrupt = (at: number, v: number, float = false) => {
    const b = tokBytes.slice();
    const dv = new DataView(b.buffer);
    if (float) dv.setFloat32(at, v, true); else dv.setInt32(at, v, true);
    return b;
  };
  await bad(corrupt(0, -1), VOCAB, /max_token_length -1/);
  await bad(corrupt(8, 1000), VOCAB, /piece 0 has length 1000/); // piece 0's length field
  await bad(corrupt(8, -5), VOCAB, /piece 0 has length -5/);
  await bad(corrupt(4, NaN, true), VOCAB, /piece 0 has a NaN score/);
});
