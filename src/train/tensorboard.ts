// TensorBoard event files (--report_to tensorboard), as Hugging Face's TensorBoardCallback writes them for ms-swift:
// <run>/runs/events.out.tfevents.<secs>.<host>, a TFRecord stream of tensorflow.Event protobufs. Each record is
// uint64 length, masked CRC32C of the length bytes, the data, masked CRC32C of the data (all little-endian). The
// first event carries file_version "brain.Event:2"; every log row then becomes one Event whose Summary holds a
// simple_value per numeric entry, tagged as Hugging Face rewrites log keys (eval_loss → eval/loss, loss → train/loss).
import protobuf from 'protobufjs/light.js';
import { fileSystem, host } from '../../runtime/platform.ts';

// tensorflow/core/util/event.proto and framework/summary.proto, only the fields written here (reflection: no codegen).
const SummaryValue = new protobuf.Type('Value').add(new protobuf.Field('tag', 1, 'string')).add(new protobuf.Field('simple_value', 2, 'float'));
const Summary = new protobuf.Type('Summary').add(SummaryValue).add(new protobuf.Field('value', 1, 'Value', 'repeated'));
export const EventType = new protobuf.Type('Event')
  .add(new protobuf.Field('wall_time', 1, 'double')).add(new protobuf.Field('step', 2, 'int64'))
  .add(new protobuf.Field('file_version', 3, 'string')).add(new protobuf.Field('summary', 5, 'Summary'));
new protobuf.Root().define('tensorflow').add(Summary).add(EventType);

// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum TFRecord uses.
const CRC32C = new Uint32Array(256).map((_x, n) => { let c = n; for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1; return c >>> 0; });
export function crc32c(b: Uint8Array): number {
  let c = 0xffffffff;
  for (const x of b) c = CRC32C[(c ^ x) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
/** TFRecord's masked CRC: rotate right by 15 and add a constant, so a CRC stored inside CRC'd data stays well spread. */
export function maskedCrc32c(b: Uint8Array): number {
  const c = crc32c(b);
  return ((((c >>> 15) | (c << 17)) >>> 0) + 0xa282ead8) >>> 0;
}

/** One TFRecord: length, its masked CRC, the data, its masked CRC. */
export function tfRecord(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(16 + data.length), dv = new DataView(out.buffer);
  dv.setBigUint64(0, BigInt(data.length), true);
  dv.setUint32(8, maskedCrc32c(out.subarray(0, 8)), true);
  out.set(data, 12);
  dv.setUint32(12 + data.length, maskedCrc32c(data), true);
  return out;
}

export interface EventFields { wall_time: number; step?: number; file_version?: string; summary?: { value: { tag: string; simple_value: number }[] } }
export const encodeEvent = (e: EventFields): Uint8Array => EventType.encode(EventType.fromObject(e)).finish();

/** Hugging Face's rewrite_logs: eval_x → eval/x, everything else train/x; only numbers are scalars. */
export function scalarsOf(row: Record<string, unknown>): { tag: string; simple_value: number }[] {
  return Object.entries(row).filter(([k, v]) => k !== 'step' && typeof v === 'number' && Number.isFinite(v))
    .map(([k, v]) => ({ tag: k.startsWith('eval_') ? `eval/${k.slice(5)}` : `train/${k}`, simple_value: v as number }));
}

/**
 * Appends events to one file. Unlike the other run files this one is not rewritten atomically: TensorBoard keeps the
 * file open and reads on from where it stopped, so records are appended (one write each); a crash can only cut the
 * last record short, which TFRecord readers detect by its CRC and skip.
 */
export class EventWriter {
  private constructor(readonly path: string) {}

  static async create(runDir: string, now = Date.now()): Promise<EventWriter> {
    const fs = fileSystem();
    await fs.mkdir(`${runDir}/runs`, { recursive: true });
    const w = new EventWriter(`${runDir}/runs/events.out.tfevents.${Math.floor(now / 1000)}.${await host.hostname()}`);
    await w.write({ wall_time: now / 1000, file_version: 'brain.Event:2' });
    return w;
  }

  private async write(e: EventFields): Promise<void> {
    await fileSystem().appendFile(this.path, tfRecord(encodeEvent(e)));
  }

  /** One logging.jsonl row as one event at its step (rows without numbers, like the final summary, are skipped). */
  async log(row: Record<string, unknown>, wallTime = Date.now() / 1000): Promise<void> {
    const value = scalarsOf(row);
    if (value.length && typeof row.step === 'number') await this.write({ wall_time: wallTime, step: row.step, summary: { value } });
  }
}
