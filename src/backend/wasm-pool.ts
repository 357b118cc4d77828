// A small persistent pool of threads over one shared WebAssembly.Memory (build/kernels-threads.wasm): each worker
// instantiates the same kernels on the caller's memory, and a call hands every thread its share of a kernel (rows
// of a GEMM, kv heads of attention) and blocks until all are done, so ops stay synchronous like the 1-thread
// backend's. Workers come from the host (runtime/host-api.ts startWorker): Node's worker_threads; Deno and browsers:
// module Workers with SharedArrayBuffer (a browser page needs cross-origin isolation: Cross-Origin-Opener-Policy:
// same-origin and Cross-Origin-Embedder-Policy: require-corp, and must run the trainer in a Worker, since a page's
// main thread may not Atomics.wait). Where none of this
// exists (workerd, a page without isolation) createWasmPool returns null and the caller stays single-threaded.
//
// Control block (Int32 over a SharedArrayBuffer): [0] round counter (workers wait on it), [1] threads still
// working, [2] set when a worker's kernel threw. Per worker 32 f64 slots: kernel index + 1 (0: no share this round,
// −1: stop), argument count, arguments. Pointers travel as f64 and convert back to the same i32 bits.

import { host, type HostWorker } from '../../runtime/platform.ts';

const SLOTS = 32;
/** How long a thread polls for the next share (or the workers' end) before it sleeps on Atomics.wait. */
const SPIN_MS = 0.2;

/** The worker's whole program (plain JS using the `port` its host defines: Node's eval worker or a module Worker). */
const WORKER = `
port.on((d) => {
  const inst = new WebAssembly.Instance(d.module, { env: { memory: d.memory, abort() { throw new Error('kernels aborted'); } } });
  const fns = d.names.map((n) => inst.exports[n]);
  const ctl = new Int32Array(d.control), job = new Float64Array(d.jobs, d.index * ${SLOTS} * 8, ${SLOTS});
  port.post('ready');
  let round = 0;
  for (;;) {
    // spin a little before sleeping: decode hands out ~60 shares a token, and a futex wake costs tens of µs
    for (const until = performance.now() + ${SPIN_MS}; Atomics.load(ctl, 0) === round && performance.now() < until;);
    Atomics.wait(ctl, 0, round);
    round = Atomics.load(ctl, 0);
    const id = job[0];
    if (id < 0) return;
    if (id > 0) { try { fns[id - 1](...job.subarray(2, 2 + job[1])); } catch { Atomics.store(ctl, 2, 1); } }
    if (Atomics.sub(ctl, 1, 1) === 1) Atomics.notify(ctl, 1);
  }
});
`;

export interface WasmPool {
  /** threads including the calling one */
  readonly threads: number;
  /** Runs kernel `name` once per share (share 0 on this thread, the rest on workers) and waits for all of them. */
  run(name: string, shares: number[][]): void;
  destroy(): void;
}

/** The default thread count: the host's physical cores (logical CPUs where the host cannot tell). */
export const defaultThreads = (): Promise<number> => host.cpuCount();

/** Why threads are unavailable on this runtime, or null when they are. */
export function threadsUnavailable(): string | null {
  const g = globalThis as { SharedArrayBuffer?: unknown; Atomics?: unknown; crossOriginIsolated?: boolean; Worker?: unknown; process?: unknown };
  if (typeof g.SharedArrayBuffer !== 'function' || typeof g.Atomics !== 'object') return 'no SharedArrayBuffer on this runtime';
  if (g.crossOriginIsolated === false) return 'the page is not cross-origin isolated (COOP/COEP headers)';
  if (typeof g.Worker !== 'function' && !g.process) return 'no Workers on this runtime';
  if ((g as { document?: unknown }).document !== undefined) return 'a page\'s main thread may not block on Atomics.wait (run in a Worker for threads)';
  return null;
}

/**
 * A pool of `threads` − 1 workers running `module` (the threads build) on `memory` (shared); `main` is this thread's
 * instance of it. names: the kernels a share may call. Null when the runtime has no threads or threads ≤ 1.
 */
export async function createWasmPool(module: WebAssembly.Module, memory: WebAssembly.Memory, main: Record<string, unknown>,
  names: string[], threads: number): Promise<WasmPool | null> {
  if (threads <= 1 || threadsUnavailable()) return null;
  const control = new SharedArrayBuffer(16), jobs = new SharedArrayBuffer((threads - 1) * SLOTS * 8);
  const ctl = new Int32Array(control), job = new Float64Array(jobs);
  const workers: HostWorker[] = [];
  for (let i = 0; i < threads - 1; i++) {
    const worker = await host.startWorker(WORKER);
    if (!worker) { for (const w of workers) w.terminate(); return null; }
    workers.push(worker);
    const ready = worker.nextMessage();
    worker.postMessage({ module, memory, control, jobs, index: i, names });
    await ready;
  }
  const index = new Map(names.map((n, i) => [n, i + 1]));
  let destroyed = false;
  return {
    threads,
    run(name, shares) {
      if (destroyed) throw new Error('webtune wasm: the thread pool is destroyed');
      const id = index.get(name);
      if (!id) throw new Error(`webtune wasm: ${name} is not a pooled kernel`);
      for (let w = 0; w < workers.length; w++) {
        const share = shares[w + 1];
        job[w * SLOTS] = share ? id : 0;
        if (share) { job[w * SLOTS + 1] = share.length; job.set(share, w * SLOTS + 2); }
      }
      Atomics.store(ctl, 2, 0);
      Atomics.store(ctl, 1, workers.length);
      Atomics.add(ctl, 0, 1);
      Atomics.notify(ctl, 0);
      try {
        if (shares[0]) (main[name] as (...a: number[]) => void)(...shares[0]);
      } finally {  // the workers' shares finish before anything else touches their memory
        for (const until = performance.now() + SPIN_MS; Atomics.load(ctl, 1) !== 0 && performance.now() < until;);
        for (let left; (left = Atomics.load(ctl, 1)) !== 0;) Atomics.wait(ctl, 1, left);
      }
      if (Atomics.load(ctl, 2)) throw new Error(`webtune wasm: ${name} failed on a worker thread`);
    },
    destroy() {
      if (destroyed) return;
      destroyed = true;
      for (let w = 0; w < workers.length; w++) job[w * SLOTS] = -1;
      Atomics.add(ctl, 0, 1);
      Atomics.notify(ctl, 0);
      for (const w of workers) w.terminate();
    },
  };
}
