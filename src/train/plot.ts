// images/train_loss.png and images/eval_loss.png as ms-swift draws them (a loss-vs-step line), written with a
// minimal PNG encoder (node:zlib's deflate + CRC-32) and Bresenham lines: no image library needed.
import { writeFileAtomic } from '../../runtime/platform.ts';

const W = 640, H = 400, PAD = 40;
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
  const { deflateSync } = await import('node:zlib');
  const raw = new Uint8Array(h * (1 + 3 * w));
  for (let y = 0; y < h; y++) raw.set(rgb.subarray(y * 3 * w, (y + 1) * 3 * w), y * (1 + 3 * w) + 1);
  const ihdr = new Uint8Array(13), dv = new DataView(ihdr.buffer);
  dv.setUint32(0, w); dv.setUint32(4, h); ihdr.set([8, 2, 0, 0, 0], 8);
  const parts = [new Uint8Array([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr), chunk('IDAT', new Uint8Array(deflateSync(raw))), chunk('IEND', new Uint8Array())];
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

/** A line plot of (x, y) points with axes; the raw series in blue (ms-swift also draws a smoothed one: skipped). */
export function plotLoss(points: [number, number][]): Uint8Array {
  const img = new Uint8Array(W * H * 3).fill(255);
  const px = (x: number, y: number, c: number[]) => { if (x >= 0 && x < W && y >= 0 && y < H) img.set(c, (y * W + x) * 3); };
  const line = (x0: number, y0: number, x1: number, y1: number, c: number[]) => {
    const dx = Math.abs(x1 - x0), dy = -Math.abs(y1 - y0), sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
    for (let err = dx + dy; ; ) {
      px(x0, y0, c);
      if (x0 === x1 && y0 === y1) break;
      const e2 = 2 * err;
      if (e2 >= dy) { err += dy; x0 += sx; }
      if (e2 <= dx) { err += dx; y0 += sy; }
    }
  };
  const grey = [160, 160, 160];
  line(PAD, H - PAD, W - PAD, H - PAD, grey);
  line(PAD, PAD, PAD, H - PAD, grey);
  const ok = points.filter(([, y]) => Number.isFinite(y));
  if (!ok.length) return img;
  const xs = ok.map((p) => p[0]), ys = ok.map((p) => p[1]);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const X = (x: number) => Math.round(PAD + ((x - x0) / (x1 - x0 || 1)) * (W - 2 * PAD));
  const Y = (y: number) => Math.round(H - PAD - ((y - y0) / (y1 - y0 || 1)) * (H - 2 * PAD));
  for (let i = 0; i < ok.length; i++) {
    const [x, y] = ok[i];
    if (i) line(X(ok[i - 1][0]), Y(ok[i - 1][1]), X(x), Y(y), [31, 119, 180]);
    else px(X(x), Y(y), [31, 119, 180]);
  }
  return img;
}

export async function writeLossPng(path: string, points: [number, number][]): Promise<void> {
  await writeFileAtomic(path, await encodePng(plotLoss(points), W, H));
}
