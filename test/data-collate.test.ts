import '../runtime/wasm-embedded.ts';
// Collation in WASM (asm/collate): padding against a plain TypeScript reference, and packing: the packed
// sequences give every row the same (input, label, position) triples as the unpacked, padded rows, with
// attention confined to each row (segment ids) and no label across rows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Collator, IGNORE_INDEX, type CollateRow } from '../src/data/collate.ts';
import { SeededRandom } from '../src/data/mix.ts';

const collator = await Collator.create();

function randomRows(n: number, maxLen: number, rng: SeededRandom): CollateRow[] {
  return Array.from({ length: n }, () => {
    const len = 1 + rng.below(maxLen);
    const input_ids = Array.from({ length: len }, () => 3 + rng.below(1000));
    const labels = input_ids.map((id) => (rng.next() < 0.4 ? IGNORE_INDEX : id));
    return { input_ids, labels };
  });
}

/** Reference padding: one row → its padded arrays. */
function padRef(r: CollateRow, seqLen: number, padId: number, left: boolean) {
  const len = r.input_ids.length;
  const off = left ? seqLen - len : 0;
  const out = { ids: new Array(seqLen).fill(padId), labels: new Array(seqLen).fill(IGNORE_INDEX), mask: new Array(seqLen).fill(0), pos: new Array(seqLen).fill(0) };
  for (let j = 0; j < len; j++) {
    out.ids[off + j] = r.input_ids[j];
    out.labels[off + j] = j === 0 ? IGNORE_INDEX : (r.labels ?? r.input_ids)[j];
    out.mask[off + j] = 1;
    out.pos[off + j] = j;
  }
  return out;
}

test('pad: right for training, left for generation, to the longest row or a multiple', () => {
  const rng = new SeededRandom(1);
  const rows = randomRows(9, 40, rng);
  for (const [side, multiple] of [['right', undefined], ['left', undefined], ['right', 16], ['left', 8]] as const) {
    const b = collator.pad(rows, { padId: 0, side, padToMultipleOf: multiple });
    const longest = Math.max(...rows.map((r) => r.input_ids.length));
    assert.equal(b.seqLen, multiple ? Math.ceil(longest / multiple) * multiple : longest);
    rows.forEach((r, i) => {
      const ref = padRef(r, b.seqLen, 0, side === 'left');
      const at = i * b.seqLen;
      const sl = (a: Int32Array) => Array.from(a.subarray(at, at + b.seqLen));
      assert.deepEqual(sl(b.input_ids), ref.ids);
      assert.deepEqual(sl(b.labels), ref.labels);
      assert.deepEqual(sl(b.attention_mask), ref.mask);
      assert.deepEqual(sl(b.position_ids), ref.pos);
      assert.deepEqual(sl(b.segment_ids), ref.mask);
    });
  }
  const fixed = collator.pad([{ input_ids: [5, 6] }], { padId: 9, length: 4, side: 'left' });
  assert.deepEqual(Array.from(fixed.input_ids), [9, 9, 5, 6]);
  assert.deepEqual(Array.from(fixed.labels), [-100, -100, -100, 6]);
  assert.throws(() => collator.pad([{ input_ids: [1, 2, 3] }], { padId: 0, length: 2 }), /3 tokens, more than the padded length 2/);
  assert.throws(() => collator.pad([{ input_ids: [1, 2], labels: [1] }], { padId: 0 }), /2 input_ids but 1 labels/);
});

/** (input, label, position) triples of each row, as the model sees them. */
type Triples = [number, number, number][];

test('packing: same (input, label, position) triples per row as unpacked; segments confine attention', () => {
  const rng = new SeededRandom(7);
  const maxLength = 128;
  const rows = randomRows(500, maxLength, rng);
  const padded = collator.pad(rows, { padId: 0 });
  const unpacked: Triples[] = rows.map((r, i) => {
    const t: Triples = [];
    for (let j = 0; j < padded.seqLen; j++) {
      const k = i * padded.seqLen + j;
      if (padded.attention_mask[k]) t.push([padded.input_ids[k], padded.labels[k], padded.position_ids[k]]);
    }
    return t;
  });
  const packed = collator.pack(rows, { maxLength, padId: 0 });
  assert.equal(packed.seqLen, maxLength);
  const total = rows.reduce((a, r) => a + r.input_ids.length, 0);
  assert.ok(packed.batchSize >= Math.ceil(total / maxLength));
  assert.ok(packed.batchSize < rows.length / 2, `${packed.batchSize} sequences for ${rows.length} rows`);
  const seen = new Set<number>();
  for (let s = 0; s < packed.batchSize; s++) {
    const members = packed.rows![s];
    let at = s * maxLength;
    members.forEach((ri, k) => {
      assert.ok(!seen.has(ri));
      seen.add(ri);
      const len = rows[ri].input_ids.length;
      const t: Triples = [];
      for (let j = 0; j < len; j++, at++) {
        assert.equal(packed.segment_ids[at], k + 1, 'segment id numbers the rows');
        assert.equal(packed.attention_mask[at], 1);
        t.push([packed.input_ids[at], packed.labels[at], packed.position_ids[at]]);
      }
      assert.deepEqual(t, unpacked[ri], `row ${ri}`);
    });
    for (; at < (s + 1) * maxLength; at++) {
      assert.deepEqual([packed.input_ids[at], packed.labels[at], packed.attention_mask[at], packed.segment_ids[at], packed.position_ids[at]], [0, IGNORE_INDEX, 0, 0, 0]);
    }
  }
  assert.equal(seen.size, rows.length);
  // to the longest sequence, rounded to a multiple
  const short = collator.pack(rows.slice(0, 3).map((r) => ({ input_ids: Array.from(r.input_ids).slice(0, 10) })), { maxLength, padId: 0, padTo: 'longest', padToMultipleOf: 16 });
  assert.deepEqual([short.batchSize, short.seqLen], [1, 32]);
});

test('packing plan is first-fit decreasing', () => {
  const rng = new SeededRandom(3);
  const maxLength = 100;
  const lengths = Array.from({ length: 2000 }, () => 1 + rng.below(maxLength));
  const { bins, count } = collator.planPacking(lengths, maxLength);
  // reference: sort by length (longest first, ties by index), first bin with room
  const order = lengths.map((l, i) => [l, i]).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  const free: number[] = [];
  const ref = new Array<number>(lengths.length);
  for (const [l, i] of order) {
    let b = free.findIndex((f) => f >= l);
    if (b < 0) { b = free.length; free.push(maxLength); }
    free[b] -= l;
    ref[i] = b;
  }
  assert.equal(count, free.length);
  assert.deepEqual(Array.from(bins), ref);
  assert.throws(() => collator.planPacking([3, 101], maxLength), /row 1 has 101 tokens, more than max_length 100/);
  assert.deepEqual(collator.planPacking([], 8), { bins: new Int32Array(0), count: 0 });
});
