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
import type { Buf, DType, Ops } from '../src/backend/ops.ts';
import type { GpuContext } from '../runtime/webgpu.ts';
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

class GBuf implements Buf {
  /** bind-group cache keys that reference this buffer, evicted on free */
  readonly bindKeys: string[] = [];
  constructor(readonly buffer: GPUBuffer, readonly length: number, readonly dtype: DType, readonly id: number) {}
}

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
  readonly config: KernelConfig;
  private readonly device: GPUDevice;
  private readonly maxBinding: number;
  protected readonly maxGroups: number;
  private nextId = 1;
  private readonly live = new Set<GBuf>();
  private readonly kernels = new Map<string, Kernel>();
  private readonly uniforms = new Map<string, GPUBuffer>();
  private readonly bindGroups = new Map<string, GPUBindGroup>();
  private readonly ropeTables = new Map<string, GBuf>();
  private staging: { buffer: GPUBuffer; busy: boolean }[] = [];
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private lastPipeline: GPUComputePipeline | null = null;
  /** buffers bound by ops recorded since the last submit */
  private readonly pending = new Set<GBuf>();
  private firstError: string | null = null;

  constructor(gpu: GpuContext, options: WebGpuOpsOptions = {}) {
    this.device = gpu.device;
    this.strategy = options.matmul ?? (gpu.isCpu ? 'register' : 'tiled');
    // The matvec/rmsnorm/attention shapes follow the adapter kind the strategy is meant for.
    this.config = { ...(this.strategy === 'register' ? CPU_CONFIG : GPU_CONFIG), ...options.config };
    this.maxBinding = Math.min(this.device.limits.maxStorageBufferBindingSize, this.device.limits.maxBufferSize);
    this.maxGroups = this.device.limits.maxComputeWorkgroupsPerDimension;
    // Validation errors surface asynchronously; keep the first and rethrow it from the next read.
    this.device.addEventListener?.('uncapturederror', (e) => {
      this.firstError ??= (e as GPUUncapturedErrorEvent).error.message;
    });
  }

  /** Counts of cached GPU objects (tests check that a repeated step creates none). */
  stats() {
    return { buffers: this.live.size, pipelines: this.kernels.size, uniforms: this.uniforms.size, bindGroups: this.bindGroups.size };
  }

  // ---- memory ----

  private create(length: number, dtype: DType, data?: ArrayBufferView): GBuf {
    const bytes = Math.max(16, Math.ceil((length * 4) / 16) * 16);  // 16-byte multiple: valid as array<vec4<f32>>
    if (bytes > this.maxBinding) {
      throw new Error(`webgpu: buffer of ${length} elements (${bytes} bytes) exceeds this device's ` +
        `maxStorageBufferBindingSize (${this.maxBinding} bytes); larger buffers are not supported yet`);
    }
    const buffer = this.device.createBuffer({
      size: bytes, mappedAtCreation: data !== undefined,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
    });
    if (data) {
      new Uint8Array(buffer.getMappedRange()).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      buffer.unmap();
    }
    const b = new GBuf(buffer, length, dtype, this.nextId++);
    this.live.add(b);
    return b;
  }

  alloc(length: number, dtype: DType = 'f32'): Buf { return this.create(length, dtype); }

  upload(data: Float32Array | Int32Array): Buf {
    return this.create(data.length, data instanceof Int32Array ? 'i32' : 'f32', data);
  }

  write(buf: Buf, data: Float32Array | Int32Array): void {
    if (data.length > buf.length) throw new Error(`webgpu: write of ${data.length} elements into a buffer of ${buf.length}`);
    // queue.writeBuffer takes effect before any encoder submitted later: submit recorded ops that use buf first.
    if (this.pending.has(buf as GBuf)) this.flush();
    this.device.queue.writeBuffer((buf as GBuf).buffer, 0, data.buffer, data.byteOffset, data.byteLength);
  }

  async read(buf: Buf, length = buf.length): Promise<Float32Array> {
    return new Float32Array(await this.readBytes(buf as GBuf, length));
  }

  async readI32(buf: Buf, length = buf.length): Promise<Int32Array> {
    return new Int32Array(await this.readBytes(buf as GBuf, length));
  }

  private async readBytes(buf: GBuf, length: number): Promise<ArrayBuffer> {
    const bytes = Math.min(length, buf.length) * 4;
    if (bytes === 0) return new ArrayBuffer(0);
    const stage = this.takeStaging(bytes);
    this.endPass();
    this.encoder ??= this.device.createCommandEncoder();
    this.encoder.copyBufferToBuffer(buf.buffer, 0, stage.buffer, 0, bytes);
    this.flush();
    try {
      await stage.buffer.mapAsync(GPUMapMode.READ, 0, bytes);
      const out = stage.buffer.getMappedRange(0, bytes).slice(0);
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
    this.staging = [];
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
      const module = this.device.createShaderModule({ label: key, code: `${header}\n${src}` });
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
    this.dispatch(this.kernel('embedding', embeddingSrc), [dim], [out, table, ids], Math.ceil(dim / 64), T);
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
    const io = K % 4 === 0 ? matmulVec4 : matmulScalar;
    const variant = K % 4 === 0 ? 'vec4' : 'scalar';
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

  rope(x: Buf, pos: Buf, T: number, nHeads: number, headDim: number, theta: number): void {
    check('rope', [x, T * nHeads * headDim], [pos, T, 'i32']);
    if (headDim % 2) throw new Error(`webgpu: rope needs an even headDim, got ${headDim}`);
    const half = headDim / 2;
    this.dispatch(this.kernel('rope', ropeSrc), [nHeads, half], [x, pos, this.ropeTable(theta, headDim)],
      Math.ceil((nHeads * half) / 64), T);
  }

  /**
   * Per-frequency θ/2π (turns per position) as 0.64 fixed point, [high, low] u32 pairs; see rope.wgsl.
   * inverse: the negated fractions (2^64 − f, exact), which rotate by −θ (the backward of RoPE).
   */
  protected ropeTable(theta: number, headDim: number, inverse = false): GBuf {
    const key = `${theta}:${headDim}${inverse ? ':inverse' : ''}`;
    let t = this.ropeTables.get(key);
    if (!t) {
      const half = headDim / 2, words = new Uint32Array(half * 2);
      for (let j = 0; j < half; j++) {
        const turns = Math.pow(theta, (-2 * j) / headDim) / (2 * Math.PI);  // < 1 since theta ≥ 1
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
    this.dispatch(this.kernel('kvstore', kvstoreSrc), [width], [cache, src, pos], Math.ceil(width / 64), T);
  }

  attention(out: Buf, q: Buf, kCache: Buf, vCache: Buf, pos: Buf,
    T: number, nHeads: number, nKvHeads: number, headDim: number): void {
    check('attention', [out, T * nHeads * headDim], [q, T * nHeads * headDim], [pos, T, 'i32']);
    if (nHeads % nKvHeads) throw new Error(`webgpu: attention needs nHeads (${nHeads}) divisible by nKvHeads (${nKvHeads})`);
    const inPlace = out === q;
    const k = this.kernel(`attention${inPlace ? '-inplace' : ''}`, aliasableInput('q', 2, inPlace) + attentionSrc,
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
