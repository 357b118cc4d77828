// A file system in memory, for browsers: files are given as bytes, as Blobs/Files (read lazily, in slices), or as
// URLs fetched on first use (a base URL and a manifest of names); everything written stays in memory, where a page can
// list and read it (to zip or save a run's output). Semantics and error codes follow node:fs, so the code written for
// Node (atomic renames, EEXIST on a taken run number) behaves the same here.
import type { FileInfo, FileSystem, ReadHandle, WriteHandle } from './host-api.ts';
import { normalizePath } from './paths.ts';

type Content =
  | { kind: 'bytes'; chunks: Uint8Array[] }
  | { kind: 'blob'; blob: Blob }
  | { kind: 'url'; url: string; size?: number; fetched?: Promise<Uint8Array> };

interface Entry { content: Content; mtimeMs: number }

const enc = new TextEncoder();
const asBytes = (d: Uint8Array | string) => (typeof d === 'string' ? enc.encode(d) : d.slice());

function fsError(code: 'ENOENT' | 'EEXIST' | 'ENOTEMPTY' | 'EISDIR' | 'ENOTDIR', op: string, path: string): Error {
  const what = { ENOENT: 'no such file or directory', EEXIST: 'file already exists', ENOTEMPTY: 'directory not empty',
    EISDIR: 'illegal operation on a directory', ENOTDIR: 'not a directory' }[code];
  return Object.assign(new Error(`${code}: ${what}, ${op} '${path}'`), { code });
}

function concat(chunks: Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let o = 0;
  for (const c of chunks) { out.set(c, o); o += c.length; }
  chunks.splice(0, chunks.length, out);
  return out;
}

export interface MemoryFsOptions {
  /** the fetch used for URL files (default: globalThis.fetch) */
  fetch?: typeof fetch;
}

export class MemoryFs implements FileSystem {
  private readonly files = new Map<string, Entry>();
  private readonly dirs = new Set<string>(['/']);
  private readonly fetchFn: typeof fetch;

  constructor(opts: MemoryFsOptions = {}) {
    this.fetchFn = opts.fetch ?? ((input, init) => globalThis.fetch(input, init));
  }

  /** Absolute form of a path (relative ones are taken from "/"). */
  static abs(path: string): string {
    const n = normalizePath(path.startsWith('/') ? path : `/${path}`);
    return n.length > 1 ? n.replace(/\/$/, '') : n;
  }

  private parentOf(p: string): string { return p.slice(0, p.lastIndexOf('/')) || '/'; }

  private addParents(p: string): void {
    for (let d = this.parentOf(p); !this.dirs.has(d); d = this.parentOf(d)) this.dirs.add(d);
  }

  private put(path: string, content: Content): string {
    const p = MemoryFs.abs(path);
    this.addParents(p);
    this.files.set(p, { content, mtimeMs: Date.now() });
    return p;
  }

  /** Adds a file (parent folders are created): bytes, text, or a Blob/File read lazily. */
  addFile(path: string, data: Uint8Array | string | Blob): this {
    this.put(path, typeof data === 'string' || data instanceof Uint8Array ? { kind: 'bytes', chunks: [asBytes(data)] } : { kind: 'blob', blob: data });
    return this;
  }

  /** Adds a file fetched from `url` on first read; a known `size` spares a HEAD request in stat. */
  addUrl(path: string, url: string, size?: number): this {
    this.put(path, { kind: 'url', url, size });
    return this;
  }

  /** Mounts files under `dir`: a list of Files (by name, or webkitRelativePath without its top folder), or names /
   *  name → size fetched from `baseUrl` (a static server's folder). */
  mount(dir: string, files: Iterable<File> | { baseUrl: string | URL; manifest: string[] | Record<string, number> }): this {
    const d = MemoryFs.abs(dir);
    this.mkdirs(d);
    if ('baseUrl' in files) {
      const base = new URL(files.baseUrl.toString().replace(/\/?$/, '/'), globalThis.location?.href);
      const entries: [string, number | undefined][] = Array.isArray(files.manifest)
        ? files.manifest.map((n) => [n, undefined]) : Object.entries(files.manifest);
      for (const [name, size] of entries) this.addUrl(`${d}/${name}`, new URL(name.split('/').map(encodeURIComponent).join('/'), base).href, size);
    } else {
      for (const f of files) {
        const rel = (f as File & { webkitRelativePath?: string }).webkitRelativePath?.replace(/^[^/]*\//, '') || f.name;
        this.addFile(`${d}/${rel}`, f);
      }
    }
    return this;
  }

  private mkdirs(d: string): void { this.addParents(`${d}/x`); }

  /** Every file under `dir` (default: all), absolute paths, sorted. */
  list(dir = '/'): string[] {
    const d = MemoryFs.abs(dir), pre = d === '/' ? '/' : `${d}/`;
    return [...this.files.keys()].filter((p) => p.startsWith(pre)).sort();
  }

  private entry(path: string, op: string): Entry {
    const p = MemoryFs.abs(path), e = this.files.get(p);
    if (e) return e;
    throw fsError(this.dirs.has(p) ? 'EISDIR' : 'ENOENT', op, path);
  }

  private async fetchAll(c: Extract<Content, { kind: 'url' }>, path: string): Promise<Uint8Array> {
    c.fetched ??= (async () => {
      const res = await this.fetchFn(c.url);
      if (!res.ok) throw fsError('ENOENT', `fetch ${c.url} (HTTP ${res.status})`, path);
      return new Uint8Array(await res.arrayBuffer());
    })();
    const b = await c.fetched.catch((e) => { c.fetched = undefined; throw e; });
    c.size = b.length;
    return b;
  }

  async readFile(path: string): Promise<Uint8Array> {
    const c = this.entry(path, 'open').content;
    if (c.kind === 'bytes') return concat(c.chunks);
    if (c.kind === 'blob') return new Uint8Array(await c.blob.arrayBuffer());
    return this.fetchAll(c, path);
  }

  async open(path: string): Promise<ReadHandle> {
    const c = this.entry(path, 'open').content;
    // a Blob and a not yet fetched URL are read in ranges: a header read does not load a model's weights
    const range = async (start: number, end: number): Promise<Uint8Array> => {
      if (c.kind === 'bytes') return concat(c.chunks).subarray(start, end);
      if (c.kind === 'blob') return new Uint8Array(await c.blob.slice(start, end).arrayBuffer());
      if (!c.fetched) {
        const res = await this.fetchFn(c.url, { headers: { range: `bytes=${start}-${end - 1}` } });
        if (res.status === 206) return new Uint8Array(await res.arrayBuffer());
        await res.body?.cancel();
      }
      return (await this.fetchAll(c, path)).subarray(start, end);
    };
    return {
      async read(buf, position) {
        const got = await range(position, position + buf.length);
        buf.set(got);
        return got.length;
      },
      async close() {},
    };
  }

  private async size(path: string, c: Content): Promise<number> {
    if (c.kind === 'bytes') return c.chunks.reduce((n, x) => n + x.length, 0);
    if (c.kind === 'blob') return c.blob.size;
    if (c.size === undefined) {
      const res = await this.fetchFn(c.url, { method: 'HEAD' });
      const len = res.headers.get('content-length');
      if (res.ok && len !== null) c.size = Number(len);
      else await this.fetchAll(c, path);
    }
    return c.size!;
  }

  async stat(path: string): Promise<FileInfo | undefined> {
    const p = MemoryFs.abs(path), e = this.files.get(p);
    if (e) return { isFile: true, isDirectory: false, size: await this.size(path, e.content), mtimeMs: e.mtimeMs };
    return this.dirs.has(p) ? { isFile: false, isDirectory: true, size: 0, mtimeMs: 0 } : undefined;
  }

  async realpath(path: string): Promise<string> {
    const p = MemoryFs.abs(path);
    if (!this.files.has(p) && !this.dirs.has(p)) throw fsError('ENOENT', 'realpath', path);
    return p;
  }

  async readDir(path: string): Promise<string[]> {
    const d = MemoryFs.abs(path);
    if (!this.dirs.has(d)) throw fsError(this.files.has(d) ? 'ENOTDIR' : 'ENOENT', 'scandir', path);
    const pre = d === '/' ? '/' : `${d}/`, names = new Set<string>();
    for (const p of [...this.files.keys(), ...this.dirs]) {
      if (p.startsWith(pre) && p.length > pre.length) names.add(p.slice(pre.length).split('/')[0]);
    }
    return [...names];
  }

  private checkWritable(path: string, op: string): string {
    const p = MemoryFs.abs(path);
    if (this.dirs.has(p)) throw fsError('EISDIR', op, path);
    if (!this.dirs.has(this.parentOf(p))) throw fsError('ENOENT', op, path);
    return p;
  }

  async writeFile(path: string, data: Uint8Array | string): Promise<void> {
    this.put(this.checkWritable(path, 'open'), { kind: 'bytes', chunks: [asBytes(data)] });
  }

  async appendFile(path: string, data: Uint8Array | string): Promise<void> {
    const p = this.checkWritable(path, 'open'), e = this.files.get(p);
    if (!e) return this.writeFile(path, data);
    const old = e.content.kind === 'bytes' ? e.content.chunks : [await this.readFile(p)];
    this.files.set(p, { content: { kind: 'bytes', chunks: [...old, asBytes(data)] }, mtimeMs: Date.now() });
  }

  async openWrite(path: string, append = false): Promise<WriteHandle> {
    if (!append) await this.writeFile(path, '');
    else if (!this.files.has(MemoryFs.abs(path))) await this.writeFile(path, '');
    return { write: (data) => this.appendFile(path, data), close: async () => {} };
  }

  async mkdir(path: string, opts: { recursive?: boolean } = {}): Promise<void> {
    const p = MemoryFs.abs(path);
    if (this.files.has(p)) throw fsError('EEXIST', 'mkdir', path);
    if (this.dirs.has(p)) { if (opts.recursive) return; throw fsError('EEXIST', 'mkdir', path); }
    if (!opts.recursive && !this.dirs.has(this.parentOf(p))) throw fsError('ENOENT', 'mkdir', path);
    this.mkdirs(p);
  }

  private under(d: string): { files: string[]; dirs: string[] } {
    const pre = `${d}/`;
    return { files: [...this.files.keys()].filter((p) => p.startsWith(pre)), dirs: [...this.dirs].filter((p) => p.startsWith(pre)) };
  }

  async rm(path: string, opts: { recursive?: boolean; force?: boolean } = {}): Promise<void> {
    const p = MemoryFs.abs(path);
    if (this.files.delete(p)) return;
    if (!this.dirs.has(p)) { if (opts.force) return; throw fsError('ENOENT', 'rm', path); }
    const inside = this.under(p);
    if (!opts.recursive) throw fsError('EISDIR', 'rm', path);
    for (const f of inside.files) this.files.delete(f);
    for (const d of inside.dirs) this.dirs.delete(d);
    if (p !== '/') this.dirs.delete(p);
  }

  async rename(from: string, to: string): Promise<void> {
    const a = MemoryFs.abs(from), b = MemoryFs.abs(to);
    if (a === b) return;
    if (!this.dirs.has(this.parentOf(b))) throw fsError('ENOENT', 'rename', to);
    const file = this.files.get(a);
    if (file) {
      if (this.dirs.has(b)) throw fsError('EISDIR', 'rename', to);
      this.files.delete(a);
      this.files.set(b, file);
      return;
    }
    if (!this.dirs.has(a)) throw fsError('ENOENT', 'rename', from);
    if (this.files.has(b)) throw fsError('ENOTDIR', 'rename', to);
    if (this.dirs.has(b)) {  // as on Linux: a directory may replace an empty one only
      const inB = this.under(b);
      if (inB.files.length || inB.dirs.length) throw fsError('ENOTEMPTY', 'rename', to);
    }
    const inside = this.under(a), move = (p: string) => b + p.slice(a.length);
    for (const f of inside.files) { this.files.set(move(f), this.files.get(f)!); this.files.delete(f); }
    for (const d of inside.dirs) { this.dirs.delete(d); this.dirs.add(move(d)); }
    this.dirs.delete(a);
    this.dirs.add(b);
  }

  async copyFile(from: string, to: string): Promise<void> {
    const e = this.entry(from, 'copyfile');
    const p = this.checkWritable(to, 'copyfile');
    this.files.set(p, { content: e.content.kind === 'bytes' ? { kind: 'bytes', chunks: [concat(e.content.chunks)] } : e.content, mtimeMs: Date.now() });
  }
}
