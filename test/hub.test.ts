// `--model ORG/NAME` from a Hugging Face hub: a local node:http server mimics the hub's endpoints (the file list at
// /api/models/ORG/NAME/revision/main, /resolve/ answering LFS files with a 302 to a CDN path plus X-Linked-Etag =
// sha256, small files with a git-sha1 ETag, Range requests answered 206). Checked: huggingface_hub's cache layout
// under HF_HOME / HF_HUB_CACHE, only the needed files fetched, a download cut mid-file resumed with Range (in the same
// run, and in a later run after giving up), a checksum mismatch naming the file, 404 / gated errors, HF_TOKEN,
// HF_HUB_OFFLINE, and `webtune infer --model org/name` end to end.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { existsSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { AddressInfo } from 'node:net';
import { continuation, expectedStory, runCli, SHARED, STORIES } from './helpers.ts';
import { hubCacheDir, neededFiles, snapshotDownload } from '../models/hub.ts';
import { writeSafetensors, type Tensor } from '../models/safetensors.ts';

const work = mkdtempSync(join(tmpdir(), 'webtune-hub-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));
const GPT2 = resolve(SHARED, 'tokenizers/gpt2');
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const gitSha1 = (b: Uint8Array) => createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');
const isLfs = (f: string) => /\.(safetensors|bin|onnx_data)$/.test(f);

function tinyLlama(): Uint8Array {
  let s = 7;
  const rnd = (n: number, base = 0) => Float32Array.from({ length: n }, () => base + ((s = (s * 48271) % 2147483647) / 2147483647 - 0.5) * 0.4);
  const D = 16, F = 24, V = 50257;
  const t = new Map<string, Tensor>([['model.embed_tokens.weight', { shape: [V, D], data: rnd(V * D) }], ['model.norm.weight', { shape: [D], data: rnd(D, 1) }]]);
  for (const [n, shape, base] of [['input_layernorm', [D], 1], ['post_attention_layernorm', [D], 1], ['self_attn.q_proj', [16, D], 0],
    ['self_attn.k_proj', [8, D], 0], ['self_attn.v_proj', [8, D], 0], ['self_attn.o_proj', [D, 16], 0], ['mlp.gate_proj', [F, D], 0],
    ['mlp.up_proj', [F, D], 0], ['mlp.down_proj', [D, F], 0]] as const) {
    t.set(`model.layers.0.${n}.weight`, { shape: [...shape], data: rnd(shape.reduce((a: number, b: number) => a * b, 1), base) });
  }
  return writeSafetensors(t, { format: 'pt' });
}

const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
const file = (p: string) => new Uint8Array(readFileSync(p));
const REPOS: Record<string, { sha: string; files: Record<string, Uint8Array> }> = {
  'karpathy/stories260K': { sha: 'a'.repeat(40), files: {
    'stories260K.bin': file(join(STORIES, 'stories260K.bin')), 'tok512.bin': file(join(STORIES, 'tok512.bin')),
    'expected.json': file(join(STORIES, 'expected.json')), 'README.md': json('not needed'),
  } },
  'tiny/llama-mini': { sha: 'b'.repeat(40), files: {
    'config.json': json({ model_type: 'llama', hidden_size: 16, intermediate_size: 24, num_hidden_layers: 1, num_attention_heads: 2,
      num_key_value_heads: 1, head_dim: 8, vocab_size: 50257, max_position_embeddings: 64, rms_norm_eps: 1e-6, tie_word_embeddings: true }),
    'model.safetensors': tinyLlama(), 'tokenizer.json': file(join(GPT2, 'tokenizer.json')), 'tokenizer_config.json': file(join(GPT2, 'tokenizer_config.json')),
    'pytorch_model.bin': json('a second weight format: not needed'), '.gitattributes': json('x'), 'onnx/model.onnx': json('not needed either'),
  } },
  'gated/model': { sha: 'c'.repeat(40), files: { 'config.json': json({ model_type: 'llama' }) } },
  'bad/corrupt': { sha: 'd'.repeat(40), files: { 'config.json': json({ model_type: 'llama' }), 'model.safetensors': new Uint8Array(5000).fill(3) } },
};

interface Hit { method: string; path: string; range?: string; auth?: string }
const hits: Hit[] = [];
/** file → how many more GETs of it are cut halfway */
const cuts = new Map<string, number>();

function handle(req: IncomingMessage, res: ServerResponse) {
  const url = new URL(req.url!, 'http://x');
  hits.push({ method: req.method!, path: url.pathname, range: req.headers.range, auth: req.headers.authorization });
  const api = /^\/api\/models\/([^/]+\/[^/]+)\/revision\/main$/.exec(url.pathname);
  const resolveM = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
  const cdn = /^\/cdn\/([^/]+\/[^/]+)\/(.+)$/.exec(url.pathname);
  const id = (api ?? resolveM ?? cdn)?.[1] ?? '';
  const repo = REPOS[id];
  if (!repo) { res.writeHead(404, { 'x-error-code': 'RepoNotFound' }).end('{"error":"Repository not found"}'); return; }
  if (id.startsWith('gated/') && req.headers.authorization !== 'Bearer secret') { res.writeHead(401).end('{"error":"gated"}'); return; }
  if (api) {
    res.writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ id, sha: repo.sha, siblings: Object.keys(repo.files).map((rfilename) => ({ rfilename })) }));
    return;
  }
  const name = decodeURIComponent((resolveM ?? cdn)![resolveM ? 3 : 2]);
  const body = repo.files[name];
  if (!body) { res.writeHead(404, { 'x-error-code': 'EntryNotFound' }).end(); return; }
  // the corrupt repo's weights claim the sha256 of other bytes
  const etag = id === 'bad/corrupt' && name === 'model.safetensors' ? sha256(new Uint8Array(5000)) : isLfs(name) ? sha256(body) : gitSha1(body);
  if (resolveM && isLfs(name)) { // LFS: redirect to the CDN, metadata on the redirect
    res.writeHead(302, { location: `/cdn/${id}/${encodeURIComponent(name)}`, 'x-linked-etag': `"${etag}"`, 'x-linked-size': String(body.length),
      'x-repo-commit': repo.sha, etag: '"git-pointer-sha"' }).end();
    return;
  }
  const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  const start = m ? Number(m[1]) : 0, part = body.subarray(start);
  const headers = { 'content-length': String(part.length), etag: `"${etag}"`, 'x-repo-commit': repo.sha, 'accept-ranges': 'bytes',
    ...(m ? { 'content-range': `bytes ${start}-${body.length - 1}/${body.length}` } : {}) };
  res.writeHead(m ? 206 : 200, headers);
  if (req.method === 'HEAD') { res.end(); return; }
  const left = cuts.get(name) ?? 0;
  if (left > 0) { // send a third of what is asked, then drop the connection
    cuts.set(name, left - 1);
    res.write(part.subarray(0, Math.floor(part.length / 3)), () => res.destroy());
    return;
  }
  res.end(part);
}

const server = createServer(handle);
await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
after(() => server.close());
const ENDPOINT = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

/** Runs `fn` with these environment variables set (the library reads them at call time). */
async function withEnv<T>(env: Record<string, string | undefined>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  for (const [k, v] of Object.entries(env)) v === undefined ? delete process.env[k] : (process.env[k] = v);
  try { return await fn(); } finally { for (const [k, v] of Object.entries(saved)) v === undefined ? delete process.env[k] : (process.env[k] = v); }
}
const fresh = () => mkdtempSync(join(work, 'home-'));
const hubEnv = (home: string, extra: Record<string, string | undefined> = {}) =>
  ({ HF_HOME: home, HF_ENDPOINT: ENDPOINT, HF_HUB_CACHE: undefined, HUGGINGFACE_HUB_CACHE: undefined, HF_HUB_OFFLINE: undefined, HF_TOKEN: undefined, ...extra });

test('neededFiles: config, tokenizer and one weight format', () => {
  assert.deepEqual(neededFiles(['config.json', 'model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors', 'model.safetensors.index.json',
    'pytorch_model.bin', 'tokenizer.json', 'README.md', 'onnx/model.onnx']).sort(),
  ['config.json', 'model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors', 'model.safetensors.index.json', 'tokenizer.json']);
  assert.deepEqual(neededFiles(['config.json', 'onnx/model.onnx', 'onnx/model.onnx_data', 'onnx/model.onnx_data_1', 'onnx/model_fp16.onnx',
    'onnx/model_fp16.onnx_data', 'tokenizer.json']).sort(), ['config.json', 'onnx/model.onnx', 'onnx/model.onnx_data', 'onnx/model.onnx_data_1', 'tokenizer.json']);
  assert.deepEqual(neededFiles(['config.json', 'onnx/model_fp16.onnx', 'onnx/model_fp16.onnx_data', 'tok512.bin']).sort(),
    ['config.json', 'onnx/model_fp16.onnx', 'onnx/model_fp16.onnx_data', 'tok512.bin']);
  assert.deepEqual(neededFiles(['stories260K.bin', 'tok512.bin', 'expected.json']).sort(), ['stories260K.bin', 'tok512.bin']);
});

test('infer --model karpathy/stories260K: hub cache layout under HF_HOME, a cut download resumed with Range, the greedy story', async () => {
  const home = fresh();
  cuts.set('stories260K.bin', 1);
  hits.length = 0;
  const r = await withEnv(hubEnv(home), () => runCli(['infer', '--model', 'karpathy/stories260K', '--prompt', '', '--max_new_tokens', '200',
    '--temperature', '0', '--device', 'wasm']));
  assert.equal(r.status, 0, r.stderr);
  assert.equal(continuation(r.stdout), expectedStory());
  assert.match(r.stderr, /download of stories260K\.bin interrupted .*resuming/);
  assert.match(r.stderr, /webtune: download stories260K\.bin .*100%/);
  const resumed = hits.find((h) => h.method === 'GET' && h.path.endsWith('/stories260K.bin') && h.range);
  assert.ok(resumed && /^bytes=\d+-$/.test(resumed.range!) && resumed.range !== 'bytes=0-', JSON.stringify(hits));
  const repo = join(home, 'hub', 'models--karpathy--stories260K'), sha = REPOS['karpathy/stories260K'].sha;
  assert.equal(readFileSync(join(repo, 'refs/main'), 'utf8'), sha);
  assert.deepEqual(readdirSync(join(repo, 'snapshots', sha)).sort(), ['stories260K.bin', 'tok512.bin']);
  const bin = REPOS['karpathy/stories260K'].files['stories260K.bin'];
  assert.equal(readlinkSync(join(repo, 'snapshots', sha, 'stories260K.bin')), `../../blobs/${sha256(bin)}`);
  assert.deepEqual(readdirSync(join(repo, 'blobs')).sort(), [sha256(bin), sha256(REPOS['karpathy/stories260K'].files['tok512.bin'])].sort());
  assert.ok(!hits.some((h) => /expected\.json|README/.test(h.path)), 'only needed files are fetched');
  // a second run downloads nothing: only the file list is asked for
  hits.length = 0;
  const again = await withEnv(hubEnv(home), () => runCli(['infer', '--model', 'karpathy/stories260K', '--prompt', '', '--max_new_tokens', '5', '--temperature', '0', '--device', 'wasm']));
  assert.equal(again.status, 0, again.stderr);
  assert.deepEqual(hits.map((h) => h.path), ['/api/models/karpathy/stories260K/revision/main']);
  // HF_HUB_OFFLINE: the cache alone, even with no endpoint
  const off = await withEnv(hubEnv(home, { HF_HUB_OFFLINE: '1', HF_ENDPOINT: 'http://127.0.0.1:9' }),
    () => runCli(['infer', '--model', 'karpathy/stories260K', '--prompt', '', '--max_new_tokens', '5', '--temperature', '0', '--device', 'wasm']));
  assert.equal(off.status, 0, off.stderr);
  assert.ok(expectedStory().startsWith(continuation(off.stdout)));
  const none = await withEnv(hubEnv(fresh(), { HF_HUB_OFFLINE: '1' }), () => runCli(['infer', '--model', 'karpathy/stories260K', '--prompt', '']));
  assert.equal(none.status, 1);
  assert.match(none.stderr, /^webtune: error: --model karpathy\/stories260K: not in the cache \(.*models--karpathy--stories260K\) and HF_HUB_OFFLINE is set\n$/);
});

test('a Hugging Face repo: only config, safetensors and tokenizer fetched into HF_HUB_CACHE; infer matches the local copy', async () => {
  const cache = join(fresh(), 'elsewhere');
  hits.length = 0;
  const dir = await withEnv(hubEnv(fresh(), { HF_HUB_CACHE: cache }), async () => {
    assert.equal(hubCacheDir(), cache);
    return snapshotDownload('tiny/llama-mini');
  });
  assert.equal(dir, join(cache, 'models--tiny--llama-mini', 'snapshots', 'b'.repeat(40)));
  assert.deepEqual(readdirSync(dir).sort(), ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);
  for (const f of readdirSync(dir)) assert.deepEqual(new Uint8Array(readFileSync(join(dir, f))), REPOS['tiny/llama-mini'].files[f], f);
  assert.ok(!hits.some((h) => /pytorch_model|gitattributes|onnx/.test(h.path)), JSON.stringify(hits.map((h) => h.path)));
  const args = ['--prompt', 'Hello', '--max_new_tokens', '6', '--temperature', '0', '--device', 'wasm'];
  const [hub, local] = await Promise.all([withEnv(hubEnv(fresh(), { HF_HUB_CACHE: cache }), () => runCli(['infer', '--model', 'tiny/llama-mini', ...args])),
    runCli(['infer', '--model', dir, ...args])]);
  assert.equal(hub.status, 0, hub.stderr);
  assert.equal(hub.stdout, local.stdout);
});

test('deno: infer --model karpathy/stories260K downloads into a fresh HF_HOME (fetch, redirects, Range in Deno)', async () => {
  const home = fresh();
  cuts.set('stories260K.bin', 1);
  hits.length = 0;
  const r = await withEnv(hubEnv(home), () => runCli(['infer', '--model', 'karpathy/stories260K', '--prompt', '', '--max_new_tokens', '200',
    '--temperature', '0', '--device', 'wasm'], 'deno'));
  assert.equal(r.status, 0, r.stderr);
  assert.equal(continuation(r.stdout), expectedStory());
  assert.ok(hits.some((h) => h.path.endsWith('/stories260K.bin') && h.range), 'resumed with Range');
  const sha = REPOS['karpathy/stories260K'].sha;
  assert.equal(readlinkSync(join(home, 'hub/models--karpathy--stories260K/snapshots', sha, 'tok512.bin')),
    `../../blobs/${sha256(REPOS['karpathy/stories260K'].files['tok512.bin'])}`);
});

test('a download cut on every try gives up with one line, keeps the .incomplete part, and the next run resumes it', async () => {
  const home = fresh();
  cuts.set('model.safetensors', 4);
  await withEnv(hubEnv(home), () => assert.rejects(snapshotDownload('tiny/llama-mini'),
    /--model tiny\/llama-mini: download of model\.safetensors interrupted \(.* kept in .*\.incomplete\); run again to resume/));
  const blobs = join(home, 'hub/models--tiny--llama-mini/blobs');
  const part = readdirSync(blobs).find((f) => f.endsWith('.incomplete'))!;
  const kept = statSync(join(blobs, part)).size;
  assert.ok(kept > 0 && kept < REPOS['tiny/llama-mini'].files['model.safetensors'].length);
  hits.length = 0;
  const dir = await withEnv(hubEnv(home), () => snapshotDownload('tiny/llama-mini'));
  assert.ok(hits.some((h) => h.path.endsWith('model.safetensors') && h.range === `bytes=${kept}-`), JSON.stringify(hits));
  assert.deepEqual(new Uint8Array(readFileSync(join(dir, 'model.safetensors'))), REPOS['tiny/llama-mini'].files['model.safetensors']);
  assert.ok(!readdirSync(blobs).some((f) => f.endsWith('.incomplete')));
});

test('errors: checksum mismatch names the file, 404, gated repos without/with HF_TOKEN', async () => {
  const home = fresh();
  await withEnv(hubEnv(home), async () => {
    await assert.rejects(snapshotDownload('bad/corrupt'), /--model bad\/corrupt: checksum mismatch for model\.safetensors \(sha256 [0-9a-f]{64}, expected [0-9a-f]{64}\)/);
    assert.ok(!readdirSync(join(home, 'hub/models--bad--corrupt/blobs')).some((f) => f.startsWith(sha256(new Uint8Array(5000)))));
    await assert.rejects(snapshotDownload('nobody/nothing'), new RegExp(`--model nobody/nothing: not found on ${ENDPOINT.replace(/\./g, '\\.')}`));
    await assert.rejects(snapshotDownload('gated/model'), /--model gated\/model: access denied .*HTTP 401.*set HF_TOKEN/);
  });
  hits.length = 0;
  const dir = await withEnv(hubEnv(home, { HF_TOKEN: 'secret' }), () => snapshotDownload('gated/model'));
  assert.ok(existsSync(join(dir, 'config.json')));
  assert.ok(hits.length > 0 && hits.every((h) => h.auth === 'Bearer secret'));
  const r = await withEnv(hubEnv(home), () => runCli(['infer', '--model', 'nobody/nothing', '--prompt', '']));
  assert.equal(r.status, 1);
  assert.equal(r.stderr, `webtune: error: --model nobody/nothing: not found on ${ENDPOINT}\n`);
});
