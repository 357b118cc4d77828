// Paths, POSIX style: node:path's posix semantics, which Node, Deno and a MemoryFs share (no node: import).

export const isAbsolutePath = (p: string): boolean => p.startsWith('/');

/** `p` without "." and "a/.." segments or repeated slashes ("." when nothing is left; a trailing slash is kept). */
export function normalizePath(p: string): string {
  const abs = isAbsolutePath(p), out: string[] = [];
  for (const seg of p.split('/')) {
    if (!seg || seg === '.') continue;
    if (seg === '..' && out.length && out[out.length - 1] !== '..') out.pop();
    else if (seg !== '..' || !abs) out.push(seg);
  }
  const s = (abs ? '/' : '') + out.join('/');
  return (s || (abs ? '/' : '.')) + (p.endsWith('/') && out.length ? '/' : '');
}

/** The absolute path of `parts` joined, relative ones resolved against `cwd`. */
export function resolveFrom(cwd: string, ...parts: string[]): string {
  let p = '';
  for (const part of parts) if (part) p = isAbsolutePath(part) ? part : p ? `${p}/${part}` : part;
  if (!isAbsolutePath(p)) p = `${cwd}/${p}`;
  const n = normalizePath(p);
  return n.length > 1 ? n.replace(/\/$/, '') : n;
}

/** The folder holding `p` ("." for a bare name, "/" for a top-level one). */
export function dirname(p: string): string {
  const s = p.length > 1 ? p.replace(/\/+$/, '') : p, i = s.lastIndexOf('/');
  return i < 0 ? '.' : i === 0 ? '/' : s.slice(0, i);
}

