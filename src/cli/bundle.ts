// `webtune bundle`: sft's flags, stored with the model and the tokenized data as a folder that trains anywhere:
// `node JOB/train.mjs`, `deno run -A JOB/train.mjs`, or JOB/index.html served to a browser.
import { Command } from 'commander';
import { UserError } from '../../core/errors.ts';
import { writeStderr, writeStdout } from '../../runtime/platform.ts';
import { writeBundle } from '../bundle/write.ts';
import type { SftArgs } from '../train/sft.ts';
import { debugPrinter } from './data-flags.ts';
import { addTrainFlags } from './sft.ts';
import { MODEL_KINDS } from '../../models/load.ts';
import { VERSION } from './version.ts';

const mb = (n: number) => `${(n / 2 ** 20).toFixed(n < 2 ** 20 ? 2 : 1)} MiB`;

export function bundleCommand(): Command {
  const cmd = new Command('bundle')
    .description('write a self-contained training job (model, tokenized data, flags) that Node, Deno and browsers run')
    .option('--model <path>', `the model: ${MODEL_KINDS}`);
  return addTrainFlags(cmd)
    .requiredOption('--output_dir <dir>', 'the job folder to write (must not exist or be empty)')
    .action(async (flags: SftArgs) => {
      if (!flags.model) throw new UserError('bundle: --model is required');
      if (!flags.dataset?.length) throw new UserError('bundle: --dataset is required');
      const note = (s: string) => writeStderr(`webtune: ${s}\n`);
      const runtimeDir = decodeURIComponent(new URL('./bundle', import.meta.url).pathname);
      const res = await writeBundle(flags, { runtimeDir, version: VERSION, note, onRow: debugPrinter(flags) });
      const d = res.manifest.data;
      note(`bundle: ${Object.keys(res.manifest.files).length + 1} files, ${mb(res.bytes)}; ` +
        `${d.train ? 'train' : ''} shard of ${d.T}-token sequences${d.val ? ' + validation shard' : ''}`);
      note(`run it: node ${res.dir}/train.mjs | deno run -A ${res.dir}/train.mjs | serve ${res.dir} and open index.html`);
      writeStdout(`${res.dir}\n`);
    });
}
