// `--model ORG/NAME` from the Hugging Face hub, into huggingface_hub's cache layout so both share downloads:
//   $HF_HUB_CACHE (or $HUGGINGFACE_HUB_CACHE, else $HF_HOME/hub, HF_HOME defaulting to ~/.cache/huggingface)
//     models--ORG--NAME/refs/main                 the commit main pointed at
//     models--ORG--NAME/blobs/<etag>              file contents, named by their ETag (sha256 for LFS files)
//     models--ORG--NAME/snapshots/<commit>/<file> relative symlinks to the blobs
// Endpoint $HF_ENDPOINT (default https://huggingface.co): the file list from /api/models/ORG/NAME/revision/main,
// files from /ORG/NAME/resolve/<commit>/<file> (redirects followed). Only what a model needs is fetched; interrupted
// downloads resume from blobs/<etag>.incomplete with a Range request; each file is checked against its ETag (sha256
// for LFS files, the git blob sha1 otherwise). HF_TOKEN is sent as a bearer token; HF_HUB_OFFLINE=1 reads the cache.
// Node and Deno (files and hashing through runtime/platform.ts); an edge worker gets its model files bundled instead.
import { progressBar, StatusLine } from '../runtime/progress-line.ts';
import { fileSystem, getEnv, hashFile as hashOf, joinPath, readText, stat, writeFileAtomic, writeStderr } from '../runtime/platform.ts';
import { UserError } from '../core/errors.ts';

const HUB_ID = /^[A-Za-z0-9][\w.-]*\/[A-Za-z0-9][\w.-]*$/;
const MODEL_FILES = /^(config\.json|generation_config\.json|tokenizer\.json|tokenizer_config\.json|special_tokens_map\.json|tokenizer\.model|chat_template\.jinja|tok[^/]*\.bin)$/;

/** True when `model` names a hub repository (ORG/NAME) rather than a local path. */
export const isHubId = (model: string): boolean => HUB_ID.test(model) && !model.includes('..');

export function hubCacheDir(): string {
  const explicit = getEnv('HF_HUB_CACHE') || getEnv('HUGGINGFACE_HUB_CACHE');
  if (explicit) return explicit.replace(/\/+$/, '');
  const home = getEnv('HF_HOME') || joinPath(getEnv('XDG_CACHE_HOME') || joinPath(getEnv('HOME') || getEnv('USERPROFILE') || '.', '.cache'), 'huggingface');
  return joinPath(home.replace(/\/+$/, ''), 'hub');
}

const endpoint = () => (getEnv('HF_ENDPOINT') || 'https://huggingface.co').replace(/\/+$/, '');
const offline = () => ['1', 'true', 'yes', 'on'].includes((getEnv('HF_HUB_OFFLINE') ?? '').toLowerCase());
const authHeaders = (): Record<string, string> => {
  const token = getEnv('HF_TOKEN') || getEnv('HUGGING_FACE_HUB_TOKEN');
  return token ? { authorization: `Bearer ${token}` } : {};
};

/** The files of a repository that loading a model needs: config, tokenizer, and one weight format. */
export function neededFiles(files: string[]): string[] {
  const top = files.filter((f) => !f.includes('/'));
  const pick = (re: RegExp) => files.filter((f) => re.test(f));
  const onnx = ['onnx/model.onnx', 'model.onnx', 'onnx/model_fp16.onnx', 'model_fp16.onnx'].find((f) => files.includes(f));
  let weights = pick(/^[^/]+\.safetensors$/).filter((f) => f !== 'adapter_model.safetensors');
  if (weights.length) weights.push(...pick(/^model\.safetensors\.index\.json$/));
  else if (onnx) weights = files.filter((f) => f === onnx || (f.startsWith(`${onnx}_data`) && /^_data(_\d+)?$/.test(f.slice(onnx.length))));
  else weights = top.filter((f) => f.endsWith('.bin') && !MODEL_FILES.test(f)); // llama2.c checkpoints
  return [...new Set([...top.filter((f) => MODEL_FILES.test(f)), ...weights])];
}

function failFor(id: string, status: number, what: string): never {
  if (status === 404) throw new UserError(`--model ${id}: not found on ${endpoint()}`);
  if (status === 401 || status === 403) {
    throw new UserError(`--model ${id}: access denied by ${endpoint()} (HTTP ${status}): a gated or private repository needs a token with access (set HF_TOKEN)`);
  }
  throw new UserError(`--model ${id}: ${what} failed with HTTP ${status} from ${endpoint()}`);
}

async function request(id: string, url: string, init: RequestInit, what: string): Promise<Response> {
  try {
    return await fetch(url, { ...init, headers: { ...authHeaders(), ...(init.headers as Record<string, string> | undefined) } });
  } catch (e) {
    throw new UserError(`--model ${id}: cannot reach ${endpoint()} for ${what} (${(e as Error).message}); set HF_HUB_OFFLINE=1 to use the cache`);
  }
}

const cleanEtag = (e: string | null) => (e ?? '').replace(/^W\//, '').replace(/"/g, '');

/** HEAD of a file: its ETag (X-Linked-Etag for LFS files behind a redirect) and size; relative redirects followed. */
async function headFile(id: string, url: string, file: string): Promise<{ etag: string; size?: number }> {
  for (let hops = 0; hops < 5; hops++) {
    const res = await request(id, url, { method: 'HEAD', redirect: 'manual' }, file);
    const linked = res.headers.get('x-linked-etag'), location = res.headers.get('location');
    if (res.status >= 300 && res.status < 400 && !linked && location?.startsWith('/')) { url = new URL(location, url).href; continue; }
    if (res.status >= 400) failFor(id, res.status, `HEAD ${file}`);
    const etag = cleanEtag(linked ?? res.headers.get('etag'));
    if (!etag) throw new UserError(`--model ${id}: ${endpoint()} sent no ETag for ${file}`);
    const size = Number(res.headers.get('x-linked-size') ?? res.headers.get('content-length') ?? NaN);
    return { etag, size: Number.isFinite(size) ? size : undefined };
  }
  throw new UserError(`--model ${id}: too many redirects for ${file}`);
}

const fmtBytes = (n: number) => n < 1024 ? `${n} B` : n < 1 << 20 ? `${(n / 1024).toFixed(1)} kB` : `${(n / 2 ** 20).toFixed(1)} MB`;

/** One file's download progress on stderr (a whole line per file when stderr is not a terminal). */
class DownloadBar {
  private readonly line = new StatusLine();
  private readonly start = performance.now();
  private lastDraw = 0;
  /** `from`: bytes already there when a download resumes (not counted in the rate) */
  constructor(private readonly name: string, private readonly total?: number, private readonly from = 0) {}
  update(done: number, final = false) {
    const now = performance.now();
    if (!final && (!this.line.tty || now - this.lastDraw < 100)) return;
    this.lastDraw = now;
    const secs = (now - this.start) / 1000, rate = (done - this.from) / Math.max(secs, 1e-3);
    const bar = this.total ? `${progressBar(done / this.total, 20)} ${(Math.min(1, done / this.total) * 100).toFixed(0)}% ` : '';
    this.line.show(`webtune: download ${this.name} ${bar}${fmtBytes(done)}${this.total ? `/${fmtBytes(this.total)}` : ''} ${fmtBytes(rate)}/s`, final);
    if (final) this.line.done();
  }
}

/** The checksum an ETag stands for: sha256 (64 hex digits, LFS) or the git blob sha1 (40 hex digits). */
function expectedHash(etag: string): { algo: 'sha256' | 'sha1'; hex: string } | undefined {
  if (/^[0-9a-f]{64}$/.test(etag)) return { algo: 'sha256', hex: etag };
  if (/^[0-9a-f]{40}$/.test(etag)) return { algo: 'sha1', hex: etag };
  return undefined;
}

async function hashFile(path: string, algo: 'sha256' | 'sha1', size: number): Promise<string> {
  return hashOf(path, algo, algo === 'sha1' ? `blob ${size}\0` : ''); // git's blob object header
}

/** Downloads one file into blobs/<etag>, resuming a `.incomplete` part; retries a cut connection a few times. */
async function downloadBlob(id: string, url: string, file: string, blob: string, size?: number): Promise<void> {
  const fs = fileSystem(), part = `${blob}.incomplete`;
  for (let attempt = 0; ; attempt++) {
    const have = (await stat(part))?.size ?? 0;
    const res = await request(id, url, { headers: have ? { range: `bytes=${have}-` } : {}, redirect: 'follow' }, file);
    if (res.status === 416 && size !== undefined && have === size) { await res.body?.cancel(); break; } // already whole
    if (res.status >= 400) failFor(id, res.status, `download of ${file}`);
    const resumed = res.status === 206;
    const total = resumed ? have + Number(res.headers.get('content-length') ?? NaN) : Number(res.headers.get('content-length') ?? size ?? NaN);
    const handle = await fs.openWrite(part, resumed);
    let done = resumed ? have : 0;
    const bar = new DownloadBar(file, Number.isFinite(total) ? total : size, done);
    try {
      const reader = res.body!.getReader();
      for (;;) {
        const { done: end, value } = await reader.read();
        if (end) break;
        await handle.write(value);
        done += value.byteLength;
        bar.update(done);
      }
    } catch (e) {
      await handle.close();
      if (attempt < 3) { writeStderr(`webtune: download of ${file} interrupted at ${fmtBytes(done)} (${(e as Error).message}); resuming\n`); continue; }
      throw new UserError(`--model ${id}: download of ${file} interrupted (${fmtBytes(done)} kept in ${part}); run again to resume`);
    }
    await handle.close();
    bar.update(done, true);
    if (size !== undefined && done < size && attempt < 3) continue; // a short body: resume
    break;
  }
}

async function linkSnapshot(repo: string, commit: string, file: string, etag: string): Promise<void> {
  const fs = fileSystem(), target = joinPath(repo, 'snapshots', commit, file);
  await fs.mkdir(target.slice(0, target.lastIndexOf('/')), { recursive: true });
  await fs.rm(target, { force: true });
  const rel = `${'../'.repeat(file.split('/').length + 1)}blobs/${etag}`;
  try { await fs.symlink!(rel, target); } catch { await fs.copyFile(joinPath(repo, 'blobs', etag), target); } // no symlinks (Windows, a MemoryFs)
}

/** Fetches (or finds in the cache) the snapshot of `id` at main and returns its directory. */
export async function snapshotDownload(id: string): Promise<string> {
  const [org, name] = id.split('/'), repo = joinPath(hubCacheDir(), `models--${org}--${name}`), ref = joinPath(repo, 'refs/main');
  const cached = async () => {
    const commit = (await stat(ref))?.isFile ? (await readText(ref)).trim() : '';
    const dir = joinPath(repo, 'snapshots', commit);
    return commit && (await stat(dir))?.isDirectory ? dir : undefined;
  };
  if (offline()) {
    const dir = await cached();
    if (!dir) throw new UserError(`--model ${id}: not in the cache (${repo}) and HF_HUB_OFFLINE is set`);
    return dir;
  }
  const api = `${endpoint()}/api/models/${id}/revision/main`;
  const res = await request(id, api, {}, 'the file list');
  if (!res.ok) failFor(id, res.status, 'the file list');
  let info: { sha?: string; siblings?: { rfilename: string }[] };
  try { info = await res.json(); } catch { throw new UserError(`--model ${id}: ${api} did not return JSON`); }
  const commit = info.sha, files = neededFiles((info.siblings ?? []).map((s) => s.rfilename));
  if (!commit || !/^[\w.-]+$/.test(commit)) throw new UserError(`--model ${id}: ${api} names no commit`);
  if (!files.length) throw new UserError(`--model ${id}: the repository has no model files webtune reads (config.json, *.safetensors, onnx/model.onnx, tokenizer)`);
  const fs = fileSystem();
  await fs.mkdir(joinPath(repo, 'blobs'), { recursive: true });
  for (const file of files) {
    if (await stat(joinPath(repo, 'snapshots', commit, file))) continue; // present (the link resolves)
    const url = `${endpoint()}/${id}/resolve/${commit}/${file.split('/').map(encodeURIComponent).join('/')}`;
    const { etag, size } = await headFile(id, url, file);
    const blob = joinPath(repo, 'blobs', etag);
    if (!(await stat(blob))?.isFile) {
      await downloadBlob(id, url, file, blob, size);
      const part = `${blob}.incomplete`, got = (await stat(part))?.size ?? 0, want = expectedHash(etag);
      if (want) {
        const hex = await hashFile(part, want.algo, got);
        if (hex !== want.hex) {
          await fs.rm(part, { force: true });
          throw new UserError(`--model ${id}: checksum mismatch for ${file} (${want.algo} ${hex}, expected ${want.hex}); the download was discarded`);
        }
      }
      await fs.rename(part, blob);  // not writeAtomic: the .part keeps its name across runs, so a broken download resumes
    }
    await linkSnapshot(repo, commit, file, etag);
  }
  await fs.mkdir(joinPath(repo, 'refs'), { recursive: true });
  await writeFileAtomic(ref, commit);
  return joinPath(repo, 'snapshots', commit);
}

/** A --model value as a local path: itself when it exists or is not ORG/NAME, else the hub snapshot's directory. */
export async function resolveModelPath(model: string): Promise<string> {
  if (!isHubId(model) || await stat(model)) return model;
  return snapshotDownload(model);
}
