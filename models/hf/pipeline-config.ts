// Configures the wasm normalizer / pre-tokenizer pipeline (asm/tokenizer/hf/normalize.ts, pretokenize.ts) from
// the `normalizer` and `pre_tokenizer` objects of a tokenizer.json. Sequences are flattened into successive
// pushes. Anything the engine cannot run exactly throws a one-line Error naming it, rather than mis-splitting.

/** The wasm exports this needs (asm/tokenizer/hf/exports-pipeline.ts). */
export interface PipelineEngine {
  memory: WebAssembly.Memory;
  alloc(size: number): number;
  free?(ptr: number): void;
  normalizerClear(): void;
  normalizerPush(kind: number, aPtr: number, aLen: number, bPtr: number, bLen: number, flags: number): number;
  pretokenizerClear(): void;
  pretokenizerPush(kind: number, aPtr: number, aLen: number, bPtr: number, bLen: number, flags: number): number;
}

// Mirrors of the AssemblyScript constants (hf/normalize.ts, hf/pretokenize.ts, hf/split.ts).
export const NORM = { NFC: 1, NFD: 2, NFKC: 3, NFKD: 4, Lowercase: 5, Strip: 6, StripAccents: 7, Replace: 8, Prepend: 9 } as const;
export const PRE = {
  ByteLevel: 1, Split: 2, Digits: 3, Metaspace: 4, WhitespaceSplit: 5, Whitespace: 6, Punctuation: 7, BertPreTokenizer: 8,
} as const;
export const SPLIT_BEHAVIOR = { removed: 0, isolated: 1, mergedwithprevious: 2, mergedwithnext: 3, contiguous: 4 } as const;
export const SPLIT_INVERT = 8;
export const SPLIT_REGEX = 16;
export const PIPE_ERR = { KIND: -1, REGEX: -2, ARGS: -3, FULL: -4 } as const;
const PREPEND_SCHEME: Record<string, number> = { always: 0, first: 1, never: 2 };

type Json = Record<string, unknown>;
type Push = (kind: number, a: string, b: string, flags: number) => number;

const utf8 = new TextEncoder();
const isObj = (x: unknown): x is Json => typeof x === 'object' && x !== null && !Array.isArray(x);
// A Regex without metacharacters is a literal string.
const literalRegex = (r: string): string | null => (/[\\^$.|?*+()[\]{}]/.test(r) ? null : r);

function pusher(e: PipelineEngine, fn: PipelineEngine['normalizerPush']): Push {
  return (kind, a, b, flags) => {
    const ab = utf8.encode(a), bb = utf8.encode(b);
    const ptr = e.alloc(Math.max(ab.length + bb.length, 1));
    const mem = new Uint8Array(e.memory.buffer);
    mem.set(ab, ptr);
    mem.set(bb, ptr + ab.length);
    const code = fn.call(e, kind, ptr, ab.length, ptr + ab.length, bb.length, flags);
    e.free?.(ptr);
    return code;
  };
}

/** Sets the engine's pipeline from tokenizer.json's `normalizer` and `pre_tokenizer` (null: none). */
export function configurePipeline(e: PipelineEngine, normalizer: unknown, preTokenizer: unknown, name?: string): void {
  const fail = (msg: string): never => { throw new Error(name ? `${name}: ${msg}` : msg); };
  e.normalizerClear();
  e.pretokenizerClear();
  const pushN = pusher(e, e.normalizerPush);
  const pushP = pusher(e, e.pretokenizerPush);
  const check = (code: number, what: string) => {
    if (code === PIPE_ERR.REGEX) fail(`unsupported ${what}`);
    if (code < 0) fail(`${what} rejected by the engine (code ${code})`);
  };

  const addNormalizer = (n: unknown): void => {
    if (n === null || n === undefined) return;
    if (!isObj(n)) return fail('normalizer must be an object');
    const type = String(n.type);
    switch (type) {
      case 'Sequence':
        for (const m of (n.normalizers as unknown[] | undefined) ?? []) addNormalizer(m);
        return;
      case 'NFC': case 'NFD': case 'NFKC': case 'NFKD': case 'Lowercase': case 'StripAccents':
        return check(pushN(NORM[type], '', '', 0), `normalizer ${type}`);
      case 'Strip':
        return check(pushN(NORM.Strip, '', '', (n.strip_left ? 1 : 0) | (n.strip_right ? 2 : 0)), 'normalizer Strip');
      case 'Prepend':
        return check(pushN(NORM.Prepend, String(n.prepend ?? ''), '', 0), 'normalizer Prepend');
      case 'Replace': {
        const pat = n.pattern as Json | undefined;
        let lit: string | null = null;
        if (pat && typeof pat.String === 'string') lit = pat.String;
        else if (pat && typeof pat.Regex === 'string') lit = literalRegex(pat.Regex) ?? fail(`unsupported normalizer Replace regex ${JSON.stringify(pat.Regex)}`);
        else return fail('normalizer Replace without a String or Regex pattern');
        if (lit === '') return; // matches nothing useful; the reference's empty regex would be pathological
        return check(pushN(NORM.Replace, lit, String(n.content ?? ''), 0), 'normalizer Replace');
      }
      default:
        return fail(`unsupported normalizer type ${JSON.stringify(type)}`);
    }
  };

  const addPreTokenizer = (p: unknown): void => {
    if (p === null || p === undefined) return;
    if (!isObj(p)) return fail('pre_tokenizer must be an object');
    const type = String(p.type);
    switch (type) {
      case 'Sequence':
        for (const m of (p.pretokenizers as unknown[] | undefined) ?? []) addPreTokenizer(m);
        return;
      case 'ByteLevel':
        return check(pushP(PRE.ByteLevel, '', '', (p.add_prefix_space ? 1 : 0) | ((p.use_regex ?? true) ? 2 : 0)), 'pre_tokenizer ByteLevel');
      case 'Split': {
        const pat = p.pattern as Json | undefined;
        const behavior = String(p.behavior ?? 'Isolated').toLowerCase();
        if (!(behavior in SPLIT_BEHAVIOR)) return fail(`unsupported pre_tokenizer Split behavior ${JSON.stringify(p.behavior)}`);
        let flags = SPLIT_BEHAVIOR[behavior as keyof typeof SPLIT_BEHAVIOR] | (p.invert ? SPLIT_INVERT : 0);
        let source: string;
        if (pat && typeof pat.String === 'string') source = pat.String;
        else if (pat && typeof pat.Regex === 'string') {
          const lit = literalRegex(pat.Regex);
          source = lit ?? pat.Regex;
          if (lit === null) flags |= SPLIT_REGEX;
        } else return fail('pre_tokenizer Split without a String or Regex pattern');
        if (source === '') return fail('unsupported pre_tokenizer Split with an empty pattern');
        const code = pushP(PRE.Split, source, '', flags);
        if (code === PIPE_ERR.REGEX) return fail(`unsupported pre_tokenizer Split regex ${JSON.stringify(source)}`);
        return check(code, 'pre_tokenizer Split');
      }
      case 'Digits':
        return check(pushP(PRE.Digits, '', '', p.individual_digits ? 1 : 0), 'pre_tokenizer Digits');
      case 'Metaspace': {
        const scheme = String(p.prepend_scheme ?? 'always');
        if (!(scheme in PREPEND_SCHEME)) return fail(`unsupported pre_tokenizer Metaspace prepend_scheme ${JSON.stringify(scheme)}`);
        const rep = String(p.replacement ?? '\u2581');
        if (rep === '') return fail('unsupported pre_tokenizer Metaspace with an empty replacement');
        return check(pushP(PRE.Metaspace, rep, '', PREPEND_SCHEME[scheme] | ((p.split ?? true) ? 4 : 0)), 'pre_tokenizer Metaspace');
      }
      case 'WhitespaceSplit': case 'Whitespace': case 'Punctuation': case 'BertPreTokenizer':
        return check(pushP(PRE[type], '', '', 0), `pre_tokenizer ${type}`);
      default:
        return fail(`unsupported pre_tokenizer type ${JSON.stringify(type)}`);
    }
  };

  addNormalizer(normalizer);
  addPreTokenizer(preTokenizer);
}
