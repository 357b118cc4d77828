// The few wasi_snapshot_preview1 calls the data stage needs, declared by hand (no shim package): arguments,
// preopened folders, whole-file reads, and writes through a temporary file renamed into place.
// Nothing here allocates from the runtime's heap after startup (see index.ts: the collator's arena sits above it),
// so messages are copied into a static buffer and buffers come from the caller.

// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "args_sizes_get") declare function args_sizes_get(argc: usize, bufSize: usize): u16;
// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "args_get") declare function args_get(argv: usize, buf: usize): u16;
// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "fd_prestat_get") declare function fd_prestat_get(fd: u32, buf: usize): u16;
// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "fd_prestat_dir_name") declare function fd_prestat_dir_name(fd: u32, path: usize, len: usize): u16;
// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "path_open") declare function path_open(dirfd: u32, dirflags: u32, path: usize, pathLen: usize,
  oflags: u16, rightsBase: u64, rightsInheriting: u64, fdflags: u16, fdOut: usize): u16;
// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "path_create_directory") declare function path_create_directory(fd: u32, path: usize, len: usize): u16;
// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "path_rename") declare function path_rename(fd: u32, old: usize, oldLen: usize, newFd: u32, nu: usize, nuLen: usize): u16;
// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "fd_filestat_get") declare function fd_filestat_get(fd: u32, buf: usize): u16;
// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "fd_read") declare function fd_read(fd: u32, iovs: usize, iovsLen: usize, nread: usize): u16;
// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "fd_write") declare function fd_write(fd: u32, iovs: usize, iovsLen: usize, nwritten: usize): u16;
// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "fd_close") declare function fd_close(fd: u32): u16;
// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "proc_exit") declare function proc_exit(code: u32): void;

const ERRNO_EXIST: u16 = 20, ERRNO_NOENT: u16 = 44;
const O_CREAT: u16 = 1, O_TRUNC: u16 = 8;
const RIGHT_FD_READ: u64 = 1 << 1, RIGHT_FD_SEEK: u64 = 1 << 2, RIGHT_FD_TELL: u64 = 1 << 5, RIGHT_FD_WRITE: u64 = 1 << 6;
const RIGHT_FD_FILESTAT_GET: u64 = 1 << 21;
const READ_RIGHTS = RIGHT_FD_READ | RIGHT_FD_SEEK | RIGHT_FD_TELL | RIGHT_FD_FILESTAT_GET;
const WRITE_RIGHTS = RIGHT_FD_WRITE | RIGHT_FD_SEEK | RIGHT_FD_TELL | RIGHT_FD_FILESTAT_GET;

const io = memory.data(64);        // iovecs, result words, a filestat (64 bytes)
const line = memory.data(1024);    // the message being written to stderr

/** A file or folder as the guest names it: a preopened folder's fd and the path inside it. */
export class Place { constructor(public fd: u32, public path: usize, public len: i32) {} }

/** Writes `data` (bytes) to stderr; nothing else may be mid-write. */
function writeErr(p: usize, n: usize): void {
  store<u32>(io, <u32>p); store<u32>(io + 4, <u32>n);
  fd_write(2, io, 1, io + 8);
}

let lineLen: usize = 0;
/** Appends a message part: an ASCII/Latin-1 string literal, or bytes (ptr, len). */
export function say(s: string): void {
  const n = <usize>s.length;
  for (let i: usize = 0; i < n && lineLen < 1023; i++) store<u8>(line + lineLen++, <u8>load<u16>(changetype<usize>(s) + (i << 1)));
}
export function sayBytes(p: usize, n: i32): void {
  for (let i = 0; i < n && lineLen < 1023; i++) store<u8>(line + lineLen++, load<u8>(p + <usize>i));
}
export function sayInt(v: i64): void {
  if (v < 0) { say('-'); v = -v; }
  const digits = memory.data(24);
  let k = 0;
  do { store<u8>(digits + <usize>k, <u8>(48 + v % 10)); k++; v /= 10; } while (v > 0);
  while (k > 0 && lineLen < 1023) { k--; store<u8>(line + lineLen++, load<u8>(digits + <usize>k)); }
}
/** Ends the message: "data.wasm: <parts>\n" on stderr and exit status `code` (0 = a note, the run goes on). */
export function endLine(code: u32): void {
  store<u8>(line + lineLen++, 10);
  writeErr(memory.data<u8>([100, 97, 116, 97, 46, 119, 97, 115, 109, 58, 32]), 11);  // "data.wasm: "
  writeErr(line, lineLen);
  lineLen = 0;
  if (code != 0) proc_exit(code);
}
function failAt(what: string, path: usize, len: i32, errno: u16): void {
  say(what); say(' '); sayBytes(path, len);
  if (errno == ERRNO_NOENT) say(': no such file or folder'); else { say(': WASI errno '); sayInt(errno); }
  endLine(1);
}

/** The guest's arguments after the program name, as (ptr, len) places (fd unset). */
export function args(): Array<Place> {
  args_sizes_get(io, io + 4);
  const argc = load<u32>(io), size = load<u32>(io + 4);
  const argv = heap.alloc(<usize>argc << 2), buf = heap.alloc(<usize>size);
  args_get(argv, buf);
  const out = new Array<Place>();
  for (let i: u32 = 1; i < argc; i++) {
    const p = <usize>load<u32>(argv + (<usize>i << 2));
    let n = 0;
    while (load<u8>(p + <usize>n) != 0) n++;
    out.push(new Place(0, p, n));
  }
  return out;
}

/** The preopened folder holding guest path (p, n), the longest name that is a prefix of it; "." holds relative paths. */
export function resolve(p: usize, n: i32): Place {
  let best: i32 = -1, bestFd: u32 = 0, rest: usize = p, restLen: i32 = n;
  for (let fd: u32 = 3; fd_prestat_get(fd, io) == 0; fd++) {
    const len = <i32>load<u32>(io + 4);
    const name = heap.alloc(<usize>len + 1);
    fd_prestat_dir_name(fd, name, <usize>len);
    let m = len;
    while (m > 1 && load<u8>(name + <usize>m - 1) == 47) m--;  // trailing '/'
    let hit = false, skip = 0;
    if (m == 1 && load<u8>(name) == 46) { hit = n == 0 || load<u8>(p) != 47; skip = 0; }  // "."
    else if (m <= n && memory.compare(name, p, <usize>m) == 0 && (m == n || load<u8>(p + <usize>m) == 47 || (m == 1 && load<u8>(name) == 47))) {
      hit = true; skip = m == n ? m : (m == 1 ? 1 : m + 1);
    }
    if (hit && m > best) { best = m; bestFd = fd; rest = p + <usize>skip; restLen = n - skip; }
  }
  if (best < 0) { say('no preopened folder holds '); sayBytes(p, n); say(' (give the host a --dir / preopen for it)'); endLine(2); }
  if (restLen == 0) { rest = memory.data<u8>([46]); restLen = 1; }
  return new Place(bestFd, rest, restLen);
}

/** (dir, rel) joined as a new path in the heap. */
export function join(dir: Place, rel: string): Place {
  const r = String.UTF8.encode(rel);
  const n = dir.len + 1 + r.byteLength;
  const p = heap.alloc(<usize>n);
  memory.copy(p, dir.path, <usize>dir.len);
  store<u8>(p + <usize>dir.len, 47);
  memory.copy(p + <usize>dir.len + 1, changetype<usize>(r), <usize>r.byteLength);
  return new Place(dir.fd, p, n);
}

/** The whole file, in a new heap block; its length in `readLength`. */
export let readLength: i32 = 0;
export function readAll(f: Place): usize {
  const e = path_open(f.fd, 1, f.path, <usize>f.len, 0, READ_RIGHTS, 0, 0, io);
  if (e != 0) failAt('cannot open', f.path, f.len, e);
  const fd = load<u32>(io);
  const se = fd_filestat_get(fd, io);
  if (se != 0) failAt('cannot stat', f.path, f.len, se);
  const size = <i32>load<u64>(io + 32);
  const buf = heap.alloc(<usize>size + 1);
  let got = 0;
  while (got < size) {
    store<u32>(io, <u32>(buf + <usize>got)); store<u32>(io + 4, <u32>(size - got));
    const re = fd_read(fd, io, 1, io + 8);
    if (re != 0) failAt('cannot read', f.path, f.len, re);
    const n = <i32>load<u32>(io + 8);
    if (n == 0) break;
    got += n;
  }
  fd_close(fd);
  readLength = got;
  return buf;
}

/** mkdir -p of the folders above `rel` (bytes) inside `dir`. */
function makeParents(fd: u32, rel: usize, n: i32): void {
  for (let i = 1; i < n; i++) {
    if (load<u8>(rel + <usize>i) != 47) continue;
    const e = path_create_directory(fd, rel, <usize>i);
    if (e != 0 && e != ERRNO_EXIST) failAt('cannot create the folder of', rel, n, e);
  }
}

/** Writes `n` bytes at `data` to f through f + ".tmp" renamed over f (tmp: a caller's buffer of f.len + 4 bytes).
 *  Allocates nothing (it runs in phase 2, see index.ts). */
export function writeAtomic(f: Place, data: usize, n: usize, tmp: usize): void {
  makeParents(f.fd, f.path, f.len);
  memory.copy(tmp, f.path, <usize>f.len);
  store<u32>(tmp + <usize>f.len, 0x706d742e);  // ".tmp"
  const tmpLen = f.len + 4;
  const e = path_open(f.fd, 1, tmp, <usize>tmpLen, O_CREAT | O_TRUNC, WRITE_RIGHTS, 0, 0, io);
  if (e != 0) failAt('cannot create', tmp, tmpLen, e);
  const fd = load<u32>(io);
  let put: usize = 0;
  while (put < n) {
    store<u32>(io, <u32>(data + put)); store<u32>(io + 4, <u32>(n - put));
    const we = fd_write(fd, io, 1, io + 8);
    if (we != 0) failAt('cannot write', tmp, tmpLen, we);
    put += <usize>load<u32>(io + 8);
  }
  fd_close(fd);
  const re = path_rename(f.fd, tmp, <usize>tmpLen, f.fd, f.path, <usize>f.len);
  if (re != 0) failAt('cannot rename into place', f.path, f.len, re);
}

/** The abort handler (asc --use abort=…): one line naming the source position, exit status 70. */
export function wasiAbort(msg: string | null, file: string | null, lineNo: u32, col: u32): void {
  say('internal error');
  if (msg !== null) { say(': '); say(msg); }
  if (file !== null) { say(' at '); say(file); say(':'); sayInt(lineNo); }
  endLine(70);
}
