// JSON readers that stream: JSON Lines (one value per line) and a JSON array read element by element, so a
// large .json file never sits whole in memory. A malformed row is reported (file:line) and can be skipped;
// a broken file structure (unbalanced brackets, text after the array) stops the read.
import { readChunks, readLines } from './read-text.ts';
import { DatasetError, RowError, type RawRow } from './types.ts';

export type ReadItem = RawRow | { error: RowError };

function parseRow(text: string, file: string, line: number): ReadItem {
  try {
    return { file, line, value: JSON.parse(text) };
  } catch (e) {
    return { error: new RowError('malformed JSON', { file, line }, (e as Error).message) };
  }
}

/** JSON Lines: blank lines are not rows. */
export async function* readJsonLines(file: string, chunkBytes?: number): AsyncGenerator<ReadItem> {
  for await (const { text, line } of readLines(file, chunkBytes)) {
    if (text.trim() === '') continue;
    yield parseRow(text, file, line);
  }
}

const enum S { Start, Value, Comma, End }
const WS = (c: number) => c === 32 || c === 10 || c === 13 || c === 9;

/**
 * A .json file: an array of rows, streamed; or, when its first character is not "[", JSON Lines
 * (Hugging Face's json loader and LLaMA-Factory accept both under .json).
 */
export async function* readJsonFile(file: string, chunkBytes?: number): AsyncGenerator<ReadItem> {
  const chunks = readChunks(file, chunkBytes);
  let first = await chunks.next();
  while (!first.done && first.value.trim() === '') first = await chunks.next();
  if (first.done) return;
  const head = first.value.trimStart();
  if (head[0] !== '[') {
    await chunks.return(undefined);
    if (/dataset_info\.json$/.test(file)) {
      throw new DatasetError(`${file}: this is LLaMA-Factory's dataset registry (column mappings), not a dataset; pass the data files it names`);
    }
    yield* readJsonLines(file, chunkBytes);
    return;
  }
  let state = S.Start as S;
  let line = 1;
  // the element being read: its text so far (previous chunks) and where it starts
  let pending = '';
  let inElem = false;
  let elemLine = 0;
  let depth = 0;
  let inStr = false;
  let esc = false;
  let scalar = false; // a top-level string/number/literal element (not a row, but read so it can be reported)

  const fail = (msg: string): never => { throw new DatasetError(`${file}:${line}: malformed JSON array: ${msg}`); };

  async function* scan(chunk: string): AsyncGenerator<ReadItem> {
    let segStart = inElem ? 0 : -1;
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk.charCodeAt(i);
      if (inElem) {
        if (inStr) {
          if (esc) esc = false;
          else if (c === 92) esc = true;
          else if (c === 34) { inStr = false; if (scalar && depth === 0) { yield finish(chunk, segStart, i + 1); segStart = -1; } }
          else if (c === 10) line++;
          continue;
        }
        if (scalar && depth === 0 && (c === 44 || c === 93 || WS(c))) { yield finish(chunk, segStart, i); segStart = -1; i--; continue; }
        if (c === 34) inStr = true;
        else if (c === 123 || c === 91) depth++;
        else if (c === 125 || c === 93) {
          depth--;
          if (depth === 0) { yield finish(chunk, segStart, i + 1); segStart = -1; }
        } else if (c === 10) line++;
        continue;
      }
      if (c === 10) { line++; continue; }
      if (WS(c)) continue;
      switch (state) {
        case S.Start:
          if (c !== 91) fail('expected "["');
          state = S.Value;
          break;
        case S.Value:
          if (c === 93) { state = S.End; break; }
          if (c === 44) fail('unexpected ","');
          inElem = true; elemLine = line; segStart = i; pending = ''; depth = 0;
          scalar = c !== 123 && c !== 91;
          if (c === 34) inStr = true;
          else if (!scalar) depth = 1;
          break;
        case S.Comma:
          if (c === 44) state = S.Value;
          else if (c === 93) state = S.End;
          else fail(`expected "," or "]" after a row, found ${JSON.stringify(chunk[i])}`);
          break;
        case S.End:
          fail(`text after the closing "]": ${JSON.stringify(chunk.slice(i, i + 20))}`);
      }
    }
    if (inElem && segStart >= 0) pending += chunk.slice(segStart);
  }

  function finish(chunk: string, from: number, to: number): ReadItem {
    const text = pending + chunk.slice(from < 0 ? 0 : from, to);
    pending = '';
    inElem = false;
    scalar = false;
    state = S.Comma;
    return parseRow(text, file, elemLine);
  }

  try {
    yield* scan(first.value);
    for await (const chunk of chunks) yield* scan(chunk);
  } finally {
    await chunks.return(undefined); // closes the file when reading stops early or fails
  }
  if (inElem && scalar && !inStr) yield finish('', 0, 0);
  if (inElem) fail(`the file ends inside the row that starts at line ${elemLine}`);
  if ((state as S) !== S.End) fail('the file ends before the closing "]"');
}
