// Shared by the serving tests: starting `webtune deploy` (Node or Deno) or a build-edge worker (workerd) on a
// free port, and a small LoRA adapter for stories260K.
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import OpenAI from 'openai';
import { writeSafetensors, type Tensor } from '../models/safetensors.ts';
import { CLI, DENO, ROOT, SHARED } from './helpers.ts';

export interface Server {
  /** e.g. http://127.0.0.1:PORT (no /v1) */
  base: string;
  pid: number;
  log: () => string;
  /** one retry: undici may reuse a keep-alive socket the server is just closing while the test process was busy */
  client: (apiKey?: string) => OpenAI;
  /** SIGTERM (or `signal`), SIGKILL after 5 s; resolves with the exit code (null when killed) */
  stop: (signal?: NodeJS.Signals) => Promise<number | null>;
}

const env = () => ({ ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' });

function waitFor(child: ChildProcess, pattern: RegExp, what: string, timeoutMs: number): Promise<{ match: RegExpExecArray; log: () => string }> {
  let out = '';
  return new Promise((done, fail) => {
    const timer = setTimeout(() => fail(new Error(`${what} did not start in ${timeoutMs} ms:\n${out}`)), timeoutMs);
    const on = (d: Buffer) => {
      out += d;
      const m = pattern.exec(out);
      if (m) { clearTimeout(timer); done({ match: m, log: () => out }); }
    };
    child.stdout?.on('data', on);
    child.stderr?.on('data', on);
    child.on('exit', (code) => { clearTimeout(timer); fail(new Error(`${what} exited (${code}):\n${out}`)); });
  });
}

function server(child: ChildProcess, base: string, log: () => string): Server {
  child.removeAllListeners('exit');
  const exited = new Promise<void>((r) => (child.exitCode !== null || child.signalCode !== null ? r() : child.once('exit', () => r())));
  return {
    base, pid: child.pid!, log,
    client: (apiKey = 'none') => new OpenAI({ baseURL: `${base}/v1`, apiKey, maxRetries: 1, timeout: 120_000 }),
    stop: async (signal: NodeJS.Signals = 'SIGTERM') => {
      if (child.exitCode === null) child.kill(signal);
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
      return child.exitCode;
    },
  };
}

/** `webtune deploy ARGS --port 0` under node or deno; resolves once it prints its URL. */
export async function startDeploy(args: string[], runtime: 'node' | 'deno' = 'node'): Promise<Server> {
  const [cmd, pre] = runtime === 'node' ? [process.execPath, [CLI]] : [DENO, ['run', '-A', CLI]];
  const child = spawn(cmd, [...pre, 'deploy', '--port', '0', ...args], { env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
  const { match, log } = await waitFor(child, /serving .* at (http:\/\/\S+)\/v1\n/, 'webtune deploy', 120_000);
  return server(child, match[1], log);
}

export async function freePort(): Promise<number> {
  return new Promise((done) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => done(port));
    });
  });
}

/** `workerd serve DIR/config.capnp` on a free port; resolves once /health answers. */
export async function startWorkerd(dir: string): Promise<Server> {
  const port = await freePort();
  const child = spawn(resolve(ROOT, 'node_modules/.bin/workerd'), ['serve', join(dir, 'config.capnp'), '--socket-addr', `http=127.0.0.1:${port}`],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', exited = false;
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  child.on('exit', () => (exited = true));
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try { if ((await fetch(`${base}/health`)).ok) break; } catch { /* not up yet */ }
    if (i > 300 || exited) { child.kill('SIGKILL'); throw new Error(`workerd did not start:\n${out}`); }
    await new Promise((r) => setTimeout(r, 100));
  }
  return server(child, base, () => out);
}

function rng(seed: number) {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
}

/** A PEFT LoRA checkpoint (q_proj and v_proj of every layer, r 2) with fixed random A and B strong enough to change
 *  stories260K's greedy text; `dim`/`kvDim`/`layers` are the model's. */
export function handAdapter(dim: number, kvDim: number, layers: number, scale = 0.3): string {
  const dir = mkdtempSync(join(tmpdir(), 'webtune-deploy-adapter-')), r = rng(5), rank = 2, t = new Map<string, Tensor>();
  const rand = (shape: number[]): Tensor => ({ shape, data: Float32Array.from({ length: shape[0] * shape[1] }, () => r() * scale) });
  for (let i = 0; i < layers; i++) {
    for (const [mod, out] of [['q_proj', dim], ['v_proj', kvDim]] as const) {
      t.set(`base_model.model.model.layers.${i}.self_attn.${mod}.lora_A.weight`, rand([rank, dim]));
      t.set(`base_model.model.model.layers.${i}.self_attn.${mod}.lora_B.weight`, rand([out, rank]));
    }
  }
  writeFileSync(join(dir, 'adapter_model.safetensors'), writeSafetensors(t, { format: 'pt' }));
  writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify({ peft_type: 'LORA', r: rank, lora_alpha: 8, target_modules: ['q_proj', 'v_proj'] }));
  return dir;
}

/** Open file descriptors and resident memory of a process (Linux /proc). */
export function processUsage(pid: number): { fds: number; rssMiB: number } {
  const fds = readdirSync(`/proc/${pid}/fd`).length;
  const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return { fds, rssMiB: rss ? Number(rss[1]) / 1024 : NaN };
}

/** A raw POST (for bodies the openai client would never send). */
export async function post(base: string, path: string, body: string, headers: Record<string, string> = {}) {
  const r = await fetch(`${base}${path}`, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });
  return { status: r.status, json: await r.json() as { error?: { message: string; type: string; param: string | null; code: string | null } } };
}

/** A tiny random Hugging Face llama directory (config.json, model.safetensors) with GPT-2's tokenizer.json. */
export function tinyHfModel(): string {
  const dir = mkdtempSync(join(tmpdir(), 'webtune-deploy-hf-')), r = rng(9), D = 16, F = 32, V = 50257, L = 2;
  const rand = (shape: number[], k = 0.3): Tensor => ({ shape, data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => r() * k) });
  const t = new Map<string, Tensor>([['model.embed_tokens.weight', rand([V, D], 1)], ['model.norm.weight', rand([D])]]);
  for (let i = 0; i < L; i++) {
    for (const [n, s] of [['input_layernorm', [D]], ['post_attention_layernorm', [D]], ['self_attn.q_proj', [D, D]], ['self_attn.k_proj', [8, D]],
      ['self_attn.v_proj', [8, D]], ['self_attn.o_proj', [D, D]], ['mlp.gate_proj', [F, D]], ['mlp.up_proj', [F, D]], ['mlp.down_proj', [D, F]]] as const) {
      t.set(`model.layers.${i}.${n}.weight`, rand([...s]));
    }
  }
  writeFileSync(join(dir, 'model.safetensors'), writeSafetensors(t, { format: 'pt' }));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: D,
    intermediate_size: F, num_hidden_layers: L, num_attention_heads: 2, num_key_value_heads: 1, vocab_size: V, max_position_embeddings: 64,
    rms_norm_eps: 1e-6, rope_theta: 10000, tie_word_embeddings: true, bos_token_id: 50256, eos_token_id: 50256 }));
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) cpSync(join(SHARED, 'tokenizers/gpt2', f), join(dir, f));
  return dir;
}

export interface RawReply {
  /** 0 when the server closed without answering */
  status: number;
  head: string;
  body: string;
  /** body bytes the client managed to write before the server answered or closed */
  sent: number;
  ms: number;
}

/**
 * One request over a raw socket, for clients no HTTP library would be: `head` as given (request line and
 * headers, blank line included or not), then `chunks` of body written `everyMs` apart until the server answers;
 * resolves when the server closes the connection (so a test also sees that it did; `untilClose` false: once the
 * response is complete, closing it ourselves), or fails after `timeoutMs`.
 */
export function rawRequest(base: string, head: string, { chunks = [] as Uint8Array[] | (() => Uint8Array | null), everyMs = 0, timeoutMs = 20_000,
  untilClose = true } = {}): Promise<RawReply> {
  const url = new URL(base);
  return new Promise((done, fail) => {
    const t0 = performance.now();
    let out = '', sent = 0, answered = false;
    const sock = connect(Number(url.port), url.hostname, async () => {
      sock.write(head);
      const next = typeof chunks === 'function' ? chunks : (() => { const a = [...chunks]; return () => a.shift() ?? null; })();
      for (let c = next(); c && !answered && !sock.destroyed; c = next()) {
        sock.write(c);
        sent += c.byteLength;
        if (everyMs) await new Promise((r) => setTimeout(r, everyMs));
        else await new Promise((r) => setImmediate(r));
      }
    });
    const timer = setTimeout(() => { sock.destroy(); fail(new Error(`no close after ${timeoutMs} ms; got: ${out.slice(0, 300)}`)); }, timeoutMs);
    sock.on('data', (d) => {
      out += d;
      answered = true;
      const len = /\r\ncontent-length: (\d+)\r\n/i.exec(out), at = out.indexOf('\r\n\r\n');
      if (!untilClose && len && at >= 0 && Buffer.byteLength(out.slice(at + 4)) >= Number(len[1])) sock.destroy();
    });
    sock.on('error', () => { /* EPIPE/ECONNRESET: the server closed while we wrote */ });
    sock.on('close', () => {
      clearTimeout(timer);
      const [h, ...b] = out.split('\r\n\r\n');
      done({ status: Number(/^HTTP\/1\.1 (\d+)/.exec(h)?.[1] ?? 0), head: h, body: b.join('\r\n\r\n'), sent, ms: performance.now() - t0 });
    });
  });
}
