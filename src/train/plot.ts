// images/train_loss.png and images/eval_loss.png as ms-swift draws them with matplotlib (a loss-vs-step line in a
// framed axes box with a title, "step" and "loss" axis labels and numbered ticks), written with a minimal PNG encoder
// (the host's zlib deflate + CRC-32), Bresenham lines and a small built-in 5×7 bitmap font: no image library needed.
import { host, writeFileAtomic } from '../../runtime/platform.ts';

const W = 640, H = 400;
/** the axes box: left, right, top, bottom edges in pixels */
const BOX = { l: 84, r: W - 24, t: 44, b: H - 58 };
const SCALE = 2;  // font pixels per glyph pixel
const INK = [0, 0, 0], FRAME = [64, 64, 64], BLUE = [31, 119, 180];

// 5×7 glyphs, one number per row (bit 4 = leftmost column). Lower case, digits and what numbers and tags need;
// upper case draws as lower case, anything else as a blank.
const GLYPHS: Record<string, number[]> = {
  '0': [14, 17, 19, 21, 25, 17, 14], '1': [4, 12, 4, 4, 4, 4, 14], '2': [14, 17, 1, 2, 4, 8, 31], '3': [31, 2, 4, 2, 1, 17, 14],
  '4': [2, 6, 10, 18, 31, 2, 2], '5': [31, 16, 30, 1, 1, 17, 14], '6': [6, 8, 16, 30, 17, 17, 14], '7': [31, 1, 2, 4, 8, 8, 8],
  '8': [14, 17, 17, 14, 17, 17, 14], '9': [14, 17, 17, 15, 1, 2, 12], '.': [0, 0, 0, 0, 0, 12, 12], '-': [0, 0, 0, 14, 0, 0, 0],
  '+': [0, 4, 4, 31, 4, 4, 0], '_': [0, 0, 0, 0, 0, 0, 31], '/': [0, 1, 2, 4, 8, 16, 0], ':': [0, 12, 12, 0, 12, 12, 0],
  a: [0, 0, 14, 1, 15, 17, 15], b: [16, 16, 22, 25, 17, 17, 30], c: [0, 0, 14, 16, 16, 17, 14], d: [1, 1, 13, 19, 17, 17, 15],
  e: [0, 0, 14, 17, 31, 16, 14], f: [6, 9, 8, 28, 8, 8, 8], g: [0, 15, 17, 17, 15, 1, 14], h: [16, 16, 22, 25, 17, 17, 17],
  i: [4, 0, 12, 4, 4, 4, 14], j: [2, 0, 6, 2, 2, 18, 12], k: [16, 16, 18, 20, 24, 20, 18], l: [12, 4, 4, 4, 4, 4, 14],
  m: [0, 0, 26, 21, 21, 17, 17], n: [0, 0, 22, 25, 17, 17, 17], o: [0, 0, 14, 17, 17, 17, 14], p: [0, 0, 30, 17, 30, 16, 16],
  q: [0, 0, 13, 19, 15, 1, 1], r: [0, 0, 22, 25, 16, 16, 16], s: [0, 0, 14, 16, 14, 1, 30], t: [8, 8, 28, 8, 8, 9, 6],
  u: [0, 0, 17, 17, 17, 19, 13], v: [0, 0, 17, 17, 17, 10, 4], w: [0, 0, 17, 17, 21, 21, 10], x: [0, 0, 17, 10, 4, 10, 17],
  y: [0, 0, 17, 17, 15, 1, 14], z: [0, 0, 31, 2, 4, 8, 31],
};
/** advance per character, in pixels */
export const CHAR_W = 6 * SCALE, CHAR_H = 7 * SCALE;
const CRC = new Uint32Array(256).map((_x, n) => { let c = n; for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1; return c >>> 0; });
function crc32(b: Uint8Array): number { let c = 0xffffffff; for (const x of b) c = CRC[(c ^ x) & 0xff] ^ (c >>> 8); return (c ^ 0xffffffff) >>> 0; }

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length), dv = new DataView(out.buffer);
  dv.setUint32(0, data.length);
  out.set(new TextEncoder().encode(type), 4);
  out.set(data, 8);
  dv.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/** RGB image → PNG bytes (8-bit truecolour, filter 0 on every row). */
export async function encodePng(rgb: Uint8Array, w: number, h: number): Promise<Uint8Array> {
  const raw = new Uint8Array(h * (1 + 3 * w));
  for (let y = 0; y < h; y++) raw.set(rgb.subarray(y * 3 * w, (y + 1) * 3 * w), y * (1 + 3 * w) + 1);
  const ihdr = new Uint8Array(13), dv = new DataView(ihdr.buffer);
  dv.setUint32(0, w); dv.setUint32(4, h); ihdr.set([8, 2, 0, 0, 0], 8);
  const parts = [new Uint8Array([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr), chunk('IDAT', await host.deflate(raw)), chunk('IEND', new Uint8Array())];
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

/** Tick values for [lo, hi]: multiples of the 1/2/5 × 10^k step giving closest to `target` ticks, and the decimals they need. */
export function niceTicks(lo: number, hi: number, target = 8): { ticks: number[]; decimals: number } {
  const mag = 10 ** Math.floor(Math.log10((hi - lo) / target));
  const count = (s: number) => Math.floor(hi / s + 1e-9) - Math.ceil(lo / s - 1e-9) + 1;
  const step = [1, 2, 5, 10].map((m) => m * mag).reduce((a, b) => (Math.abs(count(b) - target) <= Math.abs(count(a) - target) ? b : a));
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  const ticks: number[] = [];
  for (let k = Math.ceil(lo / step - 1e-9); k * step <= hi + step * 1e-9; k++) ticks.push(Number((k * step).toFixed(decimals)));
  return { ticks, decimals };
}

/** Data range with matplotlib's 5% margins (a flat or single-valued series gets a small span around its value). */
function span(v: number[]): [number, number] {
  let lo = Math.min(...v), hi = Math.max(...v);
  if (hi - lo < 1e-12) { const d = Math.max(Math.abs(lo) * 0.05, 1e-3); lo -= d; hi += d; }
  const m = (hi - lo) * 0.05;
  return [lo - m, hi + m];
}

class Canvas {
  readonly img = new Uint8Array(W * H * 3).fill(255);
  px(x: number, y: number, c: number[]) { if (x >= 0 && x < W && y >= 0 && y < H) this.img.set(c, (y * W + x) * 3); }
  line(x0: number, y0: number, x1: number, y1: number, c: number[]) {
    const dx = Math.abs(x1 - x0), dy = -Math.abs(y1 - y0), sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
    for (let err = dx + dy; ; ) {
      this.px(x0, y0, c);
      if (x0 === x1 && y0 === y1) break;
      const e2 = 2 * err;
      if (e2 >= dy) { err += dy; x0 += sx; }
      if (e2 <= dx) { err += dx; y0 += sy; }
    }
  }
  /** Text whose box starts at (x, y); rotated: reads bottom to top, the box's left edge at x and bottom at y. */
  text(s: string, x: number, y: number, c = INK, rotated = false) {
    [...s].forEach((ch, n) => {
      const rows = GLYPHS[ch] ?? GLYPHS[ch.toLowerCase()] ?? [];
      rows.forEach((bits, gy) => {
        for (let gx = 0; gx < 5; gx++) {
          if (!(bits & (16 >> gx))) continue;
          for (let a = 0; a < SCALE; a++) for (let b = 0; b < SCALE; b++) {
            const u = n * CHAR_W + gx * SCALE + a, v = gy * SCALE + b;  // position within the unrotated text
            if (rotated) this.px(x + v, y - u, c); else this.px(x + u, y + v, c);
          }
        }
      });
    });
  }
}
const textWidth = (s: string) => s.length * CHAR_W - SCALE;

/**
 * A line plot of (x = step, y = loss) points as matplotlib frames it: title on top, numbered ticks on both axes,
 * "step" and "loss" labels; the raw series in matplotlib's first colour (ms-swift also draws a smoothed one: skipped).
 */
export function plotLoss(points: [number, number][], title = ''): Uint8Array {
  const cv = new Canvas();
  const ok = points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  const xr = ok.length ? span(ok.map((p) => p[0])) : null, yr = ok.length ? span(ok.map((p) => p[1])) : null;
  const yt = yr && niceTicks(yr[0], yr[1]), yLabels = yt ? yt.ticks.map((v) => v.toFixed(yt.decimals)) : [];
  // the box moves right when the y tick labels are wide (small or large losses), clear of the rotated "loss"
  const box = { ...BOX, l: Math.max(BOX.l, 6 + CHAR_H + 10 + 8 + Math.max(0, ...yLabels.map(textWidth))) };
  cv.text(title, Math.round((box.l + box.r - textWidth(title)) / 2), Math.round((box.t - CHAR_H) / 2));
  cv.text('step', Math.round((box.l + box.r - textWidth('step')) / 2), H - 6 - CHAR_H);
  cv.text('loss', 6, Math.round((box.t + box.b + textWidth('loss')) / 2), INK, true);
  for (const [x0, y0, x1, y1] of [[box.l, box.b, box.r, box.b], [box.l, box.t, box.r, box.t], [box.l, box.t, box.l, box.b], [box.r, box.t, box.r, box.b]]) {
    cv.line(x0, y0, x1, y1, FRAME);
  }
  if (!xr || !yr || !yt) return cv.img;
  const X = (x: number) => Math.round(box.l + ((x - xr[0]) / (xr[1] - xr[0])) * (box.r - box.l));
  const Y = (y: number) => Math.round(box.b - ((y - yr[0]) / (yr[1] - yr[0])) * (box.b - box.t));
  const xt = niceTicks(xr[0], xr[1]);
  for (const v of xt.ticks) {
    const label = v.toFixed(xt.decimals), x = X(v);
    cv.line(x, box.b, x, box.b + 4, FRAME);
    cv.text(label, Math.round(x - textWidth(label) / 2), box.b + 8);
  }
  yt.ticks.forEach((v, i) => {
    const y = Y(v);
    cv.line(box.l - 4, y, box.l, y, FRAME);
    cv.text(yLabels[i], box.l - 8 - textWidth(yLabels[i]), Math.round(y - CHAR_H / 2));
  });
  for (let i = 0; i < ok.length; i++) {
    const [x, y] = ok[i];
    if (i) cv.line(X(ok[i - 1][0]), Y(ok[i - 1][1]), X(x), Y(y), BLUE);
    else cv.px(X(x), Y(y), BLUE);
  }
  return cv.img;
}

/** Writes the plot as PNG; the title is the file's name without .png (train_loss, eval_loss), as ms-swift's tags. */
export async function writeLossPng(path: string, points: [number, number][]): Promise<void> {
  const title = (path.split(/[\\/]/).pop() ?? '').replace(/\.png$/, '');
  await writeFileAtomic(path, await encodePng(plotLoss(points, title), W, H));
}

export const PLOT_SIZE = { width: W, height: H, box: BOX };
