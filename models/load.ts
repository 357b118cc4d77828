// One resolution of a --model value for every command (infer, sft, preprocess, merge-lora, export, deploy,
// build-edge; tokenize --tokenizer), so they all accept the same things: a hub id is downloaded first, then the
// path is classified once (webtune ONNX export, Hugging Face layout, llama2.c checkpoint, or a tokenizer alone)
// and its tokenizer found. loadModel reads weights and tokenizer; loadModelTokenizer reads only the tokenizer and
// the sizes it needs from the header or config.json (preprocess has no use for the weights).
import { readDir, readFile, readFileHead, readJsonIfPresent, stat, joinPath } from '../runtime/platform.ts';
import { UserError } from '../core/errors.ts';
import type { LlamaModel } from './llama.ts';
import { llama2cConfig, loadLlama2c, looksLikeLlama2c } from './llama2c.ts';
import { hfTokenizerFromJson, llama2cPieceCount, loadHfTokenizer, loadLlama2cTokenizer, type Tokenizer } from './tokenizer.ts';
import { isHfModelDir, loadHfLlama } from './hf-llama.ts';
import { onnxToLlama } from './onnx/import-llama.ts';
import { parseOnnx, readOnnxFile } from './onnx/reader.ts';
import { resolveModelPath } from './hub.ts';

/** What --model accepts, for every command's help (one description, so the commands cannot drift apart). */
export const MODEL_KINDS = 'a llama2.c checkpoint (.bin, or the directory holding it and its tok*.bin), a Hugging Face ' +
  'directory (config.json + safetensors: also merge-lora output and full-training checkpoints), a folder written by ' +
  'webtune export, or a hub id ORG/NAME';

export type ModelFormat = 'onnx' | 'hf' | 'llama2c' | 'tokenizer';

/** Where a --model value's weights and tokenizer are. */
export interface ModelLocation {
  /** the value as given (messages name it) */
  given: string;
  /** the flag it came from, for messages: --model, or --tokenizer for `tokenize` */
  flag: string;
  format: ModelFormat;
  /** the folder holding config.json and the tokenizer files */
  dir: string;
  /** the .onnx file, the Hugging Face directory or the llama2.c .bin; absent for a tokenizer alone */
  weights?: string;
  /** the folder of a tokenizer.json (with its tokenizer_config.json), or a llama2.c tokenizer .bin; absent: none */
  tokenizerFile?: string;
}

export interface LoadedModel {
  model: LlamaModel;
  tokenizer: Tokenizer;
  /** the model file that was read */
  modelFile: string;
  tokenizerFile: string;
  /** where it was found (absent for models built from memory) */
  location?: ModelLocation;
}

export interface TokenizerSource {
  location: ModelLocation;
  /** a tokenizer.json's folder (or --tokenizer's file), or a llama2.c tokenizer .bin (llama2c: true) */
  file: string;
  llama2c: boolean;
  /** the model's vocab_size, when known (a llama2.c tokenizer file does not record it) */
  vocabSize?: number;
  /** the model's context in tokens (max_position_embeddings, llama2.c's seq_len), when known */
  contextLength?: number;
}

export interface LoadedTokenizer {
  tokenizer: Tokenizer;
  tokenizerFile: string;
  location: ModelLocation;
  /** the model's context in tokens (max_position_embeddings, llama2.c's seq_len), when known */
  contextLength?: number;
}

const isTokenizerName = (name: string) => /^tok(enizer)?[^/]*\.bin$/i.test(name);
const parentOf = (p: string) => (p.includes('/') ? p.slice(0, p.lastIndexOf('/')) || '/' : '.');
const baseName = (p: string) => p.slice(p.lastIndexOf('/') + 1);
const MODEL_FILES = 'config.json + *.safetensors, a llama2.c *.bin beside its tok*.bin, or onnx/model.onnx';

const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\ufffd]/;

/** A load error as one line that names `file` once; a message quoting binary bytes (a binary file parsed as text)
 *  says so instead of printing them. */
export function fileError(file: string, e: unknown): UserError {
  if (e instanceof UserError && !CONTROL.test(e.message)) return e;
  let msg = ((e as Error)?.message ?? String(e)).split('\n')[0];
  if (CONTROL.test(msg)) msg = `${msg.split(' (')[0].replace(CONTROL, '')} (binary data, not text)`;
  return new UserError(msg.startsWith(file) ? msg : `${file}: ${msg}`);
}

/** Classifies a --model value (after a hub download) and finds its tokenizer; nothing is loaded yet. */
export async function locateModel(given: string, opts: { tokenizer?: string; flag?: string } = {}): Promise<ModelLocation> {
  const flag = opts.flag ?? '--model';
  const trimmed = given.length > 1 ? given.replace(/\/+$/, '') : given;
  const path = await resolveModelPath(trimmed); // ORG/NAME that is not a local path: the hub snapshot
  const info = await stat(path);
  if (!info) throw new UserError(`${flag} ${given}: no such file or directory`);
  if (opts.tokenizer && !(await stat(opts.tokenizer))) throw new UserError(`--tokenizer ${opts.tokenizer}: no such file or directory`);
  const found = await classify(path, info.isDirectory, `${flag} ${given}`);
  const tokenizerFile = opts.tokenizer ?? await findTokenizer(found.dir, found.format);
  return { given, flag, ...found, tokenizerFile };
}

async function classify(path: string, isDir: boolean, what: string): Promise<Pick<ModelLocation, 'format' | 'dir' | 'weights'>> {
  const exported = await findOnnxExport(path);
  if (exported) return { format: 'onnx', dir: exported.root, weights: exported.file };
  if (!isDir) {
    // a tokenizer is not a model: its directory is (llama2.c keeps both side by side)
    if (isTokenizerName(baseName(path)) || /\.json$/i.test(path)) {
      throw new UserError(`${what}: a tokenizer file, not a model; pass its directory (${parentOf(path)})`);
    }
    return { format: 'llama2c', dir: parentOf(path), weights: path };
  }
  if (await isHfModelDir(path)) return { format: 'hf', dir: path, weights: path };
  const names = await readDir(path);
  const models = names.filter((n) => n.endsWith('.bin') && !isTokenizerName(n));
  if (models.length > 1) throw new UserError(`${what}: several model files (${models.join(', ')}); name one`);
  if (models.length === 1) return { format: 'llama2c', dir: path, weights: joinPath(path, models[0]) };
  if (names.includes('tokenizer.json') || names.some(isTokenizerName)) return { format: 'tokenizer', dir: path };
  throw new UserError(`${what}: no model found (expected ${MODEL_FILES})`);
}

/** llama2.c: tokenizer.bin, else a tok*.bin; other layouts: the folder when it has tokenizer.json, else those .bin
 *  (a merged or fully trained llama2.c model keeps only its tok*.bin). */
async function findTokenizer(dir: string, format: ModelFormat): Promise<string | undefined> {
  const names = await readDir(dir);
  if (format !== 'llama2c' && names.includes('tokenizer.json')) return dir;
  const bins = names.filter(isTokenizerName);
  const pick = bins.find((n) => n === 'tokenizer.bin') ?? bins[0];
  return pick ? joinPath(dir, pick) : undefined;
}

function tokenizerFileOf(loc: ModelLocation): string {
  if (loc.tokenizerFile) return loc.tokenizerFile;
  const where = loc.given.replace(/\/+$/, '') === loc.dir ? '' : ` in ${loc.dir}`; // name each path once
  throw new UserError(`${loc.flag} ${loc.given}: no tokenizer found${where} (tokenizer.json, tokenizer.bin or tok*.bin)`);
}

/** Reads the tokenizer a location names; a llama2.c one takes the model's vocab_size when it is known. */
async function readTokenizer(file: string, vocabSize?: number): Promise<Tokenizer> {
  try {
    if (!/\.bin$/i.test(file)) return await loadHfTokenizer(file);
    const bytes = await readFile(file);
    return await loadLlama2cTokenizer(bytes, vocabSize ?? llama2cPieceCount(bytes));
  } catch (e) {
    throw fileError(file, e);
  }
}

function checkVocab(tokenizer: Tokenizer, file: string, vocabSize: number): void {
  if (tokenizer.vocabSize > vocabSize) {
    throw new UserError(`${file}: the tokenizer has ${tokenizer.vocabSize} tokens but the model's vocab_size is ${vocabSize}`);
  }
}

/** vocab_size and context length without the weights: config.json, or the llama2.c header. */
async function modelSizes(loc: ModelLocation): Promise<{ vocabSize?: number; contextLength?: number }> {
  if (loc.format === 'llama2c') {
    try {
      const c = llama2cConfig(await readFileHead(loc.weights!, 28));
      return { vocabSize: c.vocabSize, contextLength: c.maxPositionEmbeddings };
    } catch (e) {
      throw fileError(loc.weights!, e);
    }
  }
  const configFile = joinPath(loc.dir, 'config.json');
  const cfg = loc.format === 'tokenizer' ? undefined : await readJsonIfPresent(configFile);
  const num = (k: string) => (typeof cfg?.[k] === 'number' ? cfg[k] as number : undefined);
  return { vocabSize: num('vocab_size'), contextLength: num('max_position_embeddings') };
}

/** Where the tokenizer of anything --model takes is, and the model's sizes, without loading anything. */
export async function findModelTokenizer(given: string, opts: { tokenizer?: string; flag?: string } = {}): Promise<TokenizerSource> {
  const location = await locateModel(given, opts);
  const file = tokenizerFileOf(location);
  return { location, file, llama2c: /\.bin$/i.test(file), ...await modelSizes(location) };
}

/** Loads the tokenizer findModelTokenizer found. */
export async function readModelTokenizer(src: TokenizerSource): Promise<Tokenizer> {
  const tokenizer = await readTokenizer(src.file, src.vocabSize);
  if (src.vocabSize !== undefined) checkVocab(tokenizer, src.file, src.vocabSize);
  return tokenizer;
}

/** The tokenizer of anything --model takes, without loading the weights. */
export async function loadModelTokenizer(given: string, opts: { tokenizer?: string; flag?: string } = {}): Promise<LoadedTokenizer> {
  const src = await findModelTokenizer(given, opts);
  return { tokenizer: await readModelTokenizer(src), tokenizerFile: src.file, location: src.location, contextLength: src.contextLength };
}

/** `tokenize --tokenizer`: a tokenizer file (tokenizer.json, a llama2.c .bin) or anything --model takes. */
export async function loadTokenizerAt(path: string): Promise<Tokenizer> {
  const info = await stat(path);
  if (info?.isFile && !path.endsWith('.onnx')) {
    const isModel = /\.bin$/i.test(path) && !isTokenizerName(baseName(path)) && looksLikeLlama2c(await readFileHead(path, 28));
    if (!isModel) return readTokenizer(path);
  }
  return (await loadModelTokenizer(path, { flag: '--tokenizer' })).tokenizer;
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

/** fp32 first: webtune computes in f32, so fp16 weights are only the fallback */
const ONNX_NAMES = ['onnx/model.onnx', 'model.onnx', 'onnx/model_fp16.onnx', 'model_fp16.onnx'];
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

/** The model and tokenizer of anything --model takes (MODEL_KINDS). */
export async function loadModel(given: string, opts: { tokenizer?: string; flag?: string } = {}): Promise<LoadedModel> {
  const location = await locateModel(given, opts);
  const weights = location.weights;
  if (!weights) {
    throw new UserError(`${location.flag} ${given}: a tokenizer without a model (a model needs ${MODEL_FILES})`);
  }
  if (location.format === 'llama2c') {
    const tokenizerFile = tokenizerFileOf(location);
    const [modelBytes, tokBytes] = await Promise.all([readFile(weights), readFile(tokenizerFile)]);
    return { ...await loadModelFromBytes(modelBytes, tokBytes, { modelFile: weights, tokenizerFile }), location };
  }
  let model: LlamaModel;
  if (location.format === 'onnx') {
    const configFile = joinPath(location.dir, 'config.json');
    model = onnxToLlama(await readOnnxFile(weights), await readJsonIfPresent(configFile), configFile);
  } else {
    model = await loadHfLlama(weights);
  }
  const tokenizerFile = tokenizerFileOf(location); // after the weights: a foreign model is refused for what it is
  const tokenizer = await readTokenizer(tokenizerFile, model.config.vocabSize);
  checkVocab(tokenizer, tokenizerFile, model.config.vocabSize);
  return { model, tokenizer, modelFile: weights, tokenizerFile, location };
}
