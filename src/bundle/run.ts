// Running a bundle, on any runtime: read and verify job.json and its files, decode the shards, and turn the stored
// flags into sft's arguments. train.mjs (Node, Deno) and the browser page both come through here.
import { UserError } from '../../core/errors.ts';
import { readDir, stat } from '../../runtime/platform.ts';
import type { SftArgs, SftData } from '../train/sft.ts';
import { checkpointsIn } from '../train/output.ts';
import { JOB_FILE, parseManifest, verifyFiles, type JobManifest } from './job.ts';
import { decodeShard } from './shards.ts';

/** How a runtime reads the bundle's files: relative path → bytes, undefined when the file is absent. */
export type BundleReader = (rel: string) => Promise<Uint8Array | undefined>;

export interface OpenedBundle { manifest: JobManifest; data: SftData }

/** job.json and every file it lists, checked; `where` names the bundle in errors (its folder or URL). */
export async function openBundle(read: BundleReader, where: string): Promise<OpenedBundle> {
  const text = await read(JOB_FILE);
  if (!text) throw new UserError(`${where}: no ${JOB_FILE} (not a webtune bundle)`);
  const manifest = parseManifest(new TextDecoder().decode(text), `${where}/${JOB_FILE}`);
  await verifyFiles(manifest, read, where);
  const shard = async (rel: string | null) => (rel ? decodeShard((await read(rel))!, `${where}/${rel}`) : []);
  const d = manifest.data;
  return { manifest, data: { train: await shard(d.train), val: await shard(d.val), T: d.T, padId: d.pad_id, packed: d.packed,
    summary: d.summary, warnings: d.warnings } };
}

export interface RunChoices {
  /** the bundle's location as the runtime's file layer sees it (its model folder is `${root}/${manifest.model}`) */
  root: string;
  outputDir: string;
  maxSteps?: number;
  numTrainEpochs?: number;
  resumeFrom?: string;
}

/** sft's arguments for this job: the stored flags, the bundle's model, the runtime's output folder and overrides. */
export function bundleSftArgs(m: JobManifest, c: RunChoices): SftArgs {
  const a = { ...m.args, model: `${c.root}/${m.model}`, output_dir: c.outputDir } as unknown as SftArgs;
  if (c.maxSteps !== undefined) a.max_steps = c.maxSteps;
  if (c.numTrainEpochs !== undefined) { a.num_train_epochs = c.numTrainEpochs; if (c.maxSteps === undefined) a.max_steps = 0; }
  if (c.resumeFrom) a.resume_from_checkpoint = c.resumeFrom;
  return a;
}

/** The newest checkpoint under an output folder: the highest step of the newest vN-… run that saved one. */
export async function latestCheckpoint(outputDir: string): Promise<string | undefined> {
  if (!(await stat(outputDir))?.isDirectory) return undefined;
  const runs = (await readDir(outputDir)).map((d) => ({ d, m: /^v(\d+)-/.exec(d) })).filter((r) => r.m)
    .sort((x, y) => Number(y.m![1]) - Number(x.m![1]));
  for (const r of runs) {
    const cks = await checkpointsIn(`${outputDir}/${r.d}`);
    if (cks.length) return cks[cks.length - 1].name;
  }
  return undefined;
}
