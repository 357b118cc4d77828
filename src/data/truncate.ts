// --max_length with --truncation_strategy: delete (drop the row; the default), left (keep the last
// max_length tokens), right (keep the first max_length tokens).
import type { Encoded } from './encode-spans.ts';

export type TruncationStrategy = 'delete' | 'left' | 'right';
export const TRUNCATION_STRATEGIES: TruncationStrategy[] = ['delete', 'left', 'right'];

export type Truncated = { row: Encoded; truncated: boolean } | { row: undefined; truncated: false };

export function truncate(row: Encoded, maxLength: number | undefined, strategy: TruncationStrategy): Truncated {
  const n = row.ids.length;
  if (maxLength === undefined || n <= maxLength) return { row, truncated: false };
  if (strategy === 'delete') return { row: undefined, truncated: false };
  const [a, b] = strategy === 'left' ? [n - maxLength, n] : [0, maxLength];
  return { row: { ids: row.ids.slice(a, b), mask: row.mask.slice(a, b) }, truncated: true };
}
