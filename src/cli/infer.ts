// `webtune infer`: a continuation of --prompt, one templated answer to --query, or (neither given) an interactive
// chat (chat.ts). Only generated text goes to stdout; diagnostics go to stderr.
import { Command, Option } from 'commander';
import { writeStderr, writeStdout } from '../../runtime/platform.ts';
import { loadWithAdapters } from '../../models/adapters.ts';
import { loadModel, MODEL_KINDS } from '../../models/load.ts';
import { loadTinyRandom, TINY_RANDOM_NAME } from '../../models/tiny-random.ts';
import { selectBackend, type DeviceChoice } from '../backend/select.ts';
import { resolveTorchDtype, TORCH_DTYPES, weightStorage, type TorchDtype } from '../backend/dtype.ts';
import { encodePrompt, Generator, type GenerateOptions } from '../generate.ts';
import { UserError } from '../../core/errors.ts';
import { chatPrompt, sftRunArgs } from '../chat-prompt.ts';
import { BUILTIN_NAMES } from '../data/templates/chat-format.ts';
import { floatFlag, intFlag, threadsOption } from './options.ts';
import { runChat, streamAnswer } from './chat.ts';

interface InferFlags {
  model?: string;
  adapters?: string;
  tokenizer?: string;
  prompt?: string;
  query?: string;
  system?: string;
  template?: string;
  // commander keeps ms-swift's snake_case flag names as the keys
  max_new_tokens: number;
  temperature: number;
  top_k: number;
  top_p: number;
  repetition_penalty: number;
  seed?: number;
  stop_words?: string[];
  stop?: string[];
  device: DeviceChoice;
  threads?: number;
  torch_dtype?: TorchDtype;
  stats: boolean;
}

export function inferCommand(): Command {
  return new Command('infer')
    .description('generate text from a model: continue --prompt, answer --query, or chat interactively')
    .option('--model <path>', `${MODEL_KINDS}; e.g. ../shared/models/stories260K (default: the embedded ` +
      `${TINY_RANDOM_NAME}: fixed-seed random weights that exercise the pipeline; its text is gibberish)`)
    .option('--adapters <checkpoint>', 'a sft checkpoint-N: LoRA adapters are merged into the base model at load (the base ' +
      'comes from --model or the run\'s args.json); a full-training checkpoint is used as the model')
    .option('--tokenizer <path>', 'tokenizer file or directory (default: the model\'s own: tokenizer.json, else tokenizer.bin or tok*.bin)')
    .option('--prompt <text>', 'text to continue; "" starts from BOS alone, as llama2.c does')
    .option('--query <text>', 'one chat turn: the question rendered with the chat template (add_generation_prompt); ' +
      'prints the answer. Without --prompt and --query: an interactive chat on stdin')
    .option('--system <text>', 'system prompt for --query and chat (default: a checkpoint run\'s --system)')
    .option('--template <name>', 'chat template for --query and chat instead of the model\'s own (default: a checkpoint run\'s ' +
      `--template): ${BUILTIN_NAMES.join(', ')}`)
    .option('--max_new_tokens <n>', 'tokens to generate at most', intFlag(0), 256)
    .option('--temperature <t>', 'sampling temperature; 0 = greedy', floatFlag(0, 100), 1.0)
    .option('--top_k <k>', 'keep the k most likely tokens; 0 = off', intFlag(0), 0)
    .option('--top_p <p>', 'nucleus sampling mass; 1 = off', floatFlag(0, 1, { minExclusive: true }), 0.9)
    .option('--repetition_penalty <r>', 'penalty for tokens already present (Hugging Face semantics); 1 = off',
      floatFlag(0, 100, { minExclusive: true }), 1.0)
    .option('--seed <s>', 'random seed for sampling (default: time)', intFlag(0))
    .option('--stop_words <words...>', 'generation ends where the text first contains one of these; it is not printed')
    .option('--stop <words...>', 'the same as --stop_words')
    .addOption(new Option('--device <device>', 'compute backend: webgpu, wasm, or auto (webgpu when an adapter exists)')
      .choices(['auto', 'webgpu', 'wasm']).default('auto'))
    .addOption(threadsOption())
    .addOption(new Option('--torch_dtype <t>', 'weight storage: float16/bfloat16 hold the matrices in 16 bits (half the memory and ' +
      'bandwidth; f32 arithmetic); default: the --adapters run\'s args.json, else the model\'s config.json torch_dtype, else float32')
      .choices(TORCH_DTYPES))
    .option('--no-stats', 'do not print tokens/s to stderr')
    .action(async (flags: InferFlags) => {
      if (flags.prompt !== undefined && flags.query !== undefined) throw new UserError('infer: give --prompt or --query, not both');
      const chat = flags.prompt === undefined && flags.query === undefined;
      let loaded;
      if (flags.adapters) {
        const w = await loadWithAdapters(flags.adapters, { model: flags.model, tokenizer: flags.tokenizer });
        const ad = w.resolved.adapter;
        writeStderr(ad ? `webtune: merged LoRA ${ad.dir} (r ${ad.r}, alpha ${ad.alpha}) into ${w.resolved.modelPath} (from ${w.resolved.modelFrom})\n`
          : `webtune: ${flags.adapters} is a full-training checkpoint: using it as the model\n`);
        loaded = w;
      } else {
        if (!flags.model) writeStderr(`webtune: no --model given: using the embedded ${TINY_RANDOM_NAME} (random weights, gibberish output)\n`);
        loaded = flags.model ? await loadModel(flags.model, { tokenizer: flags.tokenizer }) : await loadTinyRandom();
      }
      const run = flags.adapters ? await sftRunArgs(flags.adapters) : {};
      const system = flags.system ?? run.system, template = flags.template ?? run.template;
      const stopWords = [...(flags.stop_words ?? []), ...(flags.stop ?? [])];
      const sampling: GenerateOptions = {
        maxNewTokens: flags.max_new_tokens, temperature: flags.temperature, topK: flags.top_k, topP: flags.top_p,
        repetitionPenalty: flags.repetition_penalty, seed: flags.seed,
      };
      let prompt: string | number[] = flags.prompt ?? '';
      if (flags.query !== undefined) {
        const q = await chatPrompt(loaded, { query: flags.query, system, template });
        writeStderr(`webtune: chat template: ${q.template}\n`);
        prompt = q.ids;
        sampling.stopIds = q.stopIds;
      }
      if (!chat) encodePrompt(loaded, prompt); // reject a prompt that cannot fit before starting a device
      const { ops, reason } = await selectBackend(flags.device, { threads: flags.threads });
      writeStderr(`webtune: ${reason}\n`);
      try {
        const storage = weightStorage(resolveTorchDtype(flags.torch_dtype, loaded.model, run.torch_dtype), ops);
        if (storage.note) writeStderr(`webtune: ${storage.note}\n`);
        const gen = new Generator(ops, loaded, { halfWeights: storage.half });
        if (chat) {
          await runChat({ gen, loaded, system, template, sampling, stopWords, stats: flags.stats });
          return;
        }
        const start = performance.now();
        const { tokens } = await streamAnswer(gen, prompt, sampling, stopWords, writeStdout);
        writeStdout('\n');
        const secs = (performance.now() - start) / 1000;
        if (flags.stats) writeStderr(`webtune: ${tokens} tokens in ${secs.toFixed(2)} s (${(tokens / secs).toFixed(1)} tokens/s)\n`);
      } finally {
        ops.destroy();
      }
    });
}
