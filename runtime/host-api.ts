// What a host runtime provides (runtime/node-host.ts, runtime/browser-host.ts), and the file system interface
// runtime/platform.ts routes every file access through.

export interface FileInfo { isFile: boolean; isDirectory: boolean; size: number; mtimeMs: number }

/** An open file read at explicit positions. */
export interface ReadHandle { read(buf: Uint8Array, position: number): Promise<number>; close(): Promise<void> }
/** A file being written in order (created, truncated, or appended to). */
export interface WriteHandle { write(data: Uint8Array | string): Promise<void>; close(): Promise<void> }

/**
 * What webtune needs of a file system, with node:fs's semantics (errors carry node's `code`: ENOENT, EEXIST,
 * ENOTEMPTY). The machine's files on Node and Deno (runtime/node-host.ts); a MemoryFs in a browser.
 */
export interface FileSystem {
  readFile(path: string): Promise<Uint8Array>;
  open(path: string): Promise<ReadHandle>;
  /** undefined when nothing is at `path` */
  stat(path: string): Promise<FileInfo | undefined>;
  realpath(path: string): Promise<string>;
  readDir(path: string): Promise<string[]>;
  writeFile(path: string, data: Uint8Array | string): Promise<void>;
  appendFile(path: string, data: Uint8Array | string): Promise<void>;
  openWrite(path: string, append?: boolean): Promise<WriteHandle>;
  mkdir(path: string, opts?: { recursive?: boolean }): Promise<void>;
  rm(path: string, opts?: { recursive?: boolean; force?: boolean }): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  copyFile(from: string, to: string): Promise<void>;
  /** absent where there are no links (then callers copy) */
  symlink?(target: string, path: string): Promise<void>;
}

export interface LineReader {
  /** Shows `prompt` on stdout and resolves to the next line of stdin (without its newline); undefined at the end. */
  read(prompt: string): Promise<string | undefined>;
  /** stdin is a terminal (line editing and history are on) */
  readonly interactive: boolean;
  close(): void;
}

/** A worker thread (Node's worker_threads or a web Worker), as the WASM thread pool drives it. */
export interface HostWorker {
  postMessage(message: unknown): void;
  /** the worker's next message (an error it throws rejects) */
  nextMessage(): Promise<unknown>;
  terminate(): void;
}

/** What the host runtime provides besides files: runtime/node-host.ts (Node, Deno, edge) or runtime/browser-host.ts. */
export interface Host {
  /** the file system in use until setFileSystem installs another */
  fs: FileSystem;
  cwd(): string;
  hostname(): Promise<string>;
  /** zlib-format deflate (PNG's IDAT) */
  deflate(data: Uint8Array): Promise<Uint8Array>;
  hash(algo: 'sha256' | 'sha1', chunks: AsyncIterable<Uint8Array>): Promise<string>;
  /** runs `fn` dropping its native stderr lines that match `drop` (Dawn's noise); elsewhere just runs it */
  filterNativeStderr<T>(fn: () => T, drop: RegExp): Promise<T>;
  /** build/NAME.wasm of an unbundled checkout */
  readBuiltWasm(name: string): Promise<Uint8Array>;
  /** turns on the runtime's relaxed-SIMD support where it is behind a flag (Node 20's V8); absent where it cannot */
  enableRelaxedSimd?(): Promise<void>;
  /** a full garbage collection now, where the runtime allows one (Node); absent elsewhere */
  collectGarbage?(): Promise<void>;
  openLineReader(): Promise<LineReader>;
  /** physical cores where the host can tell, else logical CPUs (the default WASM thread count) */
  cpuCount(): Promise<number>;
  /**
   * A worker running `source`, plain JS given a `port` (on(fn) with each message's data, post(m)) by the host; null
   * where the runtime has no workers. A worker blocked in Atomics.wait does not keep the process alive.
   */
  startWorker(source: string): Promise<HostWorker | null>;
}

