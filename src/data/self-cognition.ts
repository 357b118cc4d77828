// Self-cognition: fills the model's name and author into ms-swift's {{NAME}}/{{AUTHOR}} and LLaMA-Factory's
// {{name}}/{{author}} placeholders. --model_name ZH EN --model_author ZH EN give both languages (one value
// serves both); a row's "tag" (zh|en) picks the language, else Chinese script in the row does.
import { UserError } from '../../core/errors.ts';
import { RowError, type Conversation, type RowOrigin } from './types.ts';

export interface Identity {
  name?: { zh: string; en: string };
  author?: { zh: string; en: string };
}

/** One or two flag values → {zh, en}; undefined when the flag was not given. */
export function bilingual(flag: string, values: string[] | undefined): { zh: string; en: string } | undefined {
  if (!values || values.length === 0) return undefined;
  if (values.length > 2) throw new UserError(`--${flag} takes one or two values (Chinese, then English), got ${values.length}`);
  return { zh: values[0], en: values[values.length - 1] };
}

const PLACEHOLDER = /\{\{(NAME|AUTHOR|name|author)\}\}/g;
const HAN = /\p{Script=Han}/u;

function texts(conv: Conversation): string[] {
  const out: string[] = [];
  if (conv.text !== undefined) out.push(conv.text);
  if (conv.system !== undefined) out.push(conv.system);
  for (const m of conv.messages) out.push(m.content);
  return out;
}

/** Fills the placeholders in place; returns whether any was found. A placeholder with no value is an error. */
export function fillIdentity(conv: Conversation, id: Identity, origin: RowOrigin): boolean {
  const all = texts(conv);
  if (!all.some((t) => t.includes('{{') && new RegExp(PLACEHOLDER.source).test(t))) return false;
  const lang: 'zh' | 'en' = conv.tag === 'zh' || conv.tag === 'en' ? conv.tag : all.some((t) => HAN.test(t)) ? 'zh' : 'en';
  const fill = (t: string): string => t.replace(PLACEHOLDER, (_, key: string) => {
    const k = key.toLowerCase() as 'name' | 'author';
    const v = id[k];
    if (!v) throw new RowError('unfilled placeholder', origin, `the row has {{${key}}} but --model_${k} was not given`);
    return v[lang];
  });
  if (conv.text !== undefined) conv.text = fill(conv.text);
  if (conv.system !== undefined) conv.system = fill(conv.system);
  for (const m of conv.messages) m.content = fill(m.content);
  return true;
}
