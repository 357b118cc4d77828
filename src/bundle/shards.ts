// A bundle's training data: the sequences sft trains on (tokenized, templated, truncated, packed), stored as one
// binary shard per split instead of JSON, so a page loads them with one fetch and no parsing.
// Layout (little-endian): "WTSHARD1", u32 header length H, H bytes of JSON header {count, tokens}, padding to a
// multiple of 4, u32 offsets[count + 1] (token index where each sequence starts), then four i32 columns of `tokens`
// values each: input ids, labels (unshifted, -100 untrained), position ids, segment ids.
import { UserError } from '../../core/errors.ts';
import type { Example } from '../train/data.ts';

const MAGIC = 'WTSHARD1';
const COLUMNS = ['ids', 'labels', 'positions', 'segments'] as const;

export function encodeShard(examples: Example[]): Uint8Array {
  const tokens = examples.reduce((s, e) => s + e.ids.length, 0);
  const header = new TextEncoder().encode(JSON.stringify({ count: examples.length, tokens }));
  const headLen = Math.ceil((8 + 4 + header.length) / 4) * 4;
  const out = new Uint8Array(headLen + 4 * (examples.length + 1) + 4 * tokens * COLUMNS.length);
  const dv = new DataView(out.buffer);
  out.set(new TextEncoder().encode(MAGIC), 0);
  dv.setUint32(8, header.length, true);
  out.set(header, 12);
  let at = headLen, start = 0;
  for (const e of examples) { dv.setUint32(at, start, true); at += 4; start += e.ids.length; }
  dv.setUint32(at, start, true); at += 4;
  for (const col of COLUMNS) for (const e of examples) for (const v of e[col]) { dv.setInt32(at, v, true); at += 4; }
  return out;
}

/** The sequences of a shard; a damaged one is one UserError naming `name`. */
export function decodeShard(bytes: Uint8Array, name: string): Example[] {
  const bad = (why: string): never => { throw new UserError(`${name}: not a webtune data shard (${why})`); };
  if (bytes.length < 12 || new TextDecoder().decode(bytes.subarray(0, 8)) !== MAGIC) bad('no WTSHARD1 header');
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), hl = dv.getUint32(8, true);
  if (12 + hl > bytes.length) bad('truncated header');
  let head: { count: number; tokens: number };
  try { head = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + hl))); } catch { return bad('header is not JSON'); }
  const { count, tokens } = head;
  const headLen = Math.ceil((12 + hl) / 4) * 4;
  if (!Number.isInteger(count) || !Number.isInteger(tokens) || bytes.length !== headLen + 4 * (count + 1) + 16 * tokens) {
    bad(`${bytes.length} bytes where the header promises ${count} sequences of ${tokens} tokens`);
  }
  // copy into aligned storage (the file's bytes may sit at any offset)
  const words = new Int32Array((bytes.length - headLen) / 4);
  new Uint8Array(words.buffer).set(bytes.subarray(headLen));
  const offsets = words.subarray(0, count + 1), cols = words.subarray(count + 1);
  const column = (c: number, a: number, b: number) => cols.slice(c * tokens + a, c * tokens + b);
  const out: Example[] = [];
  for (let i = 0; i < count; i++) {
    const a = offsets[i], b = offsets[i + 1];
    if (a > b || b > tokens) bad(`sequence ${i} has offsets ${a}..${b}`);
    out.push({ ids: column(0, a, b), labels: column(1, a, b), positions: column(2, a, b), segments: column(3, a, b) });
  }
  return out;
}
