// `webtune build-edge`: packs a model into a module Worker serving the OpenAI-compatible API (WASM backend):
// OUTPUT_DIR/ worker.mjs, kernels.wasm, tokenizer.wasm (the edge bundle), the model as data modules
// (webtune.json, config.json + model.safetensors with Hugging Face names, tokenizer.dat = tokenizer.bin or
// tokenizer.json) and a ready workerd config: `npx workerd serve OUTPUT_DIR/config.capnp`.
import { Command } from 'commander';
import { readFile, readText, stat, joinPath, writeStderr, writeStdout } from '../../runtime/platform.ts';
import { loadWithAdapters } from '../../models/adapters.ts';
import { loadModel, MODEL_KINDS, type LoadedModel } from '../../models/load.ts';
import { checkOutputDir, writeModelDir } from '../../models/model-dir.ts';
import { writeSafetensors } from '../../models/safetensors.ts';
import { hfConfigFor } from '../../models/hf-llama.ts';
import { sftRunArgs } from '../chat-prompt.ts';
import { UserError } from '../../core/errors.ts';
import type { EdgeManifest } from '../entry-edge.ts';
import { EDGE_LIMITS } from '../serve/limits.ts';
import { modelToHfTensors } from './merge-lora.ts';
import { floatFlag, intFlag } from './options.ts';

interface BuildEdgeFlags {
  model: string;
  adapters?: string;
  output_dir: string;
  served_model_name?: string;
  host: string;
  port: number;
  api_key?: string;
  max_num_seqs: number;
  max_queue: number;
  max_request_bytes: number;
  request_timeout: number;
}

const enc = (s: string) => new TextEncoder().encode(s);
const baseName = (p: string) => p.replace(/\/+$/, '').split('/').pop() || p;

/** The edge bundle built beside dist/webtune.mjs (scripts/build.mjs). */
async function edgeBundle(): Promise<Record<string, Uint8Array>> {
  const dir = decodeURIComponent(new URL('./edge/', import.meta.url).pathname);
  const out: Record<string, Uint8Array> = {};
  for (const f of ['worker.mjs', 'kernels.wasm', 'tokenizer.wasm']) {
    const p = joinPath(dir, f);
    if (!(await stat(p))?.isFile) throw new UserError(`${p}: missing; build the edge bundle first (node scripts/build.mjs)`);
    out[f] = await readFile(p);
  }
  return out;
}

/** The tokenizer as bytes the worker decodes: llama2.c's tokenizer.bin, or tokenizer.json (+ its config). */
async function tokenizerModule(loaded: LoadedModel): Promise<{ bytes: Uint8Array; kind: EdgeManifest['tokenizer']; config?: Record<string, unknown> }> {
  const f = loaded.tokenizerFile;
  if (loaded.tokenizer.kind === 'llama2c') return { bytes: await readFile(f), kind: 'llama2c' };
  const dir = (await stat(f))?.isDirectory ? f : f.includes('/') ? f.slice(0, f.lastIndexOf('/')) : '.';
  const json = (await stat(f))?.isFile ? f : joinPath(dir, 'tokenizer.json');
  const cfgFile = joinPath(dir, 'tokenizer_config.json');
  const config = (await stat(cfgFile))?.isFile ? JSON.parse(await readText(cfgFile)) as Record<string, unknown> : undefined;
  // newer models keep the chat template in its own file; the worker reads it from tokenizer_config.json
  const jinja = joinPath(dir, 'chat_template.jinja');
  if ((await stat(jinja))?.isFile) return { bytes: await readFile(json), kind: 'hf', config: { ...config, chat_template: await readText(jinja) } };
  return { bytes: await readFile(json), kind: 'hf', config };
}

function workerdConfig(f: BuildEdgeFlags): string {
  // the limits are text bindings (entry-edge.ts reads them from env): an operator can change them in place
  const bindings = [
    ...(f.api_key ? [['API_KEY', f.api_key]] : []),
    ['MAX_QUEUE', String(f.max_queue)], ['MAX_REQUEST_BYTES', String(f.max_request_bytes)], ['REQUEST_TIMEOUT', String(f.request_timeout)],
  ];
  const binding = `\n  bindings = [\n${bindings.map(([n, v]) => `    (name = "${n}", text = ${JSON.stringify(v)}),`).join('\n')}\n  ],`;
  return `# workerd config written by \`webtune build-edge\`: npx workerd serve config.capnp [--socket-addr http=HOST:PORT]
using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [ (name = "main", worker = .webtune) ],
  sockets = [ (name = "http", address = "${f.host}:${f.port}", http = (), service = "main") ],
);
const webtune :Workerd.Worker = (
  modules = [
    (name = "worker.mjs", esModule = embed "worker.mjs"),
    (name = "kernels.wasm", wasm = embed "kernels.wasm"),
    (name = "tokenizer.wasm", wasm = embed "tokenizer.wasm"),
    (name = "webtune.json", data = embed "webtune.json"),
    (name = "config.json", data = embed "config.json"),
    (name = "model.safetensors", data = embed "model.safetensors"),
    (name = "tokenizer.dat", data = embed "tokenizer.dat"),
  ],
  compatibilityDate = "2025-09-01",${binding}
);
`;
}

export function buildEdgeCommand(): Command {
  return new Command('build-edge')
    .description('write a module Worker (bundle, .wasm, weights, workerd config) serving the OpenAI-compatible API on WASM')
    .requiredOption('--model <path>', `the model: ${MODEL_KINDS}`)
    .option('--adapters <checkpoint>', 'a LoRA checkpoint merged into --model before packing')
    .requiredOption('--output_dir <dir>', 'where the worker goes (must not exist or be empty)')
    .option('--served_model_name <name>', 'the model id clients pass (default: the --adapters, else the --model directory name)')
    .option('--host <host>', 'address in config.capnp', '127.0.0.1')
    .option('--port <port>', 'port in config.capnp', intFlag(1, 65535), 8787)
    .option('--api_key <key>', 'require "Authorization: Bearer KEY" (stored as a text binding in config.capnp)')
    .option('--max_num_seqs <n>', 'requests generated at once (each has its own KV cache)', intFlag(1, 256), 4)
    .option('--max_queue <n>', 'requests waiting beyond the generating ones; more get 429 (binding MAX_QUEUE)', intFlag(0), EDGE_LIMITS.maxQueue)
    .option('--max_request_bytes <n>', 'largest request body; larger get 413 (binding MAX_REQUEST_BYTES)', intFlag(1), EDGE_LIMITS.maxRequestBytes)
    .option('--request_timeout <seconds>', 'time a client has to send its body; then 408 (binding REQUEST_TIMEOUT)',
      floatFlag(0, 86400, { minExclusive: true }), EDGE_LIMITS.requestTimeoutS)
    .action(async (flags: BuildEdgeFlags) => {
      const outDir = await checkOutputDir(flags.output_dir);
      const bundle = await edgeBundle();
      const loaded = flags.adapters ? await loadWithAdapters(flags.adapters, { model: flags.model }) : await loadModel(flags.model);
      const chat = flags.adapters ? await sftRunArgs(flags.adapters) : {};
      const tok = await tokenizerModule(loaded);
      const manifest: EdgeManifest = {
        id: flags.served_model_name ?? baseName(flags.adapters ?? flags.model), tokenizer: tok.kind, tokenizerConfig: tok.config,
        template: chat.template, system: chat.system, created: Math.floor(Date.now() / 1000), maxNumSeqs: flags.max_num_seqs,
      };
      const weights = writeSafetensors(modelToHfTensors(loaded.model), { format: 'pt' });
      await writeModelDir(outDir, {
        ...bundle,
        'webtune.json': manifest,
        'config.json': hfConfigFor(loaded.model, 'float32', { bos: loaded.tokenizer.bosId, eos: loaded.tokenizer.eosId }),
        'model.safetensors': weights,
        'tokenizer.dat': tok.bytes,
        'config.capnp': enc(workerdConfig(flags)),
        'README.md': enc(`# ${manifest.id} as an edge worker (webtune build-edge)\n\nRun locally: \`npx workerd serve ${outDir}/config.capnp\` ` +
          `(OpenAI-compatible API at http://${flags.host}:${flags.port}/v1; \`--socket-addr http=HOST:PORT\` moves it).\n`),
      }, []);
      writeStderr(`webtune: wrote ${manifest.id} (${(weights.length / 2 ** 20).toFixed(1)} MiB of weights) as an edge worker; ` +
        `run: npx workerd serve ${outDir}/config.capnp\n`);
      writeStdout(`${outDir}\n`);
    });
}
