// Per-kernel device time of one training step (bench/train.ts and bench/gpu-check.ts --profile).
import type { TrainOps } from '../core/train-ops.ts';

/**
 * --profile: every dispatch in its own compute pass with timestamp writes (needs the timestamp-query feature),
 * so the device time of each kernel is known; prints the per-kernel totals of one step, the dispatches, submits
 * and read-backs per step, and the host time spent recording. Serializing passes costs a little device time.
 */
export function profiler(ops: TrainOps, device: GPUDevice, print: (s: string) => void = console.log) {
  const o = ops as unknown as Record<string, any>;  // reaches into WebGpuOps' recording state on purpose
  const cap = 4096, qs = device.createQuerySet({ type: 'timestamp', count: cap });
  const resolveBuf = device.createBuffer({ size: cap * 8, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
  const readBuf = device.createBuffer({ size: cap * 8, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  let names: string[] = [], submits = 0, reads = 0, hostMs = 0, on = false;
  const dispatch = o.dispatch.bind(ops), flush = o.flush.bind(ops), readBytes = o.readBytes.bind(ops);
  o.dispatch = (k: { key: string }, ...rest: unknown[]) => {
    const t0 = performance.now();
    if (on && names.length < cap / 2) {
      o.endPass();
      o.encoder ??= device.createCommandEncoder();
      o.pass = o.encoder.beginComputePass({ timestampWrites: { querySet: qs, beginningOfPassWriteIndex: 2 * names.length, endOfPassWriteIndex: 2 * names.length + 1 } });
      // GEMMs by layout and shape (M×N×K), other kernels by name
      const v = k.key.match(/^gemm-(\w+)-(?:([NT][NT])-)?/), prm = rest[0] as number[];  // gpu/gemm/generate.ts names
      const layout = v ? `${v[2] ?? 'NT'} ${v[1]}` : '';
      names.push(layout ? `gemm ${layout} ${prm.slice(0, 3).join('×')}` : k.key.replace(/\{.*\}$/, ''));
    } else if (on) names.push(k.key);
    dispatch(k, ...rest);
    hostMs += performance.now() - t0;
  };
  o.flush = () => { if (o.encoder) submits++; flush(); };
  o.readBytes = (...a: unknown[]) => { reads++; return readBytes(...a); };
  return {
    start() { names = []; submits = 0; reads = 0; hostMs = 0; on = true; },
    async report(wallMs: number) {
      on = false;
      const n = Math.min(names.length, cap / 2);
      const enc = device.createCommandEncoder();
      enc.resolveQuerySet(qs, 0, 2 * n, resolveBuf, 0);
      enc.copyBufferToBuffer(resolveBuf, 0, readBuf, 0, 16 * n);
      device.queue.submit([enc.finish()]);
      await readBuf.mapAsync(GPUMapMode.READ, 0, 16 * n);
      const ts = new BigUint64Array(readBuf.getMappedRange(0, 16 * n).slice(0));
      readBuf.unmap();
      const per = new Map<string, { ms: number; count: number }>();
      let total = 0;
      for (let i = 0; i < n; i++) {
        const ms = Number(ts[2 * i + 1] - ts[2 * i]) / 1e6, e = per.get(names[i]) ?? { ms: 0, count: 0 };
        e.ms += ms; e.count++; total += ms; per.set(names[i], e);
      }
      print(`profile: wall ${wallMs.toFixed(0)} ms, kernels ${total.toFixed(0)} ms, host recording ${hostMs.toFixed(0)} ms, ` +
        `${names.length} dispatches, ${submits} submits, ${reads} read-backs per step`);
      for (const [k, e] of [...per].sort((a, b) => b[1].ms - a[1].ms)) {
        print(`  ${e.ms.toFixed(1).padStart(9)} ms ${String(e.count).padStart(5)}×  ${k}`);
      }
    },
  };
}

