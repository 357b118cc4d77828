// A run's curves as SVG (images/train_loss.svg, …): real text at any zoom, axes with 1/2/5 × 10^k ticks and a light
// grid, and for noisy series TensorBoard's view: the raw curve faint, its debiased exponential moving average on top.
import { niceTicks } from './plot.ts';

const W = 640, H = 400, FONT = 12, BLUE = '#1f77b4';
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
/** a generous width estimate for sans-serif digits and letters, to leave room for the tick labels */
const textW = (s: string, size = FONT) => s.length * size * 0.6;

/**
 * TensorBoard's scalar smoothing: an exponential moving average started at 0 and divided by 1 − weight^n, so the
 * first points are not pulled towards 0. Non-finite values pass through, and a constant series is left as it is.
 */
export function smoothEma(ys: number[], weight = 0.6): number[] {
  if (ys.every((y) => y === ys[0])) return [...ys];
  let last = 0, n = 0;
  return ys.map((y) => {
    if (!Number.isFinite(y)) return y;
    last = last * weight + (1 - weight) * y;
    n++;
    return weight === 1 ? last : last / (1 - weight ** n);
  });
}

/** Tick labels: fixed decimals, or exponent form (2e-5) where fixed would need more than 4 decimals. */
export function tickLabels(ticks: number[], decimals: number): string[] {
  if (decimals <= 4) return ticks.map((v) => v.toFixed(decimals));
  for (let p = 0; p < 4; p++) {
    const s = ticks.map((v) => (v === 0 ? '0' : v.toExponential(p).replace('e+', 'e')));
    if (new Set(s).size === s.length) return s;
  }
  return ticks.map((v) => v.toExponential(4));
}

function range(v: number[]): [number, number] {
  let lo = Math.min(...v), hi = Math.max(...v);
  if (hi - lo < 1e-12 * Math.max(1, Math.abs(hi))) { const d = Math.max(Math.abs(lo) * 0.05, 1e-3); lo -= d; hi += d; }
  const m = (hi - lo) * 0.05;
  return [lo - m, hi + m];
}

export interface LineChart {
  title: string;
  yLabel: string;
  /** (step, value) points */
  points: [number, number][];
  /** TensorBoard smoothing weight in [0, 1); 0 or absent draws only the raw series */
  smoothing?: number;
}

/** The chart as a standalone SVG document. */
export function lineChartSvg(c: LineChart): string {
  const ok = c.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  const out: string[] = [];
  const xr = ok.length ? range(ok.map((p) => p[0])) : [0, 1];
  const yr = ok.length ? range(ok.map((p) => p[1])) : [0, 1];
  const yt = niceTicks(yr[0], yr[1], 6), yLabels = tickLabels(yt.ticks, yt.decimals);
  const xt0 = niceTicks(xr[0], xr[1], 8), xInt = xt0.ticks.filter(Number.isInteger);
  const xt = xInt.length >= 2 ? { ticks: xInt, decimals: 0 } : xt0;  // steps are whole numbers
  const box = { l: Math.round(28 + Math.max(0, ...yLabels.map((s) => textW(s)))), r: W - 20, t: 40, b: H - 50 };
  const X = (x: number) => box.l + ((x - xr[0]) / (xr[1] - xr[0])) * (box.r - box.l);
  const Y = (y: number) => box.b - ((y - yr[0]) / (yr[1] - yr[0])) * (box.b - box.t);
  const f = (v: number) => v.toFixed(1);
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="${FONT}">`);
  out.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  out.push(`<text x="${f((box.l + box.r) / 2)}" y="24" text-anchor="middle" font-size="15">${esc(c.title)}</text>`);
  out.push(`<text x="${f((box.l + box.r) / 2)}" y="${H - 12}" text-anchor="middle">step</text>`);
  out.push(`<text transform="translate(16 ${f((box.t + box.b) / 2)}) rotate(-90)" text-anchor="middle">${esc(c.yLabel)}</text>`);
  if (ok.length) {
    const grid: string[] = [], labels: string[] = [];
    xt.ticks.filter((v) => v >= xr[0] && v <= xr[1]).forEach((v) => {
      grid.push(`M${f(X(v))} ${box.t}V${box.b}`);
      labels.push(`<text x="${f(X(v))}" y="${box.b + 18}" text-anchor="middle">${v.toFixed(xt.decimals)}</text>`);
    });
    yt.ticks.forEach((v, i) => {
      grid.push(`M${box.l} ${f(Y(v))}H${box.r}`);
      labels.push(`<text x="${box.l - 6}" y="${f(Y(v) + 4)}" text-anchor="end">${yLabels[i]}</text>`);
    });
    out.push(`<path d="${grid.join('')}" stroke="#e4e4e4" fill="none"/>`, ...labels);
    const smooth = (c.smoothing ?? 0) > 0 && ok.length > 2;
    const line = (pts: [number, number][], attrs: string) => pts.length > 1
      ? `<polyline points="${pts.map(([x, y]) => `${f(X(x))},${f(Y(y))}`).join(' ')}" fill="none" stroke="${BLUE}" stroke-linejoin="round" ${attrs}/>` : '';
    out.push(line(ok, smooth ? 'stroke-opacity="0.3" stroke-width="1.5"' : 'stroke-width="2"'));
    if (ok.length <= 30) out.push(...ok.map(([x, y]) => `<circle cx="${f(X(x))}" cy="${f(Y(y))}" r="2.5" fill="${BLUE}"${smooth ? ' fill-opacity="0.3"' : ''}/>`));
    if (smooth) {
      const s = smoothEma(ok.map((p) => p[1]), c.smoothing);
      out.push(line(ok.map((p, i) => [p[0], s[i]]), 'stroke-width="2"'));
      const lx = box.r - 150, ly = box.t + 14;
      out.push(`<g><rect x="${lx - 8}" y="${ly - 12}" width="150" height="40" fill="#fff" fill-opacity="0.85" stroke="#ccc"/>`,
        `<path d="M${lx} ${ly - 4}h22" stroke="${BLUE}" stroke-opacity="0.3" stroke-width="1.5"/><text x="${lx + 28}" y="${ly}">raw</text>`,
        `<path d="M${lx} ${ly + 14}h22" stroke="${BLUE}" stroke-width="2"/><text x="${lx + 28}" y="${ly + 18}">smoothed (${c.smoothing})</text></g>`);
    }
  } else {
    out.push(`<text x="${f((box.l + box.r) / 2)}" y="${f((box.t + box.b) / 2)}" text-anchor="middle" fill="#888">no data</text>`);
  }
  out.push(`<rect x="${box.l}" y="${box.t}" width="${box.r - box.l}" height="${box.b - box.t}" fill="none" stroke="#444"/>`, '</svg>');
  return `${out.filter(Boolean).join('\n')}\n`;
}
