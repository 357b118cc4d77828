// Resolves a --model path (file or directory) into a model and its tokenizer. A directory is valid when it is
// a Hugging Face model (config.json, *.safetensors, tokenizer.json) or holds one llama2.c checkpoint (*.bin)
// and its tokenizer (*.bin whose name starts with "tok", or tokenizer.bin). A model file finds its tokenizer
// beside it.
import { readDir, readFile, stat, joinPath } from '../runtime/platform.ts';
import { UserError } from '../src/errors.ts';
import type { LlamaModel } from './llama.ts';
import { loadLlama2c, looksLikeLlama2c } from './llama2c.ts';
import { hfTokenizerFromJson, loadHfTokenizer, loadLlama2cTokenizer, type Tokenizer } from './tokenizer.ts';
import { isHfModelDir, loadHfLlama } from './hf-llama.ts';
import { readJsonIfPresent } from './model-dir.ts';
import { onnxToLlama } from './onnx/import-llama.ts';
import { parseOnnx, readOnnxFile } from './onnx/reader.ts';
import { resolveModelPath } from './hub.ts';

export interface LoadedModel {
  model: LlamaModel;
  tokenizer: Tokenizer;
  /** the model file that was read */
  modelFile: string;
  tokenizerFile: string;
  /** the tokenizer with its chat template, when it came from memory rather than a directory (edge workers) */
  chatTokenizer?: import('../src/data/chat-tokenizer.ts').ChatTokenizer;
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

/** fp32 first: webtune computes in f32, so fp16 weights are only the fallback */
const ONNX_NAMES = ['onnx/model.onnx', 'model.onnx', 'onnx/model_fp16.onnx', 'model_fp16.onnx'];
const parentOf = (p: string) => (p.includes('/') ? p.slice(0, p.lastIndexOf('/')) || '/' : '.');

/**
 * A webtune export (onnx/model.onnx, model.onnx or their _fp16 variants; config.json and tokenizer beside): the folder
 * and the model file. A folder that also has safetensors weights is read as a Hugging Face model instead.
 */
export async function findOnnxExport(path: string): Promise<{ root: string; file: string } | undefined> {
  const info = await stat(path);
  if (info?.isFile && path.endsWith('.onnx')) {
    const dir = parentOf(path);
    const up = parentOf(dir);
    const root = dir.endsWith('/onnx') || dir === 'onnx' ? (await stat(joinPath(up, 'config.json')))?.isFile ? up : dir : dir;
    return { root, file: path };
  }
  if (!info?.isDirectory) return undefined;
  for (const st of ['model.safetensors', 'model.safetensors.index.json']) if ((await stat(joinPath(path, st)))?.isFile) return undefined;
  for (const name of ONNX_NAMES) if ((await stat(joinPath(path, name)))?.isFile) return { root: path, file: joinPath(path, name) };
  return undefined;
}

/** Loads a webtune ONNX export with webtune's own runtime (not onnxruntime). */
async function loadOnnxExport(root: string, file: string, tokenizer?: string): Promise<LoadedModel> {
  if (tokenizer && !(await stat(tokenizer))) throw new UserError(`--tokenizer ${tokenizer}: no such file or directory`);
  const configFile = joinPath(root, 'config.json');
  const model = onnxToLlama(await readOnnxFile(file), await readJsonIfPresent(configFile), configFile);
  const tok = await hfDirTokenizer(root, model.config.vocabSize, tokenizer);
  if (tok.tokenizer.vocabSize > model.config.vocabSize) {
    throw new UserError(`${tok.file}: the tokenizer has ${tok.tokenizer.vocabSize} tokens but the model's vocab_size is ${model.config.vocabSize}`);
  }
  return { model, tokenizer: tok.tokenizer, modelFile: file, tokenizerFile: tok.file };
}

/**
 * Builds a model from an exported folder's files in memory (edge workers have no file system): keys are paths
 * relative to the folder ('config.json', 'onnx/model.onnx', 'onnx/model.onnx_data', 'tokenizer.json' or 'tok512.bin').
 */
export async function loadOnnxModelFromFiles(files: Map<string, Uint8Array>): Promise<LoadedModel> {
  const file = ONNX_NAMES.find((n) => files.has(n));
  if (!file) throw new UserError(`no onnx/model.onnx or model.onnx among the model files (${[...files.keys()].join(', ')})`);
  const dir = file.includes('/') ? file.slice(0, file.lastIndexOf('/') + 1) : '';
  const text = (name: string) => new TextDecoder().decode(files.get(name));
  let configJson: Record<string, unknown> | undefined;
  if (files.has('config.json')) {
    try { configJson = JSON.parse(text('config.json')); } catch (e) { throw new UserError(`config.json: invalid JSON (${(e as Error).message.split('\n')[0]})`); }
  }
  const model = onnxToLlama(await parseOnnx(files.get(file)!, file, async (loc) => files.get(dir + loc)), configJson);
  let tokenizer: Tokenizer, tokenizerFile: string;
  const bin = [...files.keys()].filter(isTokenizerName).sort((a, b) => (a === 'tokenizer.bin' ? -1 : b === 'tokenizer.bin' ? 1 : a < b ? -1 : 1))[0];
  try {
    if (files.has('tokenizer.json')) {
      tokenizerFile = 'tokenizer.json';
      tokenizer = await hfTokenizerFromJson(text('tokenizer.json'), files.has('tokenizer_config.json') ? text('tokenizer_config.json') : undefined);
    } else if (bin) {
      tokenizerFile = bin;
      tokenizer = await loadLlama2cTokenizer(files.get(bin)!, model.config.vocabSize);
    } else throw new UserError('no tokenizer.json or tok*.bin among the model files');
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError(`${tokenizerFile!}: ${(e as Error).message}`);
  }
  if (tokenizer.vocabSize > model.config.vocabSize) {
    throw new UserError(`${tokenizerFile}: the tokenizer has ${tokenizer.vocabSize} tokens but the model's vocab_size is ${model.config.vocabSize}`);
  }
  return { model, tokenizer, modelFile: file, tokenizerFile };
}

export async function loadModel(path: string, opts: { tokenizer?: string } = {}): Promise<LoadedModel> {
  path = path.length > 1 ? path.replace(/\/+$/, '') : path;
  path = await resolveModelPath(path); // ORG/NAME that is not a local path: the hub snapshot
  const exported = await findOnnxExport(path);
  if (exported) return loadOnnxExport(exported.root, exported.file, opts.tokenizer);
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
