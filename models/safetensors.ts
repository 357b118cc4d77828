// safetensors reader and writer (https://huggingface.co/docs/safetensors): an 8-byte little-endian header
// length, a JSON header {name: {dtype, shape, data_offsets}, "__metadata__"?}, then the raw tensor bytes.
// Tensors are returned as f32 (F16/BF16 widened on load), the precision webtune computes in.

export interface TensorInfo { dtype: string; shape: number[]; data_offsets: [number, number] }

export interface Tensor { shape: number[]; data: Float32Array }

export class SafetensorsError extends Error {}

const DTYPE_BYTES: Record<string, number> = { F32: 4, F16: 2, BF16: 2, F64: 8, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };

export function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1, exp = (h >> 10) & 0x1f, frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** Parses the header; `bytes` may hold only the header's prefix of the file (≥ 8 + header length). */
export function readSafetensorsHeader(bytes: Uint8Array): { header: Record<string, TensorInfo>; metadata: Record<string, string>; dataStart: number } {
  if (bytes.byteLength < 8) throw new SafetensorsError('too short for a safetensors header');
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const len = Number(dv.getBigUint64(0, true));
  if (len > 100_000_000 || 8 + len > bytes.byteLength) throw new SafetensorsError(`header length ${len} exceeds the file (${bytes.byteLength} bytes): truncated or not safetensors`);
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + len)));
  } catch {
    throw new SafetensorsError('header is not valid JSON: not a safetensors file');
  }
  const { __metadata__: metadata = {}, ...rest } = parsed as Record<string, unknown>;
  const header = rest as Record<string, TensorInfo>;
  for (const [name, info] of Object.entries(header)) {
    if (!info || !(info.dtype in DTYPE_BYTES) || !Array.isArray(info.shape) || !Array.isArray(info.data_offsets)) {
      throw new SafetensorsError(`tensor ${name}: malformed header entry`);
    }
  }
  return { header, metadata: metadata as Record<string, string>, dataStart: 8 + len };
}

/** Converts one tensor's raw bytes to f32. */
export function toFloat32(raw: Uint8Array, dtype: string): Float32Array {
  const aligned = raw.byteOffset % 8 === 0 ? raw : raw.slice();
  const buf = aligned.buffer, off = aligned.byteOffset, n = raw.byteLength / DTYPE_BYTES[dtype];
  switch (dtype) {
    case 'F32': return new Float32Array(buf.slice(off, off + raw.byteLength));
    case 'F64': return Float32Array.from(new Float64Array(buf, off, n));
    case 'F16': {
      const src = new Uint16Array(buf, off, n), out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = f16ToF32(src[i]);
      return out;
    }
    case 'BF16': {
      const src = new Uint16Array(buf, off, n), out = new Uint32Array(n);
      for (let i = 0; i < n; i++) out[i] = src[i] << 16;
      return new Float32Array(out.buffer);
    }
    default: throw new SafetensorsError(`dtype ${dtype} is not a floating-point type`);
  }
}

/** Reads every tensor of an in-memory safetensors file. */
export function readSafetensors(bytes: Uint8Array): { tensors: Map<string, Tensor>; metadata: Record<string, string> } {
  const { header, metadata, dataStart } = readSafetensorsHeader(bytes);
  const tensors = new Map<string, Tensor>();
  for (const [name, info] of Object.entries(header)) {
    const [begin, end] = info.data_offsets;
    const count = info.shape.reduce((a, b) => a * b, 1);
    if (end - begin !== count * DTYPE_BYTES[info.dtype] || dataStart + end > bytes.byteLength) {
      throw new SafetensorsError(`tensor ${name}: data ${begin}..${end} does not match shape [${info.shape}] ${info.dtype} or lies past the end (truncated file?)`);
    }
    tensors.set(name, { shape: info.shape, data: toFloat32(bytes.subarray(dataStart + begin, dataStart + end), info.dtype) });
  }
  return { tensors, metadata };
}

/** Every value is a bfloat16 (its low 16 bits are zero): the tensor can be stored in half the bytes, losslessly. */
export function isExactBf16(data: Float32Array): boolean {
  const u = new Uint32Array(data.buffer, data.byteOffset, data.length);
  for (let i = 0; i < u.length; i++) if (u[i] & 0xffff) return false;
  return true;
}

/**
 * Serialises f32 tensors (names sorted, as the Python library writes them) with optional string metadata.
 * exactBf16: tensors that hold only bfloat16 values (a bf16 checkpoint read into f32) are written as BF16.
 */
export function writeSafetensors(tensors: Map<string, Tensor> | Record<string, Tensor>, metadata?: Record<string, string>,
  opts: { exactBf16?: boolean } = {}): Uint8Array {
  const entries = [...(tensors instanceof Map ? tensors.entries() : Object.entries(tensors))].sort(([a], [b]) => (a < b ? -1 : 1));
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  const bytesOf = entries.map(([, t]) => {
    if (!opts.exactBf16 || !isExactBf16(t.data)) return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    const u = new Uint32Array(t.data.buffer, t.data.byteOffset, t.data.length), half = new Uint16Array(u.length);
    for (let i = 0; i < u.length; i++) half[i] = u[i] >>> 16;
    return new Uint8Array(half.buffer);
  });
  for (const [i, [name, t]] of entries.entries()) {
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) throw new SafetensorsError(`tensor ${name}: shape [${t.shape}] does not match ${t.data.length} elements`);
    const n = bytesOf[i].byteLength;
    header[name] = { dtype: n === t.data.byteLength ? 'F32' : 'BF16', shape: t.shape, data_offsets: [offset, offset + n] };
    offset += n;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const head = new Uint8Array(json.length + ((8 - ((8 + json.length) % 8)) % 8)).fill(0x20); // data 8-byte aligned
  head.set(json);
  const out = new Uint8Array(8 + head.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  let at = 8 + head.length;
  for (const b of bytesOf) {
    out.set(b, at);
    at += b.byteLength;
  }
  return out;
}
