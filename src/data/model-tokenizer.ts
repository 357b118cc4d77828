// The tokenizer the data pipeline needs (a ChatTokenizer: ids, special tokens, chat template) for anything --model
// takes, through the one model resolution of models/load.ts: a tokenizer.json with tokenizer_config.json's chat
// template and special tokens (webtune's WASM engine, models/hf), or a llama2.c tokenizer whose "<s>" / "</s>"
// in rendered text are BOS / EOS. A tokenizer-only directory (tokenizer.json + tokenizer_config.json) is enough;
// weights are never read.
import { createHfTokenizer } from '../../models/hf/hf-tokenizer.ts';
import { parseTokenizerJson, readTokenizerSpec } from '../../models/hf/tokenizer-json.ts';
import { fileError, findModelTokenizer, readModelTokenizer, type LoadedModel } from '../../models/load.ts';
import type { Tokenizer } from '../../models/tokenizer.ts';
import { parseTokenizerConfig, readTokenizerConfig, type ChatTokenizer, type TokenizerConfig, type TokenRef } from './chat-tokenizer.ts';

type Spec = Awaited<ReturnType<typeof readTokenizerSpec>>;

const dirOf = (p: string) => (p.includes('/') ? p.slice(0, p.lastIndexOf('/')) || '/' : '.');

/** The chat tokenizer of a --model value (any kind models/load.ts accepts), and the model's context when known. */
export async function loadChatTokenizer(model: string): Promise<ChatTokenizer> {
  const src = await findModelTokenizer(model);
  if (src.llama2c) return { ...llama2cChatTokenizer(await readModelTokenizer(src), model), contextLength: src.contextLength };
  // tokenizer.json is read once, as a spec the chat tokenizer keeps (added tokens, special-token strings)
  return hfChatTokenizer(model, src.file, src.contextLength);
}

/** A model built from memory (edge workers) may carry its chat tokenizer, there being no directory to read one from. */
export type WithChatTokenizer = { chatTokenizer?: ChatTokenizer };

/** The chat tokenizer of a model already loaded (sft, infer --query, the server). */
export async function chatTokenizerOf(loaded: LoadedModel, name = loaded.location?.given ?? loaded.tokenizerFile): Promise<ChatTokenizer> {
  const carried = (loaded as LoadedModel & WithChatTokenizer).chatTokenizer;
  if (carried) return carried;
  const contextLength = loaded.model.config.maxPositionEmbeddings;
  if (loaded.tokenizer.kind === 'llama2c') return { ...llama2cChatTokenizer(loaded.tokenizer, name), contextLength };
  return hfChatTokenizer(name, loaded.tokenizerFile, contextLength);
}

/** tokenizer.json (a file, or the directory holding it) with its tokenizer_config.json and chat_template.jinja. */
async function hfChatTokenizer(name: string, file: string, contextLength?: number): Promise<ChatTokenizer> {
  let spec: Spec;
  try { spec = await readTokenizerSpec(file); } catch (e) { throw fileError(file, e); }
  const cfg = await readTokenizerConfig(dirOf(spec.name));
  return { ...await chatTokenizerFromSpec(name, spec, cfg), contextLength };
}

/** The same from file contents already in memory (edge workers have no file system). */
export async function chatTokenizerFromJson(name: string, json: string, tokenizerConfig?: Record<string, unknown>,
  chatTemplateJinja?: string): Promise<ChatTokenizer> {
  const spec = parseTokenizerJson(json, tokenizerConfig ?? null);
  return chatTokenizerFromSpec(name, spec, parseTokenizerConfig(tokenizerConfig ?? {}, chatTemplateJinja));
}

async function chatTokenizerFromSpec(name: string, spec: Spec, cfg: TokenizerConfig): Promise<ChatTokenizer> {
  const tok = await createHfTokenizer(spec);
  const ref = (content: string | undefined): TokenRef | undefined => {
    if (content === undefined) return undefined;
    const id = tok.tokenToId(content);
    return id === undefined ? undefined : { id, content };
  };
  return {
    name,
    addedTokens: spec.added.map((t) => ({ id: t.id, content: t.content })),
    bos: ref(spec.bosToken),
    eos: ref(spec.eosToken),
    pad: ref(spec.padToken),
    unk: ref(spec.unkToken),
    chatTemplate: cfg.chatTemplate,
    encode: (text, opts) => tok.encode(text, { addSpecialTokens: opts?.addSpecialTokens ?? false }),
    decode: (ids, opts) => tok.decode(ids, { skipSpecialTokens: opts?.skipSpecialTokens ?? false }),
  };
}

/** A llama2.c tokenizer as a ChatTokenizer: the BOS/EOS strings are split out of text before encoding. */
export function llama2cChatTokenizer(t: Tokenizer, name: string): ChatTokenizer {
  const bos: TokenRef = { id: t.bosId, content: '<s>' }, eos: TokenRef = { id: t.eosId, content: '</s>' };
  const specials = new Map([[bos.content, bos.id], [eos.content, eos.id]]);
  return {
    name, addedTokens: [bos, eos], bos, eos, pad: undefined, unk: { id: 0, content: '<unk>' },
    encode(text, opts) {
      const ids: number[] = opts?.addSpecialTokens ? [bos.id] : [];
      for (const part of text.split(/(<s>|<\/s>)/)) {
        if (specials.has(part)) ids.push(specials.get(part)!);
        else if (part) ids.push(...t.encode(part));
      }
      return ids;
    },
    decode: (ids, opts) => t.decode(ids, { skipSpecialTokens: opts?.skipSpecialTokens ?? false }),
  };
}
