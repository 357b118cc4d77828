// TensorBoard event files (src/train/tensorboard.ts) checked against independent implementations: CRC-32C's
// published check value, TensorFlow's masked-CRC formula evaluated by Python, a hand-written protobuf decoder, and,
// where a Python with the tensorboard package exists (TENSORBOARD_PYTHON, else /usr/bin/python3), TensorBoard itself.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32c, encodeEvent, EventWriter, maskedCrc32c, scalarsOf, tfRecord } from '../src/train/tensorboard.ts';
import { crc32cBitwise, decodeEvent, masked, readEvents, readRecords } from './tfrecord.ts';

const bytes = (s: string) => new TextEncoder().encode(s);

test('CRC-32C: the check value of "123456789" is 0xE3069283; masked as TensorFlow masks it', () => {
  assert.equal(crc32c(bytes('123456789')), 0xe3069283);
  assert.equal(crc32cBitwise(bytes('123456789')), 0xe3069283);
  assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa);  // RFC 3720 B.4: 32 bytes of zeros
  // ((0xE3069283 >> 15) | (0xE3069283 << 17)) + 0xA282EAD8, mod 2^32, worked by hand: 0x1C60D | 0x25060000 → 0x2507C60D
  assert.equal(masked(0xe3069283), 0xc78ab0e5);
  assert.equal(maskedCrc32c(bytes('123456789')), 0xc78ab0e5);
  for (let n = 0; n < 200; n += 7) {
    const b = Uint8Array.from({ length: n }, (_x, i) => (i * 131 + n * 17) & 255);
    assert.equal(crc32c(b), crc32cBitwise(b), `length ${n}`);
  }
});

test('masked CRC-32C equals the Python formula of tensorflow/tsl/lib/hash/crc32c.h on random inputs', (t) => {
  const inputs = Array.from({ length: 20 }, (_x, n) => Uint8Array.from({ length: n * 13 }, (_y, i) => (i * 7919 + n * 104729) % 251));
  const py = `
import json, sys
def crc32c(data):
    c = 0xFFFFFFFF
    for x in data:
        c ^= x
        for _ in range(8):
            c = (c >> 1) ^ (0x82F63B78 if c & 1 else 0)
    return c ^ 0xFFFFFFFF
def masked_crc32c(data):
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF
print(json.dumps([masked_crc32c(bytes(b)) for b in json.load(sys.stdin)]))`;
  const r = spawnSync('/usr/bin/python3', ['-c', py], { input: JSON.stringify(inputs.map((b) => [...b])), encoding: 'utf8' });
  if (r.error) { t.skip('no /usr/bin/python3'); return; }
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(inputs.map(maskedCrc32c), JSON.parse(r.stdout));
});

test('TFRecord framing and the Event protobuf decode independently', () => {
  const ev = encodeEvent({ wall_time: 1733300000.25, step: 42, summary: { value: [{ tag: 'train/loss', simple_value: 1.5 }, { tag: 'eval/loss', simple_value: 0.1 }] } });
  const first = encodeEvent({ wall_time: 1733300000, file_version: 'brain.Event:2' });
  const file = new Uint8Array([...tfRecord(first), ...tfRecord(ev)]);
  assert.deepEqual(readRecords(file).map((r) => [...r]), [[...first], [...ev]]);
  assert.deepEqual(decodeEvent(ev), { wall_time: 1733300000.25, step: 42, values: [{ tag: 'train/loss', value: 1.5 }, { tag: 'eval/loss', value: Math.fround(0.1) }] });
  assert.equal(decodeEvent(first).file_version, 'brain.Event:2');
  // a flipped bit anywhere fails a CRC
  const bad = file.slice();
  bad[bad.length - 9] ^= 1;
  assert.throws(() => readRecords(bad), /CRC/);
});

test('log rows become Hugging Face\'s tags: eval_x → eval/x, the rest train/x, numbers only', () => {
  assert.deepEqual(scalarsOf({ loss: 1.25, grad_norm: 0.5, learning_rate: 1e-4, 'memory(GiB)': 0.25, epoch: 0.5, step: 5, 'global_step/max_steps': '5/10' }),
    [{ tag: 'train/loss', simple_value: 1.25 }, { tag: 'train/grad_norm', simple_value: 0.5 }, { tag: 'train/learning_rate', simple_value: 1e-4 },
      { tag: 'train/memory(GiB)', simple_value: 0.25 }, { tag: 'train/epoch', simple_value: 0.5 }]);
  assert.deepEqual(scalarsOf({ eval_loss: 2, eval_token_acc: null, step: 5 }), [{ tag: 'eval/loss', simple_value: 2 }]);
});

test('EventWriter appends one event per row; TensorBoard\'s own reader agrees where it is installed', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'webtune-tb-'));
  const w = await EventWriter.create(dir, 1_733_300_000_000);
  await w.log({ loss: 2.5, learning_rate: 1e-4, step: 1 });
  await w.log({ last_model_checkpoint: 'x' });  // no numbers, no step: nothing written
  await w.log({ loss: 2.25, learning_rate: 5e-5, step: 2 });
  await w.log({ eval_loss: 2.0, eval_token_acc: 0.5, step: 2 });
  const [name] = readdirSync(join(dir, 'runs'));
  assert.match(name, /^events\.out\.tfevents\.1733300000\./);
  const path = join(dir, 'runs', name), events = readEvents(readFileSync(path));
  assert.deepEqual(events.map((e) => e.step), [0, 1, 2, 2]);
  assert.deepEqual(events[3].values, [{ tag: 'eval/loss', value: 2 }, { tag: 'eval/token_acc', value: 0.5 }]);

  const python = process.env.TENSORBOARD_PYTHON ?? '/usr/bin/python3';
  if (spawnSync(python, ['-c', 'import tensorboard']).status !== 0) { t.skip(`${python} has no tensorboard package (set TENSORBOARD_PYTHON)`); return; }
  const r = spawnSync(python, ['-c', `
import json, sys
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
ea = EventAccumulator(sys.argv[1]); ea.Reload()
print(json.dumps({t: [[e.step, e.value] for e in ea.Scalars(t)] for t in ea.Tags()['scalars']}))`, path], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { 'train/loss': [[1, 2.5], [2, 2.25]], 'train/learning_rate': [[1, Math.fround(1e-4)], [2, Math.fround(5e-5)]],
    'eval/loss': [[2, 2]], 'eval/token_acc': [[2, 0.5]] });
});
