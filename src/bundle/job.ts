// job.json, a bundle's manifest: the sft flags it was made with, where its model and data are, and the size and
// sha256 of every other file, so a runtime refuses a tampered or truncated bundle before training on it.
import { UserError } from '../../core/errors.ts';
import { host } from '../../runtime/platform.ts';

export const JOB_FILE = 'job.json';
export const BUNDLE_FORMAT = 'webtune-bundle/1';

export interface FileEntry { size: number; sha256: string }

export interface DataEntry {
  train: string;
  val: string | null;
  /** the trainer's sequence length (sft's TrainData.T) */
  T: number;
  pad_id: number;
  packed: boolean;
  /** the data summary webtune bundle printed (rows kept and dropped, tokens, trained share) */
  summary: string[];
  warnings: string[];
  /** the WASI data stage: data.wasm rewrites the shards from this input on any WASI host (prepare-data.mjs runs it
   *  under node:wasi); null where the bundle has none (a model without a tokenizer file) */
  wasi?: { module: string; input: string } | null;
}

export interface JobManifest {
  format: typeof BUNDLE_FORMAT;
  webtune_version: string;
  created: string;
  /** the sft flags (ms-swift names) with the model and data paths relative to the bundle */
  args: Record<string, unknown>;
  model: string;
  data: DataEntry;
  files: Record<string, FileEntry>;
}

/** sha256 as hex, through the host (node:crypto; WebCrypto in pages, @noble/hashes where a page has none). */
export async function sha256Hex(data: Uint8Array): Promise<string> {
  return host.hash('sha256', (async function* () { yield data; })());
}

export async function fileEntry(data: Uint8Array): Promise<FileEntry> {
  return { size: data.length, sha256: await sha256Hex(data) };
}

/** A job.json's text as a manifest; anything else is one UserError naming `where`. */
export function parseManifest(text: string, where: string): JobManifest {
  let m: JobManifest;
  try { m = JSON.parse(text); } catch (e) { throw new UserError(`${where}: invalid JSON (${(e as Error).message.split('\n')[0]})`); }
  if (m?.format !== BUNDLE_FORMAT) throw new UserError(`${where}: not a webtune bundle manifest (format ${JSON.stringify(m?.format)}, expected ${BUNDLE_FORMAT})`);
  if (typeof m.files !== 'object' || !m.data?.train || typeof m.model !== 'string') throw new UserError(`${where}: incomplete manifest (files, model and data are required)`);
  return m;
}

/**
 * Checks every listed file through `read` (relative path → bytes, undefined when missing). The first missing,
 * truncated or altered file is one UserError naming it.
 */
export async function verifyFiles(m: JobManifest, read: (rel: string) => Promise<Uint8Array | undefined>, where: string): Promise<void> {
  for (const [rel, want] of Object.entries(m.files)) {
    const data = await read(rel);
    if (!data) throw new UserError(`${where}: ${rel} is missing (the bundle is incomplete)`);
    if (data.length !== want.size) throw new UserError(`${where}: ${rel} has ${data.length} bytes, job.json says ${want.size} (truncated or replaced)`);
    if ((await sha256Hex(data)) !== want.sha256) throw new UserError(`${where}: ${rel} does not match its sha256 in job.json (the file was altered)`);
  }
}
