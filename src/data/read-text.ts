// Streaming text from a file: UTF-8 chunks (never the whole file at once) and the lines they make.
// node:fs is loaded lazily, as in runtime/platform.ts, so this module can be bundled for edge workers too.
import { DatasetError } from './types.ts';

const CHUNK = 1 << 20;

async function openFile(path: string) {
  const fs = await import('node:fs/promises');
  try {
    const st = await fs.stat(path);
    if (st.isDirectory()) throw new DatasetError(`dataset ${path} is a directory, not a file`);
  } catch (e) {
    if (e instanceof DatasetError) throw e;
    throw new DatasetError(`dataset not found: ${path}`);
  }
  return fs.open(path, 'r');
}

/** The file's text in chunks of about 1 MiB (a byte-order mark is dropped). */
export async function* readChunks(path: string, chunkBytes = CHUNK): AsyncGenerator<string> {
  const fh = await openFile(path);
  try {
    const buf = new Uint8Array(chunkBytes);
    const td = new TextDecoder('utf-8');
    let first = true;
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      let s = td.decode(buf.subarray(0, bytesRead), { stream: true });
      if (first && s.charCodeAt(0) === 0xfeff) s = s.slice(1);
      first = false;
      if (s) yield s;
    }
    const rest = td.decode();
    if (rest) yield rest;
  } finally {
    await fh.close();
  }
}

/** Lines (without their "\n" or "\r\n") and their 1-based numbers. */
export async function* readLines(path: string, chunkBytes?: number): AsyncGenerator<{ text: string; line: number }> {
  let carry = '';
  let line = 0;
  for await (const chunk of readChunks(path, chunkBytes)) {
    let start = 0;
    const s = carry ? carry + chunk : chunk;
    carry = '';
    for (;;) {
      const nl = s.indexOf('\n', start);
      if (nl < 0) break;
      line++;
      yield { text: s.charCodeAt(nl - 1) === 13 && nl > start ? s.slice(start, nl - 1) : s.slice(start, nl), line };
      start = nl + 1;
    }
    carry = s.slice(start);
  }
  if (carry) yield { text: carry.endsWith('\r') ? carry.slice(0, -1) : carry, line: line + 1 };
}
