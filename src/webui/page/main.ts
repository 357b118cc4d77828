// The page of `webtune web-ui` (swift web-ui's tabs): Train (sft's flags as a form generated from the CLI's own
// options, the data preview, the equivalent command line), Runs (live charts, log, stop/resume, checkpoints), Chat
// (checkpoints served on this port's /v1, streamed, two side by side), Export (merge-lora, ONNX) and training in
// this browser (a bundle of the form's job). Everything goes through the JSON API (api.ts); no framework.
import './style.css';
import { ApiError, call, events, getJson, postJson } from './api.ts';
import { RunCharts } from './charts.ts';

interface Flag { name: string; flags: string; help: string; kind: string; default?: unknown; choices?: string[]; group: string }
interface RunInfo { id: string; status: string; run_dir: string | null; args: Record<string, unknown>; last: Record<string, unknown> | null;
  checkpoints: string[]; command: string; error: string | null; source: string; created: number }
interface TaskInfo { id: string; kind: string; status: string; output_dir: string | null; log: string[]; error: string | null; command: string }

const h = <K extends keyof HTMLElementTagNameMap>(tag: K, props: Partial<HTMLElementTagNameMap[K]> & Record<string, unknown> = {},
  ...kids: (Node | string | null | undefined)[]): HTMLElementTagNameMap[K] => {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'class') el.className = String(v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v as EventListener);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else (el as unknown as Record<string, unknown>)[k] = v;
  }
  for (const kid of kids) if (kid !== null && kid !== undefined) el.append(kid);
  return el;
};
const GROUP_TITLES: Record<string, string> = { basic: 'Basic', lora: 'LoRA', optimizer: 'Optimizer', data: 'Data', hardware: 'Hardware',
  saving: 'Saving & logging', other: 'Other' };
const shellQuote = (s: string) => (/^[\w./:#=@%+,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
const fmt = (v: unknown) => (typeof v === 'number' ? (Math.abs(v) < 1e-3 && v !== 0 ? v.toExponential(2) : String(+v.toPrecision(5))) : String(v ?? '–'));

const app = document.getElementById('app')!;
const toast = h('div', { class: 'toast', hidden: true });
function say(msg: string, bad = true): void {
  toast.textContent = msg;
  toast.className = `toast ${bad ? 'bad' : 'ok'}`;
  toast.hidden = false;
  clearTimeout((toast as unknown as { t?: number }).t);
  (toast as unknown as { t?: number }).t = setTimeout(() => { toast.hidden = true; }, bad ? 8000 : 3000) as unknown as number;
}
/** The server's message, prefixed with the flag it names unless it names it already. */
const errorText = (e: ApiError) => (e.param && !e.message.includes(`--${e.param}`) ? `--${e.param}: ${e.message}` : e.message);
const failed = (e: unknown) => say(e instanceof ApiError ? errorText(e) : String((e as Error)?.message ?? e));

// ───────────────────────────── tabs
const TABS = ['train', 'runs', 'chat', 'export'] as const;
type Tab = typeof TABS[number];
const panes = new Map<Tab, HTMLElement>();
const tabButtons = new Map<Tab, HTMLButtonElement>();
function show(tab: Tab): void {
  for (const [t, p] of panes) p.hidden = t !== tab;
  for (const [t, b] of tabButtons) b.classList.toggle('active', t === tab);
  if (location.hash !== `#${tab}`) history.replaceState(null, '', `#${tab}`);
  if (tab === 'runs') refreshRuns().catch(failed);
  if (tab === 'chat' || tab === 'export') refreshCheckpoints().catch(failed);
}

// ───────────────────────────── Train
const form = h('form', { class: 'flags', onsubmit: (e: Event) => e.preventDefault() });
const commandBox = h('pre', { class: 'command' });
const commandError = h('div', { class: 'field-error' });
const previewBox = h('div', { class: 'preview' });
let schema: Flag[] = [];

/** The form's values that differ from the CLI's defaults (model and dataset always), in the API's JSON shape. */
function formFlags(): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of schema) {
    const el = form.elements.namedItem(f.name) as HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement | null;
    if (!el) continue;
    let v: unknown;
    if (f.kind === 'switch') v = (el as HTMLInputElement).checked;
    // lists: one value per line, or space-separated on one line (a value with spaces needs its own line)
    else if (f.kind === 'list') v = el.value.split(el.value.includes('\n') ? '\n' : /\s+/).map((s) => s.trim()).filter(Boolean);
    else if (el.value.trim() === '') continue;
    else if (f.kind === 'bool') v = el.value === 'true';
    else if (f.kind === 'int' || f.kind === 'float' || f.kind === 'optional-int') v = Number(el.value);
    else v = el.value;
    if (JSON.stringify(v) === JSON.stringify(f.default) && f.name !== 'model') continue;
    if (f.kind === 'switch' && v === false) continue;
    if (Array.isArray(v) && v.length === 0) continue;
    out[f.name] = v;
  }
  return out;
}

function input(f: Flag): HTMLElement {
  const common = { name: f.name, title: f.help, id: `flag-${f.name}` };
  if (f.kind === 'switch') return h('input', { ...common, type: 'checkbox', checked: f.default === true });
  if (f.kind === 'bool') return h('select', common, ...['true', 'false'].map((v) => h('option', { value: v, selected: String(f.default ?? false) === v }, v)));
  if (f.kind === 'choice') {
    return h('select', common, ...(f.default === undefined ? [h('option', { value: '' }, '—')] : []),
      ...f.choices!.map((c) => h('option', { value: c, selected: c === f.default }, c)));
  }
  if (f.kind === 'list') {
    const v = Array.isArray(f.default) ? f.default.join('\n') : '';
    return h('textarea', { ...common, rows: f.name === 'dataset' ? 3 : 1, value: v, placeholder: f.name === 'dataset' ? 'one per line: path[#N] (a file under the roots, or upload one)' : 'one per line, or space-separated' });
  }
  const numeric = ['int', 'float', 'optional-int'].includes(f.kind);
  return h('input', { ...common, type: numeric ? 'number' : 'text', step: f.kind === 'float' ? 'any' : '1',
    value: f.default === undefined ? '' : String(f.default), placeholder: f.name === 'model' ? 'a model folder or file under the roots, or a hub id ORG/NAME' : f.default === undefined ? '—' : '' });
}

let checkTimer = 0;
function scheduleCheck(): void {
  clearTimeout(checkTimer);
  checkTimer = setTimeout(async () => {
    try {
      const r = await postJson<{ command: string }>('/api/sft/check', formFlags());
      commandBox.textContent = r.command;
      commandBox.hidden = false;
      commandError.textContent = '';
      form.querySelectorAll('.invalid').forEach((e) => e.classList.remove('invalid'));
    } catch (e) {
      commandBox.hidden = true;
      commandError.textContent = e instanceof ApiError ? errorText(e) : String(e);
      form.querySelectorAll('.invalid').forEach((x) => x.classList.remove('invalid'));
      if (e instanceof ApiError && e.param) document.getElementById(`flag-${e.param}`)?.classList.add('invalid');
    }
  }, 300) as unknown as number;
}

async function buildTrain(pane: HTMLElement): Promise<void> {
  const { groups, flags } = await getJson<{ groups: string[]; flags: Flag[] }>('/api/schema');
  schema = flags;
  for (const g of groups) {
    const mine = flags.filter((f) => f.group === g);
    if (!mine.length) continue;
    const fs = h('fieldset', { class: `group group-${g}` }, h('legend', {}, GROUP_TITLES[g] ?? g));
    if (g !== 'basic' && g !== 'lora') (fs as HTMLFieldSetElement).classList.add('collapsible');
    for (const f of mine) {
      fs.append(h('label', { class: `field kind-${f.kind}`, title: f.help },
        h('span', { class: 'name' }, f.name, f.kind === 'switch' ? '' : ''), input(f), h('small', {}, f.help)));
    }
    form.append(fs);
  }
  form.addEventListener('input', scheduleCheck);
  form.addEventListener('change', scheduleCheck);
  const upload = h('input', { type: 'file', accept: '.jsonl,.json,.csv,.txt', onchange: async () => {
    const file = upload.files?.[0];
    if (!file) return;
    try {
      const r = await (await call('POST', `/api/upload?name=${encodeURIComponent(file.name)}`, undefined, file)).json() as { path: string; bytes: number };
      const ds = form.elements.namedItem('dataset') as HTMLTextAreaElement;
      ds.value = [...ds.value.split('\n').filter(Boolean), r.path].join('\n');
      say(`uploaded ${file.name} (${r.bytes} bytes) to ${r.path}`, false);
      scheduleCheck();
    } catch (e) { failed(e); } finally { upload.value = ''; }
  } });
  const start = h('button', { class: 'primary', type: 'button', onclick: async () => {
    start.disabled = true;
    try {
      const r = await postJson<{ id: string; run_dir: string | null; status: string; error: string | null }>('/api/sft', formFlags());
      if (r.status === 'failed') throw new Error(r.error ?? 'the run failed to start');
      say(`run ${r.id} started${r.run_dir ? ` in ${r.run_dir}` : ''}`, false);
      selectedRun = r.id;
      show('runs');
    } catch (e) { failed(e); } finally { start.disabled = false; }
  } }, 'Start training');
  const preview = h('button', { type: 'button', onclick: async () => {
    preview.disabled = true;
    previewBox.replaceChildren(h('p', { class: 'dim' }, 'encoding the first rows with the template…'));
    try {
      const r = await postJson<{ rows: { where: string; tokens: number; trained: number; text: string }[]; summary: string[] }>('/api/preview', { flags: formFlags(), rows: 3 });
      previewBox.replaceChildren(...r.summary.map((s) => h('p', { class: 'dim' }, s)), ...r.rows.map((row) => h('div', { class: 'preview-row' },
        h('div', { class: 'dim' }, `${row.where}: ${row.tokens} tokens, ${row.trained} trained (highlighted)`),
        h('pre', {}, ...row.text.split(/(⟦[\s\S]*?⟧)/).map((part) => (part.startsWith('⟦') ? h('mark', {}, part.slice(1, -1)) : part))))));
    } catch (e) { previewBox.replaceChildren(); failed(e); } finally { preview.disabled = false; }
  } }, 'Preview data');
  const browser = h('button', { type: 'button', title: 'make a bundle of this job and open its page: it trains on this browser\'s WebGPU device (or its CPU), not on the server', onclick: async () => {
    browser.disabled = true;
    try {
      const r = await postJson<{ url: string; dir: string }>('/api/bundle', formFlags());
      say(`bundle written to ${r.dir}`, false);
      window.open(r.url, '_blank');
    } catch (e) { failed(e); } finally { browser.disabled = false; }
  } }, 'Train in this browser');
  pane.append(h('div', { class: 'card' }, form),
    h('div', { class: 'card side' },
      h('h2', {}, 'Command line'), commandBox, commandError,
      h('div', { class: 'actions' }, start, preview, browser),
      h('label', { class: 'upload' }, 'Upload a dataset (.jsonl, .json, .csv, .txt): ', upload),
      h('h2', {}, 'Data preview'), previewBox));
  scheduleCheck();
}

// ───────────────────────────── Runs
const runList = h('tbody');
const runDetail = h('div', { class: 'run-detail' });
let selectedRun: string | null = null;
let watching: { id: string; stop: AbortController } | null = null;
let runsCache: RunInfo[] = [];

async function refreshRuns(): Promise<void> {
  runsCache = await getJson<RunInfo[]>('/api/runs');
  renderRunList();
  if (!selectedRun && runsCache.length) selectedRun = runsCache[0].id;
  const run = runsCache.find((r) => r.id === selectedRun);
  if (run && watching?.id !== run.id) watchRun(run);
  else if (run) renderRunHead(run);
}

function renderRunList(): void {
  runList.replaceChildren(...runsCache.map((r) => h('tr', { class: r.id === selectedRun ? 'selected' : '', onclick: () => { selectedRun = r.id; refreshRuns().catch(failed); } },
    h('td', {}, h('span', { class: `status ${r.status}` }, r.status)),
    h('td', { class: 'mono' }, r.run_dir?.split('/').slice(-1)[0] ?? r.id),
    h('td', {}, String(r.args.model ?? '').split('/').slice(-1)[0]),
    h('td', {}, String(r.args.train_type ?? '')),
    h('td', { class: 'mono' }, r.last ? `${r.last['global_step/max_steps'] ?? r.last.step ?? ''}` : ''),
    h('td', { class: 'mono' }, r.last && typeof r.last.loss === 'number' ? fmt(r.last.loss) : ''))));
}

const runHead = h('div', { class: 'run-head' });
const logBox = h('pre', { class: 'log' });
const chartsBox = h('div', { class: 'charts' });

const pickedCheckpoint = new Map<string, string>();
/** elapsed<remaining of the selected run, from its last progress line (sft prints it at each logging step) */
let timing = '';

function renderRunHead(run: RunInfo): void {
  const last = run.last ?? {};
  const live = run.status === 'running' || run.status === 'queued';
  const ckptSelect = h('select', {}, ...run.checkpoints.map((c) => h('option', { value: c }, c.split('/').slice(-1)[0])));
  // the one picked survives re-rendering (every progress line re-renders); otherwise the latest, as resuming wants
  const picked = pickedCheckpoint.get(run.id);
  if (run.checkpoints.length) (ckptSelect as HTMLSelectElement).value = picked && run.checkpoints.includes(picked) ? picked : run.checkpoints[run.checkpoints.length - 1];
  ckptSelect.addEventListener('change', () => pickedCheckpoint.set(run.id, (ckptSelect as HTMLSelectElement).value));
  runHead.replaceChildren(...[
    h('div', { class: 'run-title' }, h('span', { class: `status ${run.status}` }, run.status), h('span', { class: 'mono' }, run.run_dir ?? run.id)),
    h('div', { class: 'figures' },
      ...[['step', last['global_step/max_steps'] ?? last.step], ['loss', last.loss], ['learning rate', last.learning_rate], ['grad norm', last.grad_norm],
        ['tokens/s', last['tokens/s']], ['epoch', last.epoch], ['elapsed < left', timing || '–']].map(([k, v]) => h('div', {}, h('label', {}, String(k)), h('span', {}, fmt(v))))),
    run.error ? h('div', { class: 'field-error' }, run.error) : null,
    h('pre', { class: 'command' }, run.command),
    h('div', { class: 'actions' },
      h('button', { disabled: !live, onclick: async () => { try { await postJson(`/api/runs/${run.id}/stop`, {}); say('stopping after the current step', false); } catch (e) { failed(e); } } }, 'Stop'),
      run.checkpoints.length ? ckptSelect : null,
      h('button', { disabled: live || !run.checkpoints.length, onclick: async () => {
        try {
          const r = await postJson<{ id: string }>(`/api/runs/${run.id}/resume`, { checkpoint: ckptSelect.value });
          selectedRun = r.id;
          say(`resumed as run ${r.id}`, false);
          await refreshRuns();
        } catch (e) { failed(e); }
      } }, 'Resume from checkpoint'),
      h('button', { disabled: !run.checkpoints.length, onclick: () => { chatCheckpoint.value = ckptSelect.value; show('chat'); } }, 'Chat with it'),
      h('button', { disabled: !run.checkpoints.length, onclick: () => { exportCheckpoint.value = ckptSelect.value; show('export'); } }, 'Export it'))]
    .filter((x) => x !== null) as HTMLElement[]);
}

function watchRun(run: RunInfo): void {
  watching?.stop.abort();
  const stop = new AbortController();
  watching = { id: run.id, stop };
  const charts = new RunCharts(chartsBox);
  logBox.textContent = '';
  timing = '';
  renderRunHead(run);
  const lines: string[] = [];
  events('GET', `/api/runs/${run.id}/events`, undefined, (event, data) => {
    if (watching?.id !== run.id) return;  // a stream being closed may still deliver what it had read
    if (event === 'row') charts.add(JSON.parse(data));
    else if (event === 'log') {
      const t = /\| (\d+:\d\d(?::\d\d)?<[\d:?]+)\s*$/.exec(data)?.[1];
      if (t && t !== timing) { timing = t; const info = runsCache.find((r) => r.id === run.id); if (info) renderRunHead(info); }
      lines.push(data);
      if (lines.length > 400) lines.splice(0, lines.length - 400);
      const atEnd = logBox.scrollTop + logBox.clientHeight >= logBox.scrollHeight - 4;
      logBox.textContent = lines.join('\n');
      if (atEnd) logBox.scrollTop = logBox.scrollHeight;
    } else if (event === 'status') {
      const info = JSON.parse(data) as RunInfo;
      renderRunHead(info);
      const i = runsCache.findIndex((r) => r.id === info.id);
      if (i >= 0) { runsCache[i] = info; renderRunList(); }
    }
  }, stop.signal).catch((e) => { if (!stop.signal.aborted) failed(e); });
}

function buildRuns(pane: HTMLElement): void {
  pane.append(
    h('div', { class: 'card runs' }, h('h2', {}, 'Runs in the output folder'),
      h('table', {}, h('thead', {}, h('tr', {}, ...['status', 'run', 'model', 'type', 'step', 'loss'].map((c) => h('th', {}, c)))), runList)),
    h('div', { class: 'card wide' }, runHead, chartsBox, h('h2', {}, 'Log'), logBox));
  setInterval(() => { if (!panes.get('runs')!.hidden) refreshRuns().catch(() => {}); }, 4000);
}

// ───────────────────────────── checkpoints (Chat and Export pick from them)
const checkpointList = h('datalist', { id: 'checkpoints' });
async function refreshCheckpoints(): Promise<void> {
  runsCache = await getJson<RunInfo[]>('/api/runs');
  checkpointList.replaceChildren(...runsCache.flatMap((r) => r.checkpoints).map((c) => h('option', { value: c })));
  if (!chatCheckpoint.value && checkpointList.firstElementChild) chatCheckpoint.value = (checkpointList.firstElementChild as HTMLOptionElement).value;
  if (!exportCheckpoint.value && checkpointList.firstElementChild) exportCheckpoint.value = (checkpointList.firstElementChild as HTMLOptionElement).value;
}

// ───────────────────────────── Chat
const chatCheckpoint = h('input', { type: 'text', placeholder: 'a checkpoint-N folder (LoRA or full)', size: 60 });
chatCheckpoint.setAttribute('list', 'checkpoints');
const chatModel = h('input', { type: 'text', placeholder: 'base model (default: the run\'s)', size: 40 });
const modelA = h('select', {});
const modelB = h('select', {});
const system = h('input', { type: 'text', placeholder: 'system prompt (default: the run\'s)', size: 50 });
const temperature = h('input', { type: 'number', value: '0', step: '0.1', min: '0', max: '2' });
const topP = h('input', { type: 'number', value: '1', step: '0.05', min: '0', max: '1' });
const maxTokens = h('input', { type: 'number', value: '128', step: '1', min: '1' });
const transcripts = h('div', { class: 'transcripts' });
const message = h('textarea', { rows: 2, placeholder: 'Ask something… (Enter sends, Shift+Enter for a new line)' });
const histories = new Map<string, { role: string; content: string }[]>();

async function refreshModels(): Promise<void> {
  const models = await getJson<{ id: string }[]>('/api/models');
  for (const [sel, none] of [[modelA, false], [modelB, true]] as const) {
    const keep = sel.value;
    sel.replaceChildren(...(none ? [h('option', { value: '' }, '— (no comparison)')] : []), ...models.map((m) => h('option', { value: m.id, selected: m.id === keep }, m.id)));
  }
}

function column(id: string): HTMLElement {
  let col = transcripts.querySelector<HTMLElement>(`[data-model="${CSS.escape(id)}"]`);
  if (!col) {
    col = h('div', { class: 'transcript', dataset: { model: id } }, h('h2', {}, id));
    transcripts.append(col);
  }
  return col;
}

async function send(): Promise<void> {
  const text = message.value.trim();
  const ids = [modelA.value, modelB.value].filter(Boolean);
  if (!text || !ids.length) { if (!ids.length) say('load a model first'); return; }
  message.value = '';
  for (const col of Array.from(transcripts.querySelectorAll<HTMLElement>('.transcript'))) col.hidden = !ids.includes(col.dataset.model!);
  await Promise.all(ids.map(async (id) => {
    const hist = histories.get(id) ?? [];
    histories.set(id, hist);
    hist.push({ role: 'user', content: text });
    const col = column(id);
    col.hidden = false;
    col.append(h('div', { class: 'msg user' }, text));
    const out = h('div', { class: 'msg assistant pending' });
    col.append(out);
    const messages = [...(system.value ? [{ role: 'system', content: system.value }] : []), ...hist];
    let reply = '';
    try {
      await events('POST', '/v1/chat/completions', { model: id, messages, stream: true, temperature: Number(temperature.value),
        top_p: Number(topP.value), max_tokens: Number(maxTokens.value) }, (_e, data) => {
        if (data === '[DONE]') return;
        const delta = JSON.parse(data).choices?.[0]?.delta?.content;
        if (delta) { reply += delta; out.textContent = reply; col.scrollTop = col.scrollHeight; }
      });
      hist.push({ role: 'assistant', content: reply });
    } catch (e) { out.classList.add('bad'); out.textContent = (e as Error).message; hist.pop(); }
    out.classList.remove('pending');
  }));
}

function buildChat(pane: HTMLElement): void {
  const load = h('button', { class: 'primary', onclick: async () => {
    load.disabled = true;
    try {
      const r = await postJson<{ id: string }>('/api/models', { adapters: chatCheckpoint.value || undefined, model: chatModel.value || undefined });
      await refreshModels();
      if (!modelA.value || modelA.value === r.id || !modelB.value) (modelA.value && modelA.value !== r.id ? modelB : modelA).value = r.id;
      say(`loaded ${r.id}`, false);
    } catch (e) { failed(e); } finally { load.disabled = false; }
  } }, 'Load');
  message.addEventListener('keydown', (e) => { if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); send().catch(failed); } });
  pane.append(h('div', { class: 'card wide' },
    h('h2', {}, 'Model'),
    h('div', { class: 'row' }, h('label', {}, 'checkpoint ', chatCheckpoint), h('label', {}, 'or model ', chatModel), load),
    h('div', { class: 'row' }, h('label', {}, 'chat with ', modelA), h('label', {}, 'compare with ', modelB),
      h('label', {}, 'temperature ', temperature), h('label', {}, 'top_p ', topP), h('label', {}, 'max tokens ', maxTokens)),
    h('div', { class: 'row' }, h('label', { class: 'grow' }, 'system ', system),
      h('button', { onclick: () => { histories.clear(); transcripts.replaceChildren(); } }, 'Clear history'))),
  h('div', { class: 'card wide chat' }, transcripts, h('div', { class: 'row' }, message, h('button', { class: 'primary', onclick: () => send().catch(failed) }, 'Send'))));
  refreshModels().catch(() => {});
}

// ───────────────────────────── Export
const exportCheckpoint = h('input', { type: 'text', placeholder: 'a checkpoint-N folder', size: 70 });
exportCheckpoint.setAttribute('list', 'checkpoints');
const taskBox = h('div', { class: 'tasks' });

async function followTask(t: TaskInfo): Promise<void> {
  const box = h('div', { class: 'task' });
  taskBox.prepend(box);
  for (;;) {
    box.replaceChildren(...[h('div', { class: 'run-title' }, h('span', { class: `status ${t.status}` }, t.status), h('span', { class: 'mono' }, t.command)),
      h('pre', { class: 'log' }, t.log.join('\n')),
      t.error ? h('div', { class: 'field-error' }, t.error) : null,
      t.status === 'done' && t.output_dir ? h('div', {}, h('p', {}, 'Serve it:'), h('pre', { class: 'command' }, `webtune deploy --model ${shellQuote(t.output_dir)}`)) : null]
      .filter((x) => x !== null) as HTMLElement[]);
    if (t.status !== 'running') return;
    await new Promise((r) => setTimeout(r, 1000));
    t = await getJson<TaskInfo>(`/api/tasks/${t.id}`);
  }
}

function buildExport(pane: HTMLElement): void {
  const fp32 = h('input', { type: 'checkbox', checked: true }), fp16 = h('input', { type: 'checkbox' });
  const go = (kind: 'merge' | 'onnx') => async () => {
    try {
      const dtype = [fp32.checked && 'fp32', fp16.checked && 'fp16'].filter(Boolean);
      await followTask(await postJson<TaskInfo>('/api/export', { checkpoint: exportCheckpoint.value, kind, ...(kind === 'onnx' ? { dtype } : {}) }));
    } catch (e) { failed(e); }
  };
  pane.append(h('div', { class: 'card wide' },
    h('h2', {}, 'Checkpoint'), h('div', { class: 'row' }, exportCheckpoint),
    h('div', { class: 'row' },
      h('button', { class: 'primary', onclick: go('merge') }, 'Merge LoRA (merge-lora)'),
      h('button', { class: 'primary', onclick: go('onnx') }, 'Export to ONNX'), h('label', {}, fp32, ' fp32'), h('label', {}, fp16, ' fp16')),
    h('p', { class: 'dim' }, 'Writes next to the checkpoint (checkpoint-N-merged, checkpoint-N-onnx); onnxruntime and transformers.js load the ONNX folder.'),
    taskBox));
}

// ───────────────────────────── the page
async function main(): Promise<void> {
  const info = await getJson<{ output_dir: string; roots: string[]; device: string }>('/api/info');
  const nav = h('nav', {}, ...TABS.map((t) => {
    const b = h('button', { onclick: () => show(t) }, t[0].toUpperCase() + t.slice(1));
    tabButtons.set(t, b);
    return b;
  }));
  app.append(h('header', {}, h('span', { class: 'brand' }, 'webtune'), h('span', { class: 'title' }, 'web-ui'), nav,
    h('span', { class: 'where', title: `roots: ${info.roots.join(', ')}` }, `runs in ${info.output_dir} · device ${info.device}`)), toast, checkpointList);
  for (const t of TABS) { const p = h('main', { class: `pane pane-${t}`, hidden: true }); panes.set(t, p); app.append(p); }
  await buildTrain(panes.get('train')!);
  buildRuns(panes.get('runs')!);
  buildChat(panes.get('chat')!);
  buildExport(panes.get('export')!);
  const fromHash = () => { const t = location.hash.slice(1) as Tab; show(TABS.includes(t) ? t : 'train'); };
  addEventListener('hashchange', fromHash);
  fromHash();
}

main().catch((e) => { app.replaceChildren(h('div', { class: 'toast bad' }, `web-ui: ${(e as Error).message}`)); });
