// Drives Debian's chromium (puppeteer-core, no browser download) on pages served from a tiny node:http server over
// the checkout and ../shared: the browser tests load dist/browser/webtune.mjs in a real page. WebGPU there is
// Chromium's bundled SwiftShader (a software Vulkan), with the flags the README gives.
import { createServer, type Server } from 'node:http';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { extname, join, normalize } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Browser, Page } from 'puppeteer-core';
import { ROOT, SHARED } from '../helpers.ts';

export const CHROMIUM_FLAGS = ['--headless=new', '--no-sandbox', '--enable-unsafe-webgpu', '--enable-features=Vulkan',
  '--use-vulkan=swiftshader', '--use-angle=swiftshader'];

/** Debian's chromium binary (the /usr/bin/chromium wrapper adds nothing a test needs). */
export function chromiumPath(): string {
  const found = [process.env.CHROMIUM, '/usr/lib/chromium/chromium', '/usr/bin/chromium'].find((p) => p && existsSync(p));
  if (!found) throw new Error('chromium not found: apt-get install chromium (scripts/test.sh does), or set CHROMIUM');
  return found;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html', '.mjs': 'text/javascript', '.js': 'text/javascript', '.json': 'application/json',
  '.jsonl': 'application/jsonl', '.wasm': 'application/wasm',
};

/** The page every test starts from: the bundle imported as window.wt, console lines kept. */
const INDEX = `<!doctype html><meta charset="utf-8"><title>webtune browser test</title>
<script type="module">import * as wt from '/dist/browser/webtune.mjs'; window.wt = wt; window.wtReady = true;</script>`;

/** Serves / (the test page), /dist/… and /test/… from the checkout and /shared/… from ../shared, with Range support. */
export function serve(): Promise<{ server: Server; origin: string }> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x'), path = normalize(decodeURIComponent(url.pathname));
    if (path === '/') { res.writeHead(200, { 'content-type': 'text/html' }).end(INDEX); return; }
    const file = path.startsWith('/shared/') ? join(SHARED, path.slice('/shared/'.length))
      : /^\/(dist|test)\//.test(path) ? join(ROOT, path) : undefined;
    if (!file || !existsSync(file) || !statSync(file).isFile()) { res.writeHead(404).end(); return; }
    const body = readFileSync(file), type = TYPES[extname(file)] ?? 'application/octet-stream';
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    if (range) {
      const start = Number(range[1]), end = Math.min(range[2] ? Number(range[2]) : body.length - 1, body.length - 1);
      res.writeHead(206, { 'content-type': type, 'content-range': `bytes ${start}-${end}/${body.length}`, 'content-length': end - start + 1 });
      res.end(req.method === 'HEAD' ? undefined : body.subarray(start, end + 1));
      return;
    }
    res.writeHead(200, { 'content-type': type, 'content-length': body.length, 'accept-ranges': 'bytes' });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  return new Promise((done) => server.listen(0, '127.0.0.1', () =>
    done({ server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` })));
}

export interface BrowserSession { browser: Browser; page: Page; origin: string; console: string[]; close(): Promise<void> }

/** Chromium on the test page, the bundle loaded (window.wt); page errors and console lines are collected. */
export async function openPage(): Promise<BrowserSession> {
  const { launch } = await import('puppeteer-core');
  const { server, origin } = await serve();
  const browser = await launch({ executablePath: chromiumPath(), args: CHROMIUM_FLAGS, protocolTimeout: 900_000 });
  const page = await browser.newPage();
  const lines: string[] = [];
  page.on('console', (m) => lines.push(m.text()));
  page.on('pageerror', (e) => lines.push(`pageerror: ${(e as Error).message}`));
  page.setDefaultTimeout(900_000);
  await page.goto(`${origin}/`);
  await page.waitForFunction('window.wtReady === true', { timeout: 60_000 });
  return {
    browser, page, origin, console: lines,
    async close() { await browser.close(); await new Promise((r) => server.close(r)); },
  };
}
