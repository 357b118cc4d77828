// Flag parsers shared by CLI commands: each rejects impossible values with a message naming the flag.
import { InvalidArgumentError, Option } from 'commander';

export function intFlag(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^-?\d+$/.test(value.trim()) || n < min || n > max) {
      throw new InvalidArgumentError(`expected an integer${max < Number.MAX_SAFE_INTEGER ? ` in [${min}, ${max}]` : ` ≥ ${min}`}.`);
    }
    return n;
  };
}

export function floatFlag(min: number, max: number, { minExclusive = false } = {}) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n < min || n > max || (minExclusive && n === min)) {
      throw new InvalidArgumentError(`expected a number in ${minExclusive ? '(' : '['}${min}, ${max}].`);
    }
    return n;
  };
}

/** true|false (also 1/0, yes/no): ms-swift's boolean flags take a value, as --dataset_shuffle false. */
export function boolFlag(value: string): boolean {
  if (/^(true|1|yes)$/i.test(value)) return true;
  if (/^(false|0|no)$/i.test(value)) return false;
  throw new InvalidArgumentError('expected true or false.');
}

/** --threads: the WASM backend's threads (sft, infer, deploy). */
export const threadsOption = () => new Option('--threads <n>',
  'threads of the WASM backend (--device wasm, or auto without a GPU); default: the physical cores (shared among a distributed job\'s ranks on one host)')
  .argParser(intFlag(1, 256));
