// Tokenizes a rendered conversation exactly as the tokenizer would tokenize the whole text, and marks the
// tokens that lie in the trained character spans. The whole text is encoded once; a span boundary is turned
// into a token index by locating the added tokens (which the tokenizer splits out first, so text between two
// of them tokenizes on its own) and encoding only the short stretch from the last added token to the boundary.
import type { ChatTokenizer } from './chat-tokenizer.ts';

export interface Encoded {
  ids: Int32Array;
  /** 1 where the token is trained (its label is its id), 0 where its label is -100. */
  mask: Uint8Array;
}

interface AddedIndex {
  re: RegExp | undefined;
  idOf: Map<string, number>;
  ids: Set<number>;
  /** Encodings of the short stretches before answer boundaries ("assistant\n", ...): they repeat. */
  heads: Map<string, number[]>;
}

const indexCache = new WeakMap<ChatTokenizer, AddedIndex>();

function addedIndex(tok: ChatTokenizer): AddedIndex {
  let ix = indexCache.get(tok);
  if (!ix) {
    const sorted = [...tok.addedTokens].filter((t) => t.content.length > 0).sort((a, b) => b.content.length - a.content.length);
    const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    ix = {
      re: sorted.length ? new RegExp(sorted.map((t) => esc(t.content)).join('|'), 'g') : undefined,
      idOf: new Map(sorted.map((t) => [t.content, t.id])),
      ids: new Set(sorted.map((t) => t.id)),
      heads: new Map(),
    };
    indexCache.set(tok, ix);
  }
  return ix;
}

export interface SpanStats {
  /** Boundaries that fell inside a token (the token goes to the side where it starts). */
  misaligned: number;
}

/** ids of `text` (no special tokens added: the template wrote them) and the trained mask for `spans`. */
export function encodeWithSpans(tok: ChatTokenizer, text: string, spans: readonly [number, number][], stats?: SpanStats): Encoded {
  const ids = tok.encode(text, { addSpecialTokens: false });
  const mask = new Uint8Array(ids.length);
  if (spans.length) {
    const ix = addedIndex(tok);
    // added-token occurrences in the text, and where their ids sit in the encoding
    const occStart: number[] = [];
    const occEnd: number[] = [];
    const occTok: number[] = [];
    let aligned = true;
    if (ix.re) {
      ix.re.lastIndex = 0;
      let t = 0;
      for (let m = ix.re.exec(text); m; m = ix.re.exec(text)) {
        const id = ix.idOf.get(m[0])!;
        while (t < ids.length && !ix.ids.has(ids[t])) t++;
        if (t >= ids.length || ids[t] !== id) { aligned = false; break; }
        occStart.push(m.index);
        occEnd.push(m.index + m[0].length);
        occTok.push(t++);
      }
    }
    if (!aligned) occStart.length = occEnd.length = occTok.length = 0;
    const tokenAt = (b: number): number => {
      if (b >= text.length) return ids.length;
      // occurrences ending at or before b
      let lo = 0, hi = occEnd.length;
      while (lo < hi) { const mid = (lo + hi) >> 1; if (occEnd[mid] <= b) lo = mid + 1; else hi = mid; }
      if (lo > 0 && occEnd[lo - 1] === b) return occTok[lo - 1] + 1;
      if (lo < occStart.length && occStart[lo] <= b) return occTok[lo]; // at (or inside) an added token
      const segStart = lo > 0 ? occEnd[lo - 1] : 0;
      const base = lo > 0 ? occTok[lo - 1] + 1 : 0;
      if (segStart === b) return base;
      const stretch = text.slice(segStart, b);
      let head = ix.heads.get(stretch);
      if (!head) {
        head = tok.encode(stretch, { addSpecialTokens: false });
        if (stretch.length <= 256) {
          if (ix.heads.size >= 4096) ix.heads.clear();
          ix.heads.set(stretch, head);
        }
      }
      let n = 0;
      while (n < head.length && base + n < ids.length && ids[base + n] === head[n]) n++;
      if (n < head.length && stats) stats.misaligned++;
      return base + n;
    };
    for (const [s, e] of spans) {
      const a = tokenAt(s), b = tokenAt(e);
      mask.fill(1, a, b);
    }
  }
  return { ids: Int32Array.from(ids), mask };
}

/** Pretraining text: the tokenizer's own special tokens (e.g. BOS), the text, then EOS; all but BOS trained. */
export function encodeText(tok: ChatTokenizer, text: string): Encoded {
  const ids = tok.encode(text, { addSpecialTokens: true });
  if (tok.eos && ids[ids.length - 1] !== tok.eos.id) ids.push(tok.eos.id);
  const mask = new Uint8Array(ids.length).fill(1);
  if (tok.bos && ids[0] === tok.bos.id) mask[0] = 0;
  return { ids: Int32Array.from(ids), mask };
}
