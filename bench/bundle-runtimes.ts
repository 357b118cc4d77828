// One training bundle run by every runtime it targets, side by side in one run: Node (Dawn on this machine's
// adapter), Deno (its built-in WebGPU) and Chromium (its own WebGPU: SwiftShader here), each from a copy of the same
// folder. Reports each runtime's median tokens/s over the logged steps after the first two (the first compiles the
// kernels), its first-step time, and the bundle's size; the losses must agree (the same job). Not a test. Run by
// scripts/bench.sh, or: node build/bench/bundle-runtimes.mjs [--steps 16] [--model DIR] [--dataset FILE]
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, normalize, resolve } from 'node:path';

const argv = process.argv.slice(2);
const flag = (n: string, d: string) => { const i = argv.indexOf(`--${n}`); return i >= 0 ? argv[i + 1] : d; };
const ROOT = process.cwd(), SHARED = resolve(ROOT, '../shared');
const steps = flag('steps', '16');
const job = join(mkdtempSync(join(tmpdir(), 'webtune-bench-bundle-')), 'job');
const make = spawnSync(process.execPath, ['dist/webtune.mjs', 'bundle', '--model', flag('model', `${SHARED}/models/stories260K`),
  '--dataset', `${flag('dataset', `${SHARED}/datasets/ms-swift/self_cognition.jsonl`)}#64`, '--template', 'default', '--model_name', '小白', 'Xiaobai',
  '--model_author', '网调', 'Webtune', '--max_length', '128', '--per_device_train_batch_size', '4', '--learning_rate', '1e-3',
  '--logging_steps', '1', '--max_steps', steps, '--save_steps', steps, '--report_to', 'none', '--device', 'webgpu', '--output_dir', job], { encoding: 'utf8' });
if (make.status !== 0) throw new Error(make.stderr);
const bytes = Object.values(JSON.parse(readFileSync(join(job, 'job.json'), 'utf8')).files as Record<string, { size: number }>)
  .reduce((s, f) => s + f.size, statSync(join(job, 'job.json')).size);

type Row = Record<string, number>;
const median = (a: number[]) => { const s = [...a].sort((x, y) => x - y); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };

function copy(name: string): string {
  const dir = join(mkdtempSync(join(tmpdir(), `webtune-bench-${name}-`)), 'job');
  cpSync(job, dir, { recursive: true });
  mkdirSync(join(dir, 'node_modules'));
  cpSync(resolve(ROOT, 'node_modules/webgpu'), join(dir, 'node_modules/webgpu'), { recursive: true, dereference: true });
  return dir;
}

function cliRun(runtime: 'node' | 'deno'): { rows: Row[]; seconds: number } {
  const dir = copy(runtime), t0 = performance.now();
  const [cmd, pre] = runtime === 'node' ? [process.execPath, []] : [resolve(ROOT, 'node_modules/.bin/deno'), ['run', '-A']];
  const r = spawnSync(cmd, [...pre, join(dir, 'train.mjs')], { encoding: 'utf8', env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' } });
  if (r.status !== 0) throw new Error(`${runtime}: ${r.stderr}`);
  const rows = readFileSync(join(r.stdout.trim(), 'logging.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  return { rows, seconds: (performance.now() - t0) / 1000 };
}

async function chromiumRun(): Promise<{ rows: Row[]; seconds: number }> {
  const dir = copy('chromium');
  const server = createServer((req, res) => {
    const f = join(dir, normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)));
    if (!existsSync(f) || !statSync(f).isFile()) { res.writeHead(404).end(); return; }
    res.writeHead(200, { 'content-type': { '.html': 'text/html', '.mjs': 'text/javascript', '.css': 'text/css' }[extname(f)] ?? 'application/octet-stream' }).end(readFileSync(f));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const name = 'puppeteer-core';
  const { launch } = await import(name);
  const browser = await launch({ executablePath: process.env.CHROMIUM ?? '/usr/lib/chromium/chromium', protocolTimeout: 1_800_000,
    args: ['--headless=new', '--no-sandbox', '--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-vulkan=swiftshader', '--use-angle=swiftshader'] });
  const rows: Row[] = [];
  const t0 = performance.now();
  try {
    const page = await browser.newPage();
    const done = new Promise<void>((ok) => page.on('console', (m: { text(): string }) => {
      const t = m.text();
      if (!t.startsWith('{')) return;
      rows.push(JSON.parse(t));
      if (t.includes('last_model_checkpoint')) ok();
    }));
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/index.html?autostart=1`);
    await done;
  } finally {
    await browser.close();
    server.close();
  }
  return { rows, seconds: (performance.now() - t0) / 1000 };
}

const runs: [string, { rows: Row[]; seconds: number }][] = [['node', cliRun('node')], ['deno', cliRun('deno')], ['chromium', await chromiumRun()]];
const ref = runs[0][1].rows.filter((r) => 'loss' in r);
for (const [runtime, { rows, seconds }] of runs) {
  const train = rows.filter((r) => 'loss' in r);
  const worst = Math.max(...train.map((r, i) => Math.abs(r.loss - ref[i].loss) / Math.abs(ref[i].loss)));
  console.log(JSON.stringify({ bench: 'bundle', job: `stories260K LoRA, batch 4×128, ${steps} steps`, runtime,
    tokens_per_s: +median(train.slice(2).map((r) => r['tokens/s'])).toFixed(1), wall_s: +seconds.toFixed(1),
    max_rel_loss_diff_vs_node: +worst.toExponential(2), bundle_bytes: bytes }));
}
