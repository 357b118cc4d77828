// A bundle's index.html in a real browser (Debian's chromium, WebGPU through its bundled SwiftShader): served by a
// plain static file server, the job trains on the page's device with the losses train.mjs logs in Node, the
// checkpoint downloaded from the page loads in `webtune infer --adapters`, and a damaged bundle shows one message.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, normalize, resolve } from 'node:path';
import { unzipSync } from 'fflate';
import type { Page } from 'puppeteer-core';
import { ROOT, runCli, SHARED, STORIES } from './helpers.ts';
import { CHROMIUM_FLAGS, chromiumPath } from './browser/harness.ts';

const DATA = resolve(SHARED, 'datasets/ms-swift/self_cognition.jsonl');
const FLAGS = ['--model', STORIES, '--dataset', `${DATA}#24`, '--template', 'default', '--model_name', '小白', 'Xiaobai',
  '--model_author', '网调', 'Webtune', '--max_length', '64', '--per_device_train_batch_size', '2', '--learning_rate', '2e-3',
  '--lora_rank', '8', '--lora_dropout', '0.1', '--logging_steps', '1', '--max_steps', '6', '--save_steps', '3', '--seed', '7', '--device', 'webgpu'];
const TYPES: Record<string, string> = { '.html': 'text/html', '.mjs': 'text/javascript', '.css': 'text/css', '.json': 'application/json' };
const tmp = (name: string) => mkdtempSync(join(tmpdir(), `webtune-page-${name}-`));

/** A static file server for one folder, as `python3 -m http.server` is: no special headers. */
function serveDir(dir: string): Promise<{ server: Server; origin: string }> {
  const server = createServer((req, res) => {
    const file = join(dir, normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)));
    if (!file.startsWith(dir) || !existsSync(file) || !readdirSync(dir) || file.endsWith('/')) { res.writeHead(404).end(); return; }
    try { const body = readFileSync(file); res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(body); }
    catch { res.writeHead(404).end(); }
  });
  return new Promise((done) => server.listen(0, '127.0.0.1', () => done({ server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` })));
}

/** Opens JOB/index.html?QUERY and collects the console; `until` ends the wait (or a page error, or the timeout). */
async function withPage<T>(job: string, query: string, fn: (page: Page, lines: string[]) => Promise<T>): Promise<T> {
  const { launch } = await import('puppeteer-core');
  const { server, origin } = await serveDir(job);
  const browser = await launch({ executablePath: chromiumPath(), args: CHROMIUM_FLAGS, protocolTimeout: 600_000 });
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 1000 });
    const lines: string[] = [];
    page.on('console', (m) => lines.push(m.text()));
    page.on('pageerror', (e) => lines.push(`pageerror: ${(e as Error).message}`));
    page.setDefaultTimeout(600_000);
    await page.goto(`${origin}/index.html${query}`);
    return await fn(page, lines);
  } finally {
    await browser.close();
    await new Promise((r) => server.close(r));
  }
}

const rows = (lines: string[]) => lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);

async function nodeLosses(job: string): Promise<number[]> {
  const dir = join(tmp('node'), 'job');
  cpSync(job, dir, { recursive: true });
  mkdirSync(join(dir, 'node_modules'));
  cpSync(resolve(ROOT, 'node_modules/webgpu'), join(dir, 'node_modules/webgpu'), { recursive: true, dereference: true });
  const r = await new Promise<{ status: number | null; stdout: string; stderr: string }>((done) => {
    const c = spawn(process.execPath, [join(dir, 'train.mjs')], { env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' } });
    let stdout = '', stderr = '';
    c.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    c.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    c.on('close', (status) => done({ status, stdout, stderr }));
  });
  assert.equal(r.status, 0, r.stderr);
  return readFileSync(join(r.stdout.trim(), 'logging.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((l) => 'loss' in l).map((l) => l.loss);
}

let job = '';

test('the page trains the bundle on WebGPU with the losses of Node, and its downloaded checkpoint loads in infer', async () => {
  job = join(tmp('make'), 'job');
  const made = await runCli(['bundle', ...FLAGS, '--output_dir', job]);
  assert.equal(made.status, 0, made.stderr);
  const downloads = tmp('downloads');
  const browserRows = await withPage(job, '?autostart=1', async (page, lines) => {
    await page.waitForFunction(() => /done|failed|error/.test(document.getElementById('state')!.className));
    const state = await page.$eval('#state', (e) => e.className);
    assert.equal(state, 'state done', `page state ${state}: ${await page.$eval('#message', (e) => e.textContent)}\n${lines.join('\n')}`);
    assert.match(await page.$eval('#device', (e) => e.textContent ?? ''), /swiftshader/i, 'trained on the page\'s WebGPU adapter');
    const cdp = await page.createCDPSession();
    await cdp.send('Browser.setDownloadBehavior', { behavior: 'allow', downloadPath: downloads });
    await page.click('#download');
    for (let i = 0; i < 200 && !readdirSync(downloads).some((f) => f.endsWith('.zip')); i++) await new Promise((r) => setTimeout(r, 100));
    // chat with the result in the page: some text comes back
    await page.type('#chat-input', 'Who are you?');
    await page.click('#chat-send');
    await page.waitForFunction(() => (document.querySelector('#chat .a')?.textContent ?? '…') !== '…' || !document.getElementById('message')!.hidden);
    return rows(lines);
  });
  const losses = browserRows.filter((r) => 'loss' in r).map((r) => r.loss as number);
  assert.deepEqual(browserRows.filter((r) => 'loss' in r).map((r) => r.step), [1, 2, 3, 4, 5, 6]);
  assert.ok(browserRows.at(-1)!.last_model_checkpoint, 'the last row names the checkpoint');
  const node = await nodeLosses(job);
  for (const [i, l] of losses.entries()) assert.ok(Math.abs(l - node[i]) <= 1e-4 * Math.abs(node[i]), `step ${i + 1}: chromium ${l}, node ${node[i]}`);
  console.log(`chromium vs node losses: ${losses.join(', ')} | ${node.join(', ')}`);

  const zip = readdirSync(downloads).find((f) => f.endsWith('.zip'));
  assert.ok(zip, 'the page offered the checkpoint as a zip');
  const out = tmp('unzipped');
  for (const [rel, data] of Object.entries(unzipSync(readFileSync(join(downloads, zip))))) {
    mkdirSync(join(out, rel, '..'), { recursive: true });
    if (!rel.endsWith('/')) writeFileSync(join(out, rel), data);
  }
  const ckpt = join(out, 'checkpoint-6');
  assert.ok(existsSync(join(ckpt, 'adapter_model.safetensors')));
  const inf = await runCli(['infer', '--model', join(job, 'model'), '--adapters', ckpt, '--query', 'Who are you?', '--max_new_tokens', '12', '--temperature', '0']);
  assert.equal(inf.status, 0, inf.stderr);
});

test('a damaged bundle shows one message naming the file, and does not train', async () => {
  const dir = join(tmp('damaged'), 'job');
  cpSync(job, dir, { recursive: true });
  const f = join(dir, 'data/train.shard'), b = readFileSync(f);
  b[b.length - 5] ^= 0x40;
  writeFileSync(f, b);
  const text = await withPage(dir, '?autostart=1', async (page) => {
    await page.waitForFunction(() => document.getElementById('state')!.className.includes('failed'));
    return page.$eval('#message', (e) => e.textContent ?? '');
  });
  assert.match(text, /data\/train\.shard does not match its sha256 in job\.json/);
});
