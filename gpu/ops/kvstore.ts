// The KV cache store (inference only): cache[pos[t], :] = src[t, :]; writes past the end of the cache are dropped.
import { halfFns, packHalf, type Storage } from './half.ts';

/**
 * An f32 cache, or a 16-bit one (ops/half.ts): then an invocation stores a pair of elements (one u32 word, so no two
 * invocations write the same word), rounded to nearest even as the other backends round.
 */
export function kvStore(cache: Storage): string {
  const pair = cache !== 'f32';
  return /* wgsl */ `${halfFns([cache], true)}
struct Params { width: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> cache: array<${pair ? 'u32' : 'f32'}>;
@group(0) @binding(2) var<storage, read> src: array<f32>;
@group(0) @binding(3) var<storage, read> pos: array<i32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let t = gid.y;
${pair ? `  let j = gid.x * 2u;  // width is even (heads of even size)
  let o = (u32(pos[t]) * p.width + j) / 2u;
  if (j < p.width && o < arrayLength(&cache)) {
    let s = t * p.width + j;
    cache[o] = ${packHalf(cache as 'f16', 'src[s]', 'src[s + 1u]')};
  }` : `  let j = gid.x;
  let o = u32(pos[t]) * p.width + j;
  if (j < p.width && o < arrayLength(&cache)) { cache[o] = src[t * p.width + j]; }`}
}
`;
}
