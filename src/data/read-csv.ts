// CSV (RFC 4180: comma-separated, "quoted" fields with "" for a quote, CRLF or LF) streamed record by record.
// The first record is the header; each later record becomes an object keyed by it, so the columns go through
// the same format detection as JSON rows (instruction/input/output, query/response, ...).
import { readChunks } from './read-text.ts';
import { DatasetError, RowError } from './types.ts';
import type { ReadItem } from './read-json.ts';

export async function* readCsv(file: string, chunkBytes?: number): AsyncGenerator<ReadItem> {
  let header: string[] | undefined;
  let fields: string[] = [];
  let field = '';
  let quoted = false; // inside a quoted field
  let afterQuote = false; // just closed a quoted field: only a separator may follow
  let line = 1;
  let recLine = 1;
  let pendingCR = false;
  let quoteAtEdge = false; // a quote inside a quoted field was a chunk's last character: closing, or half of ""

  function* endRecord(): Generator<ReadItem> {
    fields.push(field);
    field = '';
    const rec = fields;
    fields = [];
    afterQuote = false;
    if (rec.length === 1 && rec[0] === '') return; // blank line
    if (!header) {
      header = rec.map((h) => h.trim());
      const dup = header.find((h, i) => header!.indexOf(h) !== i);
      if (dup !== undefined) throw new DatasetError(`${file}:${recLine}: CSV header names column ${JSON.stringify(dup)} twice`);
      return;
    }
    if (rec.length !== header.length) {
      yield { error: new RowError('malformed CSV', { file, line: recLine }, `${rec.length} fields, the header has ${header.length}`) };
      return;
    }
    const value: Record<string, string> = {};
    header.forEach((h, i) => { value[h] = rec[i]; });
    yield { file, line: recLine, value };
  }

  for await (const chunk of readChunks(file, chunkBytes)) {
    for (let i = 0; i < chunk.length; i++) {
      const ch = chunk[i];
      if (quoteAtEdge) {
        quoteAtEdge = false;
        if (ch === '"') { field += '"'; continue; }
        quoted = false;
        afterQuote = true;
      }
      if (pendingCR) {
        pendingCR = false;
        if (ch === '\n') continue; // CRLF: the record already ended at CR
      }
      if (quoted) {
        if (ch === '"') {
          if (chunk[i + 1] === '"') { field += '"'; i++; continue; }
          if (i + 1 === chunk.length) { quoteAtEdge = true; continue; }
          quoted = false; afterQuote = true;
        } else {
          if (ch === '\n') line++;
          field += ch;
        }
        continue;
      }
      if (ch === ',') { fields.push(field); field = ''; afterQuote = false; continue; }
      if (ch === '\n' || ch === '\r') {
        yield* endRecord();
        line++;
        recLine = line;
        if (ch === '\r') pendingCR = true;
        continue;
      }
      if (afterQuote) throw new DatasetError(`${file}:${line}: malformed CSV: text after a closing quote`);
      if (ch === '"' && field === '') { quoted = true; continue; }
      field += ch;
    }
  }
  if (quoteAtEdge) { quoted = false; afterQuote = true; }
  if (quoted) throw new DatasetError(`${file}:${recLine}: malformed CSV: a quoted field is never closed`);
  if (field !== '' || fields.length || afterQuote) yield* endRecord();
}
