// A model directory's tokenizer for the data pipeline: webtune's Hugging Face tokenizer (tokenizer.json on the
// WASM engine, models/hf) plus tokenizer_config.json's chat template and special tokens. A tokenizer-only
// directory (tokenizer.json + tokenizer_config.json) is enough.
import { createHfTokenizer } from '../../models/hf/hf-tokenizer.ts';
import { parseTokenizerJson, readTokenizerSpec } from '../../models/hf/tokenizer-json.ts';
import { UserError } from '../errors.ts';
import { parseTokenizerConfig, readTokenizerConfig, type ChatTokenizer, type TokenizerConfig, type TokenRef } from './chat-tokenizer.ts';

type Spec = Awaited<ReturnType<typeof readTokenizerSpec>>;

export async function loadChatTokenizer(dir: string): Promise<ChatTokenizer> {
  let spec: Awaited<ReturnType<typeof readTokenizerSpec>>;
  try { spec = await readTokenizerSpec(dir); } catch (e) {
    throw new UserError(`--model ${dir}: ${(e as Error).message}`);
  }
  const cfg = await readTokenizerConfig(spec.name.replace(/\/?[^/]*$/, '') || '.');
  return chatTokenizerFromSpec(dir, spec, cfg);
}

/** The same from file contents already in memory (edge workers have no file system). */
export async function chatTokenizerFromJson(name: string, json: string, tokenizerConfig?: Record<string, unknown>,
  chatTemplateJinja?: string): Promise<ChatTokenizer> {
  const spec = parseTokenizerJson(json, tokenizerConfig ?? null);
  return chatTokenizerFromSpec(name, spec, parseTokenizerConfig(tokenizerConfig ?? {}, chatTemplateJinja));
}

async function chatTokenizerFromSpec(dir: string, spec: Spec, cfg: TokenizerConfig): Promise<ChatTokenizer> {
  const tok = await createHfTokenizer(spec);
  const ref = (content: string | undefined): TokenRef | undefined => {
    if (content === undefined) return undefined;
    const id = tok.tokenToId(content);
    return id === undefined ? undefined : { id, content };
  };
  return {
    name: dir,
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
