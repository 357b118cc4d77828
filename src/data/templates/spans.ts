// Renders a conversation and finds the characters to train: by default each assistant answer with its
// end-of-turn text (e.g. "...answer<|im_end|>"); a message's `loss` overrides; --loss_scale last_round
// trains only the final answer, --loss_scale all trains everything.
// An answer starts after the template's assistant header (found in order, once per assistant message) or,
// for templates whose header is not known, where the rendered conversation up to that message ends.
import { RowError, type Conversation, type RowOrigin } from '../types.ts';
import { templateMessages, type ChatFormat, type TemplateMessage, type TemplateProfile } from './chat-format.ts';

export type LossScale = 'default' | 'last_round' | 'all';
export const LOSS_SCALES: LossScale[] = ['default', 'last_round', 'all'];

export interface Rendered {
  text: string;
  /** Trained character ranges [start, end), sorted, not overlapping. */
  spans: [number, number][];
}

/** Which template messages are trained (system first when present, as templateMessages orders them). */
function trainedFlags(conv: Conversation, msgs: TemplateMessage[], lossScale: LossScale): boolean[] {
  const offset = conv.system !== undefined ? 1 : 0;
  let last = msgs.length - 1;
  while (last >= 0 && msgs[last].role !== 'assistant') last--;
  return msgs.map((m, i) => {
    const explicit = i >= offset ? conv.messages[i - offset].loss : undefined;
    if (explicit !== undefined) return explicit;
    if (m.role !== 'assistant') return false;
    return lossScale === 'last_round' ? i === last : true;
  });
}

function occurrences(text: string, s: string): number[] {
  const out: number[] = [];
  for (let p = text.indexOf(s); p >= 0; p = text.indexOf(s, p + s.length)) out.push(p + s.length);
  return out;
}

export function renderConversation(fmt: ChatFormat, conv: Conversation, lossScale: LossScale, origin: RowOrigin): Rendered {
  const msgs = templateMessages(conv);
  const p = fmt.profile(conv.tools !== undefined);
  const render = (m: TemplateMessage[], agp: boolean): string => {
    try { return fmt.render(p, m, conv.tools, agp); } catch (e) {
      throw new RowError('template error', origin, `${fmt.name}: ${(e as Error).message}`);
    }
  };
  const text = render(msgs, false);
  if (lossScale === 'all') return { text, spans: text.length ? [[0, text.length]] : [] };
  const trained = trainedFlags(conv, msgs, lossScale);
  const assistants = msgs.flatMap((m, i) => (m.role === 'assistant' ? [i] : []));
  const starts = answerStarts(p, msgs, assistants, text, render, origin, fmt.name);
  const mismatch = (detail: string): never => { throw new RowError('template mismatch', origin, `${fmt.name}: ${detail}`); };

  const spans: [number, number][] = [];
  let cursor = 0;
  let k = 0;
  for (let i = 0; i < msgs.length; i++) {
    const m = msgs[i];
    if (m.role === 'assistant') {
      const start = starts[k];
      const nextStart = k + 1 < starts.length ? starts[k + 1] : text.length + 1;
      k++;
      if (start < cursor) mismatch(`assistant message ${i + 1} is rendered before the previous message`);
      let end: number;
      const tail = m.content.trim().slice(-24);
      if (p.end) {
        const q = text.indexOf(p.end, start);
        if (q < 0 || q >= nextStart) mismatch(`assistant message ${i + 1} does not end with ${JSON.stringify(p.end)}`);
        end = q + p.end.length;
      } else {
        const q = tail ? text.indexOf(tail, start) : start;
        if (q < 0 || q >= nextStart) mismatch(`assistant message ${i + 1}'s text is not where the template puts the answer`);
        end = q + tail.length;
      }
      if (tail && !text.slice(start, end).includes(tail)) {
        mismatch(`assistant message ${i + 1}'s text is not between its header and its end ${JSON.stringify(p.end)} (does the answer contain the end token?)`);
      }
      if (trained[i] && end > start) spans.push([start, end]);
      cursor = end;
    } else if (trained[i] && m.content) {
      const q = text.indexOf(m.content, cursor);
      const limit = k < starts.length ? starts[k] : text.length + 1;
      if (q < 0 || q + m.content.length > limit) mismatch(`message ${i + 1} (${m.role}, "loss": true) is not found verbatim in the rendered text`);
      spans.push([q, q + m.content.length]);
      cursor = q + m.content.length;
    }
  }
  return { text, spans };
}

/** Where each assistant answer begins in `text`. */
function answerStarts(p: TemplateProfile, msgs: TemplateMessage[], assistants: number[], text: string,
  render: (m: TemplateMessage[], agp: boolean) => string, origin: RowOrigin, name: string): number[] {
  if (p.header) {
    const found = occurrences(text, p.header);
    if (found.length === assistants.length) return found;
  }
  // Render the conversation up to each answer with the generation prompt: it must be a prefix of the whole.
  const starts: number[] = [];
  for (const a of assistants) {
    const prefix = render(msgs.slice(0, a), true);
    if (!text.startsWith(prefix)) {
      const why = p.header ? `its assistant header ${JSON.stringify(p.header)} appears ${occurrences(text, p.header).length} times for ${assistants.length} assistant messages, and `
        : '';
      throw new RowError('template mismatch', origin, `${name}: ${why}the conversation rendered up to assistant message ${a + 1} is not a prefix of the whole conversation`);
    }
    starts.push(prefix.length);
  }
  return starts;
}
