// `webtune tokenize`: text → ids (or ids → text with --decode) with a tokenizer.json (directory or file) or a
// llama2.c tokenizer.bin. One JSON line out per input: {"ids": [...]} when encoding, {"text": "..."} when decoding.
// --file streams line by line: .jsonl lines are {"text": ...} (or {"ids": [...]} with --decode), any other file
// has one text (or one id list) per line. Invalid UTF-8 is replaced by U+FFFD, as reading the text would.
import { Command } from 'commander';
import { writeStderr, writeStdout } from '../../runtime/platform.ts';
import { loadTokenizerAt, MODEL_KINDS } from '../../models/load.ts';
import type { Tokenizer } from '../../models/tokenizer.ts';
import { UserError } from '../../core/errors.ts';

interface TokenizeFlags {
  tokenizer?: string;
  text?: string;
  file?: string;
  // commander keeps the snake_case flag names as keys
  add_special_tokens: boolean;
  skip_special_tokens: boolean;
  decode: boolean;
}

export function tokenizeCommand(): Command {
  return new Command('tokenize')
    .description('encode text to token ids (or decode ids with --decode), one JSON line per input')
    .option('--tokenizer <path>', 'a tokenizer directory (tokenizer.json + tokenizer_config.json), a tokenizer.json, a llama2.c ' +
      `tokenizer .bin, or any model --model takes (its tokenizer): ${MODEL_KINDS}. A compact form of tokenizer.json is cached in ` +
      '~/.cache/webtune (WEBTUNE_CACHE_DIR=off disables that)')
    .option('--text <text>', 'the text to encode (with --decode: ids, as a JSON list or separated by spaces/commas)')
    .option('--file <path>', '.jsonl of {"text": ...} lines ({"ids": [...]} with --decode), or a file with one text (id list) per line')
    .option('--add_special_tokens', 'add the special tokens the tokenizer puts around a sequence (e.g. BOS)', false)
    .option('--decode', 'decode ids to text instead', false)
    .option('--skip_special_tokens', 'with --decode: leave special tokens out of the text (llama2.c tokenizers always do)', false)
    .action(async (flags: TokenizeFlags) => {
      if (!flags.tokenizer) throw new UserError('tokenize: --tokenizer is required');
      if ((flags.text === undefined) === (flags.file === undefined)) throw new UserError('tokenize: give exactly one of --text and --file');
      const tok: Tokenizer = await loadTokenizerAt(flags.tokenizer);
      const run = (input: string, where: string, jsonl: boolean): string => {
        if (flags.decode) {
          const ids = jsonl ? idsOfRecord(input, where) : parseIds(input, where);
          try { return JSON.stringify({ text: tok.decode(ids, { skipSpecialTokens: flags.skip_special_tokens || undefined }) }); } catch (e) {
            throw new UserError(`${where}: ${(e as Error).message}`);
          }
        }
        const text = jsonl ? textOfRecord(input, where) : input;
        return JSON.stringify({ ids: tok.encode(text, { addSpecialTokens: flags.add_special_tokens }) });
      };
      if (flags.text !== undefined) { writeStdout(`${run(flags.text, '--text', false)}\n`); return; }
      const file = flags.file!;
      const jsonl = /\.jsonl$/i.test(file);
      const out = new Output();
      let lineNo = 0, warned = false;
      for await (const { line, valid } of readLines(file)) {
        lineNo++;
        if (!valid && !warned) { writeStderr(`webtune: warning: --file ${file}: invalid UTF-8 (first at line ${lineNo}) replaced by U+FFFD\n`); warned = true; }
        if (jsonl && line.trim() === '') continue; // blank lines carry no record
        await out.write(`${run(jsonl ? line : line.replace(/\r$/, ''), `--file ${file}: line ${lineNo}`, jsonl)}\n`);
      }
      await out.flush();
    });
}

function textOfRecord(line: string, where: string): string {
  const rec = parseRecord(line, where);
  if (typeof rec.text !== 'string') throw new UserError(`${where}: expected {"text": "..."}`);
  return rec.text;
}

function idsOfRecord(line: string, where: string): number[] {
  const rec = parseRecord(line, where);
  if (!Array.isArray(rec.ids) || !rec.ids.every((x) => Number.isInteger(x))) throw new UserError(`${where}: expected {"ids": [integers]}`);
  return rec.ids as number[];
}

function parseRecord(line: string, where: string): Record<string, unknown> {
  let v: unknown;
  try { v = JSON.parse(line); } catch (e) { throw new UserError(`${where}: invalid JSON (${(e as Error).message.split('\n')[0]})`); }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new UserError(`${where}: expected a JSON object`);
  return v as Record<string, unknown>;
}

/** Ids written as a JSON list or separated by spaces and/or commas. */
function parseIds(s: string, where: string): number[] {
  const t = s.trim();
  if (t === '' || t === '[]') return [];
  const parts = (t.startsWith('[') && t.endsWith(']') ? t.slice(1, -1) : t).split(/[\s,]+/).filter(Boolean);
  const ids = parts.map(Number);
  if (parts.some((p) => !/^-?\d+$/.test(p))) throw new UserError(`${where}: expected token ids (integers), got ${JSON.stringify(t.slice(0, 40))}`);
  return ids;
}

/** Lines of a file as they are read (any size), each decoded from UTF-8 on its own; `valid` is false when
 *  it had invalid bytes. The final line needs no newline; an empty last line is not one. */
async function* readLines(path: string): AsyncGenerator<{ line: string; valid: boolean }> {
  const { open } = await import('node:fs/promises');
  let fh;
  try { fh = await open(path, 'r'); } catch (e) {
    throw new UserError(`--file ${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  const strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  const lossy = new TextDecoder('utf-8', { ignoreBOM: true });
  const decode = (b: Uint8Array) => { try { return { line: strict.decode(b), valid: true }; } catch { return { line: lossy.decode(b), valid: false }; } };
  try {
    let pending = new Uint8Array(0);
    const chunk = new Uint8Array(1 << 20);
    while (true) {
      const { bytesRead } = await fh.read(chunk, 0, chunk.length, null);
      if (bytesRead === 0) break;
      const data = new Uint8Array(pending.length + bytesRead);
      data.set(pending);
      data.set(chunk.subarray(0, bytesRead), pending.length);
      let start = 0;
      for (let i = data.indexOf(10); i >= 0; i = data.indexOf(10, start)) {
        yield decode(data.subarray(start, i));
        start = i + 1;
      }
      pending = data.slice(start);
    }
    if (pending.length) yield decode(pending);
  } finally {
    await fh.close();
  }
}

/** Batches output lines and waits for stdout to drain, so a big file does not pile up in memory. */
class Output {
  private buf: string[] = [];
  private size = 0;
  async write(s: string): Promise<void> {
    this.buf.push(s);
    this.size += s.length;
    if (this.size >= 1 << 16) await this.flush();
  }
  async flush(): Promise<void> {
    if (this.buf.length) writeStdout(this.buf.join(''));
    this.buf = [];
    this.size = 0;
    const out = (globalThis as { process?: NodeJS.Process }).process?.stdout;
    if (out?.writableNeedDrain) await new Promise<void>((r) => out.once('drain', () => r()));
  }
}
