// Builds ONNX models with the schema of onnx-proto (protobufjs static code): a small graph builder whose
// nodes use standard operators of the default domain, and a serializer that puts large initializers in an
// external data file (data_location = EXTERNAL with location/offset/length entries, as onnx.save writes them),
// split into several files (model.onnx_data, model.onnx_data_1, …, as transformers.js loads them) past 2 GiB.
import * as proto from 'onnx-proto';

// onnx-proto is CommonJS: Node's ESM loader exposes it as the default export, bundlers as named exports.
type Onnx = typeof proto.onnx;
const onnx: Onnx = (proto as unknown as { onnx?: Onnx }).onnx ?? (proto as unknown as { default: { onnx: Onnx } }).default.onnx;
type IAttributeProto = proto.onnx.IAttributeProto;
type IValueInfoProto = proto.onnx.IValueInfoProto;
type INodeProto = proto.onnx.INodeProto;
type ITensorProto = proto.onnx.ITensorProto;

export const DataType = { FLOAT: 1, INT32: 6, INT64: 7, BOOL: 9, FLOAT16: 10 } as const;
const AttrType = onnx.AttributeProto.AttributeType;

/** A dimension: a fixed size or a symbolic name (dim_param). */
export type Dim = number | string;

/** An attribute value: an integer, a list of integers, a string, or a float wrapped as { f }. */
export type AttrValue = number | number[] | string | { f: number };

interface Initializer { name: string; dims: number[]; dataType: number; bytes: Uint8Array }

function attribute(name: string, v: AttrValue): IAttributeProto {
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new Error(`attribute ${name}: ${v} is not an integer (wrap floats as { f })`);
    return { name, type: AttrType.INT, i: v };
  }
  if (typeof v === 'string') return { name, type: AttrType.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return { name, type: AttrType.INTS, ints: v };
  return { name, type: AttrType.FLOAT, f: v.f };
}

function valueInfo(name: string, elemType: number, shape: Dim[]): IValueInfoProto {
  return {
    name,
    type: { tensorType: { elemType, shape: { dim: shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
  };
}

type TensorData = Float32Array | BigInt64Array | Int32Array | Uint16Array | Uint8Array;
const bytesOf = (a: TensorData): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

const f32 = new Float32Array(1), u32 = new Uint32Array(f32.buffer);
/** IEEE binary16 bits of one value, rounded to nearest even (as numpy's astype(float16)); overflow → ±inf. */
export function toHalfBits(v: number): number {
  f32[0] = v;
  const x = u32[0], sign = (x >>> 16) & 0x8000, exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 112; // rebias 127 → 15
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) { // subnormal half (or zero)
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e, rem = mant & ((1 << shift) - 1), halfway = 1 << (shift - 1);
    let h = mant >>> shift;
    if (rem > halfway || (rem === halfway && (h & 1))) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1))) h++; // a carry into the exponent is still right (up to inf)
  return sign | h;
}

/** float32 values → float16 bits. */
export function toFloat16(a: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = toHalfBits(a[i]);
  return out;
}

export class GraphBuilder {
  readonly nodes: INodeProto[] = [];
  readonly initializers: Initializer[] = [];
  readonly inputs: IValueInfoProto[] = [];
  readonly outputs: IValueInfoProto[] = [];
  private readonly names = new Set<string>();
  private counter = 0;

  private fresh(hint: string): string {
    let name = hint;
    while (this.names.has(name)) name = `${hint}_${++this.counter}`;
    this.names.add(name);
    return name;
  }

  input(name: string, elemType: number, shape: Dim[]): string {
    if (this.names.has(name)) throw new Error(`duplicate graph name ${name}`);
    this.names.add(name);
    this.inputs.push(valueInfo(name, elemType, shape));
    return name;
  }

  /** Declares `value` (an existing name) as a graph output; renames it through Identity when the names differ. */
  output(value: string, name: string, elemType: number, shape: Dim[]): void {
    if (value !== name) this.node('Identity', [value], {}, name);
    this.outputs.push(valueInfo(name, elemType, shape));
  }

  /** Adds one node and returns the name of its (first) output. */
  node(op: string, inputs: string[], attrs: Record<string, AttrValue> = {}, outName?: string): string {
    return this.nodeN(op, inputs, 1, attrs, outName)[0];
  }

  nodeN(op: string, inputs: string[], nOut: number, attrs: Record<string, AttrValue> = {}, outName?: string): string[] {
    const base = outName ?? `${op.toLowerCase()}_${this.nodes.length}`;
    const outs = Array.from({ length: nOut }, (_, k) => (outName && k === 0 && !this.names.has(outName) ? (this.names.add(outName), outName) : this.fresh(k ? `${base}_${k}` : base)));
    this.nodes.push({
      name: `${op}_${this.nodes.length}`, opType: op, input: inputs, output: outs,
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return outs;
  }

  /** A tensor initializer (weights, constants); large ones go to the external data file when serialized. */
  tensor(name: string, dims: number[], data: TensorData, dataType?: number): string {
    const n = this.fresh(name);
    const type = dataType ?? (data instanceof Float32Array ? DataType.FLOAT : data instanceof BigInt64Array ? DataType.INT64
      : data instanceof Int32Array ? DataType.INT32 : data instanceof Uint16Array ? DataType.FLOAT16 : DataType.BOOL);
    const count = dims.reduce((a, b) => a * b, 1);
    if (count !== data.length) throw new Error(`initializer ${name}: ${data.length} values for shape [${dims}]`);
    this.initializers.push({ name: n, dims, dataType: type, bytes: bytesOf(data).slice() });
    return n;
  }

  f32(name: string, values: number[] | Float32Array, dims?: number[]): string {
    const a = Float32Array.from(values);
    return this.tensor(name, dims ?? (a.length === 1 && !Array.isArray(values) ? [] : [a.length]), a);
  }

  /** An int64 constant; `scalar` gives a rank-0 tensor. */
  i64(name: string, values: number[], scalar = false): string {
    return this.tensor(name, scalar ? [] : [values.length], BigInt64Array.from(values.map(BigInt)));
  }

  /** A float32 scalar (rank 0). */
  scalar(name: string, v: number): string {
    return this.tensor(name, [], Float32Array.of(v));
  }
}

export interface SerializeOptions {
  graphName?: string;
  opset?: number;
  /** file name of the external data, relative to the model file; further files add _1, _2, … */
  externalData: string;
  /** initializers of at least this many bytes go to the external file (default 1024) */
  externalThreshold?: number;
  /** a new external file starts before one would grow past this (default 2 GiB; a larger tensor gets its own) */
  maxFileBytes?: number;
  metadata?: Record<string, string>;
  producerVersion?: string;
}

export interface ExternalFile { name: string; bytes: Uint8Array }

/** The ModelProto bytes and the external data files (`data`: the first one's bytes, empty when none). */
export interface SerializedModel { model: Uint8Array; data: Uint8Array; files: ExternalFile[] }

/** Serializes the graph with its large initializers in external files of at most maxFileBytes each. */
export function serializeModel(g: GraphBuilder, opts: SerializeOptions): SerializedModel {
  const threshold = opts.externalThreshold ?? 1024, maxBytes = opts.maxFileBytes ?? 2 ** 31, ALIGN = 64;
  const layout: { name: string; parts: Uint8Array[]; size: number }[] = [];
  const initializer: ITensorProto[] = g.initializers.map((t) => {
    const base: ITensorProto = { name: t.name, dims: t.dims, dataType: t.dataType };
    if (t.bytes.length < threshold) return { ...base, rawData: t.bytes };
    let file = layout[layout.length - 1];
    const pad = file ? (ALIGN - (file.size % ALIGN)) % ALIGN : 0;
    if (!file || (file.size > 0 && file.size + pad + t.bytes.length > maxBytes)) {
      file = { name: layout.length ? `${opts.externalData}_${layout.length}` : opts.externalData, parts: [], size: 0 };
      layout.push(file);
    } else if (pad) { file.parts.push(new Uint8Array(pad)); file.size += pad; }
    const entry = { ...base, dataLocation: onnx.TensorProto.DataLocation.EXTERNAL, externalData: [
      { key: 'location', value: file.name }, { key: 'offset', value: String(file.size) }, { key: 'length', value: String(t.bytes.length) },
    ] };
    file.parts.push(t.bytes);
    file.size += t.bytes.length;
    return entry;
  });
  const files = layout.map(({ name, parts, size }) => {
    const bytes = new Uint8Array(size);
    let at = 0;
    for (const p of parts) { bytes.set(p, at); at += p.length; }
    return { name, bytes };
  });
  const opset = opts.opset ?? 17;
  const model = onnx.ModelProto.create({
    irVersion: opset >= 18 ? 9 : 8,
    producerName: 'webtune',
    producerVersion: opts.producerVersion ?? '0.1.0',
    opsetImport: [{ domain: '', version: opset }],
    metadataProps: Object.entries(opts.metadata ?? {}).map(([key, value]) => ({ key, value })),
    graph: {
      name: opts.graphName ?? 'main_graph', node: g.nodes, initializer, input: g.inputs, output: g.outputs,
    },
  });
  return { model: onnx.ModelProto.encode(model).finish(), data: files[0]?.bytes ?? new Uint8Array(0), files };
}
