// `webtune web-ui`'s page in a real browser (Debian's chromium): the Train form is filled as a user fills it and
// starts a LoRA run of stories260K on the identity data; the Runs tab's charts get points and the run finishes with
// the losses `webtune sft` logs for the same flags; a longer run is stopped and resumed from its checkpoint; the Chat
// tab loads the checkpoint and streams a reply; the Export tab writes an ONNX folder. WEBTUNE_SCREENSHOTS=DIR keeps
// a screenshot of each tab.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Browser, Page } from 'puppeteer-core';
import { CLI, runCli, SHARED, STORIES } from './helpers.ts';
import { chromiumPath } from './browser/harness.ts';

const DATA = resolve(SHARED, 'datasets/llamafactory/identity.json');
const root = mkdtempSync(join(tmpdir(), 'webtune-webui-page-'));
const out = join(root, 'output');
const shots = process.env.WEBTUNE_SCREENSHOTS;
const losses = (runDir: string) => readFileSync(join(runDir, 'logging.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l))
  .filter((r) => typeof r.loss === 'number').map((r) => r.loss as number);

let server: ChildProcess, origin = '', browser: Browser, page: Page;

test.before(async () => {
  mkdirSync(out);
  server = spawn(process.execPath, [CLI, 'web-ui', '--port', '0', '--output_dir', out, '--roots', root, SHARED, '--device', 'wasm'],
    { env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' } });
  origin = await new Promise<string>((done, fail) => {
    let err = '';
    server.stderr!.setEncoding('utf8').on('data', (d: string) => {
      err += d;
      const m = /web-ui at (http:\/\/\S+?)\/ /.exec(err);
      if (m) done(m[1]);
    });
    server.once('exit', (code) => fail(new Error(`web-ui exited with ${code}: ${err}`)));
  });
  const { launch } = await import('puppeteer-core');
  browser = await launch({ executablePath: chromiumPath(), args: ['--headless=new', '--no-sandbox'], protocolTimeout: 300_000 });
  page = await browser.newPage();
  await page.setViewport({ width: 1400, height: 1000 });
  page.setDefaultTimeout(180_000);
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push((e as Error).message));
  (page as unknown as { problems: string[] }).problems = problems;
  await page.goto(`${origin}/#train`);
  await page.waitForSelector('#flag-model');
});

test.after(async () => {
  await browser?.close();
  server?.kill('SIGTERM');
});

async function shot(name: string): Promise<void> {
  if (shots) { mkdirSync(shots, { recursive: true }); await page.screenshot({ path: join(shots, `web-ui-${name}.png`) }); }
}

/** Sets a form field as typing does (input events), replacing what it held. */
async function fill(name: string, value: string): Promise<void> {
  await page.$eval(`#flag-${name}`, (el, v) => {
    const input = el as HTMLInputElement;
    if (input.type === 'checkbox') input.checked = v === 'true'; else input.value = v;
    input.dispatchEvent(new Event('input', { bubbles: true }));
  }, value);
}

/** Clicks the visible, enabled button with this text; found and clicked in one step (the run view re-renders its
 *  buttons on every status event, so a button found in one evaluation may be detached by the next). */
const clickText = (text: string) => page.evaluate((t) => {
  const bs = Array.from(document.querySelectorAll('button'));
  const b = bs.find((x) => x.textContent === t && !x.disabled && x.getClientRects().length > 0);
  if (!b) throw new Error(`no enabled button "${t}" (visible: ${bs.filter((x) => x.getClientRects().length > 0).map((x) => `${x.textContent}${x.disabled ? ' (disabled)' : ''}`).join(', ')})`);
  b.click();
}, text);

/** Opens a tab as a user does: its button in the header. */
async function tab(name: string): Promise<void> {
  await page.$$eval('nav button', (bs, n) => (bs.find((b) => b.textContent === n) as HTMLButtonElement).click(), name);
  await page.waitForSelector(`.pane-${name.toLowerCase()}:not([hidden])`);
}

async function fillJob(maxSteps: number): Promise<void> {
  for (const [k, v] of [['model', STORIES], ['dataset', DATA], ['template', 'default'], ['model_name', '小黄\nXiao Huang'],
    ['model_author', '魔搭\nModelScope'], ['max_length', '128'], ['packing', 'true'], ['per_device_train_batch_size', '4'],
    ['learning_rate', '0.003'], ['warmup_steps', '2'], ['max_steps', String(maxSteps)], ['logging_steps', '1'], ['save_steps', '4'], ['device', 'wasm']]) {
    await fill(k, v);
  }
}

test('Train: the form shows sft\'s flags by group with their defaults; the command line follows the form; bad values name the flag', async () => {
  const legends = await page.$$eval('legend', (ls) => ls.map((l) => l.textContent));
  assert.deepEqual(legends.slice(0, 4), ['Basic', 'LoRA', 'Optimizer', 'Data']);
  assert.equal(await page.$eval('#flag-lora_rank', (e) => (e as HTMLInputElement).value), '8');
  await fillJob(8);
  await page.waitForFunction(() => document.querySelector('.command')?.textContent?.includes('--max_steps 8'));
  const command = await page.$eval('.command', (e) => e.textContent!);
  assert.match(command, /^webtune sft --model \S+stories260K --dataset \S+identity\.json --template default /);
  assert.match(command, / --model_name 小黄 'Xiao Huang' --model_author 魔搭 ModelScope /);
  assert.doesNotMatch(command, /--lora_dropout/, 'values left at their defaults are not repeated');
  await fill('lora_rank', '0');
  await page.waitForFunction(() => document.querySelector('.field-error')?.textContent?.includes('--lora_rank'));
  assert.ok(await page.$eval('#flag-lora_rank', (e) => e.classList.contains('invalid')));
  await fill('lora_rank', '8');
  await page.waitForFunction(() => document.querySelector('.field-error')?.textContent === '');
  await clickText('Preview data');
  await page.waitForSelector('.preview-row mark');
  assert.match(await page.$eval('.preview-row mark', (e) => e.textContent!), /小黄|Xiao Huang|魔搭|ModelScope|\S/);
  await shot('train');
});

test('Runs: a run started from the form charts its loss live and logs the losses `webtune sft` logs', async () => {
  await clickText('Start training');
  await page.waitForSelector('.pane-runs:not([hidden]) .chart:not([hidden]) canvas');
  await page.waitForFunction(() => document.querySelector('.run-head .status')?.textContent === 'done', { timeout: 240_000 });
  await new Promise((r) => setTimeout(r, 500));
  await shot('runs');
  const runDir = await page.$eval('.run-head .run-title .mono', (e) => e.textContent!);
  const figures = await page.$$eval('.run-head .figures > div', (ds) => Object.fromEntries(ds.map((d) => [d.querySelector('label')!.textContent, d.querySelector('span')!.textContent])));
  assert.match(figures['elapsed < left']!, /^\d+:\d\d<0:00$/, 'the progress line\'s time, finished');
  assert.equal(figures.step, '8/8');
  const cli = await runCli(['sft', '--model', STORIES, '--dataset', DATA, '--template', 'default', '--model_name', '小黄', 'Xiao Huang',
    '--model_author', '魔搭', 'ModelScope', '--max_length', '128', '--packing', '--per_device_train_batch_size', '4', '--learning_rate', '0.003',
    '--warmup_steps', '2', '--max_steps', '8', '--logging_steps', '1', '--save_steps', '4', '--device', 'wasm', '--output_dir', join(root, 'cli')]);
  assert.equal(cli.status, 0, cli.stderr);
  assert.deepEqual(losses(runDir), losses(cli.stdout.trim().split('\n').pop()!));
  assert.equal(losses(runDir).length, 8);
});

test('Runs: stop keeps the last checkpoint; resume continues from it', async () => {
  await tab('Train');
  await fillJob(400);
  await page.waitForFunction(() => document.querySelector('.command')?.textContent?.includes('--max_steps 400'));
  await clickText('Start training');
  await page.waitForFunction(() => document.querySelector('.run-head .status')?.textContent === 'running'
    && document.querySelectorAll('.run-head select option').length >= 1, { timeout: 240_000 });
  await clickText('Stop');
  await page.waitForFunction(() => document.querySelector('.run-head .status')?.textContent === 'stopped', { timeout: 240_000 });
  const stopped = await page.$eval('.run-head .run-title .mono', (e) => e.textContent!);
  const ckpt = await page.$eval('.run-head select', (e) => (e as HTMLSelectElement).value);
  assert.ok(existsSync(join(ckpt, 'adapter_model.safetensors')), ckpt);
  await clickText('Resume from checkpoint');
  await page.waitForFunction((old) => document.querySelector('.run-head .run-title .mono')?.textContent !== old
    && document.querySelector('.run-head .status')?.textContent === 'running', {}, stopped);
  await clickText('Stop');
  await page.waitForFunction(() => document.querySelector('.run-head .status')?.textContent === 'stopped', { timeout: 240_000 });
});

test('Chat: the checkpoint is loaded and answers in a stream', async () => {
  await tab('Runs');
  await page.waitForSelector('.runs tbody tr');
  // the first run (8 steps, done): the last row of the table
  await page.$$eval('.runs tbody tr', (rows) => (rows[rows.length - 1] as HTMLElement).click());
  await page.waitForFunction(() => document.querySelector('.run-head .status')?.textContent === 'done');
  await clickText('Chat with it');
  await clickText('Load');
  await page.waitForFunction(() => (document.querySelectorAll('.pane-chat select')[0] as HTMLSelectElement)?.value !== '');
  await page.type('.pane-chat textarea', 'Who are you?');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => {
    const m = document.querySelector('.msg.assistant');
    return m && !m.classList.contains('pending') && (m.textContent ?? '').length > 0;
  });
  const reply = await page.$eval('.msg.assistant', (e) => e.textContent!);
  assert.ok(reply.length > 0 && !/error/i.test(reply), reply);
  await shot('chat');
});

test('Export: ONNX folder written next to the checkpoint, with the deploy command', async () => {
  await tab('Export');
  await page.waitForFunction(() => (document.querySelector('.pane-export input[list]') as HTMLInputElement)?.value.includes('checkpoint-'));
  await clickText('Export to ONNX');
  await page.waitForFunction(() => document.querySelector('.task .status')?.textContent === 'done', { timeout: 240_000 });
  const command = await page.$eval('.task .command', (e) => e.textContent!);
  const dir = command.replace(/^webtune deploy --model /, '').replace(/^'|'$/g, '');
  assert.ok(existsSync(join(dir, 'onnx/model.onnx')), dir);
  await shot('export');
  assert.deepEqual((page as unknown as { problems: string[] }).problems, []);
});
