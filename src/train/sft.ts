// `webtune sft` as a library call: data → trainer → optimizer steps with gradient accumulation, schedule,
// clipping, evaluation, logging, checkpoints and resume. Args use ms-swift's flag names (they go to args.json).
import { collectGarbage, getEnv, resolvePath, stat, writeFileAtomic } from '../../runtime/platform.ts';
import { trainingShapes } from '../../gpu/gemm/autotune.ts';
import { LlamaTrainer, type TrainBatch } from '../../models/llama-train.ts';
import { LoraConfigError, parseTargetModules, type LoraConfig } from '../../models/lora.ts';
import { LossScaler, type LossScalerState } from '../../models/loss-scaler.ts';
import type { Half } from '../../core/ops.ts';
import { selectTrainBackend, type DeviceChoice } from '../backend/select.ts';
import type { TrainOps } from '../../core/train-ops.ts';
import { dtypeLabel, halfOf, resolveTorchDtype, storedAs, type DtypeChoice } from '../backend/dtype.ts';
import type { ChatTokenizer } from '../data/chat-tokenizer.ts';
import { resolveMaxLength } from '../data/context-limit.ts';
import { encodeOptionsOf, type DataArgs } from '../data/data-args.ts';
import type { EncodedRow } from '../data/row-encoder.ts';
import type { TruncationStrategy } from '../data/truncate.ts';
import { UserError } from '../../core/errors.ts';
import { loadCheckpoint, saveCheckpoint } from './checkpoint.ts';
import { hfConfigFor } from '../../models/hf-llama.ts';
import { epochOrder, loadTrainData, makeBatch, trainedTokens, type TrainData } from './data.ts';
import { loadModelSource, type ModelSource } from './model-source.ts';
import { writeRunImages } from './images.ts';
import { checkOutputDir, JsonLog, latestCheckpoint, makeRunDir, pruneCheckpoints, removeRunDirIfEmpty } from './output.ts';
import { Progress } from './progress.ts';
import { lrAt, warmupSteps, type SchedulerType } from './schedule.ts';
import { EventWriter } from './tensorboard.ts';
import type { DistEnv } from '../dist/env.ts';
import { Group } from '../dist/comm.ts';
import { DataParallel, fingerprint, zeroStage } from '../dist/data-parallel.ts';

/** The data flags (DataArgs) are preprocess's; the rest are the trainer's. */
export interface SftArgs extends DataArgs {
  model: string; dataset: string[]; truncation_strategy: TruncationStrategy; packing: boolean; split_dataset_ratio: number;
  train_type: 'lora' | 'full'; lora_rank: number; lora_alpha: number; lora_dropout: number; target_modules: string[];
  num_train_epochs: number; max_steps: number; per_device_train_batch_size: number; gradient_accumulation_steps: number;
  learning_rate: number; lr_scheduler_type: SchedulerType; warmup_ratio: number; warmup_steps: number; optim: 'adamw_torch' | 'sgd';
  adam_beta1: number; adam_beta2: number; adam_epsilon: number; weight_decay: number; max_grad_norm: number; seed: number;
  /** recompute each layer's activations in the backward (less memory, one more forward) */
  gradient_checkpointing?: boolean;
  /** mixed precision: 16-bit storage of LoRA's frozen base or of full training's matrix copies (f32 arithmetic either
   *  way); unset: the model's config.json torch_dtype, else float32 (backend/dtype.ts defaultTorchDtype) */
  torch_dtype?: 'float32' | 'float16' | 'bfloat16';
  eval_steps?: number; logging_steps: number; save_steps?: number; save_total_limit?: number; resume_from_checkpoint?: string;
  output_dir: string;
  /** ZeRO stage across ranks (ms-swift's --deepspeed names: zero1, zero2, default-zero2, zero3, default-zero3); absent: DDP when distributed */
  deepspeed?: string;
  /** where logs go besides logging.jsonl: tensorboard (default, as ms-swift), all (the same here) or none */
  report_to?: string[];
  /** the backend to train on (select.ts selectTrainBackend); default auto */
  device?: DeviceChoice;
  /** WASM backend threads (default: the physical cores, shared among this host's ranks) */
  threads?: number;
}

/** --report_to values webtune accepts (ms-swift's others, wandb, swanlab, …, need their services) */
export const REPORT_TO = ['tensorboard', 'all', 'none'];

/**
 * --torch_dtype float16/bfloat16 (mixed precision, f32 arithmetic): LoRA's frozen base stored in 16 bits, adapters
 * and optimizer f32; full training: the kernels read 16-bit copies of the matrices, AdamW updates f32 masters.
 * float16 adds dynamic loss scaling (torch's GradScaler); bfloat16, with f32's exponent range, needs none.
 */
function mixedPrecision(a: SftArgs, ops: TrainOps, note: (s: string) => void, choice: DtypeChoice): { half: Half | false; lossScaler?: LossScaler } {
  const { dtype } = choice;
  if (dtype === 'float32') return { half: false };
  const scaler = dtype === 'float16' ? new LossScaler() : undefined, scaling = scaler ? `; dynamic loss scaling from ${scaler.scale}` : '';
  const named = dtypeLabel(choice);
  note(a.train_type === 'lora'
    ? `${named}: frozen base weights stored as ${storedAs(dtype, ops)}; arithmetic, LoRA adapters, gradients and optimizer in float32${scaling}`
    : `${named}: the kernels read copies of the matrices stored as ${storedAs(dtype, ops)}, AdamW updates float32 master weights; ` +
      `arithmetic, gradients and optimizer in float32${scaling}`);
  return { half: halfOf(dtype), lossScaler: scaler };
}

export interface SftResult {
  runDir: string;
  /** the newest checkpoint ('' when none was saved) */
  lastCheckpoint: string;
  bestCheckpoint: string | null;
  logs: Record<string, unknown>[];
  /** optimizer steps done, of totalSteps */
  step: number;
  totalSteps: number;
  /** why the run stopped early (opts.stop's reason, e.g. SIGINT) */
  interrupted?: string;
}

export interface SftOptions {
  /** train with these kernels instead of acquiring a GPU */
  ops?: TrainOps;
  note?: (s: string) => void;
  /** aborting it stops the run after the current step, with its log, images and checkpoints kept */
  stop?: AbortSignal;
  /** told once the run directory exists (before that, a failure or stop leaves nothing behind) */
  onRunDir?: (dir: string) => void;
  /** train on these sequences (a bundle's shards) instead of reading --dataset; args.max_length must be set */
  data?: SftData;
  /** sees each logging.jsonl row as it is written (a page's chart, a test following the run) */
  onLog?: (row: Record<string, unknown>) => void;
  /** sees every optimizer step: the progress line's figures */
  onStep?: (s: { step: number; total: number; loss: number; lr: number; tokensPerSec: number }) => void;
  /** --debug: sees every row kept, in reading order */
  onRow?: (tok: ChatTokenizer, row: EncodedRow, index: number) => void;
  /** this process is rank `rank` of `world` (src/dist/env.ts); rank 0 alone writes the run directory */
  dist?: DistEnv & { timeoutMs?: number; bucketFloats?: number };
}

/** The run in progress, for cleaning up after a failure. */
interface RunState { runDir?: string; history?: Record<string, unknown>[] }

/** args.json's base model: absolute, so `infer --adapters` works from any folder; what the user typed stays beside. */
async function absoluteModel(a: SftArgs): Promise<SftArgs & { model_arg: string }> {
  const local = await stat(a.model);  // else a hub id (ORG/NAME), kept as it is
  return { ...a, model: local ? resolvePath(a.model) : a.model, model_arg: a.model };
}

const round = (x: number, d = 6) => Number(x.toPrecision(d));

/** Distributed: rank r evaluates batches r, r+W, …, and the sums are added over the ranks. Under ZeRO-3 each forward
 *  gathers parameters (a collective), so every rank runs as many batches: one past the end evaluates an empty batch. */
async function evaluate(trainer: LlamaTrainer, data: SftData, group?: Group): Promise<{ loss: number; acc: number | null }> {
  let lossSum = 0, tokens = 0, correct: number | null = 0;
  const W = group?.world ?? 1, R = group?.rank ?? 0, step = trainer.B * W;
  const end = trainer.residency ? Math.ceil(data.val.length / step) * step : data.val.length;
  for (let i = R * trainer.B; i < end; i += step) {
    const r = await trainer.evaluate(makeBatch(data.val.slice(i, i + trainer.B), trainer.B, data.T, data.padId, data.packed));
    lossSum += r.lossSum; tokens += r.tokens;
    correct = r.correct === null || correct === null ? null : correct + r.correct;
  }
  if (group) {
    const [l, t, c] = await group.sum([lossSum, tokens, correct ?? -1e30]);
    [lossSum, tokens, correct] = [l, t, c < 0 ? null : c];
  }
  return { loss: lossSum / Math.max(1, tokens), acc: correct === null ? null : correct / Math.max(1, tokens) };
}

/** Every rank's bytes for trainable weights, summed gradients and optimizer state (MiB), gathered for rank 0's log. */
async function memoryPerRank(dp: DataParallel, adamw: boolean): Promise<Record<string, number>[]> {
  const m = dp.memory(adamw), W = dp.group.world, keys = ['weights', 'frozen', 'grads', 'optimizer', 'transient'] as const, n = keys.length;
  const all = new Array(n * W).fill(0);
  all.splice(n * dp.group.rank, n, ...keys.map((k) => m[k]));
  const sums = await dp.group.sum(all), mib = (x: number) => round(x / 2 ** 20, 4);
  return Array.from({ length: W }, (_x, r) => ({ rank: r, ...Object.fromEntries(keys
    .filter((k) => (k !== 'frozen' || m.frozen > 0) && (k !== 'transient' || dp.stage === 3)).map((k) => [k, mib(sums[n * r + keys.indexOf(k)])])) }));
}

/** The sequences sft trains on, as `webtune bundle` stores them (TrainData without the pipeline's counters). */
export type SftData = Omit<TrainData, 'stats'>;

/**
 * The data flags applied to the model's tokenizer: --max_length resolved against the model's context (its default),
 * then preprocess's pipeline. Shared by sft and `webtune bundle`, so a bundle trains on exactly what sft would.
 */
export async function sftData(a: SftArgs, src: ModelSource, note: (s: string) => void,
  onRow?: SftOptions['onRow'], keepText = false): Promise<{ data: TrainData; maxLength: number | undefined }> {
  const context = src.model.config.maxPositionEmbeddings;
  const len = resolveMaxLength({ maxLength: a.max_length, context, ignoreContextLimit: a.ignore_context_limit, model: a.model });
  if (len.warning) note(`warning: ${len.warning}`);
  const data = await loadTrainData(src.tok, { ...encodeOptionsOf(a), maxLength: len.maxLength, vocabSize: src.model.config.vocabSize,
    lengthLimit: { defaultFrom: len.defaultFrom, context }, datasets: a.dataset, valDatasets: a.val_dataset,
    splitDatasetRatio: a.split_dataset_ratio, packing: a.packing, seed: a.seed, shuffle: a.dataset_shuffle, keepText,
    onRow: onRow && ((r, i) => onRow(src.tok, r, i)) });
  return { data, maxLength: len.maxLength };
}

/**
 * Everything that can fail on bad input (output directory, model, data, device limits, the checkpoint to resume) is
 * checked before the run directory is created; a run that fails later loses its directory unless a checkpoint is in it.
 */
export async function runSft(a: SftArgs, opts: SftOptions = {}): Promise<SftResult> {
  const run: RunState = {};
  try {
    return await train(a, opts, run);
  } catch (e) {
    if (run.runDir) {
      if (await removeRunDirIfEmpty(run.runDir).catch(() => false)) opts.note?.(`removed ${run.runDir}: the run failed before its first checkpoint`);
      else if (run.history?.length) await writeRunImages(run.runDir, run.history).catch(() => {});  // the curve up to the failure
    }
    throw e;
  }
}

async function train(a: SftArgs, opts: SftOptions, run: RunState): Promise<SftResult> {
  const dist = opts.dist && opts.dist.world > 1 ? opts.dist : undefined, lead = !dist || dist.rank === 0;
  const note = lead ? opts.note ?? (() => {}) : () => {};
  const stage = zeroStage(a.deepspeed);
  let lora: LoraConfig | undefined;
  try {
    if (a.train_type === 'lora') lora = { rank: a.lora_rank, alpha: a.lora_alpha, dropout: a.lora_dropout, targets: parseTargetModules(a.target_modules), seed: a.seed };
  } catch (e) { throw e instanceof LoraConfigError ? new UserError(e.message) : e; }
  const reportTo = a.report_to ?? ['tensorboard'];
  const badReport = reportTo.find((r) => !REPORT_TO.includes(r));
  if (badReport) throw new UserError(`--report_to ${badReport} is not supported; valid: ${REPORT_TO.join(', ')}`);
  if (lead) await checkOutputDir(a.output_dir);  // before anything slow: an unwritable output fails first
  a = await absoluteModel(a);
  if (a.resume_from_checkpoint === 'auto') {
    // an elastic restart (or a rerun) goes on from where the last attempt saved, or starts when it saved nothing
    const found = await latestCheckpoint(a.output_dir);
    note(found ? `--resume_from_checkpoint auto: ${found}` : `--resume_from_checkpoint auto: no checkpoint under ${a.output_dir} yet, starting at step 0`);
    a = { ...a, resume_from_checkpoint: found ?? undefined };
  }
  let src: ModelSource | null = await loadModelSource(a.model);
  const dtype = resolveTorchDtype(a.torch_dtype, src.model);  // unset: the model's own, as in ms-swift; args.json records it
  a = { ...a, torch_dtype: dtype.dtype };
  const configJson = hfConfigFor(src.model, 'float32'), tokenizerFiles = src.tokenizerFiles;
  const { data, maxLength } = opts.data ? { data: opts.data, maxLength: a.max_length! } : await sftData(a, src, note, opts.onRow);
  for (const line of data.summary) note(line);
  for (const w of data.warnings) note(`warning: ${w}`);
  note(`data: ${data.train.length} training and ${data.val.length} validation sequences of up to ${data.T} tokens${data.packed ? ' (packed)' : ''}`);

  let ops = opts.ops;
  if (!ops) {
    const selected = await selectTrainBackend(a.device ?? 'auto', src.model, { threads: a.threads, ranksOnHost: dist?.localWorld });
    ops = selected.ops;
    note(selected.reason);
  }
  const B = a.per_device_train_batch_size, GA = a.gradient_accumulation_steps, T = data.T;
  // A device limit hit by the batch shape becomes one line saying which limit and what to lower.
  const limitError = (e: unknown): unknown => {
    const msg = (e as Error)?.message ?? '';
    const big = /\((\d+) bytes\) exceeds this device's maxStorageBufferBindingSize \((\d+) bytes\)/.exec(msg);
    const grid = /needs (\d+×\d+×\d+) workgroups, over the device limit of (\d+) per dimension/.exec(msg);
    if (!big && !grid) return e;
    const what = big ? `a training tensor of ${big[1]} bytes exceeds the device's maxStorageBufferBindingSize (${big[2]} bytes)`
      : `a kernel needs ${grid![1]} workgroups, over the device's maxComputeWorkgroupsPerDimension (${grid![2]})`;
    return new UserError(`${what}: lower --per_device_train_batch_size (${B}) or --max_length (${T})` +
      (a.gradient_checkpointing ? '' : ', or use --gradient_checkpointing'));
  };
  // GPUs: the GEMM tiles measured on this adapter at this run's shapes (a second or two; WEBTUNE_GEMM_TUNE=0 skips)
  if (ops.tuneGemm && getEnv('WEBTUNE_GEMM_TUNE') !== '0') {
    const t0 = performance.now(), cfg = src.model.config;
    const { lines } = await ops.tuneGemm(trainingShapes(B * T, cfg.hiddenSize, cfg.intermediateSize));
    if (lines.length) note(`gemm tiles measured on this GPU in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${lines.join('; ')}`);
  }
  let trainer: LlamaTrainer;
  try {
    trainer = new LlamaTrainer(ops, src.model, { B, T, lora, gradientCheckpointing: !!a.gradient_checkpointing, ...mixedPrecision(a, ops, note, dtype) });
  } catch (e) { throw limitError(e); }
  let group: Group | undefined, dp: DataParallel | undefined;
  if (dist) {
    // every rank loaded the same flags, model and data, or the run stops here naming the difference
    const { output_dir: _o, model: _m, model_arg: _a, dataset: _d, val_dataset: _v, ...flags } = a as SftArgs & { model_arg?: string };
    const w = src.model.weights;
    const model = fingerprint([new Float64Array(Object.values(src.model.config).filter((x): x is number => typeof x === 'number')), w.embedTokens, w.norm,
      ...(w.lmHead ? [w.lmHead] : []), ...w.layers.flatMap((l) => Object.values(l).filter((x): x is Float32Array => x instanceof Float32Array))]);
    const dataFp = fingerprint([...data.train, ...data.val].flatMap((e) => [e.ids, e.labels]));
    group = await Group.join(dist, { flags: flags as Record<string, unknown>, model, data: dataFp }, { timeoutMs: dist.timeoutMs ?? 600_000 });
    dp = new DataParallel(group, ops, trainer, stage, dist.bucketFloats);
    note(`distributed: ${dist.world} ranks (${dist.launcher}), ${stage ? `ZeRO-${stage}` : 'DDP'}, ${dp.buckets.length} gradient bucket(s)`);
  } else if (stage) note(`--deepspeed ${a.deepspeed}: one process, nothing to shard`);
  // The device (for WASM: its own memory) now holds the weights; the host copy would double this process's memory
  // (and every rank's under ZeRO-3, whose shards would save nothing on the host): let it go.
  src = null;
  await collectGarbage();
  const W = dist?.world ?? 1, R = dist?.rank ?? 0;
  const nParams = trainer.params.reduce((s, p) => s + p.size, 0);
  note(`${a.train_type}: ${nParams.toLocaleString('en')} trainable parameters${lora ? ` (rank ${lora.rank}, alpha ${lora.alpha}, ${lora.targets.join(',')})` : ''}`);

  // a global micro-batch is W·B sequences of the shared order; rank r takes the r-th of every W
  const batchesPerEpoch = Math.ceil(data.train.length / (B * W)), updatesPerEpoch = Math.ceil(batchesPerEpoch / GA);
  const total = a.max_steps > 0 ? a.max_steps : Math.max(1, Math.ceil(a.num_train_epochs * updatesPerEpoch));
  const warmup = warmupSteps(total, a.warmup_ratio, a.warmup_steps);
  const adamw = a.optim !== 'sgd';
  let step = 0, epoch = 0, batch = 0, bestMetric: number | null = null, best: string | null = null, last = a.resume_from_checkpoint ?? '';
  const history: Record<string, unknown>[] = [];
  if (a.resume_from_checkpoint) {
    const ck = await loadCheckpoint(a.resume_from_checkpoint, trainer, adamw);
    step = Number(ck.state.global_step); epoch = Number(ck.rng.epoch);
    if (trainer.scaler && ck.rng.loss_scaler) {
      const s = ck.rng.loss_scaler as LossScalerState;
      if (!(s.scale > 0) || !Number.isInteger(s.growth_tracker)) {
        throw new UserError(`--resume_from_checkpoint ${a.resume_from_checkpoint}: rng_state.json's loss_scaler is not {scale > 0, growth_tracker integer}: ${JSON.stringify(s)}`);
      }
      trainer.scaler.load(s);
    }
    // the data position in sequences, so that a run resumes on another world size or batch: the next global
    // micro-batch starts where the saved run stopped (rounded down when that falls inside one: those are seen again)
    const seen = ck.rng.sequences === undefined ? Number(ck.rng.batch) * B * W : Number(ck.rng.sequences);
    batch = Math.floor(seen / (B * W));
    if (seen % (B * W)) note(`warning: the checkpoint stopped ${seen} sequences into epoch ${epoch}, inside a global micro-batch of ${B * W} (${W} rank(s) × batch ${B}): ${seen % (B * W)} sequences are trained on again`);
    bestMetric = (ck.state.best_metric as number | null) ?? null; best = (ck.state.best_model_checkpoint as string | null) ?? null;
    history.push(...((ck.state.log_history as Record<string, unknown>[]) ?? []));
    note(`resumed from ${a.resume_from_checkpoint} at step ${step} (epoch ${epoch}, batch ${batch})`);
  }
  // Everything checked: now the run directory (as late as possible, so failed starts leave nothing behind).
  const runDir = lead ? (run.runDir = await makeRunDir(a.output_dir)) : '';
  run.history = history;
  // the resolved --max_length (the model's context by default), as ms-swift records what it trained with
  if (lead) await writeFileAtomic(`${runDir}/args.json`, `${JSON.stringify({ ...a, max_length: a.max_length ?? maxLength }, null, 2)}\n`);
  const jsonLog = lead ? new JsonLog(`${runDir}/logging.jsonl`) : null;
  const log = { append: async (row: Record<string, unknown>) => { await jsonLog?.append(row); if (lead) opts.onLog?.(row); } };
  const events = reportTo.includes('none') || !lead ? null : await EventWriter.create(runDir);
  for (const h of history) { await log.append(h); await events?.log(h); }  // a resumed run's earlier rows, so its curves are whole
  if (lead) opts.onRunDir?.(runDir);
  const orders = new Map<number, number[]>();
  const order = (e: number) => { if (!orders.has(e)) { orders.clear(); orders.set(e, epochOrder(data.train.length, a.seed, e)); } return orders.get(e)!; };
  const progress: Pick<Progress, 'update' | 'note' | 'done'> = lead ? new Progress(total, step) : { update() {}, note() {}, done() {} };
  const win = { loss: 0, steps: 0, tokens: 0, t0: performance.now() };
  const record = async (entry: Record<string, unknown>) => { history.push(entry); await log.append(entry); await events?.log(entry); };
  const state = () => ({ global_step: step, epoch: round(epoch + batch / batchesPerEpoch, 4), max_steps: total, num_train_epochs: a.num_train_epochs,
    logging_steps: a.logging_steps, eval_steps: a.eval_steps ?? null, save_steps: a.save_steps ?? null, train_batch_size: B,
    best_metric: bestMetric, best_model_checkpoint: best, log_history: history });

  const stop = opts.stop;
  const onStop = () => progress.note(`${stop!.reason}: stopping at the end of this step, then writing the log and images (again to quit at once)`);
  stop?.addEventListener('abort', onStop, { once: true });
  let interrupted: string | undefined;
  while (step < total) {
    if (stop?.aborted) { interrupted = String(stop.reason); break; }
    // one update: up to GA micro-batches, cut short at the end of an epoch (as Hugging Face does)
    const micro: (TrainBatch & { tokens: number })[] = [], globalMicro: number[][] = [];
    while (micro.length < GA) {
      if (batch >= batchesPerEpoch) { if (micro.length) break; epoch++; batch = 0; }
      const idx = order(epoch).slice(batch * B * W, (batch + 1) * B * W);
      globalMicro.push(idx);
      micro.push(makeBatch(idx.filter((_i, j) => j % W === R).map((i) => data.train[i]), B, T, data.padId, data.packed));
      batch++;
    }
    // the loss scale is 1 / the trained tokens of the whole global batch; every rank holds the data (checked at the
    // start), so each counts them itself instead of an all-reduce
    const trained = W === 1 ? micro.reduce((s, m) => s + trainedTokens(m), 0)
      : globalMicro.reduce((s, idx) => s + trainedTokens(makeBatch(idx.map((i) => data.train[i]), B * W, T, data.padId, data.packed)), 0);
    (dp ?? trainer).zeroGrad();
    let loss = 0;
    try {
      for (const [i, m] of micro.entries()) {
        // dropout: each rank its own masks (a salt per rank), while the saved counter stays the single-process count
        const m0 = trainer.micro;
        trainer.micro = m0 * W + R;
        dp?.microBatch(i === micro.length - 1);
        // one process: the gradient norm rides with the last micro-batch's read-back (ranks sum gradients first)
        loss += await trainer.forwardBackward(m, 1 / Math.max(1, trained), { norm: !dp && i === micro.length - 1 });
        trainer.micro = m0 + 1;
      }
    } catch (e) { throw limitError(e); }
    let tokensSeen = micro.reduce((s, m) => s + m.tokens, 0);
    if (dp) {
      await dp.syncGrads();
      [loss, tokensSeen] = await dp.group.sum([loss, tokensSeen]);
    }
    step++;
    const lr = lrAt(a.lr_scheduler_type, a.learning_rate, step - 1, total, warmup);
    if (!Number.isFinite(loss)) {
      const cause = step === 1 ? 'the forward pass overflows before any update: check the model weights for NaN/Inf'
        : `an earlier update diverged (learning_rate ${lr.toExponential(2)}): lower --learning_rate or keep --max_grad_norm on`;
      throw new UserError(`training stopped at step ${step}: the loss is ${loss} (${cause})`);
    }
    const { gradNorm, skipped } = await (dp ?? trainer).step({ lr, optim: adamw ? 'adamw' : 'sgd', beta1: a.adam_beta1, beta2: a.adam_beta2, eps: a.adam_epsilon,
      weightDecay: a.weight_decay, maxGradNorm: a.max_grad_norm });
    if (skipped) progress.note(`step ${step}: the gradients overflowed at loss scale ${trainer.scaler!.scale * 2}: update skipped, loss scale now ${trainer.scaler!.scale}`);
    else if (!Number.isFinite(gradNorm)) throw new UserError(`training stopped at step ${step}: the gradient norm is ${gradNorm} (loss ${loss.toFixed(4)}): lower --learning_rate`);
    win.loss += loss; win.steps++; win.tokens += tokensSeen;
    const secs = (performance.now() - win.t0) / 1000, tps = win.tokens / Math.max(secs, 1e-9);
    // the progress line shows the loss logging.jsonl gets: the mean over the logging window so far (HF's logged loss)
    const windowLoss = round(win.loss / win.steps);
    // a stopped run logs its last, partial window too, so the log and the curves end at the last step done
    const logged = step % a.logging_steps === 0 || step === total || !!stop?.aborted;
    progress.update(step, { loss: windowLoss, lr, tokensPerSec: tps }, logged);
    opts.onStep?.({ step, total, loss: windowLoss, lr, tokensPerSec: tps });
    if (logged) {
      const mem = (globalThis as { process?: NodeJS.Process }).process?.memoryUsage().rss ?? 0;
      const perRank = dp ? await memoryPerRank(dp, adamw) : undefined;
      await record({ loss: windowLoss, grad_norm: round(gradNorm), learning_rate: round(lr), 'memory(GiB)': round(mem / 2 ** 30, 3),
        ...(trainer.scaler ? { loss_scale: trainer.scaler.scale } : {}),
        ...(perRank ? { 'memory_per_rank(MiB)': perRank } : {}),
        'tokens/s': round(tps, 4), epoch: round(epoch + batch / batchesPerEpoch, 4), step, 'global_step/max_steps': `${step}/${total}` });
      Object.assign(win, { loss: 0, steps: 0, tokens: 0, t0: performance.now() });
    }
    const pause = performance.now();  // evaluation and saving do not count against tokens/s
    if (a.eval_steps && data.val.length && (step % a.eval_steps === 0 || step === total) && !stop?.aborted) {
      const ev = await evaluate(trainer, data, dp?.group);
      await record({ eval_loss: round(ev.loss), eval_token_acc: ev.acc === null ? null : round(ev.acc), epoch: round(epoch + batch / batchesPerEpoch, 4), step });
      progress.note(`step ${step}: eval_loss ${ev.loss.toFixed(4)}${ev.acc === null ? '' : `, eval_token_acc ${ev.acc.toFixed(4)}`}`);
      if (bestMetric === null || ev.loss < bestMetric) { bestMetric = ev.loss; best = `${runDir}/checkpoint-${step}`; }
    }
    if ((a.save_steps && step % a.save_steps === 0) || step === total) {
      const view = dp ? await dp.checkpointView() : trainer;  // ZeRO: the moments gathered whole, on every rank
      if (!lead) { win.t0 += performance.now() - pause; continue; }
      last = `${runDir}/checkpoint-${step}`;
      await saveCheckpoint(last, { trainer: view, baseModel: a.model, configJson, tokenizerFiles,
        trainerState: state(), scheduler: { lr_scheduler_type: a.lr_scheduler_type, learning_rate: a.learning_rate, total_steps: total, warmup_steps: warmup, last_step: step },
        rng: { seed: a.seed, epoch, batch, sequences: batch * B * W, ...(trainer.scaler ? { loss_scaler: trainer.scaler.state() } : {}) }, args: a as unknown as Record<string, unknown>, adamw });
      await pruneCheckpoints(runDir, a.save_total_limit, best);
    }
    win.t0 += performance.now() - pause;
  }
  stop?.removeEventListener('abort', onStop);
  progress.done();
  group?.close();
  if (!lead) return { runDir, lastCheckpoint: '', bestCheckpoint: null, logs: history, step, totalSteps: total, interrupted };
  await writeRunImages(runDir, history);
  await log.append({ last_model_checkpoint: last || null, best_model_checkpoint: best,
    ...(interrupted ? { interrupted, 'global_step/max_steps': `${step}/${total}` } : {}) });
  if (!opts.ops) ops.destroy();
  return { runDir, lastCheckpoint: last, bestCheckpoint: best, logs: history, step, totalSteps: total, interrupted };
}
