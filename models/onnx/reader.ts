// Reads ONNX ModelProto files with onnx-proto's protobufjs decoder: the metadata, the operator sets, the nodes'
// operator types and every initializer's bytes, wherever they are stored (raw_data, the typed fields float_data /
// int32_data / int64_data / double_data, or external data files named by location/offset/length relative to the
// .onnx file, as onnx.save writes them). Every problem is one UserError line naming the file at fault.
import * as proto from 'onnx-proto';
import { readFile, stat, joinPath } from '../../runtime/platform.ts';
import { UserError } from '../../core/errors.ts';
import { f16ToF32 } from '../safetensors.ts';

// onnx-proto is CommonJS: Node's ESM loader exposes it as the default export, bundlers as named exports.
type Onnx = typeof proto.onnx;
const onnx: Onnx = (proto as unknown as { onnx?: Onnx }).onnx ?? (proto as unknown as { default: { onnx: Onnx } }).default.onnx;

/** The default-domain opsets whose graphs webtune reads (its exports use 17). */
export const MIN_OPSET = 17, MAX_OPSET = 22;

export const TensorType = {
  FLOAT: 1, UINT8: 2, INT8: 3, UINT16: 4, INT16: 5, INT32: 6, INT64: 7, BOOL: 9, FLOAT16: 10, DOUBLE: 11,
  UINT32: 12, UINT64: 13, BFLOAT16: 16,
} as const;
const ELEMENT_BYTES: Record<number, number> = { 1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8, 16: 2 };

export interface OnnxInitializer {
  name: string;
  dims: number[];
  dataType: number;
  /** the values as little-endian bytes (a view into the model or data file) */
  bytes: Uint8Array;
}

export interface OnnxFile {
  /** the path (or name) of the .onnx file, for messages */
  file: string;
  producer: string;
  /** the default domain's opset version */
  opset: number;
  metadata: Record<string, string>;
  initializers: Map<string, OnnxInitializer>;
  /** operator types used by the graph's nodes */
  opTypes: Set<string>;
  inputs: string[];
  outputs: string[];
}

/** Supplies the bytes of an external data file, given its path relative to the .onnx file (undefined: missing). */
export type ExternalFiles = (location: string) => Promise<Uint8Array | undefined>;

type Int64 = number | { toNumber(): number } | { low: number; high: number };
const toNumber = (v: Int64 | null | undefined): number =>
  v == null ? 0 : typeof v === 'number' ? v : 'toNumber' in v ? v.toNumber() : v.high * 2 ** 32 + (v.low >>> 0);

const isDefaultDomain = (d: string | null | undefined) => !d || d === 'ai.onnx';

function checkOpsets(m: proto.onnx.ModelProto, file: string): number {
  const def = m.opsetImport.find((o) => isDefaultDomain(o.domain));
  const version = def ? toNumber(def.version as Int64) : 0;
  if (!def || version < MIN_OPSET || version > MAX_OPSET) {
    throw new UserError(`${file}: unsupported operator set ai.onnx ${def ? `opset ${version}` : '(none imported)'}; webtune reads opsets ${MIN_OPSET}–${MAX_OPSET}`);
  }
  const nodes = [...(m.graph?.node ?? [])];
  for (const g of nodes) {
    if (!isDefaultDomain(g.domain)) {
      throw new UserError(`${file}: unsupported operator set ${g.domain} (operator ${g.opType} of node ${g.name || '?'}); webtune reads default-domain (ai.onnx) graphs only`);
    }
  }
  return version;
}

/** Where a tensor's bytes are: raw_data, a typed field, or an external file. */
async function tensorBytes(t: proto.onnx.TensorProto, count: number, file: string, external: ExternalFiles,
  cache: Map<string, Promise<Uint8Array | undefined>>): Promise<Uint8Array> {
  const size = ELEMENT_BYTES[t.dataType];
  if (!size) throw new UserError(`${file}: initializer ${t.name} has data type ${t.dataType}, which webtune does not read`);
  const want = count * size;
  if (t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) {
    const entries = new Map(t.externalData.map((e) => [e.key, e.value]));
    const location = entries.get('location');
    if (!location) throw new UserError(`${file}: initializer ${t.name} is external but names no location`);
    if (location.startsWith('/') || location.split(/[\\/]/).includes('..')) {
      throw new UserError(`${file}: initializer ${t.name}: external data location ${location} lies outside the model's folder`);
    }
    let data = cache.get(location);
    if (!data) cache.set(location, (data = external(location)));
    const bytes = await data;
    if (!bytes) throw new UserError(`${file}: external data file ${location} (of initializer ${t.name}) is missing`);
    const offset = Number(entries.get('offset') ?? 0), length = Number(entries.get('length') ?? want);
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length !== want) {
      throw new UserError(`${file}: initializer ${t.name}: external data offset ${entries.get('offset')} / length ${entries.get('length')} do not fit its shape [${t.dims.map(toNumber)}]`);
    }
    if (offset + length > bytes.byteLength) {
      throw new UserError(`${location}: initializer ${t.name} runs past the end of the file (bytes ${offset}..${offset + length} of ${bytes.byteLength}): truncated?`);
    }
    return bytes.subarray(offset, offset + length);
  }
  let bytes: Uint8Array;
  if (t.rawData?.byteLength) bytes = t.rawData;
  else if (t.floatData?.length) bytes = new Uint8Array(Float32Array.from(t.floatData).buffer);
  else if (t.doubleData?.length) bytes = new Uint8Array(Float64Array.from(t.doubleData).buffer);
  else if (t.int64Data?.length) bytes = new Uint8Array(BigInt64Array.from(t.int64Data.map((v) => BigInt(toNumber(v as Int64)))).buffer);
  else if (t.int32Data?.length) { // int32, and the narrower types (float16 as uint16 bit patterns, bool, int8...) widened
    const narrow = size === 1 ? Uint8Array.from(t.int32Data) : size === 2 ? new Uint8Array(Uint16Array.from(t.int32Data).buffer) : new Uint8Array(Int32Array.from(t.int32Data).buffer);
    bytes = narrow;
  } else bytes = new Uint8Array(0);
  if (bytes.byteLength !== want) {
    throw new UserError(`${file}: initializer ${t.name} holds ${bytes.byteLength} bytes but its shape [${t.dims.map(toNumber)}] needs ${want}: truncated or corrupt`);
  }
  return bytes;
}

/** Decodes an in-memory .onnx file; `external` supplies its external data files. */
export async function parseOnnx(bytes: Uint8Array, file: string, external: ExternalFiles): Promise<OnnxFile> {
  let m: proto.onnx.ModelProto;
  try {
    m = onnx.ModelProto.decode(bytes);
  } catch (e) {
    throw new UserError(`${file}: truncated or corrupt ONNX file (${(e as Error).message.split('\n')[0]})`);
  }
  if (!m.graph || m.opsetImport.length === 0) throw new UserError(`${file}: not an ONNX model (no graph or no opset_import): truncated or corrupt?`);
  const opset = checkOpsets(m, file);
  const g = m.graph as proto.onnx.GraphProto; // decoded messages are full instances, defaults filled in
  const cache = new Map<string, Promise<Uint8Array | undefined>>();
  const initializers = new Map<string, OnnxInitializer>();
  for (const t of g.initializer as proto.onnx.TensorProto[]) {
    const dims = t.dims.map((d) => toNumber(d as Int64));
    const count = dims.reduce((a, b) => a * b, 1);
    if (!Number.isSafeInteger(count) || count < 0) throw new UserError(`${file}: initializer ${t.name} has an invalid shape [${dims}]`);
    initializers.set(t.name, { name: t.name, dims, dataType: t.dataType, bytes: await tensorBytes(t, count, file, external, cache) });
  }
  return {
    file, producer: m.producerName, opset,
    metadata: Object.fromEntries(m.metadataProps.map((p) => [p.key, p.value])),
    initializers,
    opTypes: new Set((g.node as proto.onnx.NodeProto[]).map((n) => n.opType)),
    inputs: (g.input as proto.onnx.ValueInfoProto[]).map((v) => v.name),
    outputs: (g.output as proto.onnx.ValueInfoProto[]).map((v) => v.name),
  };
}

const dirOf = (p: string) => (p.includes('/') ? p.slice(0, p.lastIndexOf('/')) || '/' : '.');

/** Reads a .onnx file and its external data files (relative to its folder) from disk (Node, Deno). */
export async function readOnnxFile(path: string): Promise<OnnxFile> {
  const info = await stat(path);
  if (!info?.isFile) throw new UserError(`${path}: no such file`);
  const dir = dirOf(path);
  return parseOnnx(await readFile(path), path, async (location) => {
    const p = joinPath(dir, location);
    return (await stat(p))?.isFile ? readFile(p) : undefined;
  });
}

/** A floating-point initializer's values as float32 (float16, bfloat16 and double are converted). */
export function initializerFloats(t: OnnxInitializer, file: string): Float32Array {
  // copied into a fresh, aligned buffer (a Node Buffer's slice() would share the decoder's input)
  const b = new Uint8Array(t.bytes), n = b.byteLength / (ELEMENT_BYTES[t.dataType] ?? 1);
  switch (t.dataType) {
    case TensorType.FLOAT: return new Float32Array(b.buffer);
    case TensorType.DOUBLE: return Float32Array.from(new Float64Array(b.buffer));
    case TensorType.FLOAT16: {
      const h = new Uint16Array(b.buffer), out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = f16ToF32(h[i]);
      return out;
    }
    case TensorType.BFLOAT16: {
      const h = new Uint16Array(b.buffer), out = new Uint32Array(n);
      for (let i = 0; i < n; i++) out[i] = h[i] << 16;
      return new Float32Array(out.buffer);
    }
    default: throw new UserError(`${file}: initializer ${t.name} has data type ${t.dataType}, not a floating-point type`);
  }
}
