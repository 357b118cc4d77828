// The one seeded random stream (sampling, random test and benchmark weights): the same numbers on every runtime.

/** xorshift64* (as llama2.c's sampler uses): small, seedable, identical on every runtime. */
export class Rng {
  private state: bigint;
  constructor(seed: number) {
    this.state = BigInt.asUintN(64, BigInt(Math.floor(seed)) || 0x2545f4914f6cdd1dn);
  }
  nextU32(): number {
    let s = this.state;
    s ^= s >> 12n;
    s ^= BigInt.asUintN(64, s << 25n);
    s ^= s >> 27n;
    this.state = s;
    return Number(BigInt.asUintN(64, s * 0x2545f4914f6cdd1dn) >> 32n);
  }
  /** uniform in [0, 1) */
  nextFloat(): number {
    return (this.nextU32() >>> 8) / 16777216;
  }
}
