// Getting a run out of the page: a checkpoint as a .zip download (fflate), or the whole run written into a folder
// the user picks (File System Access API, where the browser has it); and a downloaded checkpoint zip read back in.
import { unzipSync, zipSync } from 'fflate';
import { fileSystem, readDir, readFile, stat } from '../../../runtime/platform.ts';

/** Every file under `dir` in the page's file system, by path relative to `dir`'s parent (so the zip has one folder). */
async function filesUnder(dir: string): Promise<Record<string, Uint8Array>> {
  const out: Record<string, Uint8Array> = {}, base = dir.slice(0, dir.lastIndexOf('/') + 1);
  const walk = async (d: string) => {
    for (const name of await readDir(d)) {
      const p = `${d}/${name}`, s = await stat(p);
      if (s?.isDirectory) await walk(p);
      else if (s?.isFile) out[p.slice(base.length)] = await readFile(p);
    }
  };
  await walk(dir);
  return out;
}

export async function downloadZip(dir: string): Promise<void> {
  const zip = zipSync(await filesUnder(dir), { level: 0 });  // safetensors do not compress: store
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([zip as BlobPart], { type: 'application/zip' }));
  a.download = `${dir.split('/').slice(-2).join('-')}.zip`;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 60_000);
}

type DirHandle = { getDirectoryHandle(n: string, o: { create: boolean }): Promise<DirHandle>; getFileHandle(n: string, o: { create: boolean }): Promise<{ createWritable(): Promise<{ write(d: Uint8Array): Promise<void>; close(): Promise<void> }> }> };
export const canSaveToFolder = () => typeof (globalThis as { showDirectoryPicker?: unknown }).showDirectoryPicker === 'function';

/** Writes the run directory into a folder the user picks. */
export async function saveToFolder(dir: string): Promise<number> {
  const root = await (globalThis as unknown as { showDirectoryPicker(o: object): Promise<DirHandle> }).showDirectoryPicker({ mode: 'readwrite' });
  const files = await filesUnder(dir);
  for (const [rel, data] of Object.entries(files)) {
    const parts = rel.split('/');
    let d = root;
    for (const p of parts.slice(0, -1)) d = await d.getDirectoryHandle(p, { create: true });
    const w = await (await d.getFileHandle(parts[parts.length - 1], { create: true })).createWritable();
    await w.write(data);
    await w.close();
  }
  return Object.keys(files).length;
}

/**
 * A checkpoint zip (as downloadZip writes it: RUN-checkpoint-N/…, or checkpoint-N/… at the top) unpacked under
 * `outputDir`/uploaded/; returns the checkpoint directory, or undefined when the zip holds none.
 */
export async function unpackCheckpoint(zip: Uint8Array, outputDir: string): Promise<string | undefined> {
  const files = unzipSync(zip), fs = fileSystem();
  let found: string | undefined;
  for (const [rel, data] of Object.entries(files)) {
    if (rel.endsWith('/')) continue;
    const top = rel.split('/')[0], step = /checkpoint-(\d+)$/.exec(top)?.[1];
    if (!step) continue;
    const dir = `${outputDir}/v0-uploaded/checkpoint-${step}`, path = `${dir}/${rel.slice(top.length + 1)}`;
    await fs.mkdir(path.slice(0, path.lastIndexOf('/')), { recursive: true });
    await fs.writeFile(path, data);
    found = dir;
  }
  return found;
}
