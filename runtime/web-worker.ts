// Web Workers (Deno, browsers) as HostWorkers, and the one way a worker's source finds its message port on every
// runtime, so the same source runs under Node's worker_threads and as a module Worker.
import type { HostWorker } from './host-api.ts';

/**
 * JS a worker source starts with: defines `port` with on(fn) (each message's data) and post(m), over Node's
 * parentPort where `require` exists (an eval worker) and over the Worker's global scope elsewhere.
 */
export const WORKER_PORT = `
const port = typeof require === 'function'
  ? (() => { const p = require('node:worker_threads').parentPort; return { on: (fn) => p.on('message', fn), post: (m) => p.postMessage(m) }; })()
  : { on: (fn) => { self.onmessage = (e) => fn(e.data); }, post: (m) => self.postMessage(m) };
`;

type WebWorker = { postMessage(m: unknown): void; terminate(): void; onmessage: ((e: { data: unknown }) => void) | null;
  onerror: ((e: { message?: string }) => void) | null };

/** A module Worker running `source` from a Blob URL; null where there is no Worker constructor. */
export function startWebWorker(source: string): HostWorker | null {
  const W = (globalThis as { Worker?: new (url: string, o: { type: string }) => WebWorker }).Worker;
  if (typeof W !== 'function') return null;
  const url = URL.createObjectURL(new Blob([source], { type: 'text/javascript' }));
  const worker = new W(url, { type: 'module' });
  URL.revokeObjectURL(url);
  return {
    postMessage: (m) => worker.postMessage(m),
    nextMessage: () => new Promise((done, fail) => {
      worker.onmessage = (e) => done(e.data);
      worker.onerror = (e) => fail(new Error(`worker: ${e.message ?? 'failed'}`));
    }),
    terminate: () => worker.terminate(),
  };
}
