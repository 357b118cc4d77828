// Loss plots (src/train/plot.ts): the PNG decodes (inflated here with node:zlib, filters undone) to 640×400 RGB,
// with ink where matplotlib puts the title, the "step"/"loss" labels and the numbered ticks, and the series inside
// the axes box; tick values are 1/2/5 × 10^k steps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inflateSync } from 'node:zlib';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CHAR_H, PLOT_SIZE, niceTicks, writeLossPng } from '../src/train/plot.ts';

/** PNG (8-bit RGB, any filter) → { width, height, rgb } */
function decodePng(png: Uint8Array): { width: number; height: number; rgb: Uint8Array } {
  assert.deepEqual([...png.subarray(0, 8)], [137, 80, 78, 71, 13, 10, 26, 10], 'PNG signature');
  const dv = new DataView(png.buffer, png.byteOffset, png.byteLength);
  let at = 8, width = 0, height = 0;
  const idat: Uint8Array[] = [];
  while (at < png.length) {
    const len = dv.getUint32(at), type = new TextDecoder().decode(png.subarray(at + 4, at + 8)), data = png.subarray(at + 8, at + 8 + len);
    if (type === 'IHDR') {
      width = dv.getUint32(at + 8); height = dv.getUint32(at + 12);
      assert.deepEqual([...data.subarray(8, 10)], [8, 2], '8-bit truecolour');
    }
    if (type === 'IDAT') idat.push(data);
    at += 12 + len;
  }
  const raw = new Uint8Array(inflateSync(Buffer.concat(idat))), stride = 3 * width, rgb = new Uint8Array(height * stride);
  assert.equal(raw.length, height * (stride + 1), 'inflated size');
  for (let y = 0; y < height; y++) {
    const f = raw[y * (stride + 1)], row = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let i = 0; i < stride; i++) {
      const a = i >= 3 ? rgb[y * stride + i - 3] : 0, b = y ? rgb[(y - 1) * stride + i] : 0;
      const c = i >= 3 && y ? rgb[(y - 1) * stride + i - 3] : 0;
      const pred = [0, a, b, (a + b) >> 1, Math.abs(b - c) <= Math.abs(a - c) && Math.abs(b - c) <= Math.abs(a + b - 2 * c) ? b : ((Math.abs(a + b - 2 * c) < Math.abs(a - c)) ? c : a)][f];
      rgb[y * stride + i] = (row[i] + pred) & 255;
    }
  }
  return { width, height, rgb };
}

/** pixels in [x0, x1) × [y0, y1) that are not white; `blue`: only the series colour */
function ink(img: ReturnType<typeof decodePng>, x0: number, y0: number, x1: number, y1: number, blue = false): number {
  let n = 0;
  for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) {
    const o = (y * img.width + x) * 3, [r, g, b] = img.rgb.subarray(o, o + 3);
    if (blue ? r === 31 && g === 119 && b === 180 : r + g + b < 3 * 255) n++;
  }
  return n;
}

test('niceTicks: 1/2/5 steps with the decimals they need', () => {
  assert.deepEqual(niceTicks(0, 100), { ticks: [0, 20, 40, 60, 80, 100], decimals: 0 });
  assert.deepEqual(niceTicks(1.13, 2.71), { ticks: [1.2, 1.4, 1.6, 1.8, 2, 2.2, 2.4, 2.6], decimals: 1 });
  assert.deepEqual(niceTicks(-0.051, 0.049, 4), { ticks: [-0.04, -0.02, 0, 0.02, 0.04], decimals: 2 });
  assert.deepEqual(niceTicks(0.0012, 0.0031, 5), { ticks: [0.0015, 0.002, 0.0025, 0.003], decimals: 4 });
  assert.deepEqual(niceTicks(0.5, 9.5, 4).ticks, [2, 4, 6, 8]);
});

test('train_loss.png: 640×400, title, axis labels and numbered ticks drawn, the series inside the box', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'webtune-plot-'));
  const points: [number, number][] = Array.from({ length: 40 }, (_x, i) => [5 * (i + 1), 2.5 * Math.exp(-i / 12) + 0.3]);
  await writeLossPng(join(dir, 'train_loss.png'), points);
  await writeLossPng(join(dir, 'eval_loss.png'), []);
  const img = decodePng(new Uint8Array(readFileSync(join(dir, 'train_loss.png'))));
  const empty = decodePng(new Uint8Array(readFileSync(join(dir, 'eval_loss.png'))));
  const { width: W, height: H, box } = PLOT_SIZE;
  assert.deepEqual([img.width, img.height, empty.width, empty.height], [W, H, W, H]);
  const areas = {
    title: [box.l, 0, box.r, box.t - 2],
    xTickLabels: [box.l - 20, box.b + 6, box.r + 20, box.b + 8 + CHAR_H + 1],
    xLabel: [box.l, box.b + 8 + CHAR_H + 2, box.r, H],
    yTickLabels: [6 + CHAR_H + 2, box.t - 10, box.l - 5, box.b + 10],
    yLabel: [0, box.t, 6 + CHAR_H + 1, box.b],
  } as const;
  for (const [name, [x0, y0, x1, y1]] of Object.entries(areas)) {
    assert.ok(ink(img, x0, y0, x1, y1) > 20, `ink in the ${name} area`);
  }
  // Without data there are no ticks: the tick-label areas stay white while title and labels are still drawn.
  assert.equal(ink(empty, ...areas.xTickLabels), 0, 'no x tick labels without data');
  assert.equal(ink(empty, ...areas.yTickLabels), 0, 'no y tick labels without data');
  assert.ok(ink(empty, ...areas.title) > 20 && ink(empty, ...areas.xLabel) > 20 && ink(empty, ...areas.yLabel) > 20);
  assert.ok(ink(img, box.l + 1, box.t + 1, box.r, box.b, true) > 200, 'the loss line inside the axes box');
  assert.equal(ink(img, 0, 0, W, box.t, true) + ink(img, 0, box.b + 1, W, H, true), 0, 'no series outside the box');
  // Wide tick labels (small losses) push the box right instead of running into the rotated "loss" label.
  await writeLossPng(join(dir, 'small.png'), [[1, 0.00123], [2, 0.00098], [3, 0.00091]]);
  const small = decodePng(new Uint8Array(readFileSync(join(dir, 'small.png'))));
  assert.equal(ink(small, 6 + CHAR_H + 1, box.t, 6 + CHAR_H + 9, box.b), 0, 'a clear gap beside the "loss" label');
  assert.ok(ink(small, 6 + CHAR_H + 9, box.t, box.l + 30, box.b) > 100, 'tick labels 0.00090 … 0.00120');
  // different titles draw differently
  assert.notDeepEqual(img.rgb.subarray(0, box.t * W * 3), empty.rgb.subarray(0, box.t * W * 3));
});
