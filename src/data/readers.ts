// Picks a reader by file extension: .jsonl, .json (array or JSON Lines), .csv, .txt (pretraining text, one
// row per non-blank line). Every reader streams and yields rows with their file and line.
import { readCsv } from './read-csv.ts';
import { readJsonFile, readJsonLines, type ReadItem } from './read-json.ts';
import { readLines } from './read-text.ts';
import { DatasetError } from './types.ts';

export type { ReadItem } from './read-json.ts';

export const DATASET_EXTENSIONS = ['.jsonl', '.json', '.csv', '.txt'] as const;

async function* readText(file: string): AsyncGenerator<ReadItem> {
  for await (const { text, line } of readLines(file)) {
    if (text.trim() !== '') yield { file, line, value: { text } };
  }
}

/** Rows of one dataset file, streamed. Throws DatasetError for a missing file or an unknown extension. */
export function readRows(file: string): AsyncGenerator<ReadItem> {
  const ext = /\.[^./\\]+$/.exec(file)?.[0].toLowerCase();
  switch (ext) {
    case '.jsonl': return readJsonLines(file);
    case '.json': return readJsonFile(file);
    case '.csv': return readCsv(file);
    case '.txt': return readText(file);
    default:
      throw new DatasetError(`dataset ${file}: unknown file type ${ext ? `"${ext}"` : '(no extension)'}; expected ${DATASET_EXTENSIONS.join(', ')}`);
  }
}
