// The page's live loss chart: uPlot, with the training loss, the evaluation loss when the job evaluates, and the
// learning rate on its own axis, fed the logging.jsonl rows as they are written.
import uPlot from 'uplot';

export class LossChart {
  private readonly steps: number[] = [];
  private readonly loss: (number | null)[] = [];
  private readonly evalLoss: (number | null)[] = [];
  private readonly lr: (number | null)[] = [];
  private readonly plot: uPlot;

  constructor(el: HTMLElement) {
    const width = () => Math.max(320, el.clientWidth);
    this.plot = new uPlot({
      width: width(), height: 300,
      scales: { x: { time: false }, lr: { auto: true } },
      axes: [
        { label: 'step', incrs: [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10000] },
        { label: 'loss', size: 56 },
        { label: 'learning rate', side: 1, scale: 'lr', grid: { show: false }, size: 70, values: (_u, v) => v.map((x) => (x === 0 ? '0' : x.toExponential(1))) },
      ],
      series: [
        { label: 'step' },
        { label: 'loss', stroke: '#ff6b2c', width: 2, points: { show: true, size: 4 } },
        { label: 'eval_loss', stroke: '#2f6fdb', width: 2, points: { show: true, size: 6 } },
        { label: 'learning_rate', stroke: '#9aa3b5', width: 1, dash: [4, 4], scale: 'lr', value: (_u, v) => (v === null ? '–' : v.toExponential(2)) },
      ],
    }, [[], [], [], []], el);
    new ResizeObserver(() => this.plot.setSize({ width: width(), height: 300 })).observe(el);
  }

  /** One logging.jsonl row: a training row (loss), an evaluation row (eval_loss) or the final summary (ignored). */
  add(row: Record<string, unknown>): void {
    const step = row.step as number | undefined;
    if (typeof step !== 'number') return;
    let i = this.steps.indexOf(step);
    if (i < 0) { this.steps.push(step); this.loss.push(null); this.evalLoss.push(null); this.lr.push(null); i = this.steps.length - 1; }
    if (typeof row.loss === 'number') this.loss[i] = row.loss;
    if (typeof row.eval_loss === 'number') this.evalLoss[i] = row.eval_loss;
    if (typeof row.learning_rate === 'number') this.lr[i] = row.learning_rate;
    this.plot.setData([this.steps, this.loss, this.evalLoss, this.lr]);
  }

  /** A resumed run logs its earlier rows again: start over. */
  clear(): void {
    for (const a of [this.steps, this.loss, this.evalLoss, this.lr]) a.length = 0;
    this.plot.setData([[], [], [], []]);
  }
}
