// Stop words (ms-swift's --stop_words, OpenAI's `stop`): generation ends where the generated text first contains
// one of them, and neither the stop word nor anything after it is shown. Text arrives in pieces (one token's
// text at a time) and a stop word may span pieces, so the tail that could still become a stop word is held back
// until the next piece settles it.

export interface StopPush {
  /** text that is safe to show now */
  emit: string;
  /** a stop word was found: generation should end; everything after `emit` is dropped */
  stopped: boolean;
  /** the stop word that ended generation */
  word?: string;
}

export class StopMatcher {
  readonly words: string[];
  private held = '';
  private done = false;

  constructor(words: Iterable<string> = []) {
    this.words = [...new Set([...words].filter((w) => w.length > 0))];
  }

  get stopped(): boolean { return this.done; }

  /** Feeds the next piece of generated text. After a stop, further pieces are ignored. */
  push(text: string): StopPush {
    if (this.done) return { emit: '', stopped: true };
    if (this.words.length === 0) return { emit: text, stopped: false };
    const buf = this.held + text;
    // The earliest occurrence of any stop word wins (the longest one when two start at the same place).
    let at = -1, word: string | undefined;
    for (const w of this.words) {
      const i = buf.indexOf(w);
      if (i >= 0 && (at < 0 || i < at || (i === at && w.length > word!.length))) { at = i; word = w; }
    }
    if (at >= 0) {
      this.done = true;
      this.held = '';
      return { emit: buf.slice(0, at), stopped: true, word };
    }
    const keep = this.heldBackLength(buf);
    this.held = buf.slice(buf.length - keep);
    return { emit: buf.slice(0, buf.length - keep), stopped: false };
  }

  /** At the end of generation (no stop word came): the text still held back. */
  flush(): string {
    const rest = this.held;
    this.held = '';
    return rest;
  }

  /** Length of the longest tail of `buf` that is a proper prefix of some stop word. */
  private heldBackLength(buf: string): number {
    let best = 0;
    for (const w of this.words) {
      for (let n = Math.min(w.length - 1, buf.length); n > best; n--) {
        if (buf.endsWith(w.slice(0, n))) { best = n; break; }
      }
    }
    return best;
  }
}
