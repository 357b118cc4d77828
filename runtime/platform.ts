// The platform layer: what differs between Node, Deno, edge workers and browsers (files, stdio, exit, env).
// Files go through a pluggable FileSystem: node:fs on Node and Deno (runtime/node-host.ts, loaded lazily, so edge
// workers never load it), a MemoryFs in a browser (setFileSystem). Nothing else in webtune imports node: modules,
// apart from the CLI.
import { UserError } from '../core/errors.ts';
import { host } from './node-host.ts';
import { resolveFrom } from './paths.ts';
import type { FileInfo, FileSystem, LineReader } from './host-api.ts';

export type RuntimeName = 'node' | 'deno' | 'edge';

export const runtimeName: RuntimeName =
  typeof (globalThis as { Deno?: unknown }).Deno !== 'undefined' ? 'deno'
  : typeof (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node === 'string' ? 'node'
  : 'edge';

export type { FileInfo, FileSystem, Host, HostWorker, LineReader, ReadHandle, WriteHandle } from './host-api.ts';
export { host };
let current: FileSystem = host.fs;

/** Installs the file system every webtune file access goes through (a MemoryFs in a browser). */
export function setFileSystem(fs: FileSystem): void { current = fs; }
/** The file system in use. */
export function fileSystem(): FileSystem { return current; }

export async function readFile(path: string): Promise<Uint8Array> {
  return current.readFile(path);
}

export async function readText(path: string): Promise<string> {
  return new TextDecoder().decode(await current.readFile(path));
}

/** The first `bytes` bytes of a file (fewer when it is shorter): a header read without loading the whole file. */
export async function readFileHead(path: string, bytes: number): Promise<Uint8Array> {
  const fh = await current.open(path);
  try {
    const buf = new Uint8Array(bytes);
    return buf.subarray(0, await fh.read(buf, 0));
  } finally {
    await fh.close();
  }
}

export async function stat(path: string): Promise<FileInfo | undefined> {
  return current.stat(path);
}

export async function readDir(path: string): Promise<string[]> {
  return (await current.readDir(path)).sort();
}

/** The file's bytes in chunks of `chunkBytes` (never the whole file at once). */
export async function* readChunks(path: string, chunkBytes = 1 << 20): AsyncGenerator<Uint8Array> {
  const fh = await current.open(path);
  try {
    for (let pos = 0; ;) {
      const buf = new Uint8Array(chunkBytes), n = await fh.read(buf, pos);
      if (n === 0) break;
      pos += n;
      yield buf.subarray(0, n);
    }
  } finally {
    await fh.close();
  }
}

/** The file's sha256 or sha1 hex digest; `prefix` is hashed first (git's blob header). */
export async function hashFile(path: string, algo: 'sha256' | 'sha1', prefix = ''): Promise<string> {
  async function* chunks() {
    if (prefix) yield new TextEncoder().encode(prefix);
    yield* readChunks(path);
  }
  return host.hash(algo, chunks());
}

// Atomic writes, the one home of them: a file or directory is built under a temporary name beside its target (same
// directory, so the rename is atomic) and renamed into place; a failure removes the temporary, so a crash or an error
// leaves the old contents or nothing, never half of the new.

/** A fresh temporary name beside `path`. */
export function tempPathFor(path: string): string {
  return `${path}.${Date.now()}.${Math.random().toString(36).slice(2, 8)}.tmp`;
}

/** Renames a finished temporary into place; replace: remove what `path` holds first (a directory cannot be renamed over). */
export async function commitTemp(tmp: string, path: string, replace = false): Promise<void> {
  if (replace) await current.rm(path, { recursive: true, force: true });
  await current.rename(tmp, path);
}

/** Removes a temporary that will not be committed (no error if it never came to exist). */
export async function discardTemp(tmp: string): Promise<void> {
  await current.rm(tmp, { recursive: true, force: true }).catch(() => {});
}

/** Builds `path` (file or directory) through `build(tmp)`, then commits it; on failure nothing is left behind. */
export async function writeAtomic<T>(path: string, build: (tmp: string) => Promise<T>, opts: { replace?: boolean } = {}): Promise<T> {
  const tmp = tempPathFor(path);
  try {
    const result = await build(tmp);
    await commitTemp(tmp, path, opts.replace);
    return result;
  } catch (e) {
    await discardTemp(tmp);
    throw e;
  }
}

/** Write a file atomically (writeAtomic). */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  await writeAtomic(path, (tmp) => current.writeFile(tmp, data));
}

export function joinPath(...parts: string[]): string {
  return parts.filter(Boolean).join('/').replace(/\/+/g, '/');
}

export { dirname, isAbsolutePath, normalizePath } from './paths.ts';

/** The absolute path of `parts` joined, relative ones resolved against the working directory. */
export function resolvePath(...parts: string[]): string {
  return resolveFrom(host.cwd(), ...parts);
}

const proc = () => (globalThis as { process?: NodeJS.Process }).process;

export function writeStdout(text: string): void {
  const p = proc();
  if (p?.stdout) p.stdout.write(text);
  else console.log(text);
}

export function writeStderr(text: string): void {
  const p = proc();
  if (p?.stderr) p.stderr.write(text);
  else console.error(text);
}

export function getEnv(name: string): string | undefined {
  return proc()?.env?.[name];
}

export function argv(): string[] {
  return proc()?.argv.slice(2) ?? [];
}

/** Exit after stdout/stderr have drained (process.exit would truncate piped output). */
export async function exit(code: number): Promise<never> {
  const p = proc();
  if (p) {
    await new Promise<void>((r) => (p.stdout.writableNeedDrain ? p.stdout.once('drain', () => r()) : r()));
    p.exit(code);
  }
  throw new Error(`exit ${code}`);
}

/** Lines of stdin, one prompt at a time (Node's readline; Deno provides the same module). */
export function openLineReader(): Promise<LineReader> {
  return host.openLineReader();
}

/** A JSON file's object, undefined when the file does not exist; malformed JSON is one UserError naming the file. */
/** Frees what is no longer referenced now, where the runtime can (Node); a no-op elsewhere. */
export async function collectGarbage(): Promise<void> { await host.collectGarbage?.(); }

export async function readJsonIfPresent(file: string): Promise<Record<string, unknown> | undefined> {
  if (!(await stat(file))?.isFile) return undefined;
  try { return JSON.parse(await readText(file)); } catch (e) { throw new UserError(`${file}: invalid JSON (${(e as Error).message.split('\n')[0]})`); }
}
