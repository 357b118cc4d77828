// Load with abusive clients on `webtune deploy` (not a test), loopback only and bounded in requests and time:
// well-behaved streaming completions run beside oversized bodies (declared and chunked), stalled half-sent
// requests, clients that disconnect mid-stream and a burst past the queue. Prints status codes by client kind,
// aggregate tokens/s and p50/p99 time to first token of the well-behaved streams, and the server's resident
// memory before, at peak and after; then a JSON line.
// Usage (after scripts/build.mjs; bench.sh bundles this file to build/bench/serve-abuse.mjs):
//   node build/bench/serve-abuse.mjs [--runtime node|deno] [--streams 48] [--max_tokens 64] [--oversized 8]
//        [--stalled 16] [--disconnects 16] [--burst 200] [--max_num_seqs 4] [--max_queue 128]
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';

const argv = process.argv.slice(2);
const opt = (name: string, fallback: string) => { const i = argv.indexOf(`--${name}`); return i >= 0 ? argv[i + 1] : fallback; };
const runtime = opt('runtime', 'node'), model = opt('model', '../shared/models/stories260K');
const streams = Number(opt('streams', '48')), maxTokens = Number(opt('max_tokens', '64')), oversized = Number(opt('oversized', '8'));
const stalled = Number(opt('stalled', '16')), disconnects = Number(opt('disconnects', '16')), burst = Number(opt('burst', '200'));
const maxNumSeqs = opt('max_num_seqs', '4'), maxQueue = opt('max_queue', '128');
/** the whole run is cut after this (a hung server is a result too) */
const DEADLINE_MS = 120_000;

const rssMiB = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
const pct = (xs: number[], p: number) => { const s = [...xs].sort((a, b) => a - b); return s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] : NaN; };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const [cmd, pre] = runtime === 'deno' ? ['node_modules/.bin/deno', ['run', '-A', 'dist/webtune.mjs']] : [process.execPath, ['dist/webtune.mjs']];
const server = spawn(cmd, [...pre, 'deploy', '--model', model, '--device', 'wasm', '--host', '127.0.0.1', '--port', '0', '--max_num_seqs', maxNumSeqs,
  '--max_queue', maxQueue, '--request_timeout', '5'], { stdio: ['ignore', 'ignore', 'pipe'] });
let log = '';
const base = await new Promise<string>((done, fail) => {
  server.stderr.on('data', (d) => { log += d; const m = /serving .* at (http:\/\/\S+)\/v1\n/.exec(log); if (m) done(m[1]); });
  server.on('exit', () => fail(new Error(`deploy exited:\n${log}`)));
});
const port = Number(new URL(base).port);
const modelId = (model.replace(/\/+$/, '').split('/').pop())!;
const killer = setTimeout(() => { console.error('serve-abuse: deadline passed'); server.kill('SIGKILL'); process.exit(1); }, DEADLINE_MS);

const codes: Record<string, Record<string, number>> = {};
const count = (kind: string, code: number | string) => { (codes[kind] ??= {})[code] = (codes[kind][code] ?? 0) + 1; };

/** a streaming completion; returns time to first token and tokens, or aborts after `abortAfter` chunks */
async function stream(kind: string, i: number, abortAfter = Infinity) {
  const t0 = performance.now(), ctl = new AbortController();
  let ttft = 0, tokens = 0, chunks = 0;
  try {
    const r = await fetch(`${base}/v1/completions`, { method: 'POST', signal: ctl.signal, headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: modelId, prompt: 'Once upon a time', max_tokens: maxTokens, temperature: 0.8, seed: i, stream: true,
        stream_options: { include_usage: true } }) });
    count(kind, r.status);
    if (r.status !== 200) { await r.text(); return null; }
    const reader = r.body!.getReader(), dec = new TextDecoder();
    let buf = '';
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      if (!ttft && buf.includes('"text":"') && !/"text":""/.test(buf)) ttft = performance.now() - t0;
      const u = /"completion_tokens":(\d+)/.exec(buf);
      if (u) tokens = Number(u[1]);
      if (++chunks >= abortAfter) { ctl.abort(); return null; }
    }
    return { ttft, tokens };
  } catch (e) {
    if (ctl.signal.aborted) return null;
    count(kind, `error ${(e as Error).message}`);
    return null;
  }
}

/** a raw request: `head`, then body chunks from `next` (null: stop sending); resolves with the status (0: none) */
function raw(kind: string, head: string, next: () => Uint8Array | null, keepOpenMs = 0): Promise<void> {
  return new Promise((done) => {
    let out = '', answered = false;
    const sock = connect(port, '127.0.0.1', async () => {
      sock.write(head);
      for (let c = next(); c && !answered && !sock.destroyed; c = next()) {
        if (!sock.write(c)) await new Promise((r) => sock.once('drain', r));
      }
      if (keepOpenMs) setTimeout(() => sock.destroy(), keepOpenMs);
    });
    // Deno answers but keeps the connection of a refused body until the client leaves: leave 2 s after the answer
    sock.on('data', (d) => { out += d; if (!answered) setTimeout(() => sock.destroy(), 2000); answered = true; });
    sock.on('error', () => {});
    sock.on('close', () => { count(kind, Number(/^HTTP\/1\.1 (\d+)/.exec(out)?.[1] ?? 0)); done(); });
  });
}

const post = (extra: string) => `POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n${extra}\r\n`;
const MiB = new Uint8Array(1 << 20).fill(32);
const chunkedMiB = new Uint8Array([...new TextEncoder().encode('100000\r\n'), ...MiB, 13, 10]); // (built once: spreading 1 MiB is slow)
const sixtyMB = () => { let sent = 0; return () => (sent++ < 60 ? MiB : null); };

await stream('warm-up', 0); // kernels, first allocations
const rssBefore = rssMiB(server.pid!);
let rssPeak = rssBefore;
const sampler = setInterval(() => { try { rssPeak = Math.max(rssPeak, rssMiB(server.pid!)); } catch { /* exited */ } }, 50);

const t0 = performance.now();
const good = Array.from({ length: streams }, (_, i) => stream('well-behaved stream', i + 1));
const abuse = [
  ...Array.from({ length: oversized / 2 }, () => raw('60 MB body, Content-Length', post('Content-Length: 60000000\r\n'), sixtyMB())),
  ...Array.from({ length: oversized / 2 }, () => raw('60 MB body, chunked', post('Transfer-Encoding: chunked\r\n'), (() => {
    const next = sixtyMB(); return () => (next() ? chunkedMiB : null);
  })())),
  ...Array.from({ length: stalled }, () => raw('stalled half-sent body', post('Content-Length: 1000\r\n'),
    (() => { let once = false; return () => (once ? null : (once = true, new TextEncoder().encode('{"model": "'))); })(), 20_000)),
  ...Array.from({ length: disconnects }, (_, i) => stream('disconnect after 2 chunks', 1000 + i, 2)),
];
await sleep(200);
// a burst past max_num_seqs + max_queue: the excess must be 429 at once
const burstT0 = performance.now();
const flood = Array.from({ length: burst }, (_, i) => fetch(`${base}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ model: modelId, prompt: 'Once', max_tokens: 4, seed: i }) }).then(async (r) => { count('burst (4 tokens)', r.status); await r.text(); })
  .catch((e) => count('burst (4 tokens)', `error ${(e as Error).message}`)));
const results = (await Promise.all(good)).filter((x): x is { ttft: number; tokens: number } => x !== null);
const secs = (performance.now() - t0) / 1000;
await Promise.all([...abuse, ...flood]);
const burstSecs = (performance.now() - burstT0) / 1000;
clearInterval(sampler);
await sleep(6000); // idle keep-alive sockets close (5 s)
const rssAfter = rssMiB(server.pid!);
const metrics = await (await fetch(`${base}/metrics`)).text();
server.kill('SIGTERM');
clearTimeout(killer);

const tokens = results.reduce((a, x) => a + x.tokens, 0), ttft = results.map((x) => x.ttft);
console.log(`serve-abuse: ${modelId} on wasm (${runtime}), max_num_seqs ${maxNumSeqs}, max_queue ${maxQueue}, request_timeout 5 s, body limit 4 MiB`);
for (const [kind, byCode] of Object.entries(codes)) console.log(`  ${kind.padEnd(28)} ${Object.entries(byCode).map(([c, n]) => `${c}×${n}`).join(' ')}`);
console.log(`well-behaved: ${results.length}/${streams} streams, ${tokens} tokens in ${secs.toFixed(2)} s = ${(tokens / secs).toFixed(0)} tokens/s; ` +
  `ttft p50 ${(pct(ttft, 50) / 1000).toFixed(3)} s, p99 ${(pct(ttft, 99) / 1000).toFixed(3)} s; all abuse settled after ${burstSecs.toFixed(1)} s`);
console.log(`server RSS: before ${rssBefore.toFixed(1)} MiB, peak ${rssPeak.toFixed(1)} MiB, after (idle) ${rssAfter.toFixed(1)} MiB`);
console.log(metrics.split('\n').filter((l) => /^webtune_(http_requests_total|queue_depth|active_sequences)/.test(l)).join('\n'));
console.log(JSON.stringify({ bench: 'serve-abuse', runtime, streams, completed: results.length, max_tokens: maxTokens, tokens_per_s: +(tokens / secs).toFixed(1),
  ttft_p50_s: +(pct(ttft, 50) / 1000).toFixed(3), ttft_p99_s: +(pct(ttft, 99) / 1000).toFixed(3), codes,
  rss_mib_before: +rssBefore.toFixed(1), rss_mib_peak: +rssPeak.toFixed(1), rss_mib_after: +rssAfter.toFixed(1) }));
