// The model to fine-tune and the tokenizer the data pipeline needs, from --model: whatever models/load.ts accepts
// (MODEL_KINDS), through the same loader as infer and preprocess.
import type { LlamaModel } from '../../models/llama.ts';
import { loadModel } from '../../models/load.ts';
import { tokenizerFilesOf } from '../../models/model-dir.ts';
import type { ChatTokenizer } from '../data/chat-tokenizer.ts';
import { chatTokenizerOf } from '../data/model-tokenizer.ts';

// chat-prompt.ts imports it from here
export { llama2cChatTokenizer } from '../data/model-tokenizer.ts';

export interface ModelSource {
  kind: 'hf' | 'llama2c';
  model: LlamaModel;
  tok: ChatTokenizer;
  /** files to copy beside a fully trained model (tokenizer files, generation_config.json) */
  tokenizerFiles: string[];
}

export async function loadModelSource(path: string): Promise<ModelSource> {
  const loaded = await loadModel(path);
  const tok = await chatTokenizerOf(loaded, path);
  const kind = loaded.location?.format === 'llama2c' ? 'llama2c' : 'hf';
  const files = tokenizerFilesOf(loaded);
  if (kind === 'hf' && loaded.location) files.push(`${loaded.location.dir}/generation_config.json`);
  return { kind, model: loaded.model, tok, tokenizerFiles: files };
}
