// The model to fine-tune and the tokenizer the data pipeline needs, from --model: a Hugging Face directory
// (config.json + safetensors + tokenizer.json) or a llama2.c checkpoint directory (e.g. stories260K with tok512.bin),
// whose tokenizer is wrapped so the chat templates can use it ("<s>" / "</s>" in rendered text are BOS / EOS).
import { loadHfLlama, isHfModelDir } from '../../models/hf-llama.ts';
import type { LlamaModel } from '../../models/llama.ts';
import { findOnnxExport, loadModel } from '../../models/load.ts';
import { resolveModelPath } from '../../models/hub.ts';
import type { Tokenizer } from '../../models/tokenizer.ts';
import type { ChatTokenizer, TokenRef } from '../data/chat-tokenizer.ts';
import { loadChatTokenizer } from '../data/model-tokenizer.ts';

export interface ModelSource {
  kind: 'hf' | 'llama2c';
  model: LlamaModel;
  tok: ChatTokenizer;
  /** files to copy beside a fully trained model (tokenizer files) */
  tokenizerFiles: string[];
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

export async function loadModelSource(path: string): Promise<ModelSource> {
  path = await resolveModelPath(path); // ORG/NAME from the Hugging Face hub
  if (await isHfModelDir(path)) {
    const model = (await findOnnxExport(path)) ? (await loadModel(path)).model : await loadHfLlama(path); // a webtune ONNX export, or safetensors
    const tok = await loadChatTokenizer(path);
    const files = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'chat_template.jinja', 'generation_config.json']
      .map((f) => `${path.replace(/\/$/, '')}/${f}`);
    return { kind: 'hf', model, tok, tokenizerFiles: files };
  }
  const loaded = await loadModel(path);
  return { kind: 'llama2c', model: loaded.model, tok: llama2cChatTokenizer(loaded.tokenizer, path), tokenizerFiles: [loaded.tokenizerFile] };
}
