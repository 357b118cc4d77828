/// <reference types="@webgpu/types" />
// WebGPU implementation of Ops. Kernels live beside this file as WGSL (imported as text by the bundler).
//
// Cost model that shapes this file:
// - The first dispatch of a pipeline compiles it (can take seconds): pipelines are cached per (kernel, constants).
// - Each dispatch costs ~20-90 µs on Dawn and a submit+wait ~12 ms on Deno: all ops are recorded into one
//   command encoder / compute pass, submitted only when `read` (or an ordering need) requires it.
// - The model repeats the same ops on the same buffers every token: uniform parameter buffers and bind groups are
//   cached by (pipeline, buffers, params), so a repeated decode step creates no new GPU objects.
// - Matmul has two strategies: 'register' (no workgroup memory; CPU adapters like lavapipe, where barriers are
//   expensive) and 'tiled' (shared-memory tiles; real GPUs). M = 1 uses a matvec kernel tuned the same way.
// - A tensor larger than one binding may hold (maxStorageBufferBindingSize, e.g. a 151,936 × 896 embedding against
//   lavapipe's 128 MiB) is split along its rows into several buffers ("pieces", see create); the ops that meet such
//   tensors (embedding, matmul's weight, and in train-ops.ts the GEMMs, cross-entropy and optimizers) run per piece.
import { f16BitsToF32, f32ToF16Bits, roundToF16, ropeInvFreqTable, ropeKey, type BackendCaps, type Buf, type DType, type Ops, type RopeFreqs } from '../core/ops.ts';
import { onUncapturedError, type GpuContext } from '../runtime/webgpu.ts';
import { getEnv } from '../runtime/platform.ts';
import matmulVec4 from './matmul-vec4.wgsl';
import matmulScalar from './matmul-scalar.wgsl';
import matmulRegister from './matmul-register.wgsl';
import matmulTiled from './matmul-tiled.wgsl';
import matvec from './matvec.wgsl';
import biasSrc from './bias.wgsl';
import rmsnormSrc from './rmsnorm.wgsl';
import ropeSrc from './rope.wgsl';
import kvstoreSrc from './kvstore.wgsl';
import embeddingSrc from './embedding.wgsl';
import elementwiseSrc from './elementwise.wgsl';
import attentionSrc from './attention.wgsl';

export type MatmulStrategy = 'tiled' | 'register';

/** Kernel shapes; every field is a generated WGSL constant. */
export interface KernelConfig {
  /** register-blocked matmul: each invocation computes TM×TN outputs; workgroup WGX×WGY */
  register: { TM: number; TN: number; WGX: number; WGY: number };
  /** tiled matmul: BM×BN tile per workgroup, K in BK slices (multiple of 4), TM×TN per invocation */
  tiled: { BM: number; BN: number; BK: number; TM: number; TN: number };
  /** matvec (M = 1): TPR invocations per row (power of two), RPW rows per workgroup */
  matvec: { TPR: number; RPW: number };
  /** workgroup size of rmsnorm (power of two) and attention (= keys per chunk) */
  rmsnormWG: number;
  attentionWG: number;
}

export interface WebGpuOpsOptions {
  /** default: 'register' on CPU adapters (gpu.isCpu), else 'tiled' */
  matmul?: MatmulStrategy;
  /** override parts of the per-strategy defaults */
  config?: Partial<KernelConfig>;
  /**
   * Split tensors given a row length (weights, their gradients) above this many bytes, as if the device's binding
   * limit were this low (default: the limit; env WEBTUNE_MAX_BINDING_BYTES): tests exercise the split path with it.
   */
  maxBindingBytes?: number;
  /** false: ignore the device's subgroups, as on adapters without them (tests keep those kernels covered) */
  subgroups?: boolean;
  /** false: act as an adapter without shader-f16 (tests of that path on one that has it) */
  f16?: boolean;
}

const CPU_CONFIG: KernelConfig = {
  register: { TM: 4, TN: 4, WGX: 8, WGY: 8 },
  tiled: { BM: 32, BN: 32, BK: 16, TM: 4, TN: 4 },
  matvec: { TPR: 1, RPW: 64 },
  rmsnormWG: 64,
  attentionWG: 32,
};
const GPU_CONFIG: KernelConfig = {
  register: { TM: 4, TN: 4, WGX: 16, WGY: 16 },
  tiled: { BM: 64, BN: 64, BK: 16, TM: 4, TN: 4 },
  matvec: { TPR: 64, RPW: 4 },
  rmsnormWG: 256,
  attentionWG: 64,
};

export class GBuf implements Buf {
  /** bind-group cache keys that reference this buffer, evicted on free */
  readonly bindKeys: string[] = [];
  /**
   * A split tensor: its pieces, each a whole number of rows, in order (this.buffer is then unused and never bound).
   * Every piece but the last holds the same number of elements.
   */
  parts?: GBuf[];
  constructor(readonly buffer: GPUBuffer, readonly length: number, readonly dtype: DType, readonly id: number,
    /** f16 storage of an f32 tensor (Ops.upload's half) */
    readonly half = false) {}
}

/**
 * The f16-storage variant of a kernel's f32 storage array `name` (element type f32 or vec4<f32>): declared as f16
 * and every `name[i]` read widened to f32, so the arithmetic stays f32. Throws if the source does not match.
 */
const halfVariants = new Map<string, string>();
export function halfVariant(src: string, name: string): string {
  const key = `${name}\0${src}`, hit = halfVariants.get(key);
  if (hit) return hit;
  const decl = new RegExp(`var<storage, read> ${name}: array<(f32|vec4<f32>)>;`);
  src = src.replace(/\/\/.*$/gm, '');  // comments may mention name[…] in any form
  const m = decl.exec(src);
  if (!m) throw new Error(`webgpu: no f32 storage array ${name} to store as f16`);
  const out = src.replace(decl, `var<storage, read> ${name}_h: array<${m[1].replace('f32', 'f16')}>;`)
    .replace(new RegExp(`\\b${name}\\[([^\\[\\]]*)\\]`, 'g'), `${m[1]}(${name}_h[$1])`);
  if (new RegExp(`\\b${name}\\[`).test(out)) throw new Error(`webgpu: ${name} is indexed in a way the f16 variant cannot rewrite`);
  halfVariants.set(key, out.startsWith('enable f16;') ? out : `enable f16;\n${out}`);  // two half arrays: one enable
  return halfVariants.get(key)!;
}

/** One piece of a (possibly split) tensor: its buffer and the element range it holds. */
export interface Piece { buf: Buf; start: number; length: number }

export interface Kernel { pipeline: GPUComputePipeline; key: string }

/**
 * WGSL for an f32 input that may be the output buffer: declares `name` at `binding` and `fn load_<name>(i)`, or,
 * when aliased, only a load_<name> that reads `dst` (WebGPU rejects one buffer in a writable binding and any other
 * binding of the same dispatch, so an in-place op must bind it once).
 */
function aliasableInput(name: string, binding: number, aliased: boolean): string {
  return aliased ? `fn load_${name}(i: u32) -> f32 { return dst[i]; }\n`
    : `@group(0) @binding(${binding}) var<storage, read> ${name}: array<f32>;\nfn load_${name}(i: u32) -> f32 { return ${name}[i]; }\n`;
}

// Scratch for bit-casting f32 params into the u32 uniform words.
const F32 = new Float32Array(1), U32 = new Uint32Array(F32.buffer);
const f32bits = (v: number) => { F32[0] = v; return U32[0]; };

export class WebGpuOps implements Ops {
  readonly name = 'webgpu' as const;
  readonly strategy: MatmulStrategy;
  /** the adapter in words (GpuContext.description) */
  private readonly description: string;
  readonly config: KernelConfig;
  private readonly device: GPUDevice;
  private readonly maxBinding: number;
  /** rows-split threshold for tensors with a row length (≤ maxBinding) */
  private readonly splitBytes: number;
  protected readonly maxGroups: number;
  /** the device has shader-f16: Ops.upload's half stores f16 */
  readonly hasF16: boolean;
  /** lanes of every subgroup where the device has subgroups of one fixed size (lavapipe: 8), else 0 */
  readonly subgroupSize: number;
  private nextId = 1;
  private readonly live = new Set<GBuf>();
  private readonly kernels = new Map<string, Kernel>();
  private readonly uniforms = new Map<string, GPUBuffer>();
  private readonly bindGroups = new Map<string, GPUBindGroup>();
  private readonly ropeTables = new Map<string, GBuf>();
  /** matmulSplit's scratch */
  private splitOut: GBuf | null = null;
  private staging: { buffer: GPUBuffer; busy: boolean }[] = [];
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private lastPipeline: GPUComputePipeline | null = null;
  /** buffers bound by ops recorded since the last submit */
  private readonly pending = new Set<GBuf>();
  private firstError: string | null = null;
  /** half KV caches of a device without shader-f16: f32 buffers whose stores are rounded to f16 */
  private readonly roundedCaches = new WeakSet<GBuf>();
  private readonly stopErrors: () => void;

  constructor(gpu: GpuContext, options: WebGpuOpsOptions = {}) {
    this.device = gpu.device;
    this.description = gpu.description;
    this.strategy = options.matmul ?? (gpu.isCpu ? 'register' : 'tiled');
    // The matvec/rmsnorm/attention shapes follow the adapter kind the strategy is meant for.
    this.config = { ...(this.strategy === 'register' ? CPU_CONFIG : GPU_CONFIG), ...options.config };
    this.maxBinding = Math.min(this.device.limits.maxStorageBufferBindingSize, this.device.limits.maxBufferSize);
    const cap = options.maxBindingBytes ?? Number(getEnv('WEBTUNE_MAX_BINDING_BYTES') || Infinity);
    this.splitBytes = Math.min(this.maxBinding, cap > 0 ? cap : Infinity);
    this.maxGroups = this.device.limits.maxComputeWorkgroupsPerDimension;
    this.hasF16 = options.f16 !== false && this.device.features.has('shader-f16');
    const info = (gpu.adapter as GPUAdapter & { info?: { subgroupMinSize?: number; subgroupMaxSize?: number } }).info;
    this.subgroupSize = options.subgroups !== false && this.device.features.has('subgroups' as GPUFeatureName) && info?.subgroupMinSize &&
      info.subgroupMinSize === info.subgroupMaxSize ? info.subgroupMinSize : 0;
    // Validation errors surface asynchronously; keep the first and rethrow it from the next read.
    this.stopErrors = onUncapturedError(this.device, (message) => { this.firstError ??= message; });
  }

  get caps(): BackendCaps {
    return { train: false, f16Storage: this.hasF16, subgroupSize: this.subgroupSize, maxBindingBytes: this.splitBytes, device: this.description };
  }

  /** Counts of cached GPU objects (tests check that a repeated step creates none). */
  stats() {
    let bytes = 0;
    for (const b of this.live) bytes += b.buffer.size;
    return { buffers: this.live.size, bytes, pipelines: this.kernels.size, uniforms: this.uniforms.size, bindGroups: this.bindGroups.size };
  }

  // ---- memory ----

  /**
   * A buffer; one with a rowLength (weights, their gradients and moments) is split into pieces of whole rows when it
   * is larger than splitBytes. Any other must fit one binding (activations: the caller lowers the batch instead).
   */
  private create(length: number, dtype: DType, data?: Float32Array | Int32Array | Uint32Array, rowLength?: number, half = false): GBuf {
    const elem = half ? 2 : 4;
    const bytes = Math.max(16, Math.ceil((length * elem) / 16) * 16);  // 16-byte multiple: valid as array<vec4<f32>>
    if (rowLength && bytes > this.splitBytes) {
      const limit = this.splitBytes, row = rowLength, rowsPer = Math.floor(Math.floor(limit / 16) * 16 / elem / row);
      if (rowsPer < 1) throw new Error(`webgpu: a row of ${row} elements (${row * elem} bytes) exceeds this device's maxStorageBufferBindingSize (${limit} bytes)`);
      const per = rowsPer * row, parts: GBuf[] = [];
      for (let at = 0; at < length; at += per) {
        const n = Math.min(per, length - at);
        parts.push(this.create(n, dtype, data?.subarray(at, at + n), undefined, half));
      }
      const b = new GBuf(parts[0].buffer, length, dtype, this.nextId++, half);
      b.parts = parts;
      return b;
    }
    if (bytes > this.maxBinding) {
      throw new Error(`webgpu: buffer of ${length} elements (${bytes} bytes) exceeds this device's ` +
        `maxStorageBufferBindingSize (${this.maxBinding} bytes)`);
    }
    const buffer = this.device.createBuffer({
      size: bytes, mappedAtCreation: data !== undefined,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
    });
    if (data) {
      const src = half ? Uint16Array.from(data, f32ToF16Bits) : data;
      new Uint8Array(buffer.getMappedRange()).set(new Uint8Array(src.buffer, src.byteOffset, src.byteLength));
      buffer.unmap();
    }
    const b = new GBuf(buffer, length, dtype, this.nextId++, half);
    this.live.add(b);
    return b;
  }

  /** rowLength: the tensor is [length / rowLength, rowLength] and may be split along its rows (see create). */
  alloc(length: number, dtype: DType = 'f32', rowLength?: number): Buf { return this.create(length, dtype, undefined, rowLength); }

  /** A KV cache (Ops.allocCache): f16 storage where the device has shader-f16, else f32 (kvStore then rounds). */
  allocCache(length: number, half: boolean): Buf {
    if (!half || this.hasF16) return this.create(length, 'f32', undefined, undefined, half);
    const b = this.create(length, 'f32');
    this.roundedCaches.add(b);
    return b;
  }

  upload(data: Float32Array | Int32Array, rowLength?: number, half = false): Buf {
    if (half && data instanceof Float32Array) {  // without shader-f16: f32 storage of the f16-rounded values
      return this.hasF16 ? this.create(data.length, 'f32', data, rowLength, true) : this.create(data.length, 'f32', roundToF16(data), rowLength);
    }
    return this.create(data.length, data instanceof Int32Array ? 'i32' : 'f32', data, rowLength);
  }

  /** The pieces of a tensor: one unless it is split (see create). */
  pieces(buf: Buf): Piece[] {
    const b = buf as GBuf;
    if (!b.parts) return [{ buf: b, start: 0, length: b.length }];
    const per = b.parts[0].length;
    return b.parts.map((p, i) => ({ buf: p, start: i * per, length: p.length }));
  }

  /** The error for a tensor split across bindings that reaches an op that needs it whole. */
  protected tooLarge(op: string, b: Buf): Error {
    return new Error(`webgpu: ${op}: buffer of ${b.length} elements (${b.length * 4} bytes) exceeds this device's ` +
      `maxStorageBufferBindingSize (${this.maxBinding} bytes), and this op cannot take it split across bindings`);
  }

  write(buf: Buf, data: Float32Array | Int32Array): void {
    if (data.length > buf.length) throw new Error(`webgpu: write of ${data.length} elements into a buffer of ${buf.length}`);
    if ((buf as GBuf).parts) {
      for (const p of this.pieces(buf)) if (p.start < data.length) this.write(p.buf, data.subarray(p.start, p.start + p.length));
      return;
    }
    // queue.writeBuffer takes effect before any encoder submitted later: submit recorded ops that use buf first.
    if (this.pending.has(buf as GBuf)) this.flush();
    if ((buf as GBuf).half) {  // f16 bits, padded to the 4-byte multiple writeBuffer needs
      const h = new Uint16Array(data.length + (data.length & 1));
      data.forEach((v, i) => { h[i] = f32ToF16Bits(v); });
      data = new Float32Array(h.buffer);
    }
    this.device.queue.writeBuffer((buf as GBuf).buffer, 0, data.buffer, data.byteOffset, data.byteLength);
  }

  async read(buf: Buf, length = buf.length): Promise<Float32Array> {
    const bytes = await this.readBytes(buf as GBuf, length);
    return (buf as GBuf).half ? Float32Array.from(new Uint16Array(bytes), f16BitsToF32) : new Float32Array(bytes);
  }

  async readI32(buf: Buf, length = buf.length): Promise<Int32Array> {
    return new Int32Array(await this.readBytes(buf as GBuf, length));
  }

  /** The first `length` elements' bytes (2 per element of an f16 buffer, else 4). */
  private async readBytes(buf: GBuf, length: number): Promise<ArrayBuffer> {
    const elem = buf.half ? 2 : 4, n = Math.min(length, buf.length), bytes = n * elem;
    if (bytes === 0) return new ArrayBuffer(0);
    if (buf.parts) {  // piece by piece, so that no staging buffer is larger than one piece
      const out = new Uint8Array(bytes);
      for (const p of this.pieces(buf)) {
        if (p.start < n) out.set(new Uint8Array(await this.readBytes(p.buf as GBuf, Math.min(p.length, n - p.start))), p.start * elem);
      }
      return out.buffer;
    }
    const copy = Math.ceil(bytes / 4) * 4;  // copies move 4-byte multiples (buffers are 16-byte multiples)
    const stage = this.takeStaging(copy);
    this.endPass();
    this.encoder ??= this.device.createCommandEncoder();
    this.encoder.copyBufferToBuffer(buf.buffer, 0, stage.buffer, 0, copy);
    this.flush();
    try {
      await stage.buffer.mapAsync(GPUMapMode.READ, 0, copy);
      const out = stage.buffer.getMappedRange(0, copy).slice(0, bytes);
      stage.buffer.unmap();
      const err = this.firstError;
      this.firstError = null;
      if (err) throw new Error(`webgpu: ${err}`);
      return out;
    } finally {
      stage.busy = false;
    }
  }

  // Reusable MAP_READ buffers; several may be in flight when reads are awaited together.
  private takeStaging(bytes: number) {
    let s = this.staging.find((x) => !x.busy && x.buffer.size >= bytes);
    if (!s) {
      const size = Math.max(4096, 2 ** Math.ceil(Math.log2(bytes)));
      s = { buffer: this.device.createBuffer({ size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST }), busy: false };
      this.staging.push(s);
    }
    s.busy = true;
    return s;
  }

  free(buf: Buf): void {
    const b = buf as GBuf;
    if (b.parts) { for (const p of b.parts) this.free(p); return; }
    if (!this.live.delete(b)) return;
    if (this.pending.has(b)) this.flush();  // destroying after submit is safe, before it is not
    for (const k of b.bindKeys) this.bindGroups.delete(k);
    b.buffer.destroy();
  }

  destroy(): void {
    this.endPass();
    this.encoder = null;
    for (const b of this.live) b.buffer.destroy();
    for (const u of this.uniforms.values()) u.destroy();
    for (const s of this.staging) s.buffer.destroy();
    this.live.clear(); this.uniforms.clear(); this.bindGroups.clear(); this.kernels.clear(); this.ropeTables.clear();
    this.splitOut = null;
    this.staging = [];
    this.stopErrors();
    // The device belongs to runtime/webgpu.ts (shared by every WebGpuOps); releaseGPU() destroys it.
  }

  // ---- recording ----

  private endPass() {
    this.pass?.end();
    this.pass = null;
    this.lastPipeline = null;
  }

  /** Submit everything recorded so far (does not wait). */
  flush(): void {
    this.endPass();
    if (this.encoder) this.device.queue.submit([this.encoder.finish()]);
    this.encoder = null;
    this.pending.clear();
  }

  /** Pipeline for `src` with generated u32 constants; `name` must identify src (it keys the cache). */
  protected kernel(name: string, src: string, consts: Record<string, number> = {}): Kernel {
    const key = `${name}${JSON.stringify(consts)}`;
    let k = this.kernels.get(key);
    if (!k) {
      const header = Object.entries(consts).map(([c, v]) => `const ${c}: u32 = ${v}u;`).join('\n');
      // `enable` directives (f16 variants) must precede every declaration, the generated constants included
      const enables = src.match(/^enable [^;]*;\n/gm) ?? [];
      const body = enables.reduce((t, e) => t.replace(e, ''), src);
      const module = this.device.createShaderModule({ label: key, code: `${[...new Set(enables)].join('')}${header}\n${body}` });
      const pipeline = this.device.createComputePipeline({ label: name, layout: 'auto', compute: { module, entryPoint: 'main' } });
      k = { pipeline, key };
      this.kernels.set(key, k);
    }
    return k;
  }

  /**
   * Record one dispatch. params are u32 words (floats via f32bits) bound at 0; bufs[i] binds at i + 1, where
   * bufs[0] is the one written and null marks an input the kernel reads through dst (aliasableInput).
   */
  protected dispatch(k: Kernel, params: number[], slots: (Buf | null)[], x: number, y = 1, z = 1) {
    const bufs = slots as (GBuf | null)[];
    for (const b of bufs) {
      if (b?.parts) throw this.tooLarge(k.key, b);
      if (b?.half && !k.key.includes('-f16')) throw new Error(`webgpu: ${k.key} cannot read an f16 weight (Ops.upload's half)`);
    }
    if (bufs.indexOf(bufs[0], 1) > 0) throw new Error(`webgpu: ${k.key} cannot write into one of its inputs`);
    if (x === 0 || y === 0 || z === 0) return;
    if (Math.max(x, y, z) > this.maxGroups) {
      throw new Error(`webgpu: ${k.key} needs ${x}×${y}×${z} workgroups, over the device limit of ${this.maxGroups} per dimension`);
    }
    const pkey = params.join(',');
    let uniform = this.uniforms.get(pkey);
    if (!uniform) {
      uniform = this.device.createBuffer({ size: Math.max(16, Math.ceil(params.length / 4) * 16), usage: GPUBufferUsage.UNIFORM, mappedAtCreation: true });
      new Uint32Array(uniform.getMappedRange()).set(params);
      uniform.unmap();
      this.uniforms.set(pkey, uniform);
    }
    const bkey = `${k.key}|${bufs.map((b) => b?.id ?? '-').join(',')}|${pkey}`;
    let group = this.bindGroups.get(bkey);
    if (!group) {
      const entries: GPUBindGroupEntry[] = [{ binding: 0, resource: { buffer: uniform } }];
      bufs.forEach((b, i) => { if (b) entries.push({ binding: i + 1, resource: { buffer: b.buffer } }); });
      group = this.device.createBindGroup({ layout: k.pipeline.getBindGroupLayout(0), entries });
      this.bindGroups.set(bkey, group);
      for (const b of new Set(bufs)) b?.bindKeys.push(bkey);
    }
    this.encoder ??= this.device.createCommandEncoder();
    this.pass ??= this.encoder.beginComputePass();
    if (this.lastPipeline !== k.pipeline) this.pass.setPipeline(k.pipeline);
    this.lastPipeline = k.pipeline;
    this.pass.setBindGroup(0, group);
    this.pass.dispatchWorkgroups(x, y, z);
    for (const b of bufs) if (b) this.pending.add(b);
  }

  // ---- ops ----

  embedding(out: Buf, table: Buf, ids: Buf, T: number, dim: number): void {
    check('embedding', [out, T * dim], [ids, T, 'i32']);
    const rows = Math.floor(table.length / dim);
    for (const p of this.pieces(table)) {
      if (p.start % dim) throw new Error(`webgpu: embedding table split at element ${p.start}, not a row boundary of ${dim}`);
      const k = (p.buf as GBuf).half ? this.kernel('embedding-f16', halfVariant(embeddingSrc, 'table')) : this.kernel('embedding', embeddingSrc);
      this.dispatch(k, [dim, p.start / dim, Math.floor(p.length / dim), rows], [out, p.buf, ids], Math.ceil(dim / 64), T);
    }
  }

  rmsnorm(out: Buf, x: Buf, w: Buf, T: number, dim: number, eps: number): void {
    check('rmsnorm', [out, T * dim], [x, T * dim], [w, dim]);
    const inPlace = out === x;
    const k = this.kernel(`rmsnorm${inPlace ? '-inplace' : ''}`, aliasableInput('x', 2, inPlace) + rmsnormSrc, { WG: this.config.rmsnormWG });
    this.dispatch(k, [dim, f32bits(eps)], [out, inPlace ? null : x, w], T);
  }

  matmul(out: Buf, x: Buf, w: Buf, M: number, N: number, K: number): void {
    check('matmul', [out, M * N], [x, M * K], [w, N * K]);
    if (M === 0 || N === 0) return;
    if (K === 0) throw new Error('webgpu: matmul with K = 0');
    if ((w as GBuf).parts) { this.matmulSplit(out, x, w, M, N, K); return; }
    const half = (w as GBuf).half;  // f16 weight: the variant that widens w as it loads it
    const io = half ? halfVariant(K % 4 === 0 ? matmulVec4 : matmulScalar, 'w') : K % 4 === 0 ? matmulVec4 : matmulScalar;
    const variant = (K % 4 === 0 ? 'vec4' : 'scalar') + (half ? '-f16' : '');
    const params = [M, N, K, Math.ceil(K / 4)];
    const bufs = [out, x, w];
    if (M === 1) {
      const c = this.config.matvec;
      this.dispatch(this.kernel(`matvec-${variant}`, io + matvec, c), params, bufs, Math.ceil(N / c.RPW), M);
    } else if (this.strategy === 'register') {
      const c = this.config.register;
      this.dispatch(this.kernel(`matmul-register-${variant}`, io + matmulRegister, c), params, bufs,
        Math.ceil(N / (c.TN * c.WGX)), Math.ceil(M / (c.TM * c.WGY)));
    } else {
      const c = this.config.tiled;
      const consts = { ...c, WGX: c.BN / c.TN, WGY: c.BM / c.TM };
      this.dispatch(this.kernel(`matmul-tiled-${variant}`, io + matmulTiled, consts), params, bufs,
        Math.ceil(N / c.BN), Math.ceil(M / c.BM));
    }
  }

  /**
   * matmul with w split into pieces of whole rows: each piece's [M, n] product goes to a scratch buffer, then its
   * rows are copied into columns [n0, n0 + n) of out (one copy per row; M = 1 when decoding).
   */
  private matmulSplit(out: Buf, x: Buf, w: Buf, M: number, N: number, K: number) {
    if ((out as GBuf).parts) throw this.tooLarge('matmul', out);
    const pieces = this.pieces(w), most = Math.max(...pieces.map((p) => p.length / K));
    if (!this.splitOut || this.splitOut.length < M * most) {
      if (this.splitOut) this.free(this.splitOut);
      this.splitOut = this.create(M * most, 'f32');
    }
    const tmp = this.splitOut;
    for (const p of pieces) {
      if (p.start % K || p.length % K) throw new Error(`webgpu: matmul weight split at element ${p.start}, not a row boundary of ${K}`);
      const n0 = p.start / K, n = Math.min(p.length / K, N - n0);
      if (n <= 0) continue;
      this.matmul(tmp, x, p.buf, M, n, K);
      this.endPass();
      this.encoder ??= this.device.createCommandEncoder();
      for (let m = 0; m < M; m++) this.encoder.copyBufferToBuffer(tmp.buffer, m * n * 4, (out as GBuf).buffer, (m * N + n0) * 4, n * 4);
      this.pending.add(out as GBuf);
    }
  }

  rope(x: Buf, pos: Buf, T: number, nHeads: number, headDim: number, freqs: RopeFreqs): void {
    check('rope', [x, T * nHeads * headDim], [pos, T, 'i32']);
    if (headDim % 2) throw new Error(`webgpu: rope needs an even headDim, got ${headDim}`);
    const half = headDim / 2;
    this.dispatch(this.kernel('rope', ropeSrc), [nHeads, half], [x, pos, this.ropeTable(freqs, headDim)],
      Math.ceil((nHeads * half) / 64), T);
  }

  /**
   * Per-frequency θ/2π (turns per position) as 0.64 fixed point, [high, low] u32 pairs; see rope.wgsl.
   * inverse: the negated fractions (2^64 − f, exact), which rotate by −θ (the backward of RoPE).
   */
  protected ropeTable(freqs: RopeFreqs, headDim: number, inverse = false): GBuf {
    const key = `${ropeKey(freqs, headDim)}${inverse ? ':inverse' : ''}`;
    let t = this.ropeTables.get(key);
    if (!t) {
      const half = headDim / 2, words = new Uint32Array(half * 2), inv = ropeInvFreqTable(freqs, headDim);
      for (let j = 0; j < half; j++) {
        const turns = inv[j] / (2 * Math.PI);  // the fraction of a turn is all that matters
        const scaled = (turns - Math.floor(turns)) * 2 ** 32;
        words[2 * j] = Math.floor(scaled);
        words[2 * j + 1] = Math.floor((scaled - Math.floor(scaled)) * 2 ** 32);
        if (inverse) {
          const lo = words[2 * j + 1];
          words[2 * j + 1] = -lo >>> 0;
          words[2 * j] = (-words[2 * j] - (lo !== 0 ? 1 : 0)) >>> 0;
        }
      }
      t = this.create(words.length, 'i32', words);
      this.ropeTables.set(key, t);
    }
    return t;
  }

  kvStore(cache: Buf, src: Buf, pos: Buf, T: number, width: number): void {
    check('kvStore', [src, T * width], [pos, T, 'i32']);
    // f16 cache: stored as f16 (shader-f16), or rounded to f16 values in an f32 cache (ROUND) as the other backends do
    const half = (cache as GBuf).half, round = this.roundedCaches.has(cache as GBuf);
    const src16 = half ? `enable f16;\n${kvstoreSrc.replace('cache: array<f32>', 'cache: array<f16>').replace('cache[o] = v;', 'cache[o] = f16(v);')}` : kvstoreSrc;
    this.dispatch(this.kernel(`kvstore${half ? '-f16' : ''}`, src16, { ROUND: round ? 1 : 0 }), [width], [cache, src, pos], Math.ceil(width / 64), T);
  }

  attention(out: Buf, q: Buf, kCache: Buf, vCache: Buf, pos: Buf,
    T: number, nHeads: number, nKvHeads: number, headDim: number): void {
    check('attention', [out, T * nHeads * headDim], [q, T * nHeads * headDim], [pos, T, 'i32']);
    if (nHeads % nKvHeads) throw new Error(`webgpu: attention needs nHeads (${nHeads}) divisible by nKvHeads (${nKvHeads})`);
    const inPlace = out === q;
    const half = (kCache as GBuf).half && (vCache as GBuf).half, src = aliasableInput('q', 2, inPlace) + attentionSrc;
    const k = this.kernel(`attention${inPlace ? '-inplace' : ''}${half ? '-f16' : ''}`, half ? halfVariant(halfVariant(src, 'kc'), 'vc') : src,
      { WG: this.config.attentionWG, HEAD_DIM: headDim });
    this.dispatch(k, [nHeads, nHeads / nKvHeads, nKvHeads * headDim, f32bits(1 / Math.sqrt(headDim))],
      [out, inPlace ? null : q, kCache, vCache, pos], nHeads, T);
  }

  swiglu(out: Buf, gate: Buf, up: Buf, n: number): void { this.elementwise(1, out, gate, up, n); }

  add(out: Buf, a: Buf, b: Buf, n: number): void { this.elementwise(0, out, a, b, n); }

  addBias(x: Buf, bias: Buf, rows: number, dim: number): void {
    check('addBias', [x, rows * dim], [bias, dim]);
    const n = rows * dim;
    this.dispatch(this.kernel('bias', biasSrc), [n, dim], [x, bias], Math.min(Math.ceil(n / 256), this.maxGroups));
  }

  private elementwise(OP: number, out: Buf, a: Buf, b: Buf, n: number) {
    check(OP ? 'swiglu' : 'add', [out, n], [a, n], [b, n]);
    const aOut = a === out, bOut = b === out;
    const src = aliasableInput('a', 2, aOut) + aliasableInput('b', 3, bOut) + elementwiseSrc;
    this.dispatch(this.kernel(`elementwise-${+aOut}${+bOut}`, src, { OP }), [n], [out, aOut ? null : a, bOut ? null : b],
      Math.min(Math.ceil(n / 256), this.maxGroups));
  }
}

/** Host-side shape checks: a too-small buffer would otherwise read or drop data silently on the GPU. */
function check(op: string, ...items: [Buf, number, DType?][]) {
  for (const [b, n, dtype] of items) {
    if (b.length < n) throw new Error(`webgpu: ${op} needs a buffer of ${n} elements, got ${b.length}`);
    if (dtype && b.dtype !== dtype) throw new Error(`webgpu: ${op} needs an ${dtype} buffer, got ${b.dtype}`);
  }
}

export async function createWebGpuOps(gpu: GpuContext, options: WebGpuOpsOptions = {}): Promise<WebGpuOps> {
  return new WebGpuOps(gpu, options);
}
