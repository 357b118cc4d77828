// Writing a model directory (merge-lora, export): an empty-or-new --output_dir check, the source's generation config
// and tokenizer files, and an atomic write (everything built under a temporary name beside it, then renamed).
import { fileSystem, readDir, readFile, readJsonIfPresent, stat, joinPath, writeAtomic } from '../runtime/platform.ts';
import { UserError } from '../core/errors.ts';
import type { LoadedModel } from './load.ts';

const HF_TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'tokenizer.model', 'chat_template.jinja'];


/** --output_dir without a trailing slash; refused when it exists and is not an empty directory. */
export async function checkOutputDir(dir: string): Promise<string> {
  const outDir = dir.length > 1 ? dir.replace(/\/+$/, '') : dir;
  const existing = await stat(outDir);
  if (existing && (!existing.isDirectory || (await readDir(outDir)).length > 0)) {
    throw new UserError(`--output_dir ${outDir} already exists and is not empty; choose a new directory`);
  }
  return outDir;
}

/** The tokenizer files of a model's folder, copied beside a model written from it (merge-lora, export, full checkpoints). */
export function tokenizerFilesOf(loaded: LoadedModel): string[] {
  const loc = loaded.location;
  const files = loc && loc.format !== 'llama2c' ? HF_TOKENIZER_FILES.map((f) => joinPath(loc.dir, f)) : [];
  // llama2.c's tok*.bin (beside a llama2.c model, or in the folder of one merged or exported), or --tokenizer
  if (loaded.tokenizerFile !== loc?.dir && !files.includes(loaded.tokenizerFile)) files.push(loaded.tokenizerFile);
  return files;
}

/** What a source model contributes: its generation_config.json and tokenizer files (its config.json comes with the
 *  loaded model: hfConfigFor). */
export async function sourceFiles(modelPath: string, loaded: LoadedModel) {
  const base = modelPath.replace(/\/+$/, '');
  const loc = loaded.location;
  const hf = loc !== undefined && loc.format !== 'llama2c';
  const generation = hf ? await readJsonIfPresent(joinPath(loc.dir, 'generation_config.json')) : undefined;
  return { base, generation, tokenizerFiles: tokenizerFilesOf(loaded) };
}

/**
 * Writes `files` (relative path → bytes or a JSON value) plus the existing ones of `copy` into `outDir`, atomically.
 * Errors become one line naming --output_dir; nothing is left half written.
 */
export async function writeModelDir(outDir: string, files: Record<string, Uint8Array | object>, copy: string[]): Promise<void> {
  const fs = fileSystem();
  const parent = outDir.includes('/') ? outDir.slice(0, outDir.lastIndexOf('/')) || '/' : '.';
  await fs.mkdir(parent, { recursive: true }).catch((e: Error) => {
    throw new UserError(`--output_dir ${outDir}: cannot create ${parent} (${e.message.split('\n')[0]})`);
  });
  try {
    // checkOutputDir made sure outDir is absent or an empty directory, which the commit replaces
    await writeAtomic(outDir, async (tmp) => {
      await fs.mkdir(tmp);
      for (const [rel, data] of Object.entries(files)) {
        if (rel.includes('/')) await fs.mkdir(joinPath(tmp, rel.slice(0, rel.lastIndexOf('/'))), { recursive: true });
        await fs.writeFile(joinPath(tmp, rel), data instanceof Uint8Array ? data : `${JSON.stringify(data, null, 2)}\n`);
      }
      for (const f of copy) if ((await stat(f))?.isFile) await fs.writeFile(joinPath(tmp, f.replace(/^.*\//, '')), await readFile(f));
    }, { replace: true });
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError(`--output_dir ${outDir}: ${(e as Error).message.split('\n')[0]}`);
  }
}
