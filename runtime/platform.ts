// The platform layer: what differs between Node, Deno and edge workers (files, stdio, exit, env).
// Node and Deno both provide node:fs and node:process; edge workers provide neither, so those are
// loaded lazily and every caller that needs files runs only where they exist.
import { UserError } from '../core/errors.ts';

export type RuntimeName = 'node' | 'deno' | 'edge';

export const runtimeName: RuntimeName =
  typeof (globalThis as { Deno?: unknown }).Deno !== 'undefined' ? 'deno'
  : typeof (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node === 'string' ? 'node'
  : 'edge';

type NodeFs = typeof import('node:fs/promises');
let fsPromise: Promise<NodeFs> | undefined;
const fs = (): Promise<NodeFs> => (fsPromise ??= import('node:fs/promises'));

export interface FileInfo { isFile: boolean; isDirectory: boolean; size: number }

export async function readFile(path: string): Promise<Uint8Array> {
  return new Uint8Array(await (await fs()).readFile(path));
}

export async function readText(path: string): Promise<string> {
  return (await fs()).readFile(path, 'utf8');
}

/** The first `bytes` bytes of a file (fewer when it is shorter): a header read without loading the whole file. */
export async function readFileHead(path: string, bytes: number): Promise<Uint8Array> {
  const fh = await (await fs()).open(path, 'r');
  try {
    const buf = new Uint8Array(bytes);
    const { bytesRead } = await fh.read(buf, 0, bytes, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

export async function stat(path: string): Promise<FileInfo | undefined> {
  try {
    const s = await (await fs()).stat(path);
    return { isFile: s.isFile(), isDirectory: s.isDirectory(), size: s.size };
  } catch {
    return undefined;
  }
}

export async function readDir(path: string): Promise<string[]> {
  return (await (await fs()).readdir(path)).sort();
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
  const f = await fs();
  if (replace) await f.rm(path, { recursive: true, force: true });
  await f.rename(tmp, path);
}

/** Removes a temporary that will not be committed (no error if it never came to exist). */
export async function discardTemp(tmp: string): Promise<void> {
  await (await fs()).rm(tmp, { recursive: true, force: true }).catch(() => {});
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
  const f = await fs();
  await writeAtomic(path, (tmp) => f.writeFile(tmp, data));
}

export function joinPath(...parts: string[]): string {
  return parts.filter(Boolean).join('/').replace(/\/+/g, '/');
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

export interface LineReader {
  /** Shows `prompt` on stdout and resolves to the next line of stdin (without its newline); undefined at the end. */
  read(prompt: string): Promise<string | undefined>;
  /** stdin is a terminal (line editing and history are on) */
  readonly interactive: boolean;
  close(): void;
}

/** Lines of stdin, one prompt at a time (Node's readline; Deno provides the same module). */
export async function openLineReader(): Promise<LineReader> {
  const p = proc();
  if (!p?.stdin) throw new Error('this runtime has no standard input to read lines from');
  const { createInterface } = await import('node:readline');
  const interactive = p.stdin.isTTY === true;
  const rl = createInterface({ input: p.stdin, output: interactive ? p.stdout : undefined, terminal: interactive });
  let closed = false;
  rl.on('close', () => (closed = true));
  // Ctrl-C at the terminal: readline would only pause; leave as a shell expects.
  rl.on('SIGINT', () => { writeStdout('\n'); rl.close(); void exit(130); });
  const lines = rl[Symbol.asyncIterator]();
  return {
    interactive,
    async read(prompt) {
      // Lines already read stay queued after the input closes; a closed terminal interface cannot prompt.
      if (!interactive) writeStdout(prompt);
      else if (!closed) { rl.setPrompt(prompt); rl.prompt(); }
      const r = await lines.next();
      return r.done ? undefined : r.value;
    },
    close: () => rl.close(),
  };
}

/** A JSON file's object, undefined when the file does not exist; malformed JSON is one UserError naming the file. */
export async function readJsonIfPresent(file: string): Promise<Record<string, unknown> | undefined> {
  if (!(await stat(file))?.isFile) return undefined;
  try { return JSON.parse(await readText(file)); } catch (e) { throw new UserError(`${file}: invalid JSON (${(e as Error).message.split('\n')[0]})`); }
}
