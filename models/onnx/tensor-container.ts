// Tensors stored as an ONNX model whose graph holds only initializers: what `onnx.load` + `numpy_helper.to_array`
// read in Python without any webtune code. Checkpoints use it for adapter.onnx (the trainable tensors) and
// optimizer.onnx (AdamW moments and the step count). float32 tensors in raw_data, inline (one file).
import * as proto from 'onnx-proto';
import { TensorType, parseOnnx, initializerFloats } from './reader.ts';

type Onnx = typeof proto.onnx;
const onnx: Onnx = (proto as unknown as { onnx?: Onnx }).onnx ?? (proto as unknown as { default: { onnx: Onnx } }).default.onnx;

export interface ContainerTensor {
  shape: number[];
  data: Float32Array | BigInt64Array;
  /** stored as the tensor's doc_string (e.g. the trainer's own parameter name) */
  doc?: string;
}

const bytesOf = (a: Float32Array | BigInt64Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** Serializes named tensors (in the given order) as an initializer-only ONNX model (opset 17). */
export function writeTensorContainer(tensors: Map<string, ContainerTensor>, metadata: Record<string, string> = {}, graphName = 'tensors'): Uint8Array {
  const initializer = [...tensors].map(([name, t]) => {
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) throw new Error(`tensor ${name}: shape [${t.shape}] does not match ${t.data.length} elements`);
    return onnx.TensorProto.create({
      name, dims: t.shape, dataType: t.data instanceof BigInt64Array ? TensorType.INT64 : TensorType.FLOAT,
      rawData: bytesOf(t.data), docString: t.doc ?? '',
    });
  });
  const model = onnx.ModelProto.create({
    irVersion: 8, producerName: 'webtune', producerVersion: '0.1.0', opsetImport: [{ domain: '', version: 17 }],
    metadataProps: Object.entries(metadata).map(([key, value]) => ({ key, value })),
    graph: { name: graphName, initializer },
  });
  return onnx.ModelProto.encode(model).finish();
}

/** Reads a container back: float tensors as float32, int64 tensors as BigInt64Array. */
export async function readTensorContainer(bytes: Uint8Array, file: string): Promise<{ tensors: Map<string, ContainerTensor>; metadata: Record<string, string> }> {
  const m = await parseOnnx(bytes, file, async () => undefined);
  const tensors = new Map<string, ContainerTensor>();
  for (const [name, t] of m.initializers) {
    const data = t.dataType === TensorType.INT64 ? new BigInt64Array(new Uint8Array(t.bytes).buffer) : initializerFloats(t, file);
    tensors.set(name, { shape: t.dims, data });
  }
  return { tensors, metadata: m.metadata };
}
