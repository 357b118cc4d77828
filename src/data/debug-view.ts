// --debug: a row as text with its trained tokens highlighted (green on a terminal, ⟦…⟧ otherwise).
import type { TextTokenizer } from './chat-tokenizer.ts';

export function debugRow(tok: TextTokenizer, ids: ArrayLike<number>, mask: ArrayLike<number>, where: string, color: boolean): string {
  const parts: string[] = [];
  let trained = 0;
  for (let a = 0; a < ids.length;) {
    let b = a;
    while (b < ids.length && !!mask[b] === !!mask[a]) b++;
    const text = tok.decode(Array.from(ids).slice(a, b), { skipSpecialTokens: false });
    if (mask[a]) {
      trained += b - a;
      parts.push(color ? `\x1b[42;30m${text}\x1b[0m` : `⟦${text}⟧`);
    } else {
      parts.push(color ? `\x1b[2m${text}\x1b[0m` : text);
    }
    a = b;
  }
  return `── ${where}: ${ids.length} tokens, ${trained} trained ${color ? '(green)' : '(inside ⟦ ⟧)'}\n${parts.join('')}\n`;
}
