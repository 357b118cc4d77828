// The Node/Deno host: the one module that imports node: built-ins (files, hashing, deflate, host name, stdin lines,
// the built .wasm files). Each is loaded lazily, inside the call that needs it, so that an edge worker bundling this
// module never loads one. The browser build replaces this module with runtime/browser-host.ts (scripts/build.mjs).
import type { FileInfo, FileSystem, Host, LineReader, ReadHandle, WriteHandle } from './host-api.ts';
import { startWebWorker } from './web-worker.ts';

type NodeFs = typeof import('node:fs/promises');
let fsPromise: Promise<NodeFs> | undefined;
const nodeFs = (): Promise<NodeFs> => (fsPromise ??= import('node:fs/promises'));
const proc = () => (globalThis as { process?: NodeJS.Process }).process;

/** The machine's files through node:fs (Deno provides the same module). */
export const nodeFileSystem: FileSystem = {
  async readFile(path) { return new Uint8Array(await (await nodeFs()).readFile(path)); },
  async open(path): Promise<ReadHandle> {
    const fh = await (await nodeFs()).open(path, 'r');
    return {
      read: async (buf, position) => (await fh.read(buf, 0, buf.length, position)).bytesRead,
      close: () => fh.close(),
    };
  },
  async stat(path): Promise<FileInfo | undefined> {
    try {
      const s = await (await nodeFs()).stat(path);
      return { isFile: s.isFile(), isDirectory: s.isDirectory(), size: s.size, mtimeMs: s.mtimeMs };
    } catch {
      return undefined;
    }
  },
  async realpath(path) { return (await nodeFs()).realpath(path); },
  async readDir(path) { return (await nodeFs()).readdir(path); },
  async writeFile(path, data) { await (await nodeFs()).writeFile(path, data); },
  async appendFile(path, data) { await (await nodeFs()).appendFile(path, data); },
  async openWrite(path, append = false): Promise<WriteHandle> {
    const fh = await (await nodeFs()).open(path, append ? 'a' : 'w');
    return { write: async (data) => { await (typeof data === 'string' ? fh.write(data) : fh.write(data)); }, close: () => fh.close() };
  },
  async mkdir(path, opts = {}) { await (await nodeFs()).mkdir(path, { recursive: opts.recursive }); },
  async rm(path, opts = {}) { await (await nodeFs()).rm(path, opts); },
  async rename(from, to) { await (await nodeFs()).rename(from, to); },
  async copyFile(from, to) { await (await nodeFs()).copyFile(from, to); },
  async symlink(target, path) { await (await nodeFs()).symlink(target, path); },
};

export const host: Host = {
  fs: nodeFileSystem,
  cwd: () => proc()?.cwd() ?? '/',
  async hostname() { return (await import('node:os')).hostname(); },
  async deflate(data) { return new Uint8Array((await import('node:zlib')).deflateSync(data)); },
  async hash(algo, chunks) {
    const h = (await import('node:crypto')).createHash(algo);
    for await (const c of chunks) h.update(c);
    return h.digest('hex');
  },
  async filterNativeStderr(fn, drop) { return (await import('./native-stderr.ts')).filterNativeStderr(fn, drop); },
  async readBuiltWasm(name) {
    const { readFile } = await nodeFs();
    for (const rel of [`../build/${name}.wasm`, `../../build/${name}.wasm`]) {
      try { return new Uint8Array(await readFile(new URL(rel, import.meta.url))); } catch { /* try next */ }
    }
    throw new Error(`webtune: ${name}.wasm not found; run "npm run build" first`);
  },
  async enableRelaxedSimd() {
    // V8 11.3 (Node 20) validates relaxed SIMD only behind this flag; it ships on by default from V8 11.4 (Node 22,
    // Deno, Chrome 114). Set before the first compile, it applies to every module compiled after, workers included.
    try { (await import('node:v8')).setFlagsFromString('--experimental-wasm-relaxed-simd'); } catch { /* a host without node:v8 */ }
  },
  async collectGarbage() {
    // V8 runs a major GC on JS-heap pressure; large ArrayBuffers freed in bulk (a model's host copy) live outside that
    // heap and can wait indefinitely. The flag exposes gc() to contexts made after it (a documented V8 pattern).
    try {
      (await import('node:v8')).setFlagsFromString('--expose-gc');
      ((await import('node:vm')).runInNewContext('gc') as () => void)();
    } catch { /* a host without node:v8/node:vm */ }
  },
  async cpuCount() {
    const os = await import('node:os');
    const logical = os.availableParallelism?.() ?? os.cpus().length;
    // Physical cores: SMT siblings share one core's SIMD units, so a thread each gains little. Linux names each
    // logical CPU's (package, core); elsewhere, or when unreadable, the logical count stands.
    try {
      const info = await (await nodeFs()).readFile('/proc/cpuinfo', 'utf8');
      const cores = new Set<string>();
      for (const block of info.split(/\n\s*\n/)) {
        const pkg = /^physical id\s*:\s*(\d+)/m.exec(block)?.[1], core = /^core id\s*:\s*(\d+)/m.exec(block)?.[1];
        if (pkg !== undefined && core !== undefined) cores.add(`${pkg}:${core}`);
      }
      if (cores.size > 0) return Math.min(cores.size, logical);  // affinity/cgroups may allow fewer
    } catch { /* not Linux */ }
    return logical;
  },
  async startWorker(source) {
    if ('Deno' in globalThis) return startWebWorker(source);  // Deno's Workers share memory; no eval workers there
    const { Worker } = await import('node:worker_threads');
    const prelude = "const port = (() => { const p = require('node:worker_threads').parentPort; return { on: (fn) => p.on('message', fn), post: (m) => p.postMessage(m) }; })();\n";
    const worker = new Worker(prelude + source, { eval: true });
    worker.unref();
    return {
      postMessage: (m) => worker.postMessage(m),
      nextMessage: () => new Promise((done, fail) => { worker.once('message', done); worker.once('error', fail); }),
      terminate: () => { void worker.terminate(); },
    };
  },
  async openLineReader(): Promise<LineReader> {
    const p = proc();
    if (!p?.stdin) throw new Error('this runtime has no standard input to read lines from');
    const { createInterface } = await import('node:readline');
    const interactive = p.stdin.isTTY === true;
    const rl = createInterface({ input: p.stdin, output: interactive ? p.stdout : undefined, terminal: interactive });
    let closed = false;
    rl.on('close', () => (closed = true));
    // Ctrl-C at the terminal: readline would only pause; leave as a shell expects.
    rl.on('SIGINT', () => { p.stdout.write('\n'); rl.close(); p.exit(130); });
    const lines = rl[Symbol.asyncIterator]();
    return {
      interactive,
      async read(prompt) {
        // Lines already read stay queued after the input closes; a closed terminal interface cannot prompt.
        if (!interactive) p.stdout.write(prompt);
        else if (!closed) { rl.setPrompt(prompt); rl.prompt(); }
        const r = await lines.next();
        return r.done ? undefined : r.value;
      },
      close: () => rl.close(),
    };
  },
};
