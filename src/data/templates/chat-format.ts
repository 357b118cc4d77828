// Chat formats: the model's own chat_template (tokenizer_config.json or chat_template.jinja) or a built-in
// one (--template NAME, or "default" for a model without a template), rendered with @huggingface/jinja in
// Hugging Face's settings (trim_blocks, lstrip_blocks, loop controls, raise_exception, tojson), tools passed
// through. A model's template is probed once to learn the header that opens an assistant turn and the text
// that ends one, so that the answers can be found in any rendered conversation (see spans.ts).
import { Template } from '@huggingface/jinja';
import { UserError } from '../../../core/errors.ts';
import { pickChatTemplate, specialTokenVars, type ChatTokenizer } from '../chat-tokenizer.ts';
import type { Conversation } from '../types.ts';
import { BUILTIN_TEMPLATES } from './builtin.ts';

/** A message as templates see it (Hugging Face's chat format). */
export interface TemplateMessage {
  role: string;
  content: string;
  tool_calls?: unknown[];
  reasoning_content?: string;
  name?: string;
}

export interface TemplateProfile {
  source: string;
  compiled: Template;
  /** Text that opens every assistant turn ('' = not known: locate answers by rendering prefixes). */
  header: string;
  /** Text that closes an assistant turn and is trained with it ('' = the answer text alone). */
  end: string;
}

export const BUILTIN_NAMES = Object.keys(BUILTIN_TEMPLATES);

const PROBE_USER = 'webtune probe: question 7f3a';
const PROBE_ANSWER = 'webtune probe: answer 7f3a';

export class ChatFormat {
  readonly name: string;
  readonly origin: 'model' | 'builtin';
  readonly vars: Record<string, string>;
  private readonly profiles = new Map<string, TemplateProfile>();
  private readonly builtin?: (typeof BUILTIN_TEMPLATES)[string];
  /** Notes for the summary (e.g. an end-of-turn text that is not one token). */
  readonly notes: string[] = [];

  constructor(private readonly tok: ChatTokenizer, template?: string) {
    this.vars = specialTokenVars(tok);
    if (template !== undefined) {
      const b = BUILTIN_TEMPLATES[template];
      if (!b) throw new UserError(`unknown --template ${JSON.stringify(template)}; built-in templates: ${BUILTIN_NAMES.join(', ')}`);
      this.builtin = b;
    } else if (tok.chatTemplate === undefined) {
      this.builtin = BUILTIN_TEMPLATES.default;
    }
    if (this.builtin) {
      this.name = this.builtin.name;
      this.origin = 'builtin';
      const end = this.builtin.end.replace(/^\{(\w+)\}$/, (_, v: string) => {
        const s = this.vars[v];
        if (s === undefined) throw new UserError(`template ${this.builtin!.name} needs the tokenizer's ${v}, which ${tok.name} does not define`);
        return s;
      });
      const p: TemplateProfile = { source: this.builtin.source, compiled: new Template(this.builtin.source), header: this.builtin.header, end };
      this.profiles.set(p.source, p);
      if (tok.encode(end.trim(), { addSpecialTokens: false }).length !== 1) {
        this.notes.push(`template ${this.name}: its end-of-turn text ${JSON.stringify(end)} is not a single token of this tokenizer`);
      }
    } else {
      this.name = 'chat_template';
      this.origin = 'model';
    }
  }

  /** The template (and what probing learnt about it) for a conversation with or without tools. */
  profile(hasTools: boolean): TemplateProfile {
    const source = this.builtin ? this.builtin.source : pickChatTemplate(this.tok.chatTemplate, hasTools)!;
    let p = this.profiles.get(source);
    if (!p) {
      let compiled: Template;
      try { compiled = new Template(source); } catch (e) {
        throw new UserError(`${this.tok.name}: the chat_template does not parse: ${(e as Error).message}; use --template NAME (${BUILTIN_NAMES.join(', ')})`);
      }
      p = { source, compiled, header: '', end: '' };
      this.probe(p);
      this.profiles.set(source, p);
    }
    return p;
  }

  render(p: TemplateProfile, messages: TemplateMessage[], tools: unknown[] | undefined, addGenerationPrompt: boolean): string {
    return p.compiled.render({
      ...this.vars,
      messages,
      tools: tools ?? null,
      documents: null,
      add_generation_prompt: addGenerationPrompt,
    });
  }

  /** Learns the assistant header (what add_generation_prompt adds) and the end-of-turn text from a probe exchange. */
  private probe(p: TemplateProfile): void {
    const attempt = (pre: TemplateMessage[]) => {
      const user = [...pre, { role: 'user', content: PROBE_USER }];
      const r0 = this.render(p, user, undefined, false);
      const r1 = this.render(p, user, undefined, true);
      const r2 = this.render(p, [...user, { role: 'assistant', content: PROBE_ANSWER }], undefined, false);
      return { r0, r1, r2 };
    };
    let r: ReturnType<typeof attempt>;
    try { r = attempt([]); } catch {
      try { r = attempt([{ role: 'system', content: 'webtune probe: system' }]); } catch (e) {
        throw new UserError(`${this.tok.name}: the chat_template cannot render a plain user/assistant exchange (${(e as Error).message}); use --template NAME (${BUILTIN_NAMES.join(', ')})`);
      }
    }
    p.header = r.r1.startsWith(r.r0) ? r.r1.slice(r.r0.length) : '';
    const at = r.r2.indexOf(PROBE_ANSWER);
    if (at < 0) throw new UserError(`${this.tok.name}: the chat_template does not show an assistant message's content; use --template NAME`);
    const after = at + PROBE_ANSWER.length;
    let best: { pos: number; end: number } | undefined;
    for (const t of this.tok.addedTokens) {
      const pos = r.r2.indexOf(t.content, after);
      if (pos >= 0 && (!best || pos < best.pos || (pos === best.pos && pos + t.content.length > best.end))) best = { pos, end: pos + t.content.length };
    }
    if (best && r.r2.slice(after, best.pos).trim() === '') p.end = r.r2.slice(after, best.end);
    else this.notes.push('the chat_template ends an assistant turn with no special token: only the answer text is trained');
  }
}

/** A conversation as the template's `messages` (system first when present). */
export function templateMessages(conv: Conversation): TemplateMessage[] {
  const out: TemplateMessage[] = [];
  if (conv.system !== undefined) out.push({ role: 'system', content: conv.system });
  for (const m of conv.messages) {
    const t: TemplateMessage = { role: m.role, content: m.content };
    if (m.tool_calls) t.tool_calls = m.tool_calls;
    if (m.reasoning_content !== undefined) t.reasoning_content = m.reasoning_content;
    if (m.name !== undefined) t.name = m.name;
    out.push(t);
  }
  return out;
}
