// webtune web-ui's JSON API, in process (app.fetch) with real `webtune sft` children: the schema is sft's options,
// bad flags are refused as the CLI refuses them, a run through the API logs the CLI's losses, stop/resume, runs found
// on disk, roots (403), the API key, the upload limit and 4xx JSON errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CLI, ROOT, runCli, SHARED, STORIES } from './helpers.ts';
import { createWebUi } from '../src/webui/server.ts';

const DATA = resolve(SHARED, 'datasets/llamafactory/identity.json');
const FLAGS = { model: STORIES, dataset: [DATA], template: 'default', model_name: ['小白', 'Xiaobai'], model_author: ['网调', 'Webtune'],
  max_length: 128, truncation_strategy: 'right', per_device_train_batch_size: 2, learning_rate: 2e-3, max_steps: 4, logging_steps: 1, save_steps: 2 };
const root = mkdtempSync(join(tmpdir(), 'webtune-webui-'));
const out = join(root, 'output');
const launcher = { node: process.execPath, cli: CLI, env: { XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' } };
const ui = createWebUi({ outputDir: out, roots: [root, SHARED], device: 'auto', assetsDir: resolve(ROOT, 'dist/webui'), launcher, maxUploadBytes: 1 << 20 });
const call = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
  ui.app.fetch(new Request(`http://x${path}`, { method, headers: { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) }));
const json = async (r: Response) => ({ status: r.status, body: await r.json() as Record<string, any> });

/** The run's events until its status is finished (the stream ends then). */
async function events(id: string): Promise<{ rows: Record<string, unknown>[]; logs: string[]; status: string }> {
  const r = await call('GET', `/api/runs/${id}/events`);
  const text = await r.text();
  const ev = text.split('\n\n').filter((b) => b.includes('data:')).map((b) => ({
    event: /^event: (.*)$/m.exec(b)?.[1], data: b.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n') }));
  return { rows: ev.filter((e) => e.event === 'row').map((e) => JSON.parse(e.data)), logs: ev.filter((e) => e.event === 'log').map((e) => e.data),
    status: JSON.parse(ev.filter((e) => e.event === 'status').at(-1)!.data).status };
}

test.after(() => ui.close());

test('the schema is sft\'s options, grouped, with their kinds, defaults and choices', async () => {
  const { body } = await json(await call('GET', '/api/schema'));
  const f = Object.fromEntries(body.flags.map((x: any) => [x.name, x]));
  assert.equal(f.lora_rank.kind, 'int'); assert.equal(f.lora_rank.default, 8); assert.equal(f.lora_rank.group, 'lora');
  assert.equal(f.learning_rate.kind, 'float'); assert.equal(f.dataset.kind, 'list'); assert.equal(f.packing.kind, 'switch');
  assert.equal(f.dataset_shuffle.kind, 'bool'); assert.deepEqual(f.train_type.choices, ['lora', 'full']);
  assert.equal(body.flags.filter((x: any) => x.group === 'other').length, 0, 'every sft flag has a group');
});

test('bad flags are 400s naming the flag with the CLI\'s message; paths outside the roots are 403', async () => {
  const bad = await json(await call('POST', '/api/sft', { ...FLAGS, max_steps: 'abc' }));
  assert.equal(bad.status, 400); assert.equal(bad.body.error.param, 'max_steps');
  const cli = await runCli(['sft', '--max_steps', 'abc']);
  assert.ok(cli.stderr.includes(bad.body.error.message), `${cli.stderr} vs ${bad.body.error.message}`);
  assert.equal((await json(await call('POST', '/api/sft', { ...FLAGS, nope: 1 }))).body.error.param, 'nope');
  assert.equal((await call('POST', '/api/sft', { dataset: [DATA] })).status, 400);
  assert.equal((await call('POST', '/api/sft', '{not json')).status, 400);
  assert.equal((await call('POST', '/api/sft', '[1]')).status, 400);
  const outside = await json(await call('POST', '/api/sft', { ...FLAGS, dataset: ['/etc/passwd'] }));
  assert.equal(outside.status, 403); assert.match(outside.body.error.message, /outside the folders/);
  assert.equal((await call('GET', '/api/runs/nope')).status, 404);
  assert.equal((await call('GET', '/api/nothing')).status, 404);
  assert.equal((await call('POST', '/v1/chat/completions', {})).status, 404, 'no model loaded yet');
});

test('a run through the API logs the losses of webtune sft; runs on disk are listed; chat and export its checkpoint', async () => {
  const started = await json(await call('POST', '/api/sft', FLAGS));
  assert.equal(started.status, 201, JSON.stringify(started.body));
  const ev = await events(started.body.id);
  assert.equal(ev.status, 'done', ev.logs.join('\n'));
  const api = ev.rows.filter((r) => 'loss' in r).map((r) => r.loss);
  assert.equal(api.length, 4);
  const cli = await runCli(['sft', '--model', STORIES, '--dataset', DATA, '--template', 'default', '--model_name', '小白', 'Xiaobai',
    '--model_author', '网调', 'Webtune', '--max_length', '128', '--truncation_strategy', 'right', '--per_device_train_batch_size', '2',
    '--learning_rate', '2e-3', '--max_steps', '4', '--logging_steps', '1', '--save_steps', '2', '--output_dir', out]);
  assert.equal(cli.status, 0, cli.stderr);
  
  const cliLosses = readFileSync(join(cli.stdout.trim(), 'logging.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((r) => 'loss' in r).map((r) => r.loss);
  assert.deepEqual(api, cliLosses);
  const runs = (await json(await call('GET', '/api/runs'))).body as any[];
  const disk = runs.find((r) => r.run_dir === cli.stdout.trim());
  assert.ok(disk, 'the CLI run is listed'); assert.equal(disk.status, 'done'); assert.equal(disk.source, 'disk');
  const mine = runs.find((r) => r.id === started.body.id);
  assert.equal(mine.checkpoints.length, 2);
  // a restarted server lists both runs
  const again = createWebUi({ outputDir: out, roots: [root, SHARED], device: 'auto', assetsDir: '', launcher, maxUploadBytes: 1 });
  const listed = (await (await again.app.fetch(new Request('http://x/api/runs'))).json()) as any[];
  await again.close();
  assert.deepEqual(listed.map((r) => r.status).sort(), ['done', 'done']);

  const model = await json(await call('POST', '/api/models', { adapters: mine.checkpoints[1] }));
  assert.equal(model.status, 201, JSON.stringify(model.body));
  const chat = await json(await call('POST', '/v1/chat/completions', { model: model.body.id, messages: [{ role: 'user', content: 'Who are you?' }], max_tokens: 8 }));
  assert.equal(chat.status, 200, JSON.stringify(chat.body));
  assert.equal(typeof chat.body.choices[0].message.content, 'string');

  const task = await json(await call('POST', '/api/export', { checkpoint: mine.checkpoints[1], kind: 'onnx' }));
  assert.equal(task.status, 202, JSON.stringify(task.body));
  let t = task.body;
  while (t.status === 'running') { await new Promise((r) => setTimeout(r, 300)); t = (await json(await call('GET', `/api/tasks/${t.id}`))).body; }
  assert.equal(t.status, 'done', t.log.join('\n'));
  assert.equal((await call('POST', '/api/export', { checkpoint: mine.checkpoints[1], kind: 'onnx' })).status, 409);
  assert.equal((await call('POST', '/api/export', { checkpoint: mine.checkpoints[1], kind: 'zip' })).status, 400);
});

test('stop: a queued run stops at once, a running one after its step with its checkpoint; resume goes on from it', async () => {
  const a = (await json(await call('POST', '/api/sft', { ...FLAGS, max_steps: 400, save_steps: 1 }))).body;
  const b = (await json(await call('POST', '/api/sft', FLAGS))).body;
  assert.equal(b.status, 'queued');
  assert.equal((await json(await call('POST', `/api/runs/${b.id}/stop`))).body.status, 'stopped');
  for (let i = 0; i < 200; i++) {
    const r = (await json(await call('GET', `/api/runs/${a.id}`))).body;
    if (r.checkpoints.length) break;
    await new Promise((res) => setTimeout(res, 100));
  }
  assert.equal((await call('POST', `/api/runs/${a.id}/stop`)).status, 200);
  const ev = await events(a.id);
  assert.equal(ev.status, 'stopped');
  const run = (await json(await call('GET', `/api/runs/${a.id}`))).body;
  assert.ok(run.checkpoints.length >= 1);
  assert.equal(run.last.interrupted, 'SIGINT');
  assert.equal((await call('POST', `/api/runs/${a.id}/stop`)).status, 409);
  const resumed = (await json(await call('POST', `/api/runs/${a.id}/resume`, {}))).body;
  assert.match(resumed.command, /--resume_from_checkpoint/);
  await call('POST', `/api/runs/${resumed.id}/stop`);
  assert.equal((await events(resumed.id)).status, 'stopped');
});

test('uploads: over the limit 413, bad names 400, else saved under output_dir; the data preview is --debug\'s view', async () => {
  assert.equal((await call('POST', '/api/upload?name=big.jsonl', 'x'.repeat((1 << 20) + 1))).status, 413);
  assert.equal((await call('POST', '/api/upload?name=../x.jsonl', '{}')).status, 400);
  const up = await json(await call('POST', '/api/upload?name=mine.jsonl', readFileSync2(DATA)));
  assert.equal(up.status, 201);
  const prev = await json(await call('POST', '/api/preview', { flags: { ...FLAGS, dataset: [up.body.path] }, rows: 2 }));
  assert.equal(prev.status, 200, JSON.stringify(prev.body));
  assert.equal(prev.body.rows.length, 2);
  assert.match(prev.body.rows[0].text, /⟦.*Xiaobai/s);
});

test('with an API key every /api and /v1 request needs it; the CLI refuses a public host without one', async () => {
  const keyed = createWebUi({ outputDir: out, roots: [root], device: 'auto', assetsDir: '', launcher, maxUploadBytes: 1, apiKey: 'k1' });
  const get = (h: Record<string, string>) => keyed.app.fetch(new Request('http://x/api/runs', { headers: h }));
  assert.equal((await get({})).status, 401);
  assert.equal((await get({ authorization: 'Bearer nope' })).status, 401);
  assert.equal((await get({ authorization: 'Bearer k1' })).status, 200);
  await keyed.close();
  const r = await runCli(['web-ui', '--host', '0.0.0.0']);
  assert.equal(r.status, 1); assert.match(r.stderr, /--api_key/);
});

/** A JSON array file as JSON Lines (the upload's format). */
function readFileSync2(p: string): string {
  return (JSON.parse(readFileSync(p, 'utf8')) as unknown[]).map((r) => JSON.stringify(r)).join('\n');
}
