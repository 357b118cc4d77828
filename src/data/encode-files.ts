// Dataset files → encoded rows, in reading order, for preprocess and sft alike: "path#N" sampling, an empty
// file as an error, every row counted in the encoder's stats.
import { parseDatasetSpec, sampleRows, type SeededRandom } from './mix.ts';
import { readRows } from './readers.ts';
import type { EncodedRow, RowEncoder } from './row-encoder.ts';
import { DatasetError } from './types.ts';

/** Streams the kept rows of each file (or, for path#N, its sample) into sink. */
export async function encodeFiles(specs: string[], enc: RowEncoder, rng: SeededRandom, sink: (r: EncodedRow) => Promise<void> | void): Promise<void> {
  for (const spec of specs) {
    const { path, sample } = parseDatasetSpec(spec);
    const file = enc.stats.file(path);
    const rows: EncodedRow[] = [];
    for await (const item of readRows(path)) {
      for (const r of enc.encode(item, file)) { if (sample === undefined) await sink(r); else rows.push(r); }
    }
    if (file.read === 0) throw new DatasetError(`${path}: empty dataset (no rows)`);
    if (sample !== undefined) {
      file.sampled = rows.length ? sample : 0;
      for (const r of sampleRows(rows, sample, rng)) await sink(r);
    }
  }
}
