// `webtune web-ui`'s HTTP app (Hono): the page and its assets, the JSON API under /api, and the models loaded through
// POST /api/models served OpenAI-style under /v1 by `webtune deploy`'s own app.
//   GET  /                          the page            GET /assets/FILE   its script and styles (dist/webui/)
//   GET  /api/info                  roots, output_dir, limits
//   GET  /api/schema                sft's flags as the form's fields (schema.ts)
//   POST /api/sft/check             flags → argv and the command line, or 400 naming the flag
//   POST /api/sft                   flags → a queued run {id, run_dir, status}
//   GET  /api/runs                  every run (this server's and those found under --output_dir)
//   GET  /api/runs/ID               one run with its rows and log tail
//   GET  /api/runs/ID/events        server-sent events: status, row (logging.jsonl), log (stderr line)
//   POST /api/runs/ID/stop          SIGINT to the run     POST /api/runs/ID/resume  {checkpoint?} → a new run
//   POST /api/preview               flags → the first rows as --debug shows them
//   POST /api/upload?name=FILE      a dataset file (raw body) → {path}
//   POST /api/models                {model, adapters?, name?} → {id}, then served at /v1   GET /api/models
//   POST /api/export                {checkpoint, kind: merge|onnx, dtype?} → a task    GET /api/tasks/ID
//   POST /api/bundle                flags → a `webtune bundle` folder served at /bundles/NAME/ (trains in the browser)
import { Hono, type Context } from 'hono';
import { streamSSE } from 'hono/streaming';
import { timingSafeEqual } from 'hono/utils/buffer';
import { loadWithAdapters } from '../../models/adapters.ts';
import { loadModel } from '../../models/load.ts';
import { resolve as resolvePath } from 'node:path';
import { fileSystem, readDir, readFile, stat } from '../../runtime/platform.ts';
import { selectBackend, type DeviceChoice } from '../backend/select.ts';
import { sftRunArgs } from '../chat-prompt.ts';
import { createApp } from '../serve/app.ts';
import { Engine, type ServedModel } from '../serve/engine.ts';
import { readBodyText } from '../serve/limits.ts';
import { ApiError } from '../serve/openai-schema.ts';
import { WebUiError } from './errors.ts';
import { FINISHED, RunRegistry, type Launcher, type RunEvent } from './runs.ts';
import { commandLine, flagsToArgv, GROUP_ORDER, sftSchema, validateSft } from './schema.ts';
import { parseDebugView, TaskRegistry } from './tasks.ts';

export interface WebUiOptions {
  /** absolute; where runs go (inside a root) */
  outputDir: string;
  /** absolute folders the UI may read from and write to */
  roots: string[];
  apiKey?: string;
  /** the backend of the chat models (training runs use sft's own choice) */
  device: DeviceChoice;
  /** dist/webui: the page's script and styles */
  assetsDir: string;
  launcher: Launcher;
  maxUploadBytes: number;
  /** largest JSON body of /api and /v1 requests */
  maxRequestBytes?: number;
}

const JSON_LIMIT = 4 * 2 ** 20;
const TYPES: Record<string, string> = { '.js': 'text/javascript', '.mjs': 'text/javascript', '.css': 'text/css', '.html': 'text/html',
  '.json': 'application/json', '.wasm': 'application/wasm', '.safetensors': 'application/octet-stream' };
const typeOf = (f: string) => TYPES[/\.[^.]+$/.exec(f)?.[0] ?? ''] ?? 'application/octet-stream';
const baseName = (p: string) => p.replace(/\/+$/, '').split('/').pop() || p;

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>webtune web-ui</title><link rel="stylesheet" href="/assets/app.css"></head>
<body><div id="app"></div><script type="module" src="/assets/app.js"></script></body></html>
`;

/** Paths the flags name, checked against the roots: the datasets (FILE#N), the model when it is a path, the folders. */
const PATH_FLAGS: Record<string, (v: string) => string | null> = {
  model: (v) => v,
  dataset: (v) => v.replace(/#\d+$/, ''),
  val_dataset: (v) => v.replace(/#\d+$/, ''),
  output_dir: (v) => v,
  resume_from_checkpoint: (v) => v,
};

export interface WebUi { app: Hono; runs: RunRegistry; close(): Promise<void> }

export function createWebUi(o: WebUiOptions): WebUi {
  const app = new Hono();
  const runs = new RunRegistry({ outputDir: o.outputDir, launcher: o.launcher });
  const tasks = new TaskRegistry(o.launcher);
  runs.start();
  const jsonLimit = o.maxRequestBytes ?? JSON_LIMIT;

  const inRoots = (p: string) => { const abs = resolvePath(p); return o.roots.some((r) => abs === r || abs.startsWith(`${r.replace(/\/$/, '')}/`)); };
  const checkPath = async (flag: string, p: string, { hubIdOk = false } = {}) => {
    // a model that is no local path (e.g. Qwen/Qwen2.5-0.5B) is a hub id, not something on this disk
    if (hubIdOk && !/^[./~]/.test(p) && !(await stat(resolvePath(p)))) return;
    if (!inRoots(p)) throw new WebUiError(403, `--${flag} ${p}: outside the folders this web UI may use (${o.roots.join(', ')}; --roots)`, flag);
  };
  const checkFlags = async (flags: Record<string, unknown>) => {
    for (const [flag, pathOf] of Object.entries(PATH_FLAGS)) {
      const v = flags[flag];
      for (const item of (Array.isArray(v) ? v : v === undefined || v === null ? [] : [v])) {
        const p = pathOf(String(item));
        if (p) await checkPath(flag, p, { hubIdOk: flag === 'model' });
      }
    }
  };
  const body = async (c: Context): Promise<Record<string, unknown>> => {
    const text = await readBodyText(c.req.raw, jsonLimit, Date.now() + 30_000).catch((e) => {
      throw e instanceof ApiError ? new WebUiError(e.status as 413, e.message) : e;
    });
    let v: unknown;
    try { v = text.trim() ? JSON.parse(text) : {}; } catch (e) { throw new WebUiError(400, `the body is not valid JSON: ${(e as Error).message}`); }
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw new WebUiError(400, 'the body must be a JSON object');
    return v as Record<string, unknown>;
  };
  /** Flags from the page (output_dir defaults to the server's) → checked argv, parsed flags and the command line. */
  const sftFlags = async (flags: Record<string, unknown>) => {
    const withDir = { ...flags, output_dir: flags.output_dir ?? o.outputDir };
    const argv = flagsToArgv(withDir);
    const args = await validateSft(argv);
    await checkFlags(args);
    return { argv, args, command: commandLine(argv) };
  };
  const str = (v: unknown, name: string, required = true): string | undefined => {
    if (v === undefined || v === null || v === '') { if (required) throw new WebUiError(400, `${name} is required`, name); return undefined; }
    if (typeof v !== 'string') throw new WebUiError(400, `${name} must be a string`, name);
    return v;
  };

  // The models served at /v1: an Engine rebuilt with each model added (its Generators are per model; ops are shared).
  let served: ServedModel[] = [];
  let serving: { engine: Engine; app: Hono } | null = null;
  let ops: Engine['ops'] | null = null;

  if (o.apiKey) {
    const key = o.apiKey;
    const auth = async (c: Context, next: () => Promise<void>) => {
      const m = /^Bearer\s+(.+)$/i.exec(c.req.header('authorization') ?? '');
      if (!m || !(await timingSafeEqual(m[1].trim(), key))) {
        throw new WebUiError(401, m ? 'Incorrect API key provided.' : 'This web UI needs its API key: send "Authorization: Bearer KEY".');
      }
      await next();
    };
    app.use('/api/*', auth);
    app.use('/v1/*', auth);
    app.use('/bundles/*', auth);
  }

  app.get('/', (c) => c.html(PAGE));
  app.get('/assets/:file', async (c) => {
    const file = c.req.param('file');
    if (!/^[\w.-]+$/.test(file)) throw new WebUiError(404, `no asset ${file}`);
    const path = `${o.assetsDir}/${file}`;
    if (!(await stat(path))?.isFile) throw new WebUiError(404, `no asset ${file} (build the page: node scripts/build.mjs)`);
    return new Response((await readFile(path)) as Uint8Array<ArrayBuffer>, { headers: { 'content-type': typeOf(file), 'cache-control': 'no-cache' } });
  });

  app.get('/api/info', (c) => c.json({ output_dir: o.outputDir, roots: o.roots, cwd: resolvePath('.'), device: o.device,
    max_upload_bytes: o.maxUploadBytes, auth: !!o.apiKey }));

  app.get('/api/schema', (c) => c.json({ groups: GROUP_ORDER, flags: sftSchema() }));

  app.post('/api/sft/check', async (c) => c.json(await sftFlags(await body(c))));

  app.post('/api/sft', async (c) => {
    const { argv, args, command } = await sftFlags(await body(c));
    const run = runs.submit(argv, args);
    // the run directory exists once sft has loaded the model and data: wait for it a moment
    const info = await runs.settled(run.id, 20_000);
    return c.json({ id: info.id, run_dir: info.run_dir, status: info.status, command, error: info.error }, 201);
  });

  app.get('/api/runs', async (c) => c.json(await runs.list()));

  app.get('/api/runs/:id', async (c) => {
    const run = await runs.find(c.req.param('id'));
    return c.json({ ...run.info(), rows: run.rows, log: run.log.slice(-500) });
  });

  app.get('/api/runs/:id/events', async (c) => {
    const run = await runs.find(c.req.param('id'));
    return streamSSE(c, async (stream) => {
      const queue: RunEvent[] = [{ event: 'status', data: JSON.stringify(run.info()) },
        ...run.rows.map((r) => ({ event: 'row' as const, data: JSON.stringify(r) })),
        ...run.log.slice(-500).map((l) => ({ event: 'log' as const, data: l }))];
      let wake: (() => void) | null = null;
      const unwatch = runs.watch(run, (e) => { queue.push(e); wake?.(); });
      stream.onAbort(() => { unwatch(); wake?.(); });
      try {
        while (!stream.aborted) {
          while (queue.length) {
            const e = queue.shift()!;
            await stream.writeSSE(e);
            // a finished run's stream ends after its final status
            if (e.event === 'status' && FINISHED.includes(JSON.parse(e.data).status) && !queue.length) return;
          }
          await new Promise<void>((r) => { wake = r; setTimeout(r, 15_000); });
          wake = null;
          if (!queue.length && !stream.aborted) await stream.write(': keep-alive\n\n');
        }
      } finally { unwatch(); }
    });
  });

  app.post('/api/runs/:id/stop', async (c) => {
    await runs.find(c.req.param('id'));
    return c.json(runs.stop(c.req.param('id')));
  });

  app.post('/api/runs/:id/resume', async (c) => {
    const run = await runs.find(c.req.param('id'));
    const b = await body(c);
    const flags = runs.resumeArgs(run.id, str(b.checkpoint, 'checkpoint', false));
    const { argv, args, command } = await sftFlags(flags);
    const info = await runs.settled(runs.submit(argv, args).id, 20_000);
    return c.json({ id: info.id, run_dir: info.run_dir, status: info.status, command, error: info.error }, 201);
  });

  app.post('/api/preview', async (c) => {
    const b = await body(c);
    const rowsWanted = typeof b.rows === 'number' && b.rows >= 1 && b.rows <= 20 ? Math.floor(b.rows) : 3;
    const flags = { ...(b.flags as Record<string, unknown> ?? {}) };
    const { args } = await sftFlags(flags);
    // preprocess takes the data flags only: the same encoding sft does, without loading the weights
    const data = new Set(['model', 'dataset', 'val_dataset', 'template', 'system', 'max_length', 'ignore_context_limit', 'truncation_strategy',
      'loss_scale', 'model_name', 'model_author', 'dataset_shuffle', 'split_dataset_ratio', 'packing', 'skip_bad_rows', 'seed']);
    const argv = flagsToArgv(Object.fromEntries(Object.entries(args).filter(([k, v]) => data.has(k) && v !== false)));
    const dir = `${o.outputDir}/.preview`;
    await fileSystem().mkdir(dir, { recursive: true });
    const out = `${dir}/${Date.now().toString(36)}.jsonl`;
    const t = tasks.start('preview', ['preprocess', ...argv, '--debug', String(rowsWanted), '--output', out]);
    await t.done;
    await fileSystem().rm(out, { force: true }).catch(() => {});
    if (t.status === 'failed') throw new WebUiError(400, t.error ?? 'preprocess failed');
    return c.json({ rows: parseDebugView(t.log), summary: t.log.filter((l) => l.startsWith('webtune: ')).map((l) => l.slice(9)) });
  });

  app.post('/api/upload', async (c) => {
    const name = c.req.query('name') ?? '';
    if (!/^[\w][\w.-]*\.(jsonl|json|csv|txt)$/.test(name)) throw new WebUiError(400, 'name: a file name ending in .jsonl, .json, .csv or .txt', 'name');
    const text = await readBodyText(c.req.raw, o.maxUploadBytes, Date.now() + 600_000).catch((e) => {
      if (e instanceof ApiError && e.status === 413) throw new WebUiError(413, `upload too large: the limit is ${o.maxUploadBytes} bytes (--max_upload_bytes)`);
      throw e instanceof ApiError ? new WebUiError(400, e.message) : e;
    });
    const dir = `${o.outputDir}/uploads`;
    await fileSystem().mkdir(dir, { recursive: true });
    const path = `${dir}/${name}`;
    await fileSystem().writeFile(path, text);
    return c.json({ path, bytes: new TextEncoder().encode(text).length }, 201);
  });

  app.get('/api/models', (c) => c.json(served.map((m) => ({ id: m.id, root: m.root }))));

  app.post('/api/models', async (c) => {
    const b = await body(c);
    const adapters = str(b.adapters, 'adapters', false);
    let model = str(b.model, 'model', !adapters);
    if (adapters) await checkPath('adapters', adapters);
    if (model) await checkPath('model', model, { hubIdOk: true });
    const id = str(b.name, 'name', false) ?? (adapters ? `${baseName(adapters.replace(/\/checkpoint-\d+\/?$/, ''))}/${baseName(adapters)}` : baseName(model!));
    if (served.some((m) => m.id === id)) return c.json({ id });
    const created = Math.floor(Date.now() / 1000);
    let m: ServedModel;
    try {
      if (adapters) {
        const loaded = await loadWithAdapters(adapters, { model });
        model ??= loaded.resolved.modelPath;
        const chat = await sftRunArgs(adapters);
        m = { id, root: baseName(model ?? id), loaded, created, template: chat.template, system: chat.system };
      } else {
        m = { id, root: id, loaded: await loadModel(model!), created };
      }
    } catch (e) {
      throw new WebUiError(400, (e as Error).message.split('\n')[0], adapters ? 'adapters' : 'model');
    }
    ops ??= (await selectBackend(o.device)).ops;
    served = [...served, m];
    const engine = new Engine(ops, served, { maxNumSeqs: 2 });
    serving = { engine, app: createApp(engine, { limits: { maxRequestBytes: jsonLimit, requestTimeoutS: 30 } }) };
    return c.json({ id }, 201);
  });

  app.all('/v1/*', (c) => {
    if (!serving) throw new WebUiError(404, 'no model is loaded yet: POST /api/models {"model": PATH, "adapters": CHECKPOINT} (the Chat tab does)');
    return serving.app.fetch(c.req.raw);
  });

  app.post('/api/export', async (c) => {
    const b = await body(c);
    const ckpt = str(b.checkpoint, 'checkpoint')!;
    await checkPath('checkpoint', ckpt);
    const kind = str(b.kind, 'kind')!;
    const dtype = Array.isArray(b.dtype) ? b.dtype.map(String) : ['fp32'];
    const out = `${ckpt.replace(/\/+$/, '')}-${kind === 'merge' ? 'merged' : 'onnx'}`;
    const argvOf: Record<string, () => string[]> = {
      merge: () => ['merge-lora', '--adapters', ckpt, '--output_dir', out],
      onnx: () => ['export', '--to', 'onnx', '--adapters', ckpt, ...(b.merge_lora === false ? [] : ['--merge_lora']), '--dtype', ...dtype, '--output_dir', out],
    };
    if (!argvOf[kind]) throw new WebUiError(400, `kind: merge or onnx, not ${JSON.stringify(kind)}`, 'kind');
    if (await stat(out)) throw new WebUiError(409, `${out} exists already: remove it to export again`, 'checkpoint');
    const t = tasks.start(kind, argvOf[kind](), out);
    return c.json(t.info(), 202);
  });

  app.get('/api/tasks/:id', (c) => c.json(tasks.get(c.req.param('id')).info()));

  app.post('/api/bundle', async (c) => {
    const { args } = await sftFlags(await body(c));
    const name = `b${Date.now().toString(36)}`;
    const out = `${o.outputDir}/bundles/${name}`;
    const known = new Set(sftSchema().map((f) => f.name));
    const flags = Object.fromEntries(Object.entries(args).filter(([k, v]) => known.has(k) && v !== false && !['output_dir', 'resume_from_checkpoint', 'debug'].includes(k)));
    const t = tasks.start('bundle', ['bundle', ...flagsToArgv(flags), '--output_dir', out], out);
    await t.done;
    if (t.status === 'failed') throw new WebUiError(400, t.error ?? 'webtune bundle failed');
    return c.json({ url: `/bundles/${name}/index.html`, dir: out, log: t.log }, 201);
  });

  app.get('/bundles/:name/*', async (c) => {
    const name = c.req.param('name');
    const rel = decodeURIComponent(c.req.path.slice(`/bundles/${name}/`.length));
    if (!/^b[a-z0-9]+$/.test(name) || rel.split('/').some((s) => s === '..' || s === '')) throw new WebUiError(404, `no bundle file ${c.req.path}`);
    const path = `${o.outputDir}/bundles/${name}/${rel}`;
    if (!(await stat(path))?.isFile) throw new WebUiError(404, `no bundle file ${c.req.path}`);
    return new Response((await readFile(path)) as Uint8Array<ArrayBuffer>, { headers: { 'content-type': typeOf(path) } });
  });

  app.notFound((c) => c.json(new WebUiError(404, `Unknown path ${c.req.method} ${c.req.path}`).body(), 404));
  app.onError((e, c) => {
    if (e instanceof ApiError) return c.json(e.body(), e.status, e.headers);
    const err = e instanceof WebUiError ? e : new WebUiError(500, `internal error: ${(e as Error).message}`);
    return c.json(err.body(), err.status);
  });

  return { app, runs, async close() { await runs.close(); serving?.engine.close(); } };
}

/** The folders of --roots (absolute, existing); the output folder must be inside one. */
export async function checkRoots(roots: string[], outputDir: string): Promise<{ roots: string[]; outputDir: string }> {
  const abs = roots.map((r) => resolvePath(r).replace(/(.)\/$/, '$1'));
  for (const r of abs) if (!(await stat(r))?.isDirectory) throw new WebUiError(400, `--roots ${r}: not a folder`);
  const out = resolvePath(outputDir);
  if (!abs.some((r) => out === r || out.startsWith(`${r}/`))) throw new WebUiError(400, `--output_dir ${out} is outside --roots (${abs.join(', ')})`);
  await readDir(abs[0]);
  return { roots: abs, outputDir: out };
}
