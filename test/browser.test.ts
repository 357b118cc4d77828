// The library in a real browser tab (dist/browser/webtune.mjs in Debian's chromium, WebGPU on SwiftShader): the
// model, tokenizer and dataset are fetched from URLs into a MemoryFs, and the page reproduces llama2.c's greedy story
// on WebGPU and on WASM, and a short LoRA run gives the losses Node's `webtune sft` logs for the same args.json.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { expectedStory, runCli, ROOT, SHARED, STORIES } from './helpers.ts';
import { openPage, type BrowserSession } from './browser/harness.ts';

type Wt = typeof import('../src/entry-browser.ts');
declare const wt: Wt;

let s: BrowserSession;
before(async () => { s = await openPage(); });
after(async () => { await s?.close(); });

test('the browser bundle imports no node: module', () => {
  const text = readFileSync(resolve(ROOT, 'dist/browser/webtune.mjs'), 'utf8');
  assert.doesNotMatch(text, /\b(?:from|import|require)\s*\(?\s*["']node:/, 'a node: import');
  assert.doesNotMatch(text, /\bimport\s*\(\s*["'](?:fs|path|os|crypto|zlib|readline|child_process)["']/, 'a bare built-in import');
  assert.doesNotMatch(text, /\brequire\s*\(/, 'a require() call');
});

for (const device of ['webgpu', 'wasm'] as const) {
  test(`stories260K in the page, greedy on ${device}, equals llama2.c's story`, async () => {
    const got = await s.page.evaluate(async (device) => {
      const loaded = await wt.loadModelFromUrls('/shared/models/stories260K/', ['stories260K.bin', 'tok512.bin'], { dir: `/models/${device}` });
      const { ops, reason } = await wt.selectBackend(device);
      try {
        const r = await new wt.Generator(ops, loaded).generate('', { maxNewTokens: 200, temperature: 0 });
        return { text: r.text, reason, tokens: r.ids.length };
      } finally {
        ops.destroy();
      }
    }, device);
    assert.match(got.reason, new RegExp(`^device: ${device}`), got.reason);
    if (device === 'webgpu') assert.match(got.reason, /swiftshader/i, 'Chromium\'s SwiftShader adapter');
    assert.equal(got.tokens, 200);
    assert.equal(got.text, expectedStory(), s.console.join('\n'));
  });
}

const DATA = resolve(SHARED, 'datasets/ms-swift/self_cognition.jsonl');

/** Node's `webtune sft` (WebGPU on lavapipe) on a few identity rows: its args.json and logged losses. */
async function nodeRun(extra: string[]): Promise<{ args: Record<string, unknown>; losses: number[] }> {
  const out = mkdtempSync(join(tmpdir(), 'webtune-browser-'));
  const r = await runCli(['sft', '--model', STORIES, '--dataset', `${DATA}#8`, '--template', 'default', '--model_name', '小白', 'Xiaobai',
    '--model_author', '网调', 'Webtune', '--max_length', '48', '--per_device_train_batch_size', '2', '--learning_rate', '1e-2',
    '--max_steps', '3', '--logging_steps', '1', '--save_steps', '3', '--seed', '5', '--device', 'webgpu', '--output_dir', out, ...extra]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /device: webgpu/, 'Node trains on WebGPU');
  const runDir = r.stdout.trim().split('\n').pop()!;
  const losses = readFileSync(join(runDir, 'logging.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l))
    .filter((l) => 'loss' in l).map((l) => l.loss as number);
  assert.equal(losses.length, 3);
  assert.ok(losses[2] < losses[0], `the loss falls: ${losses}`);
  return { args: JSON.parse(readFileSync(join(runDir, 'args.json'), 'utf8')), losses };
}

/** runSft in the page on the same args.json, the model and dataset mounted at the paths Node read them from. */
async function pageRun(args: Record<string, unknown>, kernels: 'webgpu' | 'reference') {
  return s.page.evaluate(async ({ args, stories, data, kernels }) => {
    const fs = wt.memoryFs(), notes: string[] = [];
    fs.mount(stories, { baseUrl: '/shared/models/stories260K/', manifest: ['stories260K.bin', 'tok512.bin'] });
    fs.addUrl(data, '/shared/datasets/ms-swift/self_cognition.jsonl');
    const res = await wt.runSft({ ...args, output_dir: `/out-${kernels}` } as never,
      { note: (n) => notes.push(n), ops: kernels === 'reference' ? new wt.ReferenceTrainOps() : undefined });
    return {
      losses: res.logs.filter((l) => 'loss' in l).map((l) => l.loss as number), notes,
      files: fs.list(res.lastCheckpoint).map((f) => f.slice(res.lastCheckpoint.length + 1)),
    };
  }, { args, stories: STORIES, data: DATA, kernels });
}

function assertClose(page: number[], node: number[], what: string) {
  assert.equal(page.length, node.length, s.console.join('\n'));
  page.forEach((l, i) => assert.ok(Math.abs(l - node[i]) <= 1e-4 * Math.abs(node[i]), `${what}, step ${i + 1}: page ${l}, node ${node[i]}`));
}

const lora = nodeRun(['--lora_rank', '4']);
lora.catch(() => {});  // awaited by the tests below

test('a LoRA run in the page on WebGPU (SwiftShader) logs the losses of Node\'s webtune sft within 1e-4 relative', async () => {
  const node = await lora, page = await pageRun(node.args, 'webgpu');
  assert.ok(page.notes.some((n) => /^device: webgpu on .*swiftshader/i.test(n)), page.notes.join('\n'));
  assertClose(page.losses, node.losses, 'lora on webgpu');
  for (const f of ['adapter_config.json', 'adapter_model.safetensors', 'trainer_state.json', 'args.json']) assert.ok(page.files.includes(f), `${f} in ${page.files}`);
});

test('the same LoRA run on the reference CPU kernels (a page without WebGPU) matches too', async () => {
  const node = await lora, page = await pageRun(node.args, 'reference');
  assertClose(page.losses, node.losses, 'lora on the reference kernels');
});

test('full training in the page on WebGPU matches Node\'s', async () => {
  const node = await nodeRun(['--train_type', 'full', '--learning_rate', '1e-3']), page = await pageRun(node.args, 'webgpu');
  assertClose(page.losses, node.losses, 'full on webgpu');
  assert.ok(page.files.includes('model.safetensors'), `model.safetensors in ${page.files}`);
});

test('a lost WebGPU device stops training with one message; the checkpoint saved before stays', async () => {
  const node = await lora;
  const got = await s.page.evaluate(async ({ args }) => {
    const fs = wt.memoryFs(), gpu = await wt.acquireGPU();
    if (!gpu.ok) return { error: `no adapter: ${gpu.reason}`, files: [] };
    // the device goes as soon as checkpoint-1 is written (a driver reset, the tab's GPU taken back)
    const poll = setInterval(() => {
      if (fs.list('/out-lost').some((f) => f.endsWith('/checkpoint-1/adapter_model.safetensors'))) { clearInterval(poll); gpu.gpu.device.destroy(); }
    }, 1);
    try {
      await wt.runSft({ ...args, output_dir: '/out-lost', max_steps: 50, save_steps: 1 } as never);
      return { error: 'trained to the end', files: [] };
    } catch (e) {
      return { error: (e as Error).message, files: fs.list('/out-lost') };
    } finally {
      clearInterval(poll);
    }
  }, { args: node.args });
  assert.match(got.error, /^the WebGPU device was lost \(destroyed/, got.error);
  assert.ok(got.files.some((f) => /\/checkpoint-1\/adapter_model\.safetensors$/.test(f)), got.files.join('\n'));
  // the page trains again on a new device
  const again = await pageRun(node.args, 'webgpu');
  assertClose(again.losses, node.losses, 'lora on a new device');
});
