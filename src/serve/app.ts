// The OpenAI-compatible HTTP API as one Hono app: the same handler serves Node (@hono/node-server), Deno
// (Deno.serve) and edge workers (export default { fetch }).
//   GET  /health                 {"status":"ok", …engine counters}   (no auth)
//   GET  /metrics                Prometheus text exposition           (no auth)
//   GET  /v1/models              the base model and each adapter by name
//   POST /v1/completions         prompt → text          (stream: server-sent events ending with data: [DONE])
//   POST /v1/chat/completions    messages → assistant message, rendered with the model's chat template
import { Hono, type Context } from 'hono';
import { streamSSE } from 'hono/streaming';
import { timingSafeEqual } from 'hono/utils/buffer';
import { Engine, type Admission, type RunOutcome, type RunRequest, type ServedModel } from './engine.ts';
import { DEFAULT_LIMITS, readBodyText, type ServeLimits } from './limits.ts';
import { ApiError, parseChatRequest, parseCompletionRequest, parseJsonBody, type SamplingParams } from './openai-schema.ts';

export interface AppOptions {
  /** when set, /v1/* requires `Authorization: Bearer KEY` */
  apiKey?: string;
  /** body size and read time (the engine holds the queue bound) */
  limits?: Pick<ServeLimits, 'maxRequestBytes' | 'requestTimeoutS'>;
}

const now = () => Math.floor(Date.now() / 1000);
const newId = (prefix: string) => `${prefix}-${crypto.randomUUID().replace(/-/g, '')}`;
const usage = (o: RunOutcome) => ({ prompt_tokens: o.promptTokens, completion_tokens: o.completionTokens, total_tokens: o.promptTokens + o.completionTokens });
/** OpenAI has no 'abort' reason; an aborted request has no reader anyway. */
const reason = (o: RunOutcome) => (o.finishReason === 'abort' ? 'stop' : o.finishReason);

async function jsonBody(c: Context, limits: AppOptions['limits'] & object): Promise<Record<string, unknown>> {
  return parseJsonBody(await readBodyText(c.req.raw, limits.maxRequestBytes, Date.now() + limits.requestTimeoutS * 1000));
}

/** An AbortSignal that fires when the client disconnects (request signal, or the response stream cancelled). */
function clientGone(c: Context): { signal: AbortSignal; abort: () => void; dispose: () => void } {
  const ctl = new AbortController();
  const req = c.req.raw.signal;
  const abort = () => ctl.abort();
  if (req) {
    if (req.aborted) ctl.abort();
    else req.addEventListener('abort', abort, { once: true });
  }
  // Deno aborts request.signal once a response is delivered: stop listening when generation is over
  return { signal: ctl.signal, abort, dispose: () => req?.removeEventListener('abort', abort) };
}

interface Shape {
  object: string;
  chunkObject: string;
  /** the choice of a whole response */
  choice(text: string, finish: string): Record<string, unknown>;
  /** the choice of a stream chunk */
  delta(text: string | undefined, finish: string | null, first: boolean): Record<string, unknown>;
}

const completionShape: Shape = {
  object: 'text_completion',
  chunkObject: 'text_completion',
  choice: (text, finish) => ({ index: 0, text, logprobs: null, finish_reason: finish }),
  delta: (text, finish) => ({ index: 0, text: text ?? '', logprobs: null, finish_reason: finish }),
};

const chatShape: Shape = {
  object: 'chat.completion',
  chunkObject: 'chat.completion.chunk',
  choice: (text, finish) => ({ index: 0, message: { role: 'assistant', content: text }, logprobs: null, finish_reason: finish }),
  delta: (text, finish, first) => ({
    index: 0, delta: text === undefined ? {} : first ? { role: 'assistant', content: text } : { content: text }, logprobs: null, finish_reason: finish,
  }),
};

async function respond(c: Context, engine: Engine, adm: Admission, m: ServedModel, p: SamplingParams, req: RunRequest, shape: Shape, idPrefix: string) {
  const id = newId(idPrefix), created = now();
  const gone = clientGone(c);
  if (!p.stream) {
    const o = await engine.run(m, adm, req, gone.signal).finally(gone.dispose);
    return c.json({ id, object: shape.object, created, model: m.id, choices: [shape.choice(o.text, reason(o))], usage: usage(o) });
  }
  return streamSSE(c, async (stream) => {
    stream.onAbort(() => gone.abort());
    const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) =>
      stream.writeSSE({ data: JSON.stringify({ id, object: shape.chunkObject, created, model: m.id, choices, ...extra }) });
    let first = true;
    const o = await engine.run(m, adm, req, gone.signal, async (text) => {
      if (stream.aborted) throw new Error('client disconnected');
      await chunk([shape.delta(text, null, first)]);
      first = false;
    }).finally(gone.dispose);
    if (o.finishReason === 'abort' || stream.aborted) return;
    if (first && shape === chatShape) await chunk([shape.delta('', null, true)]);
    await chunk([shape.delta(shape === chatShape ? undefined : '', reason(o), false)]);
    if (p.includeUsage) await chunk([], { usage: usage(o) });
    await stream.writeSSE({ data: '[DONE]' });
  }, async (e, stream) => {
    const err = e instanceof ApiError ? e : new ApiError(500, e.message, null, null, 'server_error');
    await stream.writeSSE({ data: JSON.stringify(err.body()) });
  });
}

/** A generation handler runs under an admission (429 when the queue is full); run() releases it when done. */
function admitted(engine: Engine, handler: (c: Context, adm: Admission) => Promise<Response>) {
  return async (c: Context) => {
    const adm = engine.admit();
    try {
      return await handler(c, adm);
    } catch (e) {
      adm.release();
      throw e;
    }
  };
}

export function createApp(engine: Engine, opts: AppOptions = {}): Hono {
  const app = new Hono();
  const limits = opts.limits ?? DEFAULT_LIMITS;

  app.use('*', async (c, next) => {
    await next();
    engine.metrics.request(c.res.status);
  });

  app.get('/health', (c) => c.json({ status: 'ok', models: engine.list().map((m) => m.id), ...engine.stats }));

  app.get('/metrics', (c) => c.text(engine.metrics.render(engine.stats), 200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }));

  if (opts.apiKey) {
    const key = opts.apiKey;
    app.use('/v1/*', async (c, next) => {
      const auth = c.req.header('authorization') ?? '';
      const m = /^Bearer\s+(.+)$/i.exec(auth);
      if (!m || !(await timingSafeEqual(m[1].trim(), key))) {
        throw new ApiError(401, m ? 'Incorrect API key provided.' : 'You didn\'t provide an API key. Send it as "Authorization: Bearer KEY".',
          null, 'invalid_api_key');
      }
      await next();
    });
  }

  app.get('/v1/models', (c) => c.json({
    object: 'list',
    data: engine.list().map((m) => ({ id: m.id, object: 'model', created: m.created, owned_by: 'webtune', root: m.root,
      parent: m.id === m.root ? null : m.root, max_model_len: engine.contextLength(m) })),
  }));

  app.get('/v1/models/:id', (c) => {
    const m = engine.model(c.req.param('id'));
    return c.json({ id: m.id, object: 'model', created: m.created, owned_by: 'webtune', root: m.root });
  });

  app.post('/v1/completions', admitted(engine, async (c, adm) => {
    const p = parseCompletionRequest(await jsonBody(c, limits));
    const m = engine.model(p.model);
    const ids = engine.encode(m, p.prompt, p.maxTokens);
    const maxTokens = engine.budget(m, ids.length, p.maxTokens, 'prompt');
    return respond(c, engine, adm, m, p, { ...p, ids, maxTokens }, completionShape, 'cmpl');
  }));

  app.post('/v1/chat/completions', admitted(engine, async (c, adm) => {
    const p = parseChatRequest(await jsonBody(c, limits));
    const m = engine.model(p.model);
    const { ids, stopIds } = await engine.chat(m, p.messages, p.maxTokens);
    const maxTokens = engine.budget(m, ids.length, p.maxTokens, 'messages');
    return respond(c, engine, adm, m, p, { ...p, ids, stopIds, maxTokens }, chatShape, 'chatcmpl');
  }));

  app.notFound((c) => c.json(new ApiError(404, `Unknown path ${c.req.method} ${c.req.path}`, null, 'not_found').body(), 404));

  app.onError((e, c) => {
    const err = e instanceof ApiError ? e : new ApiError(500, `internal error: ${(e as Error).message}`, null, null, 'server_error');
    return c.json(err.body(), err.status, err.headers);
  });

  return app;
}
