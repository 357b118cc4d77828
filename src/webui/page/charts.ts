// A run's scalars as TensorBoard shows them: one small chart per metric of logging.jsonl (uPlot), the raw curve faint
// under its smoothed one (debiased exponential moving average, the same weight 0.6 as the run's SVG images).
import uPlot from 'uplot';

/** The logging.jsonl fields charted, in order: [field, title, smoothed]. */
export const METRICS: [string, string, boolean][] = [
  ['loss', 'train/loss', true], ['eval_loss', 'eval/loss', false], ['learning_rate', 'train/learning_rate', false],
  ['grad_norm', 'train/grad_norm', true], ['eval_token_acc', 'eval/token_acc', false], ['tokens/s', 'train/tokens_per_s', true],
];
const SMOOTHING = 0.6;

/** Debiased EMA (TensorBoard's smoothing) over the non-null values. */
function smooth(ys: (number | null)[], w: number): (number | null)[] {
  let last = 0, n = 0;
  return ys.map((y) => {
    if (y === null) return null;
    n++;
    last = last * w + (1 - w) * y;
    return last / (1 - w ** n);
  });
}

class ScalarChart {
  readonly xs: number[] = [];
  readonly ys: (number | null)[] = [];
  private readonly plot: uPlot;

  constructor(readonly box: HTMLElement, title: string, private readonly smoothed: boolean) {
    const width = () => Math.max(260, box.clientWidth - 2);
    const fmt = (v: number) => (v === 0 ? '0' : Math.abs(v) < 1e-2 || Math.abs(v) >= 1e5 ? v.toExponential(1) : String(+v.toPrecision(4)));
    this.plot = new uPlot({
      title, width: width(), height: 190, legend: { show: true, live: true },
      scales: { x: { time: false } },
      cursor: { drag: { x: true, y: false } },
      axes: [{ label: 'step', size: 34 }, { size: 58, values: (_u, v) => v.map(fmt) }],
      series: [
        { label: 'step' },
        { label: smoothed ? 'raw' : 'value', stroke: smoothed ? 'rgba(255,107,44,.3)' : '#ff6b2c', width: smoothed ? 1 : 2, points: { show: !smoothed, size: 5 }, value: (_u, v) => (v == null ? '–' : fmt(v)) },
        ...(smoothed ? [{ label: 'smoothed', stroke: '#ff6b2c', width: 2, value: (_u: uPlot, v: number | null) => (v == null ? '–' : fmt(v)) }] : []),
      ],
    }, smoothed ? [[], [], []] : [[], []], box);
    new ResizeObserver(() => this.plot.setSize({ width: width(), height: 190 })).observe(box);
  }

  push(x: number, y: number): void {
    const i = this.xs.indexOf(x);
    if (i >= 0) this.ys[i] = y; else { this.xs.push(x); this.ys.push(y); }
  }

  draw(): void {
    this.box.hidden = this.xs.length === 0;
    this.plot.setData(this.smoothed ? [this.xs, this.ys, smooth(this.ys, SMOOTHING)] : [this.xs, this.ys]);
  }
}

/** The charts of one run, fed its logging.jsonl rows. */
export class RunCharts {
  private readonly charts = new Map<string, ScalarChart>();
  private pending = false;

  constructor(el: HTMLElement) {
    el.replaceChildren();
    for (const [field, title, smoothed] of METRICS) {
      const box = document.createElement('div');
      box.className = 'chart';
      box.hidden = true;
      el.append(box);
      this.charts.set(field, new ScalarChart(box, title, smoothed));
    }
  }

  add(row: Record<string, unknown>): void {
    const step = row.step;
    if (typeof step !== 'number') return;
    for (const [field, chart] of this.charts) if (typeof row[field] === 'number') chart.push(step, row[field] as number);
    if (!this.pending) { this.pending = true; requestAnimationFrame(() => { this.pending = false; for (const c of this.charts.values()) c.draw(); }); }
  }
}
