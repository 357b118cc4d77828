// Filters what native code writes to stderr during one synchronous call. Dawn (Node's WebGPU) prints two warnings
// straight to file descriptor 2 the first time it lists adapters ("maxDynamicUniformBuffersPerPipelineLayout
// artificially reduced from 1000000 to 16 …": it clamps lavapipe's limits to its own maximum while enumerating, before
// any limit is requested, so no requestDevice argument avoids them). JavaScript cannot intercept a native write and
// Node has no dup2, so for that one call fd 2 is closed and reopened on a temporary file (open takes the lowest free
// descriptor), then reopened on the real stream through /proc/self/fd, and the captured text is written back
// without the dropped lines.

// process.getActiveResourcesInfo() names of requests whose other thread may open a descriptor (file reads and opens,
// DNS lookups); a pending close (CloseReq) only frees one, so fd 2 stays the lowest free
const MAY_OPEN = /^FSReq|GetAddrInfo|GetNameInfo|QueryWrap/;

/** Runs `fn` (synchronous) and drops its native stderr lines that match `drop`; elsewhere just runs `fn`. */
export async function filterNativeStderr<T>(fn: () => T, drop: RegExp): Promise<T> {
  const proc = (globalThis as { process?: NodeJS.Process }).process;
  if (proc?.platform !== 'linux' || (globalThis as { Deno?: unknown }).Deno) return fn();
  const fs = await import('node:fs');
  const { O_WRONLY, O_NOCTTY, O_RDWR, O_CREAT, O_EXCL } = fs.constants;
  // Only a terminal or a pipe reopens as the same stream: a file would be reopened at offset 0, and a socket (what a
  // Node parent's spawn gives its child as stdio) cannot be reopened at all, so there the lines still show. And only
  // while no other thread of ours may open a descriptor: it could take fd 2 between close and open.
  let kind;
  try { kind = fs.fstatSync(2); } catch { return fn(); }
  if (!(kind.isFIFO() || kind.isCharacterDevice())) return fn();
  if (proc.getActiveResourcesInfo?.().some((r) => MAY_OPEN.test(r)) ?? true) return fn();
  const tmp = `${(await import('node:os')).tmpdir()}/webtune-stderr-${proc.pid}-${Math.random().toString(36).slice(2)}`;
  let keep: number;
  try { keep = fs.openSync('/proc/self/fd/2', O_WRONLY | O_NOCTTY); } catch { return fn(); }
  // from here to the end of `finally` nothing yields to the event loop
  fs.closeSync(2);
  let capture = -1;
  try { capture = fs.openSync(tmp, O_RDWR | O_CREAT | O_EXCL, 0o600); } catch { /* restored below; fn runs unfiltered */ }
  try {
    if (capture !== 2) {
      if (capture >= 0) { fs.closeSync(capture); fs.unlinkSync(tmp); capture = -1; }
      fs.openSync(`/proc/self/fd/${keep}`, O_WRONLY | O_NOCTTY); // takes the free fd 2 back
      fs.closeSync(keep);
      keep = -1;
    }
    return fn();
  } finally {
    if (keep >= 0) {
      fs.closeSync(2);
      fs.openSync(`/proc/self/fd/${keep}`, O_WRONLY | O_NOCTTY); // fd 2 again
      fs.closeSync(keep);
      const text = fs.readFileSync(tmp, 'utf8');
      fs.unlinkSync(tmp);
      const rest = text.split(/(?<=\n)/).filter((line) => !drop.test(line)).join('');
      if (rest) fs.writeSync(2, rest);
    }
  }
}
