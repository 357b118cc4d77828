// `webtune sft`: LoRA or full supervised fine-tuning with ms-swift's flag names; progress on stderr, results in
// OUTPUT_DIR/vN-YYYYMMDD-HHMMSS/ (args.json, logging.jsonl, images/, checkpoint-N/). The data flags are preprocess's
// (data-flags.ts), and so is the data summary printed before training.
import { Command, Option } from 'commander';
import { exit, getEnv, writeStderr, writeStdout } from '../../runtime/platform.ts';
import { distEnvFrom, localLaunchFrom } from '../dist/env.ts';
import { launchLocalRanks } from './local-ranks.ts';
import { DEEPSPEED_STAGES } from '../dist/data-parallel.ts';
import { UserError } from '../../core/errors.ts';
import { TORCH_DTYPES } from '../backend/dtype.ts';
import { SCHEDULERS } from '../train/schedule.ts';
import { interruptedReport, signalExitCode, stopOnSignals, type StopSignal } from '../train/interrupt.ts';
import { REPORT_TO, runSft, type SftArgs } from '../train/sft.ts';
import { addDataFlags, debugPrinter } from './data-flags.ts';
import { floatFlag, intFlag, threadsOption } from './options.ts';
import { MODEL_KINDS } from '../../models/load.ts';
import { allLoraTargets, supportedModelTypes } from '../../models/families/index.ts';

export function sftCommand(): Command {
  const cmd = new Command('sft')
    .description('supervised fine-tuning (LoRA or full) of a Llama-family model on WebGPU or WASM')
    .option('--model <path>', `the model (model_type ${supportedModelTypes().join(', ')}): ${MODEL_KINDS}`);
  return addTrainFlags(cmd)
    .option('--resume_from_checkpoint <dir>', 'continue from a checkpoint-N directory (optimizer, schedule, data position, RNG); auto: the newest under --output_dir, if any')
    .option('--output_dir <dir>', 'where vN-YYYYMMDD-HHMMSS/ run directories go', 'output')
    .addOption(new Option('--deepspeed <stage>', 'under torchrun/Slurm/NPROC_PER_NODE: shard the optimizer state (zero1), also gradients (zero2), also parameters, gathered layer by layer (zero3) across ranks; without: DDP')
      .choices(Object.keys(DEEPSPEED_STAGES)))
    .action(async (flags: SftArgs) => {
      if (!flags.model) throw new UserError('sft: --model is required');
      if (!flags.dataset?.length) throw new UserError('sft: --dataset is required');
      const launch = localLaunchFrom(getEnv);
      if (launch) { await exit(await launchLocalRanks(launch)); return; }
      const dist = distEnvFrom(getEnv);
      // torchrun --max_restarts: a restarted attempt goes on from the last checkpoint by itself
      const restart = Number(getEnv('TORCHELASTIC_RESTART_COUNT') || 0);
      if (dist && restart > 0 && !flags.resume_from_checkpoint) {
        flags = { ...flags, resume_from_checkpoint: 'auto' };
        if (dist.rank === 0) writeStderr(`webtune: torchrun restart ${restart}: resuming with --resume_from_checkpoint auto\n`);
      }
      const timeout = Number(getEnv('WEBTUNE_DIST_TIMEOUT') || 600);
      const stop = stopOnSignals();
      const res = await runSft(flags, { dist: dist ? { ...dist, timeoutMs: timeout * 1000 } : undefined, note: (s) => writeStderr(`webtune: ${s}\n`), onRow: debugPrinter(flags), stop: stop.signal, onRunDir: stop.graceful })
        .finally(stop.dispose);
      if (res.interrupted) {
        writeStderr(interruptedReport(res));
        writeStdout(`${res.runDir}\n`);
        await exit(signalExitCode(res.interrupted as StopSignal));
      }
      if (dist && dist.rank !== 0) return;  // rank 0 alone wrote the run directory and says where it is
      writeStderr(`webtune: last checkpoint ${res.lastCheckpoint}${res.bestCheckpoint ? `, best ${res.bestCheckpoint}` : ''}\n`);
      writeStdout(`${res.runDir}\n`);
    });
}

/** The data and training flags (ms-swift's names and defaults), shared by `sft` and `bundle` (which stores them). */
export function addTrainFlags(cmd: Command): Command {
  return addDataFlags(cmd)
    .addOption(new Option('--train_type <t>', 'lora: train adapters on a frozen base; full: every weight').choices(['lora', 'full']).default('lora'))
    .option('--lora_rank <r>', 'LoRA rank', intFlag(1), 8)
    .option('--lora_alpha <a>', 'LoRA alpha (scale alpha/rank)', floatFlag(0, 1e6, { minExclusive: true }), 32)
    .option('--lora_dropout <p>', 'dropout on the LoRA input', floatFlag(0, 0.99), 0.05)
    .option('--target_modules <names...>', `all-linear or ${allLoraTargets().join(',')}`, ['all-linear'])
    .option('--num_train_epochs <n>', 'epochs', floatFlag(0, 1e6, { minExclusive: true }), 3)
    .option('--max_steps <n>', 'optimizer steps (overrides --num_train_epochs; 0 = off)', intFlag(0), 0)
    .option('--per_device_train_batch_size <n>', 'sequences per micro-batch', intFlag(1), 1)
    .option('--gradient_accumulation_steps <n>', 'micro-batches per optimizer step', intFlag(1), 1)
    .option('--learning_rate <lr>', 'peak learning rate', floatFlag(0, 10), 1e-4)
    .addOption(new Option('--lr_scheduler_type <t>', 'learning-rate schedule after warmup').choices(SCHEDULERS).default('cosine'))
    .option('--warmup_ratio <r>', 'share of the steps spent warming up', floatFlag(0, 1), 0)
    .option('--warmup_steps <n>', 'warmup steps (overrides --warmup_ratio)', intFlag(0), 0)
    .addOption(new Option('--optim <o>', 'optimizer').choices(['adamw_torch', 'sgd']).default('adamw_torch'))
    .option('--adam_beta1 <b>', 'AdamW beta1', floatFlag(0, 1), 0.9)
    .option('--adam_beta2 <b>', 'AdamW beta2', floatFlag(0, 1), 0.999)
    .option('--adam_epsilon <e>', 'AdamW epsilon', floatFlag(0, 1), 1e-8)
    .option('--weight_decay <w>', 'decoupled weight decay (not on biases and norms)', floatFlag(0, 10), 0.1)
    .option('--max_grad_norm <n>', 'global gradient-norm clipping; 0 = off', floatFlag(0, 1e9), 1.0)
    .option('--gradient_checkpointing', 'recompute each layer\'s activations in the backward: less memory, about one more forward', false)
    .addOption(new Option('--torch_dtype <t>', 'mixed precision: float16/bfloat16 store LoRA\'s frozen base, or full training\'s ' +
      'weight copies (f32 masters), in 16 bits; f32 arithmetic; float16 adds dynamic loss scaling; default: the model\'s ' +
      'config.json torch_dtype (as ms-swift), else float32')
      .choices(TORCH_DTYPES))
    .addOption(new Option('--device <device>', 'compute backend: webgpu, wasm, or auto (a GPU adapter, else WASM SIMD; says which and why)')
      .choices(['auto', 'webgpu', 'wasm']).default('auto'))
    .addOption(threadsOption())
    .option('--seed <n>', 'seed for data order, LoRA init and dropout', intFlag(0, 0xffffffff), 42)
    .option('--eval_steps <n>', 'evaluate (loss, token accuracy) every n steps and at the end', intFlag(1))
    .option('--logging_steps <n>', 'log every n steps', intFlag(1), 5)
    .addOption(new Option('--report_to <targets...>', 'tensorboard: event files in <run>/runs/ (all = tensorboard here); none').choices(REPORT_TO).default(['tensorboard']))
    .option('--save_steps <n>', 'save a checkpoint every n steps (and at the end)', intFlag(1))
    .option('--save_total_limit <n>', 'keep at most n checkpoints (the best one is kept)', intFlag(1));
}
