// Output written atomically (runtime/platform.ts): lines stream into a temporary file beside the target, renamed over
// it on commit and removed on abort, so a failed run never leaves a half-written dataset under the real name.
import { commitTemp, discardTemp, fileSystem, tempPathFor, type WriteHandle } from '../../runtime/platform.ts';
import { IGNORE_INDEX } from './collate.ts';

export class AtomicWriter {
  private buf: string[] = [];
  private size = 0;

  private constructor(readonly path: string, private readonly tmp: string, private readonly fh: WriteHandle) {}

  static async open(path: string): Promise<AtomicWriter> {
    const tmp = tempPathFor(path);
    return new AtomicWriter(path, tmp, await fileSystem().openWrite(tmp));
  }

  async write(line: string): Promise<void> {
    this.buf.push(line);
    this.size += line.length;
    if (this.size > 1 << 20) await this.flush();
  }

  private async flush(): Promise<void> {
    if (!this.buf.length) return;
    const s = this.buf.join('');
    this.buf = [];
    this.size = 0;
    await this.fh.write(s);
  }

  async commit(): Promise<void> {
    await this.flush();
    await this.fh.close();
    await commitTemp(this.tmp, this.path);
  }

  async abort(): Promise<void> {
    try { await this.fh.close(); } catch { /* already closed */ }
    await discardTemp(this.tmp);
  }
}

/** labels from ids and the trained mask (-100 where untrained). */
export function labelsOf(ids: ArrayLike<number>, mask: ArrayLike<number>): Int32Array {
  const out = new Int32Array(ids.length);
  for (let i = 0; i < ids.length; i++) out[i] = mask[i] ? ids[i] : IGNORE_INDEX;
  return out;
}

/** Numbers joined with commas (a plain loop: faster than join on typed arrays). */
export function joinInts(a: ArrayLike<number>): string {
  let s = '';
  for (let i = 0; i < a.length; i++) s += i ? `,${a[i]}` : `${a[i]}`;
  return s;
}

export function rowLine(ids: ArrayLike<number>, labels: ArrayLike<number>): string {
  return `{"input_ids":[${joinInts(ids)}],"labels":[${joinInts(labels)}]}\n`;
}

/** An AtomicWriter opened on first use (an output with no rows is never created). */
export class LazyWriter {
  private w?: Promise<AtomicWriter>;
  constructor(readonly path: string) {}
  get(): Promise<AtomicWriter> { return (this.w ??= AtomicWriter.open(this.path)); }
  get opened(): boolean { return this.w !== undefined; }
  async commit(): Promise<void> { if (this.w) await (await this.w).commit(); }
  async abort(): Promise<void> { if (this.w) await (await this.w.catch(() => undefined))?.abort(); }
}
