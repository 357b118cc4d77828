// What a user sees on stderr is webtune's own lines: no Dawn limit notices, no listener-leak warnings, and the
// adapter's vendor by name. Stderr is read through a shell pipe: a terminal or a pipe is what the filter can reopen
// (Node's own spawn hands a child a socket, which it cannot). The first test re-runs this file (NOISE_CHILD).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { filterNativeStderr } from '../runtime/native-stderr.ts';
import { acquireGPU, describeAdapter, releaseGPU, vendorName } from '../runtime/webgpu.ts';
import { createWebGpuOps } from '../gpu/webgpu-ops.ts';
import { CLI, STORIES } from './helpers.ts';

/** Runs `command args` with its stderr (only) through a real pipe; returns the exit status and that stderr. */
function stderrThroughPipe(command: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync('bash', ['-o', 'pipefail', '-c', '"$0" "$@" 2>&1 >/dev/null | cat', command, ...args],
    { env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp', ...env }, encoding: 'utf8' });
  return { status: r.status, stderr: r.stdout };
}

const NOTICE = 'Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit.';
const DROP = /^Warning: maxDynamic\w+ artificially reduced/;

if (process.env.NOISE_CHILD) {
  // a native-like write straight to fd 2, around a kept line; then ordinary stderr must still work
  const r = await filterNativeStderr(() => { writeSync(2, `kept before\n${NOTICE}\nkept after\n`); return 42; }, DROP);
  process.stderr.write(`returned ${r}\n`);
  process.exit(0);
}

test('filterNativeStderr drops exactly the matching lines written to fd 2 and restores stderr', () => {
  const r = stderrThroughPipe(process.execPath, [fileURLToPath(import.meta.url)], { NOISE_CHILD: '1' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, 'kept before\nkept after\nreturned 42\n');
});

test('a WebGPU CLI run prints no Dawn limit notice and no listener warning', () => {
  const r = stderrThroughPipe(process.execPath, [CLI, 'infer', '--model', STORIES, '--prompt', 'Once', '--max_new_tokens', '4', '--temperature', '0',
    '--device', 'webgpu']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /device: webgpu on /, 'the run must use WebGPU (run scripts/install-gpu-driver.sh on a machine without a GPU)');
  assert.doesNotMatch(r.stderr, /artificially reduced/);
  assert.doesNotMatch(r.stderr, /MaxListenersExceededWarning/);
});

test('many backends on one device add one uncapturederror listener, and errors still reach each', async () => {
  const gpu = await acquireGPU();
  assert.ok(gpu.ok, `WebGPU is needed: ${gpu.ok ? '' : gpu.reason}`);
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
  process.on('warning', onWarning);
  const ops = await Promise.all(Array.from({ length: 12 }, () => createWebGpuOps(gpu.gpu)));
  try {
    const buf = ops[11].upload(new Float32Array([1, 2, 3, 4]));
    gpu.gpu.device.createBuffer({ size: 4, usage: 0 }); // a validation error nobody captures
    await assert.rejects(ops[11].read(buf), /^Error: webgpu: /);
    await new Promise((r) => setTimeout(r, 10)); // warnings are emitted on a later tick
    assert.deepEqual(warnings.filter((w) => /MaxListeners/.test(w)), []);
  } finally {
    process.off('warning', onWarning);
    for (const o of ops) o.destroy();
    await releaseGPU();
  }
});

test('adapter vendors by name: PCI ids (Deno reports 65541 for Mesa) are looked up, names kept', () => {
  const cases: [string | undefined, string | undefined][] = [
    ['65541', 'Mesa'], ['0x10005', 'Mesa'], ['4318', 'NVIDIA'], ['0x10de', 'NVIDIA'], ['0x1002', 'AMD'], ['32902', 'Intel'],
    ['0x13b5', 'ARM'], ['0x5143', 'Qualcomm'], ['0x106b', 'Apple'], ['0x1af4', 'virtio'], ['4660', 'vendor 0x1234'],
    ['mesa', 'mesa'], ['nvidia', 'nvidia'], ['', undefined], ['0', undefined], [undefined, undefined],
  ];
  for (const [id, name] of cases) assert.equal(vendorName(id), name, String(id));
  assert.equal(describeAdapter({ vendor: '65541', architecture: '', device: '', description: 'llvmpipe (LLVM 15.0.6, 256 bits)' }),
    'Mesa llvmpipe (LLVM 15.0.6, 256 bits)');
  assert.equal(describeAdapter(undefined), 'unknown adapter');
});
