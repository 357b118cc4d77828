// The run directory as ms-swift names it, OUTPUT_DIR/vN-YYYYMMDD-HHMMSS/, and its logging.jsonl (one JSON object
// per line, rewritten atomically on every append: a crash leaves the previous complete file).
import { fileSystem, readDir, writeFileAtomic } from '../../runtime/platform.ts';
import { UserError } from '../../core/errors.ts';

const pad = (n: number) => String(n).padStart(2, '0');

/** Fails early, before any loading or training, when the output directory cannot be created or written. */
export async function checkOutputDir(outputDir: string): Promise<void> {
  const fs = fileSystem();
  try {
    await fs.mkdir(outputDir, { recursive: true });
    const probe = `${outputDir.replace(/\/$/, '')}/.webtune-write-test-${Date.now()}`;
    await writeFileAtomic(probe, '');
    await fs.rm(probe);
  } catch (e) {
    throw new UserError(`--output_dir ${outputDir} is not writable (${(e as Error).message.split('\n')[0]})`);
  }
}

/**
 * Creates the next vN-… directory. Called once the model, data and device have been checked, so a run that fails
 * early leaves nothing behind and does not take a run number.
 */
export async function makeRunDir(outputDir: string, now = new Date()): Promise<string> {
  const fs = fileSystem();
  await checkOutputDir(outputDir);
  for (;;) {
    const n = Math.max(-1, ...(await readDir(outputDir)).map((d) => /^v(\d+)-/.exec(d)).filter((m) => m).map((m) => Number(m![1]))) + 1;
    const stamp = `${now.getFullYear()}${pad(now.getMonth() + 1)}${pad(now.getDate())}-${pad(now.getHours())}${pad(now.getMinutes())}${pad(now.getSeconds())}`;
    const dir = `${outputDir.replace(/\/$/, '')}/v${n}-${stamp}`;
    try {
      await fs.mkdir(dir);
      return dir;
    } catch (e) {
      // another run in the same output_dir took this number in the meantime: take the next
      if ((e as { code?: string }).code !== 'EEXIST') throw new UserError(`--output_dir ${outputDir}: cannot create ${dir} (${(e as Error).message.split('\n')[0]})`);
    }
  }
}

/** A failed run's directory goes unless it holds a checkpoint (which --resume_from_checkpoint can continue). */
export async function removeRunDirIfEmpty(dir: string): Promise<boolean> {
  if ((await checkpointsIn(dir)).length) return false;
  await fileSystem().rm(dir, { recursive: true, force: true });
  return true;
}

export class JsonLog {
  private readonly lines: string[] = [];
  constructor(private readonly path: string) {}
  async append(entry: Record<string, unknown>): Promise<void> {
    this.lines.push(JSON.stringify(entry));
    await writeFileAtomic(this.path, `${this.lines.join('\n')}\n`);
  }
}

/** Checkpoints of a run directory, oldest first. */
export async function checkpointsIn(dir: string): Promise<{ name: string; step: number }[]> {
  return (await readDir(dir)).map((name) => ({ name, m: /^checkpoint-(\d+)$/.exec(name) })).filter((x) => x.m)
    .map((x) => ({ name: `${dir}/${x.name}`, step: Number(x.m![1]) })).sort((a, b) => a.step - b.step);
}

/** --resume_from_checkpoint auto: the newest run directory under outputDir that holds a checkpoint, and its last one. */
export async function latestCheckpoint(outputDir: string): Promise<string | null> {
  const runs = (await readDir(outputDir).catch(() => [] as string[])).map((d) => ({ d, m: /^v(\d+)-/.exec(d) })).filter((x) => x.m)
    .sort((a, b) => Number(b.m![1]) - Number(a.m![1]));
  for (const { d } of runs) {
    const cks = await checkpointsIn(`${outputDir.replace(/\/$/, '')}/${d}`).catch(() => []);
    if (cks.length) return cks[cks.length - 1].name;
  }
  return null;
}

/** --save_total_limit: removes the oldest checkpoints beyond the limit, never the best one. */
export async function pruneCheckpoints(dir: string, limit: number | undefined, best: string | null): Promise<void> {
  if (!limit) return;
  const fs = fileSystem();
  const all = await checkpointsIn(dir);
  let extra = all.length - limit;
  for (const c of all) {
    if (extra <= 0) break;
    if (c.name === best || c === all[all.length - 1]) continue;
    await fs.rm(c.name, { recursive: true, force: true });
    extra--;
  }
}
