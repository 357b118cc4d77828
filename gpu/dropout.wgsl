// LoRA's dropout mask, drawn where it is used (src/backend/train-ops.ts DropMask/dropKeep: the same function):
// element j of the masked buffer survives iff murmur3's 32-bit finalizer of j + salt is ≥ threshold.
fn drop_keep(j: u32, salt: u32, threshold: u32) -> bool {
  var h = j + salt;
  h ^= h >> 16u; h *= 0x85ebca6bu; h ^= h >> 13u; h *= 0xc2b2ae35u; h ^= h >> 16u;
  return h >= threshold;
}

/** v (elements j .. j+3 of the masked buffer) with its dropped elements zeroed */
fn drop4(v: vec4<f32>, j: u32, salt: u32, threshold: u32) -> vec4<f32> {
  let keep = vec4<bool>(drop_keep(j, salt, threshold), drop_keep(j + 1u, salt, threshold),
    drop_keep(j + 2u, salt, threshold), drop_keep(j + 3u, salt, threshold));
  return select(vec4<f32>(), v, keep);
}
