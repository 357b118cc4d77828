// tokenizer.json decoders, as tokenizers' decode_chain runs them: each step maps a list of token strings to a
// new list, and the result is joined. A token is either a string or, for a byte-level vocabulary (stored as raw
// bytes by the engine), its bytes: ByteLevel takes those as they are, any other step sees the alphabet string.
import { alphabetToBytes, bytesToAlphabet } from './bytes.ts';

export type Piece = string | Uint8Array;
export type DecodeStep = (tokens: Piece[]) => Piece[];

const utf8 = new TextEncoder();
const lossy = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });
const strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

const str = (t: Piece): string => (typeof t === 'string' ? t : bytesToAlphabet(t));

function concatBytes(parts: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

/** ByteLevel: every token back to its bytes (a token outside the alphabet gives its UTF-8), then one lossy
 *  UTF-8 decode of the whole sequence. */
export const byteLevelStep: DecodeStep = (tokens) => {
  const parts: Uint8Array[] = [];
  let total = 0;
  for (const t of tokens) {
    const b = typeof t === 'string' ? (alphabetToBytes(t) ?? utf8.encode(t)) : t;
    parts.push(b);
    total += b.length;
  }
  return [lossy.decode(concatBytes(parts, total))];
};

/** ByteFallback: runs of <0xHH> tokens become the text of their bytes; invalid UTF-8 gives one U+FFFD per byte. */
const byteFallbackStep: DecodeStep = (tokens) => {
  const out: Piece[] = [];
  let run: number[] = [];
  const flush = () => {
    if (!run.length) return;
    try { out.push(strict.decode(Uint8Array.from(run))); } catch { out.push('\uFFFD'.repeat(run.length)); }
    run = [];
  };
  for (const t of tokens) {
    const s = str(t);
    if (s.length === 6 && s.startsWith('<0x') && s.endsWith('>') && /^[0-9A-Fa-f]{2}$/.test(s.slice(3, 5))) {
      run.push(parseInt(s.slice(3, 5), 16));
    } else {
      flush();
      out.push(s);
    }
  }
  flush();
  return out;
};

function metaspaceStep(replacement: string, prependNever: boolean): DecodeStep {
  return (tokens) => tokens.map((t, i) => {
    let s = '';
    for (const c of str(t)) s += c === replacement ? (i === 0 && !prependNever ? '' : ' ') : c;
    return s;
  });
}

function stripStep(content: string, start: number, stop: number): DecodeStep {
  return (tokens) => tokens.map((t) => {
    const chars = [...str(t)];
    let a = 0, b = chars.length;
    for (let i = 0; i < Math.min(start, chars.length) && chars[i] === content; i++) a = i + 1;
    for (let i = 0; i < stop && chars.length - i - 1 >= 0 && chars[chars.length - i - 1] === content; i++) b = chars.length - i - 1;
    return a < b ? chars.slice(a, b).join('') : '';
  });
}

/** A tokenizer.json `pattern` ({String} or {Regex}) as a global RegExp. */
export function patternRegExp(pattern: unknown, where: string): RegExp {
  const p = pattern as { String?: unknown; Regex?: unknown } | null;
  if (p && typeof p.String === 'string') return new RegExp(p.String.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'gu');
  if (p && typeof p.Regex === 'string') {
    try { return new RegExp(p.Regex, 'gu'); } catch (e) {
      throw new Error(`${where}: unsupported regex ${JSON.stringify(p.Regex)} (${(e as Error).message})`);
    }
  }
  throw new Error(`${where}: pattern must be {"String": ...} or {"Regex": ...}`);
}

type Cfg = Record<string, unknown>;

/** Compiles a tokenizer.json `decoder` (null: none). Throws a clear error for what is not supported. */
export function buildDecoder(cfg: unknown, where = 'tokenizer.json: decoder'): DecodeStep | null {
  if (cfg === null || cfg === undefined) return null;
  if (typeof cfg !== 'object') throw new Error(`${where}: expected an object`);
  const c = cfg as Cfg;
  switch (c.type) {
    case 'ByteLevel': return byteLevelStep;
    case 'ByteFallback': return byteFallbackStep;
    case 'Fuse': return (tokens) => [tokens.map(str).join('')];
    case 'Strip': return stripStep(String(c.content ?? ' '), Number(c.start ?? 0), Number(c.stop ?? 0));
    case 'Replace': {
      const re = patternRegExp(c.pattern, `${where} Replace`);
      const content = String(c.content ?? '');
      return (tokens) => tokens.map((t) => str(t).replace(re, () => content));
    }
    case 'Metaspace': {
      const scheme = c.prepend_scheme ?? (c.add_prefix_space === false ? 'never' : 'always');
      return metaspaceStep(String(c.replacement ?? '\u2581'), scheme === 'never');
    }
    case 'BPEDecoder': {
      const suffix = String(c.suffix ?? '</w>');
      return (tokens) => tokens.map((t, i) => str(t).split(suffix).join(i === tokens.length - 1 ? '' : ' '));
    }
    case 'Sequence': {
      const list = c.decoders;
      if (!Array.isArray(list)) throw new Error(`${where}: Sequence needs a "decoders" list`);
      const steps = list.map((d, i) => buildDecoder(d, `${where}[${i}]`)).filter((s): s is DecodeStep => s !== null);
      return (tokens) => steps.reduce((t, step) => step(t), tokens);
    }
    default:
      throw new Error(`${where}: unsupported decoder type ${JSON.stringify(c.type)}`);
  }
}

/** transformers' clean_up_tokenization (clean_up_tokenization_spaces). */
export function cleanUpTokenization(s: string): string {
  return s.replaceAll(' .', '.').replaceAll(' ?', '?').replaceAll(' !', '!').replaceAll(' ,', ',')
    .replaceAll(" ' ", "'").replaceAll(" n't", "n't").replaceAll(" 'm", "'m").replaceAll(" 's", "'s")
    .replaceAll(" 've", "'ve").replaceAll(" 're", "'re");
}

/** Joins a decoder's output; without a decoder tokenizers joins the token strings with spaces. */
export function runDecoder(step: DecodeStep | null, tokens: Piece[]): string {
  if (!step) return tokens.map(str).join(' ');
  const out = step(tokens);
  return out.length === 1 && typeof out[0] === 'string' ? out[0] : out.map(str).join('');
}
