// `webtune deploy`: serves a model (and LoRA adapters by name) over an OpenAI-compatible HTTP API, under Node
// (@hono/node-server) or Deno (Deno.serve). The URL goes to stderr once listening; SIGINT/SIGTERM close cleanly.
import { resolveTorchDtype, TORCH_DTYPES, weightStorage, type TorchDtype } from '../backend/dtype.ts';
import { Command, InvalidArgumentError, Option } from 'commander';
import { writeStderr } from '../../runtime/platform.ts';
import { serveHttp } from '../../runtime/serve.ts';
import { loadWithAdapters } from '../../models/adapters.ts';
import { loadModel, MODEL_KINDS } from '../../models/load.ts';
import { selectBackend, type DeviceChoice } from '../backend/select.ts';
import { sftRunArgs } from '../chat-prompt.ts';
import { UserError } from '../../core/errors.ts';
import { createApp } from '../serve/app.ts';
import { Engine, type ServedModel } from '../serve/engine.ts';
import { DEFAULT_LIMITS } from '../serve/limits.ts';
import { floatFlag, intFlag, threadsOption } from './options.ts';

interface DeployFlags {
  model: string;
  adapters?: { name: string; path: string }[];
  served_model_name?: string;
  host: string;
  port: number;
  api_key?: string;
  device: DeviceChoice;
  threads?: number;
  max_num_seqs: number;
  torch_dtype?: TorchDtype;
  max_queue: number;
  max_request_bytes: number;
  request_timeout: number;
}

const baseName = (p: string) => p.replace(/\/+$/, '').split('/').pop() || p;

function adapterSpec(value: string, prev: { name: string; path: string }[] = []) {
  const eq = value.indexOf('=');
  const [name, path] = eq > 0 ? [value.slice(0, eq), value.slice(eq + 1)] : [baseName(value), value];
  if (!path) throw new InvalidArgumentError('expected NAME=CHECKPOINT.');
  return [...prev, { name, path }];
}

/** Loads the base model and every adapter (merged at load) as named models. */
export async function loadServedModels(flags: Pick<DeployFlags, 'model' | 'adapters' | 'served_model_name'>): Promise<ServedModel[]> {
  const created = Math.floor(Date.now() / 1000);
  const root = flags.served_model_name ?? baseName(flags.model);
  const models: ServedModel[] = [{ id: root, root, loaded: await loadModel(flags.model), created }];
  for (const a of flags.adapters ?? []) {
    if (models.some((m) => m.id === a.name)) throw new UserError(`--adapters ${a.name}=${a.path}: the name ${a.name} is already taken; choose another NAME`);
    const loaded = await loadWithAdapters(a.path, { model: flags.model });
    const chat = await sftRunArgs(a.path);
    models.push({ id: a.name, root, loaded, created, template: chat.template, system: chat.system });
  }
  return models;
}

export function deployCommand(): Command {
  return new Command('deploy')
    .description('serve a model over an OpenAI-compatible HTTP API (/v1/models, /v1/completions, /v1/chat/completions)')
    .requiredOption('--model <path>', `the model: ${MODEL_KINDS}`)
    .option('--adapters <NAME=CHECKPOINT...>', 'LoRA checkpoints served as models named NAME (merged into --model at load)', adapterSpec)
    .option('--served_model_name <name>', 'the base model\'s id (default: the --model directory name)')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on (0: any free port)', intFlag(0, 65535), 8000)
    .option('--api_key <key>', 'require "Authorization: Bearer KEY" on /v1/*')
    .addOption(new Option('--device <device>', 'compute backend: webgpu, wasm, or auto').choices(['auto', 'webgpu', 'wasm']).default('auto'))
    .addOption(threadsOption())
    .option('--max_num_seqs <n>', 'requests generated at once per model (they share the weights; each has its own KV ' +
      'cache); more wait in a FIFO queue',
      intFlag(1, 256), 4)
    .addOption(new Option('--torch_dtype <t>', 'weight and KV-cache storage: float16/bfloat16 hold them in 16 bits (f32 arithmetic); ' +
      'default: the --model\'s config.json torch_dtype, else float32').choices(TORCH_DTYPES))
    .option('--max_queue <n>', 'requests waiting beyond the generating ones; more are refused with 429 and Retry-After',
      intFlag(0), DEFAULT_LIMITS.maxQueue)
    .option('--max_request_bytes <n>', 'largest request body; larger ones are refused with 413 as they arrive',
      intFlag(1), DEFAULT_LIMITS.maxRequestBytes)
    .option('--request_timeout <seconds>', 'time a client has to send its request (headers and body); then 408 and the ' +
      'connection is closed', floatFlag(0, 86400, { minExclusive: true }), DEFAULT_LIMITS.requestTimeoutS)
    .action(async (flags: DeployFlags) => {
      const models = await loadServedModels(flags);
      const { ops, reason } = await selectBackend(flags.device, { threads: flags.threads });
      writeStderr(`webtune: ${reason}\n`);
      // one storage for all: the adapters' models share the base's
      const storage = weightStorage(resolveTorchDtype(flags.torch_dtype, models[0].loaded.model), ops);
      if (storage.note) writeStderr(`webtune: ${storage.note}\n`);
      const engine = new Engine(ops, models, { maxNumSeqs: flags.max_num_seqs, maxQueue: flags.max_queue, halfWeights: storage.half });
      const app = createApp(engine, { apiKey: flags.api_key,
        limits: { maxRequestBytes: flags.max_request_bytes, requestTimeoutS: flags.request_timeout } });
      const server = await serveHttp(app.fetch, { hostname: flags.host, port: flags.port, requestTimeoutS: flags.request_timeout });
      writeStderr(`webtune: serving ${models.map((m) => m.id).join(', ')} at ${server.url}/v1\n`);
      const proc = (globalThis as { process?: NodeJS.Process }).process;
      const signal = await new Promise<string>((resolve) => {
        for (const s of ['SIGINT', 'SIGTERM'] as const) proc?.once(s, () => resolve(s));
      });
      writeStderr(`webtune: ${signal}: shutting down\n`);
      // streams still open are cut after a grace period
      await Promise.race([server.close(), new Promise((r) => setTimeout(r, 3000))]);
      engine.close();
    });
}
