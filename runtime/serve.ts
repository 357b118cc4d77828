// Serving a fetch handler over HTTP on the current runtime: Deno.serve under Deno, @hono/node-server under Node.
// (Edge workers need neither: the platform calls the worker's fetch.)
import { runtimeName } from './platform.ts';

export type FetchHandler = (req: Request) => Response | Promise<Response>;

export interface RunningServer {
  /** e.g. http://127.0.0.1:8000 (the real port when 0 was asked for) */
  url: string;
  close(): Promise<void>;
}

interface DenoServer { addr: { hostname: string; port: number }; shutdown(): Promise<void>; finished: Promise<void> }
interface DenoNs { serve(o: { hostname: string; port: number; onListen?: () => void }, h: FetchHandler): DenoServer }

const urlOf = (host: string, port: number) => `http://${host.includes(':') ? `[${host}]` : host}:${port}`;

export interface ServeOptions {
  hostname: string;
  port: number;
  /** seconds a client has to send its request line, headers and body (Node: 408 and the connection closed; Deno
   *  has no such setting, so the app's body reader enforces the same deadline on bodies) */
  requestTimeoutS?: number;
}

export async function serveHttp(fetch: FetchHandler, { hostname, port, requestTimeoutS = 30 }: ServeOptions): Promise<RunningServer> {
  if (runtimeName === 'deno') {
    const Deno = (globalThis as unknown as { Deno: DenoNs }).Deno;
    // Deno (legacy mode) aborts request.signal after every delivered response and warns when the signal is
    // read; hand the app a copy without it. A client leaving a stream still cancels the response body (a
    // non-streaming request runs to its end).
    const server = Deno.serve({ hostname, port, onListen: () => {} }, (req) => fetch(new Request(req.url, {
      method: req.method, headers: req.headers, body: req.body, duplex: 'half',
    } as RequestInit)));
    return { url: urlOf(hostname, server.addr.port), close: () => server.shutdown() };
  }
  if (runtimeName !== 'node') throw new Error('serving HTTP needs Node or Deno; an edge worker is served by its platform');
  const { serve } = await import('@hono/node-server');
  return new Promise((resolve, reject) => {
    const timeoutMs = requestTimeoutS * 1000;
    // Node checks these every connectionsCheckingInterval (default 30 s): check often enough to honour short limits
    const serverOptions = { requestTimeout: timeoutMs, headersTimeout: timeoutMs, connectionsCheckingInterval: Math.min(1000, timeoutMs / 2) };
    const server = serve({ fetch, hostname, port, serverOptions }, (info) => {
      resolve({
        url: urlOf(hostname, info.port),
        close: () => new Promise<void>((done) => {
          server.close(() => done());
          // streaming clients that stay connected would hold close() open
          (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
        }),
      });
    });
    server.once('error', reject);
  });
}
