// SVG curves (src/train/plot-svg.ts): TensorBoard's debiased EMA worked by hand, tick labels, and a chart whose
// drawn points map back to the data (raw and smoothed) inside the axes box.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lineChartSvg, smoothEma, tickLabels } from '../src/train/plot-svg.ts';

test('smoothEma is TensorBoard\'s debiased exponential moving average', () => {
  // weight 0.6: last = 0.4·1 = 0.4 → 0.4 / (1 − 0.6) = 1; last = 0.6·0.4 + 0.4·0 = 0.24 → 0.24 / (1 − 0.36) = 0.375
  const s = smoothEma([1, 0, 2], 0.6);
  assert.ok(Math.abs(s[0] - 1) < 1e-12 && Math.abs(s[1] - 0.375) < 1e-12);
  // third: last = 0.6·0.24 + 0.4·2 = 0.944 → 0.944 / (1 − 0.216)
  assert.ok(Math.abs(s[2] - 0.944 / 0.784) < 1e-12);
  assert.deepEqual(smoothEma([3, 3, 3]), [3, 3, 3], 'a constant series stays as it is');
  assert.deepEqual(smoothEma([1, 2, 3], 0), [1, 2, 3], 'weight 0: no smoothing');
  const withNaN = smoothEma([1, NaN, 1], 0.6);
  assert.ok(Number.isNaN(withNaN[1]) && Math.abs(withNaN[2] - 1) < 1e-12, 'non-finite values pass through and do not count');
});

test('tick labels: fixed decimals up to 4, exponent form below', () => {
  assert.deepEqual(tickLabels([0.5, 1, 1.5], 1), ['0.5', '1.0', '1.5']);
  assert.deepEqual(tickLabels([0, 0.00002, 0.00004], 5), ['0', '2e-5', '4e-5']);
  assert.deepEqual(tickLabels([0.000015, 0.00002], 6), ['1.5e-5', '2.0e-5']);
});

/** the (x, y) pairs of the n-th polyline */
const polyline = (svg: string, n: number) => [...svg.matchAll(/<polyline points="([^"]+)"/g)][n][1].split(' ').map((p) => p.split(',').map(Number));

test('a loss chart: title, axis labels, ticks, raw and smoothed curves inside the box, a legend', () => {
  const points: [number, number][] = Array.from({ length: 50 }, (_x, i) => [i + 1, 2 * Math.exp(-i / 10) + (i % 2 ? 0.3 : -0.3) + 0.5]);
  const svg = lineChartSvg({ title: 'train_loss', yLabel: 'loss', points, smoothing: 0.6 });
  assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg" width="640" height="400"/);
  assert.match(svg, />train_loss<\/text>/);
  assert.match(svg, />step<\/text>/);
  assert.match(svg, /rotate\(-90\)" text-anchor="middle">loss<\/text>/);
  for (const label of ['10', '20', '30', '40', '50', '0.5', '1.0', '2.0']) assert.match(svg, new RegExp(`>${label.replace('.', '\\.')}</text>`), label);
  const box = /<rect x="(\d+)" y="(\d+)" width="(\d+)" height="(\d+)" fill="none"/.exec(svg)!.slice(1).map(Number);
  const [l, t, w, h] = box;
  const raw = polyline(svg, 0), smooth = polyline(svg, 1);
  assert.equal(raw.length, 50);
  assert.equal(smooth.length, 50);
  for (const [x, y] of [...raw, ...smooth]) assert.ok(x >= l && x <= l + w && y >= t && y <= t + h, `${x},${y} inside the box`);
  // the smoothed curve is the EMA drawn on the raw curve's scale: a linear map takes raw values to raw y's
  const ys = points.map((p) => p[1]), sm = smoothEma(ys, 0.6);
  const k = (raw[0][1] - raw[48][1]) / (ys[0] - ys[48]), y = (v: number) => raw[0][1] + k * (v - ys[0]);
  sm.forEach((v, i) => assert.ok(Math.abs(smooth[i][1] - y(v)) < 0.2, `smoothed point ${i}`));
  assert.match(svg, /stroke-opacity="0.3"/, 'the raw curve is faint under the smoothed one');
  assert.match(svg, />smoothed \(0\.6\)</);
  // no smoothing asked: one solid curve, no legend; no data: a frame that says so
  const lr = lineChartSvg({ title: 'train_learning_rate', yLabel: 'learning_rate', points: [[1, 1e-4], [2, 5e-5]] });
  assert.equal(lr.match(/<polyline /g)?.length, 1);
  assert.doesNotMatch(lr, /smoothed/);
  assert.match(lr, />1e-4<\/text>/);
  assert.match(lineChartSvg({ title: 'eval_loss', yLabel: 'loss', points: [] }), />no data</);
});
