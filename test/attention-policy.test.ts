// The attention kernel choice (gpu/attention/policy.ts) as a table over device profiles and phases, and the
// generator's descriptions (gpu/attention/kernel.ts) checked as text: no GPU needed. The kernels' numbers are
// checked on a device by test/train-ops.test.ts (training phases) and test/webgpu-ops.test.ts (decode).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chooseAttention, type AttentionDevice } from '../gpu/attention/policy.ts';
import { attentionGrid, attentionKernelName, attentionSource, flashTile, type AttentionKernel, type AttentionPhase } from '../gpu/attention/kernel.ts';

const lavapipe: AttentionDevice = { kind: 'cpu', subgroupSize: 8, workgroup: 32, sharedBytes: 32768 };
const denoLavapipe: AttentionDevice = { kind: 'cpu', subgroupSize: 0, workgroup: 32, sharedBytes: 32768 };  // no subgroups
const gpu: AttentionDevice = { kind: 'gpu', subgroupSize: 32, workgroup: 64, sharedBytes: 16384 };  // WebGPU's minimum storage
type Phase = Exclude<AttentionPhase, 'stats'>;

test('chooseAttention: subgroup, then blocked, then serial kernels on CPU adapters; flash on GPUs (tiled for decode and huge heads)', () => {
  const rows: [AttentionDevice, Phase, number, string][] = [  // device, phase, head dim → strategy lanes×rows (tiled: workgroup; flash: workgroup/tile)
    [lavapipe, 'forward', 8, 'subgroup 8×4'],     // stories260K's heads: 4 rows per lane
    [lavapipe, 'dq', 64, 'subgroup 8×1'],
    [lavapipe, 'dkv', 16, 'subgroup 8×2'],
    [lavapipe, 'forward', 6, 'serial 1×1'],       // not whole vec4s
    [lavapipe, 'decode', 64, 'tiled 32'],
    [denoLavapipe, 'forward', 8, 'blocked 1×8'],
    [denoLavapipe, 'dkv', 64, 'blocked 1×2'],
    [denoLavapipe, 'dq', 256, 'blocked 1×1'],
    [denoLavapipe, 'dq', 12, 'blocked 1×8'],
    [denoLavapipe, 'dkv', 2, 'serial 1×1'],
    [gpu, 'forward', 64, 'flash 64/16'],          // Qwen2.5-0.5B's heads in 16 KiB: 16 keys per tile
    [{ ...gpu, sharedBytes: 49152 }, 'dq', 64, 'flash 64/32'],
    [gpu, 'dkv', 6, 'flash 64/32'],
    [gpu, 'dkv', 512, 'tiled 64'],                // 4 rows of 512 do not fit in 16 KiB
    [gpu, 'decode', 128, 'tiled 64'],
    [{ ...gpu, tile: 64 }, 'forward', 16, 'flash 64/64'],  // KernelConfig.attentionTile
    [{ ...gpu, tile: 0 }, 'dq', 64, 'tiled 64'],
  ];
  for (const [d, phase, headDim, want] of rows) {
    const p = chooseAttention(d, { phase, headDim });
    const got = p.strategy === 'tiled' ? `tiled ${p.wg}` : p.strategy === 'flash' ? `flash ${p.wg}/${p.tile}` : `${p.strategy} ${p.lanes}×${p.rows}`;
    assert.equal(got, want, `${d.kind}/${d.subgroupSize} ${phase} hd=${headDim}`);
  }
});

const desc = (o: Partial<AttentionKernel>): AttentionKernel => ({ phase: 'forward', strategy: 'blocked', lanes: 1, rows: 2, wg: 32, tile: 0, headDim: 8,
  mask: 'causal', kv: 'f32', inPlace: false, ...o });

test('attentionSource: 16-bit K/V packed in u32 words (widened loads, no shader-f16), packed masks bind seg last, in-place decode reads q from dst', () => {
  const f16 = attentionSource(desc({ phase: 'decode', strategy: 'tiled', kv: 'f16' }));
  assert.doesNotMatch(f16, /enable f16;/);
  assert.match(f16, /var<storage, read> kc: array<u32>;/);
  assert.match(f16, /return f16x1\(vc\[\(i\) >> 1u\], \(i\) & 1u\);/);
  assert.match(attentionKernelName(desc({ phase: 'decode', kv: 'f16' })), /-f16$/);  // dispatch lets only kernels so named bind 16-bit buffers
  assert.match(attentionKernelName(desc({ phase: 'decode', kv: 'bf16' })), /-bf16$/);
  const vec = attentionSource(desc({ phase: 'decode', kv: 'bf16' }));
  assert.match(vec, /var<storage, read> kc: array<vec2<u32>>;/);
  assert.match(vec, /return bf16x4\(kc\[i\]\);/);
  assert.doesNotMatch(attentionSource(desc({})), /f16/);
  assert.match(attentionSource(desc({ phase: 'dkv', mask: 'packed' })), /@binding\(8\) var<storage, read> seg/);
  assert.match(attentionSource(desc({ phase: 'dq', mask: 'packed', strategy: 'tiled' })), /@binding\(7\) var<storage, read> seg/);
  assert.doesNotMatch(attentionSource(desc({ mask: 'causal' })), /var<storage, read> seg/);
  const inPlace = attentionSource(desc({ phase: 'decode', inPlace: true, strategy: 'tiled' }));
  assert.doesNotMatch(inPlace, /var<storage, read> q:/);
  assert.match(inPlace, /return dst\[i\];/);
  assert.match(attentionSource(desc({ strategy: 'subgroup', lanes: 8, rows: 4 })), /subgroupBroadcast/);
  assert.match(attentionSource(desc({ phase: 'decode', strategy: 'subgroup', lanes: 8, rows: 4 })), /subgroupMax\(kEnd\)/);
  assert.throws(() => attentionSource(desc({ headDim: 6 })), /divisible by 4/);
  assert.throws(() => attentionSource(desc({ phase: 'dq', inPlace: true })), /cannot run in place/);
  assert.equal(new Set((['decode', 'forward', 'stats', 'dq', 'dkv'] as const).flatMap((phase) =>
    (['serial', 'blocked', 'subgroup', 'tiled'] as const).map((strategy) => attentionKernelName(desc({ phase, strategy, lanes: 8 }))))).size, 17);
});

test('flash attention: tiles sized to the workgroup storage, rows staged in workgroup memory between barriers, no subgroups', () => {
  assert.equal(flashTile(64, 16384), 16);   // 16 rows · (2·64 floats + seg + stats) = 8384 bytes; 32 rows would need 16768
  assert.equal(flashTile(64, 32768), 32);   // capped at 32: the forward keeps a tile's scores in registers
  assert.equal(flashTile(128, 16384), 8);
  assert.equal(flashTile(512, 16384), 0);
  assert.throws(() => chooseAttention({ ...gpu, tile: 32 }, { phase: 'forward', headDim: 64 }), /16768 bytes of workgroup storage, over this device's 16384/);
  for (const phase of ['forward', 'dq', 'dkv'] as const) {
    const src = attentionSource(desc({ phase, strategy: 'flash', wg: 64, tile: 16, headDim: 64, mask: 'packed' }));
    assert.match(src, /var<workgroup> ta: array<vec4<f32>, BC \* HDV>;/);
    assert.match(src, /const BR = 64u;[^]*const BC = 16u;/);
    assert.equal(src.match(/workgroupBarrier\(\)/g)?.length, 2, phase);
    assert.match(src, /tseg\[c\] = segOf\(r\)/);
    assert.doesNotMatch(src, /subgroup|enable f16/);
    assert.match(attentionKernelName(desc({ phase, strategy: 'flash', wg: 64, tile: 16 })), /-flash.*t16$/);
  }
  assert.match(attentionSource(desc({ strategy: 'flash', tile: 8, headDim: 6 })), /var<workgroup> ta: array<f32, BC \* HDV>;/);  // scalar rows
  assert.doesNotMatch(attentionSource(desc({ strategy: 'flash', tile: 8, mask: 'causal' })), /tseg/);
  assert.match(attentionSource(desc({ phase: 'dkv', strategy: 'flash', tile: 8 })), /tst\[c\] = stats\[r \* p.nHeads \+ qh\]/);
  assert.throws(() => attentionSource(desc({ phase: 'decode', strategy: 'flash', tile: 8 })), /training phases/);
  assert.throws(() => attentionSource(desc({ strategy: 'flash', tile: 0 })), /tile/);
  // one workgroup per (block of wg rows, head, sequence); dk/dv over kv heads
  assert.deepEqual(attentionGrid(desc({ strategy: 'flash', wg: 64, tile: 16 }), 3, 70, 4, 2, 65535), [2, 4, 3]);
  assert.deepEqual(attentionGrid(desc({ strategy: 'flash', wg: 64, tile: 16, phase: 'dkv' }), 3, 70, 4, 2, 65535), [2, 2, 3]);
});

test('attentionGrid: tiled one workgroup per (head, row, sequence); the row kernels cover every block, spilling into y', () => {
  assert.deepEqual(attentionGrid(desc({ strategy: 'tiled' }), 3, 70, 4, 2, 65535), [4, 70, 3]);
  assert.deepEqual(attentionGrid(desc({ strategy: 'tiled', phase: 'dkv' }), 3, 70, 4, 2, 65535), [2, 70, 3]);
  // subgroup: one workgroup per (sequence, block of 8·4 rows, head) = 2·3·4
  assert.deepEqual(attentionGrid(desc({ strategy: 'subgroup', lanes: 8, rows: 4 }), 2, 70, 4, 2, 65535), [24, 1, 1]);
  // serial: B·T·heads invocations, 64 per workgroup, split over y past the limit
  assert.deepEqual(attentionGrid(desc({ strategy: 'serial', rows: 1 }), 8, 4096, 32, 8, 65535), [16384, 1, 1]);
  assert.deepEqual(attentionGrid(desc({ strategy: 'serial', rows: 1 }), 64, 4096, 32, 8, 65535), [65535, 3, 1]);
});
