// `webtune bundle`: a training job as one self-contained folder. The model is rewritten as a Hugging Face directory
// (in BF16 where that is lossless, so a bf16 checkpoint keeps its size), the data goes through sft's own pipeline
// (sftData) into binary shards, the runtimes (train.mjs for Node/Deno, index.html for browsers) are copied from
// dist/bundle/, and job.json lists the flags and every file's sha256.
// The folder is built under a temporary name and renamed into place.
import { UserError } from '../../core/errors.ts';
import { hfConfigFor, modelToHfTensors } from '../../models/hf-llama.ts';
import { checkOutputDir } from '../../models/model-dir.ts';
import { writeSafetensors } from '../../models/safetensors.ts';
import { fileSystem, readDir, readFile, stat, writeAtomic } from '../../runtime/platform.ts';
import { loadModelSource, type ModelSource } from '../train/model-source.ts';
import { sftData, type SftArgs, type SftOptions } from '../train/sft.ts';
import { BUNDLE_FORMAT, fileEntry, JOB_FILE, type JobManifest } from './job.ts';
import { readTokenizerSpec } from '../../models/hf/tokenizer-json.ts';
import { DATA_INPUT, DATA_MODULE, encodeDataInput, type DataTokenizer } from './data-input.ts';
import { encodeShard } from './shards.ts';

/** Where the bundle's data and model live inside it. */
export const BUNDLE_PATHS = { model: 'model', train: 'data/train.shard', val: 'data/val.shard' } as const;

/** sft flags that describe where this machine keeps things, not the job: not stored. */
const LOCAL_ONLY = ['output_dir', 'resume_from_checkpoint', 'debug'];

export interface BundleOptions {
  /** the built runtimes to copy in (dist/bundle/: train.mjs, index.html and the page's assets) */
  runtimeDir: string;
  version: string;
  note?: (s: string) => void;
  onRow?: SftOptions['onRow'];
}

export interface BundleResult { dir: string; manifest: JobManifest; bytes: number }

/** The tokenizer data.wasm runs: the llama2.c file the bundle carries, or the spec of its tokenizer.json; none for a
 *  model without a tokenizer file (the embedded tiny-random model). */
async function dataTokenizer(src: ModelSource): Promise<DataTokenizer | undefined> {
  const file = (re: RegExp) => src.tokenizerFiles.find((f) => re.test(f));
  const bin = file(/\.bin$/i), json = file(/(^|\/)tokenizer\.json$/);
  if (src.kind === 'llama2c' && bin) return { kind: 'llama2c', path: `${BUNDLE_PATHS.model}/${bin.replace(/^.*\//, '')}`, vocabSize: src.model.config.vocabSize };
  if (src.kind === 'hf' && json) return { kind: 'hf', spec: await readTokenizerSpec(json) };
  return undefined;
}

export async function writeBundle(a: SftArgs, o: BundleOptions): Promise<BundleResult> {
  const note = o.note ?? (() => {});
  const dir = await checkOutputDir(a.output_dir);
  const runtime = (await stat(o.runtimeDir))?.isDirectory ? await readDir(o.runtimeDir) : [];
  if (!runtime.includes('train.mjs')) throw new UserError(`webtune bundle: no train.mjs in ${o.runtimeDir} (build it: node scripts/build.mjs)`);
  const src = await loadModelSource(a.model);
  const wasi = runtime.includes(DATA_MODULE);
  const { data, maxLength } = await sftData(a, src, note, o.onRow, wasi);
  for (const line of data.summary) note(line);
  for (const w of data.warnings) note(`warning: ${w}`);

  const files = new Map<string, Uint8Array>();
  const json = (v: unknown) => new TextEncoder().encode(`${JSON.stringify(v, null, 2)}\n`);
  files.set(`${BUNDLE_PATHS.model}/config.json`, json(hfConfigFor(src.model, 'float32')));
  files.set(`${BUNDLE_PATHS.model}/model.safetensors`, writeSafetensors(modelToHfTensors(src.model), { format: 'pt' }, { exactBf16: true }));
  for (const f of src.tokenizerFiles) if ((await stat(f))?.isFile) files.set(`${BUNDLE_PATHS.model}/${f.replace(/^.*\//, '')}`, await readFile(f));
  files.set(BUNDLE_PATHS.train, encodeShard(data.train));
  if (data.val.length) files.set(BUNDLE_PATHS.val, encodeShard(data.val));
  const tokenizer = wasi && data.rows ? await dataTokenizer(src) : undefined;
  if (tokenizer && data.rows) {
    files.set(DATA_INPUT, encodeDataInput({ tok: src.tok, tokenizer, maxLength, truncation: a.truncation_strategy, packing: data.packed,
      padId: data.padId, splits: [{ path: BUNDLE_PATHS.train, rows: data.rows.train }, ...(data.val.length ? [{ path: BUNDLE_PATHS.val, rows: data.rows.val }] : [])] }));
  } else if (wasi) {
    note(`no ${DATA_INPUT} for ${DATA_MODULE}: the model has no tokenizer file it can run`);
  }
  for (const f of runtime) if ((await stat(`${o.runtimeDir}/${f}`))?.isFile) files.set(f, await readFile(`${o.runtimeDir}/${f}`));

  const args: Record<string, unknown> = { ...a, model: BUNDLE_PATHS.model, model_source: a.model, max_length: a.max_length ?? maxLength };
  for (const k of LOCAL_ONLY) delete args[k];
  const manifest: JobManifest = {
    format: BUNDLE_FORMAT, webtune_version: o.version, created: new Date().toISOString(), args, model: BUNDLE_PATHS.model,
    data: { train: BUNDLE_PATHS.train, val: data.val.length ? BUNDLE_PATHS.val : null, T: data.T, pad_id: data.padId, packed: data.packed,
      summary: data.summary, warnings: data.warnings, wasi: files.has(DATA_INPUT) ? { module: DATA_MODULE, input: DATA_INPUT } : null },
    files: {},
  };
  for (const [rel, bytes] of files) manifest.files[rel] = await fileEntry(bytes);
  files.set(JOB_FILE, json(manifest));

  const fs = fileSystem();
  await writeAtomic(dir, async (tmp) => {
    for (const [rel, bytes] of files) {
      await fs.mkdir(`${tmp}/${rel}`.replace(/\/[^/]*$/, ''), { recursive: true });
      await fs.writeFile(`${tmp}/${rel}`, bytes);
    }
  }, { replace: true });
  return { dir, manifest, bytes: [...files.values()].reduce((s, b) => s + b.length, 0) };
}
