// Streaming text from a file: UTF-8 chunks (never the whole file at once) and the lines they make.
// Files are read through runtime/platform.ts, so this runs on a browser's MemoryFs as on node:fs.
import { readChunks as readByteChunks, stat } from '../../runtime/platform.ts';
import { DatasetError } from './types.ts';

const CHUNK = 1 << 20;

async function checkFile(path: string): Promise<void> {
  const st = await stat(path);
  if (!st) throw new DatasetError(`dataset not found: ${path}`);
  if (st.isDirectory) throw new DatasetError(`dataset ${path} is a directory, not a file`);
}

/** The file's text in chunks of about 1 MiB (a byte-order mark is dropped). */
export async function* readChunks(path: string, chunkBytes = CHUNK): AsyncGenerator<string> {
  await checkFile(path);
  const td = new TextDecoder('utf-8');
  let first = true;
  for await (const bytes of readByteChunks(path, chunkBytes)) {
    let s = td.decode(bytes, { stream: true });
    if (first && s.charCodeAt(0) === 0xfeff) s = s.slice(1);
    first = false;
    if (s) yield s;
  }
  const rest = td.decode();
  if (rest) yield rest;
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
