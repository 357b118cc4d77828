// Resolves a --model path (file or directory) into a model and its tokenizer. A directory is valid when it is
// a Hugging Face model (config.json, *.safetensors, tokenizer.json) or holds one llama2.c checkpoint (*.bin)
// and its tokenizer (*.bin whose name starts with "tok", or tokenizer.bin). A model file finds its tokenizer
// beside it.
import { readDir, readFile, stat, joinPath } from '../runtime/platform.ts';
import { UserError } from '../src/errors.ts';
import type { LlamaModel } from './llama.ts';
import { loadLlama2c, looksLikeLlama2c } from './llama2c.ts';
import { loadHfTokenizer, loadLlama2cTokenizer, type Tokenizer } from './tokenizer.ts';
import { isHfModelDir, loadHfLlama } from './hf-llama.ts';

export interface LoadedModel {
  model: LlamaModel;
  tokenizer: Tokenizer;
  /** the model file that was read */
  modelFile: string;
  tokenizerFile: string;
}


const isTokenizerName = (name: string) => /^tok(enizer)?[^/]*\.bin$/i.test(name);

async function findFiles(path: string, tokenizer?: string): Promise<{ modelFile: string; tokenizerFile: string }> {
  const info = await stat(path);
  if (!info) throw new UserError(`--model ${path}: no such file or directory`);
  let modelFile: string, dir: string;
  if (info.isDirectory) {
    dir = path;
    const bins = (await readDir(path)).filter((n) => n.endsWith('.bin'));
    const models = bins.filter((n) => !isTokenizerName(n));
    if (models.length === 0) {
      throw new UserError(`--model ${path}: no model found (expected a llama2.c checkpoint *.bin beside its tokenizer)`);
    }
    if (models.length > 1) throw new UserError(`--model ${path}: several model files (${models.join(', ')}); name one`);
    modelFile = joinPath(path, models[0]);
  } else {
    modelFile = path;
    dir = path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : '.';
  }
  if (tokenizer) {
    if (!(await stat(tokenizer))?.isFile) throw new UserError(`--tokenizer ${tokenizer}: no such file`);
    return { modelFile, tokenizerFile: tokenizer };
  }
  const toks = (await readDir(dir)).filter(isTokenizerName);
  const preferred = toks.find((n) => n === 'tokenizer.bin') ?? toks[0];
  if (!preferred) throw new UserError(`--model ${path}: no tokenizer found beside the model (tokenizer.bin or tok*.bin); pass --tokenizer`);
  return { modelFile, tokenizerFile: joinPath(dir, preferred) };
}

/** Builds a model and tokenizer from bytes already in memory (edge workers bundle them). */
export async function loadModelFromBytes(modelBytes: Uint8Array, tokenizerBytes: Uint8Array,
  names = { modelFile: 'model', tokenizerFile: 'tokenizer' }): Promise<LoadedModel> {
  if (!looksLikeLlama2c(modelBytes)) {
    throw new UserError(`${names.modelFile}: unknown model format (expected a llama2.c checkpoint)`);
  }
  let model: LlamaModel;
  try {
    model = loadLlama2c(modelBytes);
  } catch (e) {
    throw new UserError(`${names.modelFile}: ${(e as Error).message}`);
  }
  let tokenizer: Tokenizer;
  try {
    tokenizer = await loadLlama2cTokenizer(tokenizerBytes, model.config.vocabSize);
  } catch (e) {
    throw new UserError(`${names.tokenizerFile}: ${(e as Error).message}`);
  }
  return { model, tokenizer, ...names };
}

/** The tokenizer of a Hugging Face model directory: --tokenizer, tokenizer.json, else a llama2.c tok*.bin. */
async function hfDirTokenizer(dir: string, vocabSize: number, explicit?: string): Promise<{ tokenizer: Tokenizer; file: string }> {
  let file = explicit;
  if (!file && !(await stat(joinPath(dir, 'tokenizer.json')))?.isFile) {
    const toks = (await readDir(dir)).filter(isTokenizerName);
    const pick = toks.find((n) => n === 'tokenizer.bin') ?? toks[0];
    if (pick) file = joinPath(dir, pick);
  }
  file ??= dir;
  try {
    if (/\.bin$/i.test(file)) return { tokenizer: await loadLlama2cTokenizer(await readFile(file), vocabSize), file };
    return { tokenizer: await loadHfTokenizer(file), file };
  } catch (e) {
    const msg = (e as Error).message;
    throw new UserError(msg.startsWith(file) ? msg : `${file}: ${msg}`);
  }
}

export async function loadModel(path: string, opts: { tokenizer?: string } = {}): Promise<LoadedModel> {
  path = path.length > 1 ? path.replace(/\/+$/, '') : path;
  if ((await stat(path))?.isDirectory && await isHfModelDir(path)) {
    if (opts.tokenizer && !(await stat(opts.tokenizer))) throw new UserError(`--tokenizer ${opts.tokenizer}: no such file or directory`);
    const model = await loadHfLlama(path);
    const { tokenizer, file } = await hfDirTokenizer(path, model.config.vocabSize, opts.tokenizer);
    if (tokenizer.vocabSize > model.config.vocabSize) {
      throw new UserError(`${file}: the tokenizer has ${tokenizer.vocabSize} tokens but the model's vocab_size is ${model.config.vocabSize}`);
    }
    return { model, tokenizer, modelFile: path, tokenizerFile: file };
  }
  const names = await findFiles(path, opts.tokenizer);
  const [modelBytes, tokBytes] = await Promise.all([readFile(names.modelFile), readFile(names.tokenizerFile)]);
  return loadModelFromBytes(modelBytes, tokBytes, names);
}
