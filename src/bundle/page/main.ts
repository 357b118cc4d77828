// A bundle's index.html: the job trained in this tab. The bundle's files are fetched beside the page, checked against
// job.json and kept in a MemoryFs, where the same runSft as the CLI's trains on the page's WebGPU device (the CPU
// kernels where there is none) and writes its run. Each logging.jsonl row is also printed with console.log (a test
// follows them); ?autostart=1 starts at once; ?device=auto|webgpu|wasm overrides the job's --device (select.ts: a GPU adapter, else WASM
// SIMD, which beats CPU adapters such as SwiftShader).
import '../../../runtime/wasm-embedded.ts';
import { UserError } from '../../../core/errors.ts';
import type { TrainOps } from '../../../core/train-ops.ts';
import { MemoryFs } from '../../../runtime/memory-fs.ts';
import { fileSystem, setFileSystem, stat } from '../../../runtime/platform.ts';
import { acquireGPU } from '../../../runtime/webgpu.ts';
import { loadWithAdapters } from '../../../models/adapters.ts';
import { selectBackend, selectTrainBackend } from '../../backend/select.ts';
import { chatPrompt } from '../../chat-prompt.ts';
import { Generator } from '../../generate.ts';
import { runSft, type SftResult } from '../../train/sft.ts';
import { bundleSftArgs, latestCheckpoint, openBundle, type OpenedBundle } from '../run.ts';
import { LossChart } from './chart.ts';
import { canSaveToFolder, downloadZip, saveToFolder, unpackCheckpoint } from './save.ts';

const ROOT = '/job', OUTPUT = '/output';
const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const params = new URLSearchParams(location.search);
const DEVICES = ['auto', 'webgpu', 'wasm'] as const;
const fmt = (x: number, d = 4) => (Number.isFinite(x) ? x.toFixed(d) : '–');
const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;
const time = (s: number) => (Number.isFinite(s) ? `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, '0')}` : '?');

let bundle: OpenedBundle;
let ops: TrainOps | undefined;
let stopper: AbortController | undefined;
let lastCheckpoint = '';
let lastRunDir = '';
let running = false;
let chart: LossChart;
let generator: { ckpt: string; gen: Generator } | undefined;
const history: { role: 'user' | 'assistant'; content: string }[] = [];

function setState(s: 'idle' | 'running' | 'done' | 'failed' | 'stopped', text: string = s): void {
  const el = $('state');
  el.className = `state ${s}`;
  el.textContent = text;
}

function showMessage(text: string, kind: 'error' | 'info' = 'error'): void {
  const el = $('message');
  el.hidden = !text;
  el.className = `message${kind === 'info' ? ' info' : ''}`;
  el.textContent = text;
}

function log(line: string): void {
  const el = $('log');
  el.textContent += `${line}\n`;
  el.scrollTop = el.scrollHeight;
}

function fill(dl: HTMLElement, rows: [string, string][]): void {
  dl.replaceChildren(...rows.flatMap(([k, v]) => {
    const dt = document.createElement('dt'), dd = document.createElement('dd');
    dt.textContent = k; dd.textContent = v;
    return [dt, dd];
  }));
}

function buttons(): void {
  $<HTMLButtonElement>('start').disabled = running || !bundle;
  $<HTMLButtonElement>('stop').disabled = !running;
  $<HTMLButtonElement>('resume').disabled = running || !lastCheckpoint;
  $<HTMLButtonElement>('download').disabled = running || !lastCheckpoint;
  $<HTMLButtonElement>('save-folder').disabled = running || !lastRunDir;
  $('resume-zip-label').classList.toggle('disabled', running || !bundle);
  $<HTMLInputElement>('chat-input').disabled = running || !lastCheckpoint;
  $<HTMLButtonElement>('chat-send').disabled = running || !lastCheckpoint;
  if (lastCheckpoint && !history.length) $('chat').replaceChildren(Object.assign(document.createElement('p'), { className: 'dim',
    textContent: `Ask the model as trained up to ${lastCheckpoint.split('/').pop()} (greedy, the job's chat template).` }));
}

/** Bytes of a file beside the page, kept in the MemoryFs under ROOT; undefined when the server has none. */
async function fetchFile(rel: string): Promise<Uint8Array | undefined> {
  const r = await fetch(new URL(rel, location.href));
  if (!r.ok) return undefined;
  const bytes = new Uint8Array(await r.arrayBuffer());
  const fs = fileSystem(), path = `${ROOT}/${rel}`;
  await fs.mkdir(path.slice(0, path.lastIndexOf('/')), { recursive: true });
  await fs.writeFile(path, bytes);
  return bytes;
}

function simdSupported(): boolean {
  // the smallest module using a v128 instruction
  return WebAssembly.validate(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11]));
}

/** The device panel; trainsOn: the chosen backend's line once training has started. */
async function describeDevice(trainsOn = ''): Promise<void> {
  const gpu = await acquireGPU(), chosen: [string, string][] = trainsOn ? [['trains on', trainsOn]] : [];
  if (!gpu.ok) { fill($('device'), [...chosen, ['device', 'CPU kernels'], ['why', gpu.reason]]); return; }
  const lim = gpu.gpu.device.limits;
  fill($('device'), [
    ...chosen, ['adapter', gpu.gpu.description], ['features', [...gpu.gpu.features].join(', ') || 'none'],
    ['max binding', mib(lim.maxStorageBufferBindingSize)], ['max buffer', mib(lim.maxBufferSize)],
  ]);
  gpu.gpu.device.lost.then((info) => {
    if (info.reason === 'destroyed') return;
    stopper?.abort('device lost');
    setState('failed');
    showMessage(`The GPU device was lost (${info.message || info.reason}): training stopped. ${lastCheckpoint
      ? `The last checkpoint (${lastCheckpoint.split('/').pop()}) is kept: download it, or reload the page and resume from it.` : 'No checkpoint had been saved yet.'}`);
  });
}

function memoryLine(): string {
  const heap = (performance as { memory?: { usedJSHeapSize: number } }).memory?.usedJSHeapSize;
  const gpu = (ops as { stats?: () => { bytes: number } } | undefined)?.stats?.().bytes;
  return [gpu !== undefined ? `GPU buffers ${mib(gpu)}` : '', heap !== undefined ? `JS heap ${mib(heap)}` : ''].filter(Boolean).join(' · ') || '–';
}

async function train(resumeFrom?: string): Promise<void> {
  running = true; buttons(); showMessage('');
  setState('running');
  const t0 = performance.now();
  try {
    if (!ops) {
      const device = (params.get('device') ?? bundle.manifest.args.device ?? 'auto') as (typeof DEVICES)[number];
      if (!DEVICES.includes(device)) throw new UserError(`?device=${device}: expected one of ${DEVICES.join(', ')}`);
      const chosen = await selectTrainBackend(device);
      ops = chosen.ops;
      log(chosen.reason);
      await describeDevice(chosen.reason.replace(/^device: /, ''));
    }
    if (resumeFrom) chart.clear();
    if (!$('step').textContent || $('step').textContent === '0') $('eta').textContent = 'compiling kernels…';
    stopper = new AbortController();
    const args = bundleSftArgs(bundle.manifest, { root: ROOT, outputDir: OUTPUT, resumeFrom });
    let startStep = -1;
    const res: SftResult = await runSft(args, {
      ops, data: bundle.data, stop: stopper.signal, note: log,
      onRunDir: (d) => { lastRunDir = d; },
      onLog: (row) => {
        console.log(JSON.stringify(row));
        chart.add(row);
        if (typeof row.eval_loss === 'number') log(`step ${row.step}: eval_loss ${fmt(row.eval_loss)}`);
      },
      onStep: (s) => {
        if (startStep < 0) startStep = s.step - 1;
        const el = (performance.now() - t0) / 1000, left = (el / (s.step - startStep)) * (s.total - s.step);
        $('step').textContent = String(s.step); $('total').textContent = String(s.total);
        $('loss').textContent = fmt(s.loss); $('lr').textContent = s.lr.toExponential(2); $('tps').textContent = s.tokensPerSec.toFixed(0);
        $('eta').textContent = `${time(el)} · ${time(left)}`;
        $('bar-fill').style.width = `${(100 * s.step) / s.total}%`;
        $('memory').textContent = memoryLine();
      },
    });
    lastRunDir = res.runDir;
    lastCheckpoint = res.lastCheckpoint || (await latestCheckpoint(OUTPUT)) || '';
    if (res.interrupted) { setState('stopped'); log(`stopped at step ${res.step} of ${res.totalSteps}`); }
    else { setState('done'); log(`done: ${res.step} steps; last checkpoint ${res.lastCheckpoint}`); }
  } catch (e) {
    setState('failed');
    showMessage(e instanceof UserError ? e.message : `training failed: ${(e as Error)?.message ?? e}`);
    console.error(e);
    lastCheckpoint = (await latestCheckpoint(OUTPUT).catch(() => undefined)) ?? lastCheckpoint;
  } finally {
    running = false; buttons();
  }
}


async function chat(question: string): Promise<void> {
  const box = $('chat');
  if (!history.length) box.replaceChildren();
  const q = document.createElement('div'), a = document.createElement('div');
  q.className = 'q'; a.className = 'a'; q.textContent = question; a.textContent = '…';
  box.append(q, a);
  if (generator?.ckpt !== lastCheckpoint) {
    const loaded = await loadWithAdapters(lastCheckpoint, { model: `${ROOT}/${bundle.manifest.model}` });
    generator = { ckpt: lastCheckpoint, gen: new Generator((await selectBackend('auto')).ops, loaded) };
    history.length = 0;
  }
  history.push({ role: 'user', content: question });
  const args = bundle.manifest.args as { template?: string; system?: string };
  const p = await chatPrompt(generator.gen.loaded, { messages: history, template: args.template, system: args.system });
  let text = '';
  a.textContent = '';
  for await (const ev of generator.gen.stream(p.ids, { maxNewTokens: 128, temperature: 0, stopIds: p.stopIds })) {
    text += ev.text; a.textContent = text; box.scrollTop = box.scrollHeight;
  }
  history.push({ role: 'assistant', content: text });
}

async function open(): Promise<void> {
  chart = new LossChart($('chart'));
  if (!simdSupported()) throw new UserError('This browser has no WebAssembly SIMD, which webtune needs: use a current Chrome, Edge, Firefox or Safari.');
  setFileSystem(new MemoryFs());
  showMessage('Fetching and checking the bundle…', 'info');
  bundle = await openBundle(fetchFile, new URL('.', location.href).href.replace(/\/$/, ''));
  showMessage('');
  const m = bundle.manifest, a = m.args as Record<string, unknown>;
  const source = String(a.model_source ?? m.model).split('/').filter(Boolean).pop();
  $('job-title').textContent = `${a.train_type} fine-tuning of ${source}`;
  const total = Object.values(m.files).reduce((s, f) => s + f.size, 0);
  fill($('job'), [
    ['model', String(a.model_source ?? m.model)], ['train type', `${a.train_type}${a.train_type === 'lora' ? ` (rank ${a.lora_rank}, alpha ${a.lora_alpha})` : ''}`],
    ['data', `${bundle.data.train.length} sequences of up to ${bundle.data.T} tokens${bundle.data.packed ? ', packed' : ''}${bundle.data.val.length ? `; ${bundle.data.val.length} for validation` : ''}`],
    ['schedule', `${a.max_steps ? `${a.max_steps} steps` : `${a.num_train_epochs} epochs`}, batch ${a.per_device_train_batch_size}×${a.gradient_accumulation_steps}, lr ${a.learning_rate} (${a.lr_scheduler_type})`],
    ['bundle', `${Object.keys(m.files).length + 1} files, ${mib(total)}, webtune ${m.webtune_version}`],
    ['memory', '–'],
  ]);
  document.querySelector('#job dd:last-of-type')!.id = 'memory';
  $('data-summary').textContent = [...m.data.summary, ...m.data.warnings.map((w) => `warning: ${w}`)].join('\n');
  $('flags').textContent = JSON.stringify(a, null, 2);
  await describeDevice();
  $('save-folder').hidden = !canSaveToFolder();
  buttons();
  if (params.get('autostart') === '1') void train();
}

$('start').addEventListener('click', () => void train());
$('stop').addEventListener('click', () => { stopper?.abort('stopped from the page'); $<HTMLButtonElement>('stop').disabled = true; });
$('resume').addEventListener('click', () => void train(lastCheckpoint));
$('download').addEventListener('click', () => void downloadZip(lastCheckpoint));
$('save-folder').addEventListener('click', () => void saveToFolder(lastRunDir).then((n) => log(`saved ${n} files`), (e) => showMessage(String(e))));
$<HTMLInputElement>('resume-zip').addEventListener('change', async (ev) => {
  const file = (ev.target as HTMLInputElement).files?.[0];
  if (!file) return;
  const ckpt = await unpackCheckpoint(new Uint8Array(await file.arrayBuffer()), OUTPUT).catch(() => undefined);
  if (!ckpt || !(await stat(`${ckpt}/trainer_state.json`))) { showMessage(`${file.name}: no webtune checkpoint in this zip`); return; }
  lastCheckpoint = ckpt;
  void train(ckpt);
});
$('chat-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const input = $<HTMLInputElement>('chat-input'), text = input.value.trim();
  if (!text) return;
  input.value = '';
  chat(text).catch((e) => showMessage(`chat: ${(e as Error).message}`));
});

open().catch((e) => {
  setState('failed', 'error');
  showMessage(e instanceof UserError ? e.message : `webtune: ${(e as Error)?.message ?? e}`);
  console.error(e);
});
