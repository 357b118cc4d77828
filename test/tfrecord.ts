// Reads TensorBoard event files for the tests, independently of src/train/tensorboard.ts: a bitwise CRC-32C (no
// table), TFRecord framing, and a hand-written protobuf wire decoder for the Event and Summary fields webtune writes.
import assert from 'node:assert/strict';

/** CRC-32C bit by bit, straight from the definition (reflected Castagnoli polynomial 0x82F63B78). */
export function crc32cBitwise(b: Uint8Array): number {
  let c = 0xffffffff;
  for (const x of b) {
    c ^= x;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0x82f63b78 & -(c & 1));
  }
  return (c ^ 0xffffffff) >>> 0;
}
/** TensorFlow's masked_crc32c: ((crc >> 15) | (crc << 17)) + 0xa282ead8, modulo 2^32. */
export const masked = (crc: number): number => Number(((BigInt(crc) >> 15n) | ((BigInt(crc) << 17n) & 0xffffffffn)) + 0xa282ead8n & 0xffffffffn);

type Field = { no: number; wire: number; value: bigint | Uint8Array };
function fields(b: Uint8Array): Field[] {
  const out: Field[] = [];
  let at = 0;
  const varint = () => { let v = 0n, s = 0n; for (;;) { const x = b[at++]; v |= BigInt(x & 0x7f) << s; s += 7n; if (!(x & 0x80)) return v; } };
  while (at < b.length) {
    const key = Number(varint()), no = key >>> 3, wire = key & 7;
    if (wire === 0) out.push({ no, wire, value: varint() });
    else if (wire === 1) { out.push({ no, wire, value: b.subarray(at, at + 8) }); at += 8; }
    else if (wire === 5) { out.push({ no, wire, value: b.subarray(at, at + 4) }); at += 4; }
    else if (wire === 2) { const n = Number(varint()); out.push({ no, wire, value: b.subarray(at, at + n) }); at += n; }
    else throw new Error(`wire type ${wire}`);
  }
  assert.equal(at, b.length, 'protobuf ends on a field boundary');
  return out;
}
const f64 = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, 8).getFloat64(0, true);
const f32 = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, 4).getFloat32(0, true);
const str = (b: Uint8Array) => new TextDecoder().decode(b);

export interface DecodedEvent { wall_time: number; step: number; file_version?: string; values: { tag: string; value: number }[] }

/** tensorflow.Event: wall_time double = 1, step int64 = 2, file_version string = 3, summary = 5 (value = 1: tag = 1, simple_value = 2). */
export function decodeEvent(b: Uint8Array): DecodedEvent {
  const e: DecodedEvent = { wall_time: NaN, step: 0, values: [] };
  for (const f of fields(b)) {
    if (f.no === 1 && f.wire === 1) e.wall_time = f64(f.value as Uint8Array);
    else if (f.no === 2 && f.wire === 0) e.step = Number(f.value);
    else if (f.no === 3 && f.wire === 2) e.file_version = str(f.value as Uint8Array);
    else if (f.no === 5 && f.wire === 2) {
      for (const v of fields(f.value as Uint8Array)) {
        assert.equal(v.no, 1, 'Summary has only values');
        const parts = fields(v.value as Uint8Array);
        const tag = parts.find((p) => p.no === 1 && p.wire === 2), val = parts.find((p) => p.no === 2 && p.wire === 5);
        assert.ok(tag && val, 'Summary.Value has a tag and a simple_value');
        e.values.push({ tag: str(tag.value as Uint8Array), value: f32(val.value as Uint8Array) });
      }
    } else throw new Error(`unexpected Event field ${f.no} (wire ${f.wire})`);
  }
  return e;
}

/** Every record of a TFRecord file, checking both masked CRCs; the file must end on a record boundary. */
export function readRecords(file: Uint8Array): Uint8Array[] {
  const dv = new DataView(file.buffer, file.byteOffset, file.byteLength), out: Uint8Array[] = [];
  let at = 0;
  while (at < file.length) {
    const len = Number(dv.getBigUint64(at, true));
    assert.equal(dv.getUint32(at + 8, true), masked(crc32cBitwise(file.subarray(at, at + 8))), `length CRC of the record at byte ${at}`);
    const data = file.subarray(at + 12, at + 12 + len);
    assert.equal(dv.getUint32(at + 12 + len, true), masked(crc32cBitwise(data)), `data CRC of the record at byte ${at}`);
    out.push(data);
    at += 16 + len;
  }
  assert.equal(at, file.length, 'the file ends on a record boundary');
  return out;
}

export const readEvents = (file: Uint8Array): DecodedEvent[] => readRecords(new Uint8Array(file)).map(decodeEvent);
