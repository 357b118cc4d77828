// scripts/gpu-check.sh --local: the GPU check's every step at a tiny shape on this machine (lavapipe, PyTorch on the CPU),
// so the script that only runs on a borrowed GPU machine cannot rot. Kernel tests are skipped here: the suite runs them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { ROOT } from './helpers.ts';

test('gpu-check.sh --local writes the JSON and the table, every benchmark with its PyTorch figure', () => {
  const out = mkdtempSync(join(tmpdir(), 'webtune-gpu-check-'));
  const r = spawnSync('bash', ['scripts/gpu-check.sh', '--local', '--skip-kernel-tests'], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, OUT: out }, timeout: 300_000 });
  const report = JSON.parse(readFileSync(join(out, 'gpu-check.json'), 'utf8'));
  const problems = (report.errors as string[]).filter((e) => !/No module named 'tokenizers'/.test(e));  // Debian's Python has no HF tokenizers
  assert.deepEqual(problems, [], `${r.stdout}\n${r.stderr}`);
  assert.equal(report.mode, 'local');
  assert.ok(report.adapter.description, 'the adapter is reported');
  assert.equal(report.gemm.length, 3);
  for (const g of report.gemm) assert.ok(g.webtune_tflops > 0 && g.torch.fp32_tflops > 0, JSON.stringify(g));
  // attention: every config timed, the flash ones equal to the tiled kernels' outputs, PyTorch's fwd+bwd beside them
  assert.deepEqual(report.attention.configs.map((c: { name: string }) => c.name), ['tiled', 'flash (default)', 'flash 128 rows', 'flash 32 rows', 'flash tile 8']);
  for (const c of report.attention.configs) assert.ok(c.forward_ms > 0 && c.backward_ms > 0 && c.rel_l2_vs_tiled < 1e-4, JSON.stringify(c));
  assert.match(report.attention.configs[1].kernels, /train-attention-flash-0-16s1q1w64t32\{/);
  assert.match(report.attention.configs[4].kernels, /train-attention-flash-dkv-0-16s1q1w64t8/);
  assert.ok(report.attention.torch.fp32_forward_backward_ms > 0);
  assert.deepEqual(report.sft.map((s: { train_type: string; torch_dtype: string }) => `${s.train_type} ${s.torch_dtype}`), ['lora float32', 'full float32', 'full bfloat16']);
  for (const s of report.sft) assert.ok(s.webtune_tokens_per_s > 0 && s.torch_fp32.tokens_per_s > 0 && Number.isFinite(s.webtune_loss), JSON.stringify(s));
  assert.ok(report.decode.webtune_tokens_per_s > 0 && report.decode.webtune_bf16_tokens_per_s > 0 && report.decode.torch.fp32_tokens_per_s > 0);
  assert.ok(report.tokenize.webtune_mb_per_s > 0);
  const md = readFileSync(join(out, 'gpu-check.md'), 'utf8');
  assert.match(md, /\| SFT lora step, 2×64 tokens, f32 \| [\d.]+ tokens\/s/);
  assert.match(md, /\| SFT full step, 2×64 tokens, bf16 weights, f32 masters \| [\d.]+ tokens\/s/);
  assert.match(md, /\| decode, 1 sequence/);
  assert.match(md, /\| attention fwd \+ bwd, 2×64, 4\/2 heads of 16, f32 \| flash [\d.]+ ms/);
  assert.match(md, /\| decode, --torch_dtype bfloat16/);
});
