// Short jobs the page asks for besides training, each one webtune command in a child process: the data preview
// (`preprocess --debug`), a browser bundle (`bundle`), merge-lora and the ONNX export. Their stderr lines are the
// progress the page shows.
import { spawn } from 'node:child_process';
import { WebUiError } from './errors.ts';
import type { Launcher, RunStatus } from './runs.ts';

export interface TaskInfo {
  id: string;
  kind: string;
  status: Exclude<RunStatus, 'queued' | 'stopped'>;
  /** the folder the task writes (export, merge, bundle) */
  output_dir: string | null;
  log: string[];
  error: string | null;
  command: string;
}

export class Task {
  status: TaskInfo['status'] = 'running';
  readonly log: string[] = [];
  stdout = '';
  error: string | null = null;
  readonly done: Promise<void>;

  constructor(readonly id: string, readonly kind: string, readonly args: string[], launcher: Launcher, readonly outputDir: string | null) {
    const child = spawn(launcher.node, [launcher.cli, ...args], { env: { ...process.env, ...launcher.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let partial = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (this.stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      const parts = (partial + d).split(/\r?\n|\r/);
      partial = parts.pop()!;
      this.log.push(...parts);  // blank lines kept: they belong to --debug's row text
    });
    this.done = new Promise((resolve) => child.once('close', (code) => {
      if (partial.trim()) this.log.push(partial);
      const err = [...this.log].reverse().find((l) => l.startsWith('webtune: error:'));
      this.status = code === 0 ? 'done' : 'failed';
      if (code !== 0) this.error = err?.replace(/^webtune: error: /, '') ?? `webtune ${args[0]} exited with code ${code}`;
      resolve();
    }));
  }

  info(): TaskInfo {
    return { id: this.id, kind: this.kind, status: this.status, output_dir: this.outputDir, log: this.log.slice(-200), error: this.error,
      command: ['webtune', ...this.args].join(' ') };
  }
}

export class TaskRegistry {
  private readonly tasks = new Map<string, Task>();
  private seq = 0;

  constructor(private readonly launcher: Launcher) {}

  start(kind: string, args: string[], outputDir: string | null = null): Task {
    const t = new Task(`t${Date.now().toString(36)}${(this.seq++).toString(36)}`, kind, args, this.launcher, outputDir);
    this.tasks.set(t.id, t);
    return t;
  }

  get(id: string): Task {
    const t = this.tasks.get(id);
    if (!t) throw new WebUiError(404, `no task ${id}`);
    return t;
  }
}

export interface PreviewRow { where: string; tokens: number; trained: number; text: string }

/**
 * The rows `--debug` prints (the view of debug-view.ts without colour: trained tokens inside ⟦ ⟧), split per row:
 * a header line `── FILE:LINE: N tokens, M trained …` and the text up to the next header or `webtune:` line.
 */
export function parseDebugView(stderr: string[]): PreviewRow[] {
  const rows: PreviewRow[] = [];
  let cur: PreviewRow | null = null;
  for (const line of stderr) {
    const h = /^── (.*): (\d+) tokens, (\d+) trained/.exec(line);
    if (h) { cur = { where: h[1], tokens: Number(h[2]), trained: Number(h[3]), text: '' }; rows.push(cur); continue; }
    if (line.startsWith('webtune: ')) { cur = null; continue; }
    if (cur) cur.text += (cur.text ? '\n' : '') + line;
  }
  return rows;
}
