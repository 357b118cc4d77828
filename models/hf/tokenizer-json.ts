// Loads a Hugging Face tokenizer: tokenizer.json (+ tokenizer_config.json beside it) from a directory or a .json
// path, validated into an HfSpec (everything the engine needs, with the BPE model packed), then built.
// Errors name the file and what is wrong or unsupported, on one line.
import { fileSystem, getEnv, readFile, readText, stat, writeFileAtomic } from '../../runtime/platform.ts';
import { packBpe, type PackedBpe } from './bpe-pack.ts';
import { fastJson } from './fast-json.ts';
import { A_LSTRIP, A_NORMALIZED, A_RSTRIP, A_SINGLE_WORD, A_SPECIAL, type AddedSpec, type HfSpec } from './spec.ts';
import { createHfTokenizer, type HfTokenizer } from './hf-tokenizer.ts';
import { cacheKey, decodeCompact, defaultCacheDir, encodeCompact, withResolvedMerges } from './compact.ts';

type Cfg = Record<string, unknown>;

function parseJson(text: string, name: string): Cfg {
  let v: unknown;
  try { v = JSON.parse(text); } catch (e) {
    throw new Error(`${name}: malformed JSON (${(e as Error).message.split('\n')[0]})`);
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error(`${name}: expected a JSON object`);
  return v as Cfg;
}

/** The model type, as tokenizers infers it when "type" is missing. */
function modelType(m: Cfg): string {
  if (typeof m.type === 'string') return m.type;
  if ('merges' in m) return 'BPE';
  if (Array.isArray(m.vocab)) return 'Unigram';
  if ('max_input_chars_per_word' in m || 'continuing_subword_prefix' in m) return 'WordPiece';
  return 'WordLevel';
}

/** Whether a pre_tokenizer (or a member of a Sequence) is ByteLevel: then the vocabulary is byte-level. */
function hasByteLevel(p: unknown): boolean {
  if (!p || typeof p !== 'object') return false;
  const c = p as Cfg;
  if (c.type === 'ByteLevel') return true;
  return c.type === 'Sequence' && Array.isArray(c.pretokenizers) && c.pretokenizers.some(hasByteLevel);
}

/** A special token setting of tokenizer_config.json: a string, {content}, or null. */
function tokenName(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as Cfg).content === 'string') return (v as Cfg).content as string;
  return undefined;
}

function parseAdded(list: unknown, name: string): AddedSpec[] {
  if (list === undefined || list === null) return [];
  if (!Array.isArray(list)) throw new Error(`${name}: added_tokens must be a list`);
  return list.map((t: Cfg, i) => {
    if (!t || typeof t.content !== 'string' || !Number.isInteger(t.id) || (t.id as number) < 0) {
      throw new Error(`${name}: added_tokens[${i}] needs a string "content" and a non-negative integer "id"`);
    }
    const special = t.special === true;
    const normalized = typeof t.normalized === 'boolean' ? t.normalized : !special;
    const flags = (t.lstrip ? A_LSTRIP : 0) | (t.rstrip ? A_RSTRIP : 0) | (t.single_word ? A_SINGLE_WORD : 0) |
      (normalized ? A_NORMALIZED : 0) | (special ? A_SPECIAL : 0);
    return { id: t.id as number, content: t.content, flags };
  });
}

type Pack = (m: Cfg, byteLevel: boolean) => PackedBpe | undefined;

/** Validates tokenizer.json (+ optional tokenizer_config.json) text into an HfSpec. */
export function parseTokenizerJson(json: string | Cfg, config?: string | Cfg | null,
  names = { json: 'tokenizer.json', config: 'tokenizer_config.json' }, record = false): HfSpec {
  const tj = typeof json === 'string' ? parseJson(json, names.json) : json;
  return buildSpec(tj, parseConfig(config, names.config), names.json, (m, byteLevel) => packBpe(m, byteLevel, names.json, record))!;
}

function parseConfig(config: string | Cfg | null | undefined, name: string): Cfg {
  return config === undefined || config === null ? {} : typeof config === 'string' ? parseJson(config, name) : config;
}

/** The spec from parsed tokenizer.json / tokenizer_config.json; undefined when `pack` gives up. */
function buildSpec(tj: Cfg, tc: Cfg, name: string, pack: Pack): HfSpec | undefined {
  const m = tj.model as Cfg;
  if (!m || typeof m !== 'object' || Array.isArray(m)) throw new Error(`${name}: no "model" object`);
  const type = modelType(m);
  if (type !== 'BPE') throw new Error(`${name}: unsupported model type ${JSON.stringify(type)} (webtune supports BPE tokenizers)`);
  const byteLevel = hasByteLevel(tj.pre_tokenizer);
  const added = parseAdded(tj.added_tokens, name);
  const model = pack(m, byteLevel);
  if (!model) return undefined;
  const additional = Array.isArray(tc.additional_special_tokens) ? tc.additional_special_tokens.map(tokenName) : [];
  return {
    name,
    model,
    byteLevel,
    added,
    normalizer: tj.normalizer ?? null,
    preTokenizer: tj.pre_tokenizer ?? null,
    postProcessor: tj.post_processor ?? null,
    decoder: tj.decoder ?? null,
    bosToken: tokenName(tc.bos_token),
    eosToken: tokenName(tc.eos_token),
    padToken: tokenName(tc.pad_token),
    unkToken: tokenName(tc.unk_token) ?? (typeof m.unk_token === 'string' ? m.unk_token : undefined),
    additionalSpecial: additional.filter((x): x is string => typeof x === 'string'),
    cleanUpSpaces: tc.clean_up_tokenization_spaces === true,
  };
}

const dirname = (p: string) => (p.includes('/') ? p.slice(0, p.lastIndexOf('/')) || '/' : '.');

/** Finds tokenizer.json and tokenizer_config.json for a directory or a .json path. */
export async function findTokenizerFiles(path: string): Promise<{ json: string; config?: string }> {
  const s = await stat(path);
  if (!s) throw new Error(`${path}: no such file or directory`);
  const json = s.isDirectory ? `${path.replace(/\/+$/, '')}/tokenizer.json` : path;
  if (!(await stat(json))?.isFile) throw new Error(`${path}: no tokenizer.json in this directory`);
  const config = `${dirname(json)}/tokenizer_config.json`;
  return { json, config: (await stat(config))?.isFile ? config : undefined };
}

/** Reads and validates the tokenizer files at `path` (a directory or a tokenizer.json path). The engine packs
 *  vocab and merges straight from the file bytes (fast-json.ts); unusual files go through JSON.parse. */
export async function readTokenizerSpec(path: string, record = false): Promise<HfSpec> {
  const files = await findTokenizerFiles(path);
  const [bytes, config] = await Promise.all([readFile(files.json), files.config ? readText(files.config) : undefined]);
  const names = { json: files.json, config: files.config ?? 'tokenizer_config.json' };
  const fast = await fastJson(bytes);
  if (fast) {
    const spec = buildSpec(fast.skeleton, parseConfig(config, names.config), names.json, (m, bl) => fast.pack(m, bl, names.json, record));
    if (spec) return spec;
  }
  return parseTokenizerJson(new TextDecoder().decode(bytes), config, names, record);
}

export interface LoadOptions {
  /** Directory for the compact cached form (compact.ts); false: no cache. Default: defaultCacheDir(). */
  cache?: string | false;
}

/** Loads a Hugging Face tokenizer from a directory (tokenizer.json, tokenizer_config.json) or a tokenizer.json
 *  path, through the compact cache when one is set (a stale or unreadable cache file is just rebuilt).
 *  Node and Deno; elsewhere use hfTokenizerFromJson with the file contents. */
export async function loadHfTokenizer(path: string, opts: LoadOptions = {}): Promise<HfTokenizer> {
  const dir = opts.cache === undefined ? defaultCacheDir(getEnv) : opts.cache || undefined;
  if (!dir) return createHfTokenizer(await readTokenizerSpec(path));
  const files = await findTokenizerFiles(path);
  const { key, file } = await cacheKey(files.config ? [files.json, files.config] : [files.json]);
  const cached = `${dir}/${file}`;
  if ((await stat(cached))?.isFile) {
    const spec = decodeCompact(await readFile(cached), key);
    if (spec) {
      try { return await createHfTokenizer(spec); } catch { /* a damaged cache file: rebuild it below */ }
    }
  }
  const spec = await readTokenizerSpec(path, true);
  const tok = await createHfTokenizer(spec);
  const triples = tok.takeResolvedMerges();
  if (triples) {
    try {
      await fileSystem().mkdir(dir, { recursive: true });
      await writeFileAtomic(cached, encodeCompact({ ...spec, model: { ...spec.model, bytes: withResolvedMerges(spec.model.bytes, triples) } }, key));
    } catch { /* a cache that cannot be written is no error */ }
  }
  return tok;
}

/** Builds a tokenizer from tokenizer.json (and tokenizer_config.json) contents: text or parsed objects. */
export async function hfTokenizerFromJson(json: string | Record<string, unknown>,
  config?: string | Record<string, unknown> | null): Promise<HfTokenizer> {
  return createHfTokenizer(parseTokenizerJson(json, config));
}
