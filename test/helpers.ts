// Shared by the end-to-end tests: paths, running the built CLI, and the PyTorch oracle.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { SftArgs } from '../src/train/sft.ts';

export const ROOT = process.cwd();
/** The Python with the oracles (torch, onnx, jinja2): Debian's here; scripts/gpu-check.sh points it at the GPU machine's. */
export const PYTHON = process.env.WEBTUNE_PYTHON || '/usr/bin/python3';
export const SHARED = resolve(ROOT, '../shared');
export const STORIES = resolve(SHARED, 'models/stories260K');
export const CLI = resolve(ROOT, 'dist/webtune.mjs');
export const DENO = resolve(ROOT, 'node_modules/.bin/deno');

export const expectedStory = (): string =>
  JSON.parse(readFileSync(resolve(STORIES, 'expected.json'), 'utf8')).greedy_empty_prompt_200;

export interface RunResult { status: number | null; stdout: string; stderr: string }

const env = () => ({ ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' });

/** Runs `webtune ARGS` under node (default) or deno, asynchronously so tests can run side by side. */
export function runCli(args: string[], runtime: 'node' | 'deno' = 'node', timeoutMs = 300_000, extraEnv: Record<string, string> = {}): Promise<RunResult> {
  const [cmd, pre] = runtime === 'node' ? [process.execPath, [CLI]] : [DENO, ['run', '-A', CLI]];
  return new Promise((done) => {
    const child = spawn(cmd, [...pre, ...args], { env: { ...env(), ...extraEnv }, timeout: timeoutMs });
    let stdout = '', stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    child.on('close', (status) => done({ status, stdout, stderr }));
  });
}

/** The continuation PyTorch computes with llama2.c's own semantics (test/oracle/llama2c_reference.py). */
export function oracleContinuation(prompt: string, maxNewTokens: number): { ids: number[]; text: string; prompt_ids: number[] } {
  const r = spawnSync(PYTHON, [resolve(ROOT, 'test/oracle/llama2c_reference.py'),
    resolve(STORIES, 'stories260K.bin'), resolve(STORIES, 'tok512.bin'), prompt, String(maxNewTokens)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`oracle failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** The CLI prints the continuation and one final newline. */
export const continuation = (stdout: string): string => stdout.replace(/\n$/, '');

/**
 * A small LoRA checkpoint of stories260K (rank 4, 3 steps on 16 self-cognition rows, seed 1) trained by the CLI into
 * outDir: the adapter the export tests turn into ONNX. Returns the checkpoint directory.
 */
export async function tinyLoraCheckpoint(outDir: string): Promise<string> {
  const r = await runCli(['sft', '--model', STORIES, '--dataset', `${resolve(SHARED, 'datasets/ms-swift/self_cognition.jsonl')}#16`,
    '--template', 'default', '--model_name', '小白', 'Xiaobai', '--model_author', '网调', 'Webtune', '--max_length', '48',
    '--per_device_train_batch_size', '4', '--learning_rate', '1e-2', '--max_steps', '3', '--save_steps', '3', '--lora_rank', '4',
    '--seed', '1', '--output_dir', outDir]);
  if (r.status !== 0) throw new Error(`sft failed:\n${r.stderr}`);
  return resolve(r.stdout.trim().split('\n').pop()!, 'checkpoint-3');
}

/**
 * runSft's arguments for a small LoRA run on stories260K: 16 self-cognition rows cut to 48 tokens ('right': every
 * row kept, so ranks splitting the data see distinct rows), 3 steps of 2 micro-batches; `o` overrides (output_dir
 * is the caller's).
 */
export const sftArgs = (o: Partial<SftArgs> & { output_dir: string }): SftArgs => ({
  model: STORIES, dataset: [`${resolve(SHARED, 'datasets/ms-swift/self_cognition.jsonl')}#16`], template: 'default', model_name: ['小白', 'Xiaobai'],
  model_author: ['网调', 'Webtune'], max_length: 48, truncation_strategy: 'right', packing: false, split_dataset_ratio: 0, train_type: 'lora',
  lora_rank: 4, lora_alpha: 32, lora_dropout: 0, target_modules: ['all-linear'], num_train_epochs: 1, max_steps: 3, per_device_train_batch_size: 1,
  gradient_accumulation_steps: 2, learning_rate: 1e-2, lr_scheduler_type: 'cosine', warmup_ratio: 0, warmup_steps: 0, optim: 'adamw_torch',
  adam_beta1: 0.9, adam_beta2: 0.999, adam_epsilon: 1e-8, weight_decay: 0.1, max_grad_norm: 1, seed: 5, logging_steps: 1,
  report_to: ['none'], ...o,
} as SftArgs);
