// Entry of a bundle's train.mjs (dist/bundle/train.mjs, copied into every bundle by `webtune bundle`): runs the job
// in the folder beside it with Node or Deno, writing what `webtune sft` writes. WASM is embedded; Node finds WebGPU
// through the npm `webgpu` package when one is installed beside the bundle (Deno has WebGPU built in).
import '../runtime/wasm-embedded.ts';
import { Command, CommanderError, Option } from 'commander';
import { UserError } from '../core/errors.ts';
import { argv, exit, getEnv, readFile, runtimeName, stat, writeStderr, writeStdout } from '../runtime/platform.ts';
import { acquireGPU } from '../runtime/webgpu.ts';
import { bundleSftArgs, latestCheckpoint, openBundle } from './bundle/run.ts';
import { floatFlag, intFlag, threadsOption } from './cli/options.ts';
import { interruptedReport, signalExitCode, stopOnSignals, type StopSignal } from './train/interrupt.ts';
import { runSft } from './train/sft.ts';

interface Flags { output_dir?: string; resume?: boolean; device?: 'auto' | 'webgpu' | 'wasm'; threads?: number; max_steps?: number; num_train_epochs?: number }

const root = decodeURIComponent(new URL('.', import.meta.url).pathname).replace(/\/$/, '');
const note = (s: string) => writeStderr(`webtune: ${s}\n`);

/**
 * Refuses --device webgpu where this runtime has no adapter, with the Node hint; otherwise runSft picks the kernels
 * as `webtune sft` does (select.ts: a GPU adapter, else WASM SIMD, weighing the model's size).
 */
async function checkDevice(device: NonNullable<Flags['device']>): Promise<void> {
  if (device === 'wasm') return;
  const gpu = await acquireGPU();
  const hint = runtimeName === 'node' && !gpu.ok && /webgpu/.test(gpu.reason) ? ` (Node: \`npm i --prefix ${root} webgpu\` installs Dawn beside the bundle)` : '';
  if (device === 'webgpu' && !gpu.ok) throw new UserError(`--device webgpu: ${gpu.reason}${hint}`);
  if (hint) note(`no WebGPU here${hint}`);
}

async function run(f: Flags): Promise<void> {
  const bundle = await openBundle(async (rel) => ((await stat(`${root}/${rel}`))?.isFile ? readFile(`${root}/${rel}`) : undefined), root);
  const outputDir = f.output_dir ?? `${root}/output`;
  const resumeFrom = f.resume ? await latestCheckpoint(outputDir) : undefined;
  if (f.resume && !resumeFrom) note(`--resume: no checkpoint under ${outputDir} yet; starting from step 0`);
  const args = bundleSftArgs(bundle.manifest, { root, outputDir, maxSteps: f.max_steps, numTrainEpochs: f.num_train_epochs, resumeFrom });
  const device = f.device ?? args.device ?? 'auto';
  await checkDevice(device);
  const stop = stopOnSignals();
  const res = await runSft({ ...args, device, ...(f.threads ? { threads: f.threads } : {}) }, { data: bundle.data, note, stop: stop.signal, onRunDir: stop.graceful }).finally(stop.dispose);
  if (res.interrupted) {
    writeStderr(interruptedReport(res));
    writeStdout(`${res.runDir}\n`);
    await exit(signalExitCode(res.interrupted as StopSignal));
  }
  note(`last checkpoint ${res.lastCheckpoint}${res.bestCheckpoint ? `, best ${res.bestCheckpoint}` : ''}`);
  writeStdout(`${res.runDir}\n`);
}

const program = new Command('train.mjs')
  .description(`run the webtune training job in ${root} (Node: node train.mjs; Deno: deno run -A train.mjs)`)
  .option('--output_dir <dir>', 'where vN-YYYYMMDD-HHMMSS/ run directories go (default: output/ in the bundle)')
  .option('--resume', 'continue from the newest checkpoint under --output_dir', false)
  .addOption(new Option('--device <d>', 'auto: a GPU adapter when there is one, else WASM SIMD (faster than a CPU WebGPU adapter) (default: the job\'s --device)').choices(['auto', 'webgpu', 'wasm']))
  .addOption(threadsOption())
  .option('--max_steps <n>', 'optimizer steps (overrides the job\'s)', intFlag(1))
  .option('--num_train_epochs <n>', 'epochs (overrides the job\'s)', floatFlag(0, 1e6, { minExclusive: true }))
  .exitOverride()
  .configureOutput({ writeOut: (s) => writeStdout(s), writeErr: (s) => writeStderr(s),
    outputError: (s, write) => write(`webtune: ${s.trimEnd()}\n`) })
  .action(run);

let code = 0;
try {
  await program.parseAsync(argv(), { from: 'user' });
} catch (e) {
  if (e instanceof CommanderError) code = e.exitCode;
  else {
    writeStderr(`webtune: error: ${((e as Error)?.message ?? String(e)).split('\n')[0]}\n`);
    if (getEnv('WEBTUNE_DEBUG')) writeStderr(`${(e as Error)?.stack}\n`);
    code = 1;
  }
}
await exit(code);
