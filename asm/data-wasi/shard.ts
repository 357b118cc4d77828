// A bundle's data shard, byte for byte as src/bundle/shards.ts encodeShard writes it (the format's home; its layout
// is described there): "WTSHARD1", u32 header length, {"count":C,"tokens":N}, zero padding to 4, u32 offsets[C+1],
// then the ids, labels, positions and segments columns. Built in the collator's arena (no runtime allocations).
import { alloc } from '../collate/arena';

/** Writes the decimal digits of v (≥ 0) at p; returns how many. */
function digits(p: usize, v: i32): i32 {
  let n = 0, x = v;
  do { n++; x /= 10; } while (x > 0);
  for (let i = n - 1; i >= 0; i--) { store<u8>(p + <usize>i, <u8>(48 + v % 10)); v /= 10; }
  return n;
}

function ascii(p: usize, s: string): i32 {
  for (let i = 0; i < s.length; i++) store<u8>(p + <usize>i, <u8>s.charCodeAt(i));
  return s.length;
}

export let shardLength: usize = 0;

/**
 * The shard of `count` sequences: sequence s has lengths[s] tokens, found at element starts[s] of each of the four
 * i32 columns (ids, labels, positions, segments). Returns its address in the arena, its size in shardLength.
 */
export function encodeShard(count: i32, starts: usize, lengths: usize, ids: usize, labels: usize, positions: usize, segments: usize): usize {
  let tokens = 0;
  for (let s = 0; s < count; s++) tokens += load<i32>(lengths + (<usize>s << 2));
  const head = alloc(64);
  let h = ascii(head, '{"count":');
  h += digits(head + <usize>h, count);
  h += ascii(head + <usize>h, ',"tokens":');
  h += digits(head + <usize>h, tokens);
  h += ascii(head + <usize>h, '}');
  const headLen = <usize>((12 + h + 3) & ~3);
  const size = headLen + (<usize>(count + 1) << 2) + (<usize>tokens << 4);
  const out = alloc(size);
  memory.fill(out, 0, headLen);
  ascii(out, 'WTSHARD1');
  store<u32>(out + 8, <u32>h);
  memory.copy(out + 12, head, <usize>h);
  let at = out + headLen, start = 0;
  for (let s = 0; s < count; s++) { store<u32>(at, start); at += 4; start += load<i32>(lengths + (<usize>s << 2)); }
  store<u32>(at, start); at += 4;
  for (let c = 0; c < 4; c++) {
    const col = c == 0 ? ids : c == 1 ? labels : c == 2 ? positions : segments;
    for (let s = 0; s < count; s++) {
      const n = <usize>load<i32>(lengths + (<usize>s << 2));
      memory.copy(at, col + (<usize>load<i32>(starts + (<usize>s << 2)) << 2), n << 2);
      at += n << 2;
    }
  }
  shardLength = size;
  return out;
}
