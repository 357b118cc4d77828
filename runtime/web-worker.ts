// Web Workers (Deno, browsers) as HostWorkers. Each host puts its own `port` in front of a worker's source (see
// host-api.ts startWorker), so the browser build never carries Node's worker_threads prelude.
import type { HostWorker } from './host-api.ts';

/** `port` over a module Worker's global scope */
const WEB_PORT = 'const port = { on: (fn) => { self.onmessage = (e) => fn(e.data); }, post: (m) => self.postMessage(m) };\n';

type WebWorker = { postMessage(m: unknown): void; terminate(): void; onmessage: ((e: { data: unknown }) => void) | null;
  onerror: ((e: { message?: string }) => void) | null };

/** A module Worker running `source` from a Blob URL; null where there is no Worker constructor. */
export function startWebWorker(source: string): HostWorker | null {
  const W = (globalThis as { Worker?: new (url: string, o: { type: string }) => WebWorker }).Worker;
  if (typeof W !== 'function') return null;
  const url = URL.createObjectURL(new Blob([WEB_PORT + source], { type: 'text/javascript' }));
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
