// A run's images/ as ms-swift names them (one file per logged tag: train_loss, train_learning_rate, eval_loss, …):
// an SVG per tag with data, plus the PNGs of the losses (train_loss.png always, eval_loss.png with evaluations).
import { fileSystem, writeFileAtomic } from '../../runtime/platform.ts';
import { lineChartSvg } from './plot-svg.ts';
import { writeLossPng } from './plot.ts';

/** TensorBoard's default smoothing weight */
export const SMOOTHING = 0.6;

/** file name, logging.jsonl key, axis label, smoothed (noisy per-step values) or not (schedules, sparse evaluations) */
const CHARTS: [string, string, string, boolean][] = [
  ['train_loss', 'loss', 'loss', true],
  ['train_grad_norm', 'grad_norm', 'grad_norm', true],
  ['train_learning_rate', 'learning_rate', 'learning_rate', false],
  ['eval_loss', 'eval_loss', 'loss', false],
  ['eval_token_acc', 'eval_token_acc', 'token_acc', false],
];

const series = (history: Record<string, unknown>[], key: string): [number, number][] =>
  history.filter((h) => typeof h[key] === 'number' && typeof h.step === 'number').map((h) => [h.step as number, h[key] as number]);

/** Writes every image of the run from its log rows; returns the paths written. */
export async function writeRunImages(runDir: string, history: Record<string, unknown>[]): Promise<string[]> {
  await fileSystem().mkdir(`${runDir}/images`, { recursive: true });
  const written: string[] = [];
  for (const [name, key, yLabel, smooth] of CHARTS) {
    const points = series(history, key);
    if (!points.length && name !== 'train_loss') continue;
    const path = `${runDir}/images/${name}.svg`;
    await writeFileAtomic(path, lineChartSvg({ title: name, yLabel, points, smoothing: smooth ? SMOOTHING : 0 }));
    written.push(path);
  }
  const evals = series(history, 'eval_loss');
  await writeLossPng(`${runDir}/images/train_loss.png`, series(history, 'loss'));
  if (evals.length) await writeLossPng(`${runDir}/images/eval_loss.png`, evals);
  return written;
}
