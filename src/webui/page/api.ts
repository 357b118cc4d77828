// The page's side of the web-ui JSON API (src/webui/server.ts): fetch with the API key when the server wants one
// (asked once, kept in localStorage), errors as the server words them, and server-sent events read through fetch
// (EventSource cannot send an Authorization header).

const KEY = 'webtune-web-ui-key';

export class ApiError extends Error {
  constructor(readonly status: number, message: string, readonly param?: string) { super(message); }
}

function headers(extra: Record<string, string> = {}): Record<string, string> {
  const key = localStorage.getItem(KEY);
  return { ...extra, ...(key ? { authorization: `Bearer ${key}` } : {}) };
}

/** fetch with the key; a 401 asks for the key once and tries again. */
export async function call(method: string, path: string, body?: unknown, raw?: BodyInit): Promise<Response> {
  for (let attempt = 0; ; attempt++) {
    const res = await fetch(path, {
      method, headers: headers(body === undefined ? {} : { 'content-type': 'application/json' }),
      body: raw ?? (body === undefined ? undefined : JSON.stringify(body)),
    });
    if (res.status === 401 && attempt === 0) {
      const key = prompt('This web UI needs its API key (webtune web-ui --api_key):');
      if (key) { localStorage.setItem(KEY, key); continue; }
    }
    if (!res.ok) {
      const j = await res.json().catch(() => null) as { error?: { message?: string; param?: string } } | null;
      throw new ApiError(res.status, j?.error?.message ?? `${method} ${path}: HTTP ${res.status}`, j?.error?.param);
    }
    return res;
  }
}

export const getJson = async <T>(path: string): Promise<T> => (await call('GET', path)).json() as Promise<T>;
export const postJson = async <T>(path: string, body: unknown): Promise<T> => (await call('POST', path, body)).json() as Promise<T>;

/** Reads a text/event-stream response, calling on(event, data) per event, until it ends or signal aborts. */
export async function readEvents(res: Response, on: (event: string, data: string) => void, signal?: AbortSignal): Promise<void> {
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  signal?.addEventListener('abort', () => { reader.cancel().catch(() => {}); });
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
    if (done) return;
    buf += value;
    let cut;
    while ((cut = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, cut);
      buf = buf.slice(cut + 2);
      let event = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) event = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
      }
      if (data.length) on(event, data.join('\n'));
    }
  }
}

/** Opens a server-sent event stream (GET, or POST with a JSON body) with the key. */
export async function events(method: 'GET' | 'POST', path: string, body: unknown, on: (event: string, data: string) => void,
  signal?: AbortSignal): Promise<void> {
  const res = await call(method, path, body);
  await readEvents(res, on, signal);
}
