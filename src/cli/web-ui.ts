// `webtune web-ui`: a local page to train (the sft flags as a form), watch runs, chat with checkpoints and export
// them, served with its JSON API (src/webui/). Training runs are `webtune sft` child processes of this same CLI.
import { Command, Option } from 'commander';
import { writeStderr } from '../../runtime/platform.ts';
import { serveHttp } from '../../runtime/serve.ts';
import { UserError } from '../../core/errors.ts';
import type { DeviceChoice } from '../backend/select.ts';
import { checkRoots, createWebUi } from '../webui/server.ts';
import { intFlag } from './options.ts';

interface WebUiFlags {
  host: string;
  port: number;
  output_dir: string;
  roots?: string[];
  api_key?: string;
  device: DeviceChoice;
  max_upload_bytes: number;
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;

export function webUiCommand(): Command {
  return new Command('web-ui')
    .description('a page to train, watch runs, chat with checkpoints and export them (as swift web-ui), with its JSON API')
    .option('--host <host>', 'address to listen on (other than loopback only with --api_key)', '127.0.0.1')
    .option('--port <port>', 'port to listen on (0: any free port)', intFlag(0, 65535), 7860)
    .option('--output_dir <dir>', 'where runs go (and where runs are listed from)', 'output')
    .option('--roots <dirs...>', 'the folders the page may read models and datasets from and write to (default: the working directory)')
    .option('--api_key <key>', 'require "Authorization: Bearer KEY" on /api, /v1 and /bundles (the page asks for it)')
    .addOption(new Option('--device <device>', 'backend of the chat models: webgpu, wasm, or auto (training: as webtune sft)')
      .choices(['auto', 'webgpu', 'wasm']).default('auto'))
    .option('--max_upload_bytes <n>', 'largest dataset upload; larger ones are refused with 413', intFlag(1), 32 * 2 ** 20)
    .action(async (flags: WebUiFlags) => {
      if (!LOOPBACK.test(flags.host) && !flags.api_key) {
        throw new UserError(`web-ui: --host ${flags.host} opens the page to the network: give --api_key KEY too (or use --host 127.0.0.1)`);
      }
      const { roots, outputDir } = await checkRoots(flags.roots ?? ['.'], flags.output_dir)
        .catch((e) => { throw new UserError(`web-ui: ${(e as Error).message}`); });
      const here = (rel: string) => decodeURIComponent(new URL(rel, import.meta.url).pathname);
      const ui = createWebUi({ outputDir, roots, apiKey: flags.api_key, device: flags.device, assetsDir: here('./webui'),
        launcher: { node: process.execPath, cli: here('./webtune.mjs') }, maxUploadBytes: flags.max_upload_bytes });
      const server = await serveHttp(ui.app.fetch, { hostname: flags.host, port: flags.port, requestTimeoutS: 600 });
      writeStderr(`webtune: web-ui at ${server.url}/ (runs in ${outputDir}; roots ${roots.join(', ')})\n`);
      const signal = await new Promise<string>((resolve) => {
        for (const s of ['SIGINT', 'SIGTERM'] as const) process.once(s, () => resolve(s));
      });
      writeStderr(`webtune: ${signal}: stopping runs after their current step, then shutting down\n`);
      await ui.close();
      await Promise.race([server.close(), new Promise((r) => setTimeout(r, 3000))]);
    });
}
