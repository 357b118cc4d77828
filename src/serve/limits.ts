// What one client may cost the server: request body bytes, time to send the request, and requests admitted
// beyond the generation slots. The defaults live here (one home) and each entry (deploy, build-edge) exposes them
// as flags; the checks live beside the code they guard (the body reader below, the engine's admission).
import { ApiError } from './openai-schema.ts';

export interface ServeLimits {
  /** request bodies over this are refused with 413 (checked while the body streams in) */
  maxRequestBytes: number;
  /** seconds a client has to send its request (headers and body); then 408 and the connection is closed */
  requestTimeoutS: number;
  /** requests admitted beyond the generation slots (max_num_seqs per model); more are refused with 429 */
  maxQueue: number;
}

export const DEFAULT_LIMITS: ServeLimits = { maxRequestBytes: 4 * 2 ** 20, requestTimeoutS: 30, maxQueue: 128 };
/** An edge isolate has ~128 MiB in all: smaller bodies and a shorter queue. */
export const EDGE_LIMITS: ServeLimits = { maxRequestBytes: 1 * 2 ** 20, requestTimeoutS: 30, maxQueue: 32 };

// No "Connection: close" here: the server then closes at once with the client still sending, and the client's
// kernel may drop the 413 on the reset. The HTTP adapter drains what follows for a moment (discarding it) and
// then closes (@hono/node-server: 500 ms or 64 MiB; Deno and workerd likewise).
const tooLarge = (max: number) => new ApiError(413, `Request body too large: the limit is ${max} bytes (--max_request_bytes).`,
  null, 'request_too_large');

/**
 * The body as text, read chunk by chunk: refused (413) as soon as Content-Length or the bytes received pass
 * `maxBytes`, so an oversized or chunked body is never buffered whole; refused (408) when it has not all arrived
 * by `deadline` (ms since the epoch) — Deno and workerd have no request timeout of their own. Invalid UTF-8 is a
 * 400, not silently replaced. (Hono's bodyLimit trusts Content-Length without counting and leaves the stream open.)
 */
export async function readBodyText(req: Request, maxBytes: number, deadline: number): Promise<string> {
  const declared = req.headers.get('content-length');
  if (declared !== null && Number(declared) > maxBytes) throw tooLarge(maxBytes);
  if (!req.body) return '';
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0, timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ApiError(408, 'Request timeout: the request body did not arrive in time (--request_timeout).',
      null, 'request_timeout', 'invalid_request_error', { connection: 'close' })), Math.max(0, deadline - Date.now()));
  });
  timedOut.catch(() => {});
  try {
    for (;;) {
      let r: ReadableStreamReadResult<Uint8Array>;
      try {
        r = await Promise.race([reader.read(), timedOut]);
      } catch (e) {
        if (e instanceof ApiError) throw e;
        throw new ApiError(400, `The request body could not be read: ${(e as Error).message}`, null, null, 'invalid_request_error', { connection: 'close' });
      }
      if (r.done) break;
      size += r.value.byteLength;
      if (size > maxBytes) throw tooLarge(maxBytes);
      chunks.push(r.value);
    }
  } catch (e) {
    // (not reader.cancel(): under Node that destroys the socket before the error response is written)
    reader.releaseLock();
    throw e;
  } finally {
    clearTimeout(timer);
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) { bytes.set(c, at); at += c.byteLength; }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new ApiError(400, 'The request body is not valid UTF-8.');
  }
}
