// The runs the web UI shows: the ones it started (each `webtune sft` in its own child process, so a crashing run never
// takes the server down; queued one at a time, since they share the machine's GPU) and every run directory found under
// --output_dir (also ones the CLI started, or a previous server). A run's state is read back from its directory
// (logging.jsonl, checkpoint-N/, and webui.json/webui.log, which this server writes beside them), so a restarted
// server lists old runs and can resume them. Watchers get each logging.jsonl row and log line as it comes.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileSystem, readDir, readJsonIfPresent, readText, stat, writeFileAtomic } from '../../runtime/platform.ts';
import { WebUiError } from './errors.ts';
import { commandLine, flagsToArgv, sftSchema } from './schema.ts';

export type RunStatus = 'queued' | 'running' | 'done' | 'failed' | 'stopped';
export const FINISHED: RunStatus[] = ['done', 'failed', 'stopped'];

export interface RunInfo {
  id: string;
  status: RunStatus;
  run_dir: string | null;
  /** the sft flags (parsed: defaults filled in) */
  args: Record<string, unknown>;
  /** the last logging.jsonl row with a loss, and the final row's fields when the run ended */
  last: Record<string, unknown> | null;
  checkpoints: string[];
  command: string;
  error: string | null;
  /** api: started by this server; disk: found under --output_dir */
  source: 'api' | 'disk';
  created: number;
}

export type RunEvent = { event: 'row' | 'log' | 'status'; data: string };

/** How to start a child webtune: `node dist/webtune.mjs ARGS`. */
export interface Launcher { node: string; cli: string; env?: Record<string, string | undefined> }

const LOG_KEEP = 2000;
/** A run directory without a final row, unchanged for this long and not ours, is taken as dead (killed or crashed). */
const STALE_MS = 120_000;
const RUN_DIR = /^v\d+-\d{8}-\d{6}$/;

class Run {
  status: RunStatus;
  runDir: string | null = null;
  rows: Record<string, unknown>[] = [];
  log: string[] = [];
  checkpoints: string[] = [];
  error: string | null = null;
  child: ChildProcess | null = null;
  stopRequested = false;
  readonly watchers = new Set<(e: RunEvent) => void>();
  private logText = '';
  mtime = 0;

  constructor(readonly id: string, readonly argv: string[], readonly args: Record<string, unknown>, readonly source: 'api' | 'disk',
    readonly created = Date.now()) {
    this.status = source === 'api' ? 'queued' : 'running';
  }

  info(): RunInfo {
    const losses = this.rows.filter((r) => 'loss' in r);
    const final = this.rows.at(-1) && 'last_model_checkpoint' in this.rows.at(-1)! ? this.rows.at(-1)! : {};
    const last = losses.length || Object.keys(final).length ? { ...losses.at(-1), ...final } : null;
    return { id: this.id, status: this.status, run_dir: this.runDir, args: this.args, last, checkpoints: this.checkpoints,
      command: commandLine(this.argv), error: this.error, source: this.source, created: this.created };
  }

  emit(e: RunEvent): void { for (const w of this.watchers) w(e); }

  setStatus(s: RunStatus): void {
    this.status = s;
    this.emit({ event: 'status', data: JSON.stringify(this.info()) });
  }

  addLog(line: string): void {
    this.log.push(line);
    if (this.log.length > LOG_KEEP) this.log.splice(0, this.log.length - LOG_KEEP);
    this.emit({ event: 'log', data: line });
  }

  /** Reads logging.jsonl and the checkpoints again; new rows go to the watchers. */
  async poll(): Promise<void> {
    if (!this.runDir) return;
    const info = await stat(`${this.runDir}/logging.jsonl`);
    if (info && info.mtimeMs !== this.mtime) {
      this.mtime = info.mtimeMs;
      // sft rewrites the whole file atomically: whole lines only
      const text = await readText(`${this.runDir}/logging.jsonl`).catch(() => this.logText);
      if (text !== this.logText) {
        this.logText = text;
        const lines = text.split('\n').filter((l) => l.trim());
        for (const l of lines.slice(this.rows.length)) {
          try { const row = JSON.parse(l); this.rows.push(row); this.emit({ event: 'row', data: JSON.stringify(row) }); } catch { break; }
        }
      }
    }
    const names = await readDir(this.runDir).catch(() => [] as string[]);
    this.checkpoints = names.map((n) => /^checkpoint-(\d+)$/.exec(n)).filter((m) => m).sort((a, b) => Number(a![1]) - Number(b![1]))
      .map((m) => `${this.runDir}/${m![0]}`);
  }
}

export interface RunRegistryOptions {
  outputDir: string;
  launcher: Launcher;
  /** checks a flag's path against --roots (throws 403) */
  checkArgs?: (args: Record<string, unknown>) => void;
}

export class RunRegistry {
  private readonly runs = new Map<string, Run>();
  private readonly queue: Run[] = [];
  private seq = 0;
  private timer: ReturnType<typeof setInterval> | null = null;
  private closed = false;

  constructor(private readonly o: RunRegistryOptions) {}

  /** Starts polling (live rows for watchers, run directories of children). */
  start(): void {
    this.timer = setInterval(() => { void this.tick(); }, 400);
  }

  /** Stops polling; runs still going get SIGINT (they stop after their step and keep their checkpoints). */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    const live = [...this.runs.values()].filter((r) => r.child && r.status === 'running');
    for (const r of live) r.child!.kill('SIGINT');
    await Promise.all(live.map((r) => new Promise((done) => (r.child!.exitCode !== null ? done(null) : r.child!.once('exit', done)))));
  }

  /** Queues `webtune sft ARGV` (flags already validated); the run starts when the GPU is free. */
  submit(argv: string[], args: Record<string, unknown>): RunInfo {
    const id = `r${Date.now().toString(36)}${(this.seq++).toString(36)}`;
    const run = new Run(id, argv, args, 'api');
    this.runs.set(id, run);
    this.queue.push(run);
    this.pump();
    return run.info();
  }

  /** Resolves once the run has a directory, or has ended, or at once while it waits behind another run (else the
   *  answer would wait for that run, and say `running` when it ended within `ms`); at most `ms`. */
  async settled(id: string, ms: number): Promise<RunInfo> {
    const run = this.get(id);
    const end = Date.now() + ms;
    while (Date.now() < end && !run.runDir && !FINISHED.includes(run.status) && !this.queue.includes(run)) await new Promise((r) => setTimeout(r, 100));
    return run.info();
  }

  async list(): Promise<RunInfo[]> {
    await this.scan();
    return [...this.runs.values()].sort((a, b) => b.created - a.created).map((r) => r.info());
  }

  get(id: string): Run {
    const run = this.runs.get(id) ?? [...this.runs.values()].find((r) => r.runDir?.split('/').pop() === id);
    if (!run) throw new WebUiError(404, `no run ${id} (GET /api/runs lists them)`);
    return run;
  }

  async find(id: string): Promise<Run> {
    if (!this.runs.has(id)) await this.scan();
    const run = this.get(id);
    await run.poll();
    return run;
  }

  /** SIGINT to a running child (sft stops after the current step, writes its log and keeps its checkpoints). */
  stop(id: string): RunInfo {
    const run = this.get(id);
    if (run.status === 'queued') {
      this.queue.splice(this.queue.indexOf(run), 1);
      run.setStatus('stopped');
    } else if (run.status === 'running' && run.child) {
      run.stopRequested = true;
      run.child.kill('SIGINT');
      run.addLog('webtune web-ui: stop requested (SIGINT): the run stops after its current step');
    } else if (run.status === 'running') {
      throw new WebUiError(409, `run ${id} was started outside this server: stop it where it runs (Ctrl-C)`);
    } else {
      throw new WebUiError(409, `run ${id} is already ${run.status}`);
    }
    return run.info();
  }

  /** The run's flags with --resume_from_checkpoint (its last checkpoint unless one is named): a new queued run. */
  resumeArgs(id: string, checkpoint?: string): Record<string, unknown> {
    const run = this.get(id);
    const ckpt = checkpoint ?? run.checkpoints.at(-1);
    if (!ckpt) throw new WebUiError(409, `run ${id} has no checkpoint to resume from`);
    if (!run.checkpoints.includes(ckpt)) throw new WebUiError(400, `${ckpt} is not a checkpoint of run ${id}`, 'checkpoint');
    const known = new Set(sftSchema().map((f) => f.name));
    const flags: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(run.args)) if (known.has(k)) flags[k] = v;
    // args.json holds the absolute base model beside what the user typed; either works
    return { ...flags, resume_from_checkpoint: ckpt };
  }

  watch(run: Run, fn: (e: RunEvent) => void): () => void {
    run.watchers.add(fn);
    return () => run.watchers.delete(fn);
  }

  private pump(): void {
    // `launching` covers launch()'s awaits before the child exists: a run submitted then must wait its turn too
    if (this.closed || this.launching || [...this.runs.values()].some((r) => r.child && r.status === 'running')) return;
    const next = this.queue.shift();
    if (!next) return;
    this.launching = true;
    void this.launch(next);
  }
  private launching = false;

  private async launch(run: Run): Promise<void> {
    const fs = fileSystem();
    let before: Set<string>;
    try {
      await fs.mkdir(this.o.outputDir, { recursive: true });
      before = new Set(await readDir(this.o.outputDir));
    } catch (e) {  // an unusable --output_dir fails this run, not the queue
      this.launching = false;
      run.error = (e as Error).message;
      run.setStatus('failed');
      this.pump();
      return;
    }
    const { node, cli, env } = this.o.launcher;
    const child = spawn(node, [cli, 'sft', ...run.argv], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    run.child = child;
    run.setStatus('running');
    this.launching = false;
    run.addLog(`$ ${run.info().command}`);
    let stdout = '', partial = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      const parts = (partial + d).split(/\r?\n|\r/);
      partial = parts.pop()!;
      for (const p of parts) if (p.trim()) run.addLog(p);
    });
    // the run directory: the vN-… folder that appears under --output_dir with this run's args.json
    const claim = async () => {
      for (const name of await readDir(this.o.outputDir).catch(() => [] as string[])) {
        if (before.has(name) || !RUN_DIR.test(name) || [...this.runs.values()].some((r) => r.runDir?.endsWith(`/${name}`))) continue;
        const dir = `${this.o.outputDir}/${name}`;
        if (await stat(`${dir}/args.json`)) { run.runDir = dir; run.setStatus('running'); return; }
      }
    };
    const finding = setInterval(() => { if (!run.runDir) void claim(); else clearInterval(finding); }, 200);
    const code = await new Promise<number | null>((done) => child.once('exit', (c) => done(c)));
    clearInterval(finding);
    if (partial.trim()) run.addLog(partial);
    if (!run.runDir && stdout.trim()) run.runDir = stdout.trim().split('\n').pop()!.replace(/\/$/, '');
    if (!run.runDir) await claim();
    await run.poll();
    run.child = null;
    const error = [...run.log].reverse().find((l) => l.startsWith('webtune: error:'));
    run.error = code === 0 ? null : error?.replace(/^webtune: error: /, '') ?? `sft exited with code ${code}`;
    const status: RunStatus = code === 0 ? 'done' : run.stopRequested ? 'stopped' : 'failed';
    if (status === 'stopped') run.error = null;
    if (run.runDir && (await stat(run.runDir))?.isDirectory) {
      await writeFileAtomic(`${run.runDir}/webui.json`, `${JSON.stringify({ id: run.id, status, exit_code: code, error: run.error, argv: run.argv }, null, 2)}\n`);
      await writeFileAtomic(`${run.runDir}/webui.log`, `${run.log.join('\n')}\n`);
    }
    run.setStatus(status);
    this.pump();
  }

  /** Adds run directories under --output_dir that no run here knows yet. */
  private async scan(): Promise<void> {
    const known = new Set([...this.runs.values()].map((r) => r.runDir).filter((d) => d));
    for (const name of await readDir(this.o.outputDir).catch(() => [] as string[])) {
      const dir = `${this.o.outputDir}/${name}`;
      if (!RUN_DIR.test(name) || known.has(dir) || this.runs.has(name)) continue;
      const args = await readJsonIfPresent(`${dir}/args.json`).catch(() => undefined);
      if (!args) continue;
      const saved = await readJsonIfPresent(`${dir}/webui.json`).catch(() => undefined);
      const argv = Array.isArray(saved?.argv) ? (saved!.argv as string[]) : this.argvOf(args);
      const info = await stat(dir);
      const run = new Run(name, argv, args, 'disk', info?.mtimeMs ?? 0);
      run.runDir = dir;
      const log = await readText(`${dir}/webui.log`).catch(() => '');
      run.log = log.split('\n').filter((l) => l);
      if (typeof saved?.error === 'string') run.error = saved.error;
      this.runs.set(name, run);
      await run.poll();
      this.diskStatus(run, saved?.status as RunStatus | undefined);
    }
  }

  /** A found run's state: its own record if this server ran it, else its log's final row, else its age. */
  private diskStatus(run: Run, saved?: RunStatus): void {
    const final = run.rows.at(-1);
    const status: RunStatus = saved ?? (final && 'last_model_checkpoint' in final ? (final.interrupted ? 'stopped' : 'done')
      : Date.now() - Math.max(run.mtime, run.created) < STALE_MS ? 'running' : 'failed');
    if (status === 'failed' && !saved) run.error ??= 'no final log row: the run was killed or crashed (resume it from its last checkpoint)';
    if (status !== run.status) run.setStatus(status);
  }

  /** args.json back to sft argv (only sft's own flags; it also records what the user typed). */
  private argvOf(args: Record<string, unknown>): string[] {
    const known = new Set(sftSchema().map((f) => f.name));
    try { return flagsToArgv(Object.fromEntries(Object.entries(args).filter(([k, v]) => known.has(k) && v !== false))); } catch { return []; }
  }

  private async tick(): Promise<void> {
    for (const run of this.runs.values()) {
      if (run.status === 'running' || run.watchers.size) await run.poll().catch(() => {});
      if (run.source === 'disk' && run.status === 'running') this.diskStatus(run);
    }
  }
}
