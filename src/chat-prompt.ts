// A templated chat prompt for generation (`infer --query`): the conversation rendered with the model's chat
// template (or --template) and add_generation_prompt, tokenized exactly as training tokenizes rows, plus the
// ids that end an answer (EOS and the template's end-of-turn token).
import { readText, stat, joinPath } from '../runtime/platform.ts';
import type { LoadedModel } from '../models/load.ts';
import type { ChatTokenizer } from './data/chat-tokenizer.ts';
import { chatTokenizerOf as chatTokenizerFor } from './data/model-tokenizer.ts';
import { TORCH_DTYPES, type TorchDtype } from './backend/dtype.ts';
import { ChatFormat, type TemplateMessage } from './data/templates/chat-format.ts';

export interface ChatPromptOptions {
  /** one user turn (`infer --query`) */
  query?: string;
  /** a whole conversation (interactive chat, /v1/chat/completions); a leading system message wins over `system` */
  messages?: TemplateMessage[];
  system?: string;
  template?: string;
}

export interface ChatPrompt { text: string; ids: number[]; stopIds: number[]; template: string }

// One chat tokenizer per loaded model: chat turns and server requests reuse it.
const chatTokenizers = new WeakMap<LoadedModel, Promise<ChatTokenizer>>();
function chatTokenizerOf(loaded: LoadedModel): Promise<ChatTokenizer> {
  let t = chatTokenizers.get(loaded);
  if (!t) {
    t = chatTokenizerFor(loaded);
    t.catch(() => chatTokenizers.delete(loaded));
    chatTokenizers.set(loaded, t);
  }
  return t;
}


export async function chatPrompt(loaded: LoadedModel, o: ChatPromptOptions): Promise<ChatPrompt> {
  const tok = await chatTokenizerOf(loaded);
  const format = new ChatFormat(tok, o.template);
  const profile = format.profile(false);
  const turns: TemplateMessage[] = o.messages ?? (o.query !== undefined ? [{ role: 'user', content: o.query }] : []);
  const hasSystem = turns[0]?.role === 'system';
  const messages: TemplateMessage[] = [...(o.system && !hasSystem ? [{ role: 'system', content: o.system }] : []), ...turns];
  const text = format.render(profile, messages, undefined, true);
  const ids = tok.encode(text, { addSpecialTokens: false });
  const stopIds = new Set<number>();
  if (tok.eos) stopIds.add(tok.eos.id);
  const end = profile.end.trim() ? tok.encode(profile.end.trim(), { addSpecialTokens: false }) : [];
  if (end.length === 1) stopIds.add(end[0]);
  return { text, ids, stopIds: [...stopIds], template: format.name };
}

/** The template, system prompt and torch_dtype a `webtune sft` run used (its args.json beside or above the
 *  checkpoint), which infer and deploy take where their flags are not given, as ms-swift's load_args does. */
export async function sftRunArgs(checkpoint: string): Promise<{ template?: string; system?: string; torch_dtype?: TorchDtype }> {
  const ckpt = checkpoint.replace(/\/+$/, '');
  const parent = ckpt.includes('/') ? ckpt.slice(0, ckpt.lastIndexOf('/')) : '.';
  for (const f of [joinPath(ckpt, 'args.json'), joinPath(parent, 'args.json')]) {
    if (!(await stat(f))?.isFile) continue;
    try {
      const a = JSON.parse(await readText(f)) as { template?: unknown; system?: unknown; torch_dtype?: unknown };
      return { template: typeof a.template === 'string' ? a.template : undefined, system: typeof a.system === 'string' ? a.system : undefined,
        torch_dtype: TORCH_DTYPES.includes(a.torch_dtype as TorchDtype) ? a.torch_dtype as TorchDtype : undefined };
    } catch { return {}; }
  }
  return {};
}
