// data.wasm: a bundle's data stage as a WASI command module, so any WASI host can prepare a bundle's training data.
//   data.wasm JOB [OUT]     (guest paths inside preopened folders; OUT defaults to JOB)
// reads JOB/data/rows.bin (the rows `webtune bundle` rendered with the chat template, in training order, and the
// tokenizer: the llama2.c file it names or a tokenizer.json engine set-up; see src/bundle/data-input.ts), tokenizes
// the rows with asm/tokenizer, packs them with asm/collate when the job packs, and writes OUT/data/train.shard (and
// val.shard): the files `webtune bundle` wrote.
// Phase 1 (reading, tokenizing) allocates with the runtime; phase 2 (packing, shards, writing) only from the
// collator's arena, which starts above everything phase 1 allocated, and allocates nothing with the runtime.
import { args, resolve, join, readAll, readLength, writeAtomic, say, sayBytes, sayInt, endLine, Place } from './wasi';
import { Reader, Ints, readRow, setSpecials, loadLlama2cFile, loadHf, readAddedTokens } from './rows';
import { packPlan, packFill } from '../collate/pack';
import { alloc, reset, arenaFloor } from '../collate/arena';
import { encodeShard, shardLength } from './shard';

const INPUT = 'data/rows.bin';

class Split {
  ids: Ints = new Ints(4096);
  labels: Ints = new Ints(4096);
  /** token offset of each row, and the end */
  offsets: Ints = new Ints(256);
  constructor(public out: Place, public rel: usize, public relLen: i32, public rows: i32) {}
}

function checkMagic(p: usize, n: i32, name: Place): void {
  // "WTROWS01"
  const ok = n >= 8 && load<u32>(p) == 0x4f525457 && load<u32>(p + 4) == 0x31305357;
  if (!ok) { sayBytes(name.path, name.len); say(': not a webtune data-stage input (no WTROWS01 header)'); endLine(1); }
}

function main(): void {
  const argv = args();
  if (argv.length < 1 || argv.length > 2) { say('usage: data.wasm JOB [OUT] (the bundle folder and where to write data/*.shard; preopen both)'); endLine(2); }
  const job = resolve(argv[0].path, argv[0].len);
  const outArg = argv[argv.length - 1];
  const out = resolve(outArg.path, outArg.len);
  const inputPlace = join(job, INPUT);
  const input = readAll(inputPlace), inputLen = readLength;
  checkMagic(input, inputLen, inputPlace);
  const r = new Reader(input, inputLen, INPUT);
  r.at += 8;
  const maxLength = r.i32(), strategy = r.i32(), packing = r.i32(), padId = r.i32();
  setSpecials(r.i32(), r.i32());
  const kind = r.i32();
  if (kind == 0) {
    const tokPath = r.bytes(), tokLen = r.lastLen, vocabSize = r.i32();
    const tok = readAll(join(job, String.UTF8.decodeUnsafe(tokPath, <usize>tokLen)));
    loadLlama2cFile(tok, readLength, vocabSize, tokPath, tokLen);
  } else if (kind == 1) {
    loadHf(r);
  } else {
    say(INPUT); say(': tokenizer kind '); sayInt(kind); say(' (0 llama2.c, 1 tokenizer.json)'); endLine(1);
  }
  readAddedTokens(r);
  const nSplits = r.u32();
  const splits = new Array<Split>();
  for (let i: u32 = 0; i < nSplits; i++) {
    const p = r.bytes(), n = r.lastLen;
    splits.push(new Split(join(out, String.UTF8.decodeUnsafe(p, <usize>n)), p, n, <i32>r.u32()));
  }
  // phase 1: every row tokenized, in order
  for (let k = 0; k < splits.length; k++) {
    const s = splits[k];
    for (let i = 0; i < s.rows; i++) {
      s.offsets.push(s.ids.len);
      readRow(r, maxLength, strategy, i, s.ids, s.labels);
    }
    s.offsets.push(s.ids.len);
  }
  if (r.at != r.base + <usize>r.len) { say(INPUT); say(': '); sayInt(<i64>(r.base + <usize>r.len - r.at)); say(' bytes after the last row'); endLine(1); }
  // phase 2: sequences and shards in the collator's arena, above the runtime's last allocation
  arenaFloor(heap.alloc(16) + 16);
  for (let k = 0; k < splits.length; k++) {
    reset();
    const s = splits[k];
    const shard = packing ? packed(s, maxLength, padId) : plain(s);
    writeAtomic(s.out, shard, shardLength, alloc(<usize>s.out.len + 4));
    say('wrote '); sayBytes(outArg.path, outArg.len); say('/'); sayBytes(s.rel, s.relLen); say(' ('); sayInt(s.rows); say(' rows, '); sayInt(s.ids.len); say(' tokens)'); endLine(0);
  }
}

/** One sequence per row (src/train/data.ts examples without packing): positions 0.., segment 1. */
function plain(s: Split): usize {
  const n = s.rows, tokens = s.ids.len;
  const lengths = alloc(<usize>n << 2), pos = alloc(<usize>tokens << 2), seg = alloc(<usize>tokens << 2);
  for (let i = 0; i < n; i++) {
    const a = s.offsets.at(i), b = s.offsets.at(i + 1);
    store<i32>(lengths + (<usize>i << 2), b - a);
    for (let t = a; t < b; t++) { store<i32>(pos + (<usize>t << 2), t - a); store<i32>(seg + (<usize>t << 2), 1); }
  }
  return encodeShard(n, s.offsets.ptr, lengths, s.ids.ptr, s.labels.ptr, pos, seg);
}

/** Packed sequences as src/data/collate.ts pack(rows, {maxLength, padId, padTo: 'longest'}) lays them out, each
 *  cut after its last real token (src/train/data.ts examples). */
function packed(s: Split, maxLength: i32, padId: i32): usize {
  const n = s.rows;
  if (n == 0) return encodeShard(0, 0, 0, 0, 0, 0, 0);
  const lengths = alloc(<usize>n << 2), bins = alloc(<usize>n << 2);
  for (let i = 0; i < n; i++) store<i32>(lengths + (<usize>i << 2), s.offsets.at(i + 1) - s.offsets.at(i));
  const count = packPlan(n, lengths, maxLength, bins);
  if (count < 0) { say('row '); sayInt(-1 - count); say(' is longer than max_length '); sayInt(maxLength); endLine(1); }
  const used = alloc(<usize>count << 2);
  memory.fill(used, 0, <usize>count << 2);
  for (let i = 0; i < n; i++) {
    const u = used + (<usize>load<i32>(bins + (<usize>i << 2)) << 2);
    store<i32>(u, load<i32>(u) + load<i32>(lengths + (<usize>i << 2)));
  }
  let longest = 0;
  for (let b = 0; b < count; b++) longest = max(longest, load<i32>(used + (<usize>b << 2)));
  const seqLen = min(longest, maxLength), cells = <usize>count * <usize>seqLen << 2;
  const ids = alloc(cells), labels = alloc(cells), mask = alloc(cells), pos = alloc(cells), seg = alloc(cells);
  const rc = packFill(n, s.offsets.ptr, s.ids.ptr, s.labels.ptr, bins, count, seqLen, padId, ids, labels, mask, pos, seg);
  if (rc != 0) { say('packing: sequence '); sayInt(-1 - rc); say(' overflows'); endLine(1); }
  const starts = alloc(<usize>count << 2), lens = alloc(<usize>count << 2);
  for (let b = 0; b < count; b++) {
    const at = b * seqLen;
    let m = seqLen;
    while (m > 0 && load<i32>(seg + (<usize>(at + m - 1) << 2)) == 0) m--;
    store<i32>(starts + (<usize>b << 2), at);
    store<i32>(lens + (<usize>b << 2), m);
  }
  return encodeShard(count, starts, lens, ids, labels, pos, seg);
}

main();
