// Load on `webtune deploy` (not a test): N concurrent streaming completions with the official `openai` client,
// several rounds; prints a table of p50/p99 latency, time to first token, aggregate tokens/s, and the server's
// resident memory and open descriptors before and after (keep-alive sockets given time to close), then a JSON line.
// Usage (after scripts/build.mjs; bench.sh bundles this file to build/bench/serve-load.mjs):
//   node build/bench/serve-load.mjs [--device wasm|webgpu] [--runtime node|deno] [--requests 64] [--max_tokens 64]
//                                   [--rounds 3] [--max_num_seqs 4] [--model ../shared/models/stories260K]
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import OpenAI from 'openai';

const argv = process.argv.slice(2);
const opt = (name: string, fallback: string) => { const i = argv.indexOf(`--${name}`); return i >= 0 ? argv[i + 1] : fallback; };
const device = opt('device', 'wasm'), runtime = opt('runtime', 'node'), model = opt('model', '../shared/models/stories260K');
const requests = Number(opt('requests', '64')), maxTokens = Number(opt('max_tokens', '64')), rounds = Number(opt('rounds', '3'));
const maxNumSeqs = opt('max_num_seqs', '4');

const usage = (pid: number) => ({
  fds: readdirSync(`/proc/${pid}/fd`).length,
  rssMiB: Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024,
});
const pct = (xs: number[], p: number) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]; };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const [cmd, pre] = runtime === 'deno' ? ['node_modules/.bin/deno', ['run', '-A', 'dist/webtune.mjs']] : [process.execPath, ['dist/webtune.mjs']];
const server = spawn(cmd, [...pre, 'deploy', '--model', model, '--device', device, '--port', '0', '--max_num_seqs', maxNumSeqs],
  { stdio: ['ignore', 'ignore', 'pipe'] });
let log = '';
const url = await new Promise<string>((done, fail) => {
  server.stderr.on('data', (d) => { log += d; const m = /serving .* at (http:\/\/\S+)\n/.exec(log); if (m) done(m[1]); });
  server.on('exit', () => fail(new Error(`deploy exited:\n${log}`)));
});
const modelId = (model.replace(/\/+$/, '').split('/').pop())!;
const client = new OpenAI({ baseURL: url, apiKey: 'bench', maxRetries: 0, timeout: 600_000 });

async function one(i: number, round: number) {
  const t0 = performance.now();
  let first = 0, tokens = 0;
  const stream = await client.completions.create({ model: modelId, prompt: 'Once upon a time', max_tokens: maxTokens, temperature: 0.8,
    seed: round * 1000 + i, stream: true, stream_options: { include_usage: true } });
  for await (const chunk of stream) {
    if (!first && chunk.choices[0]?.text) first = performance.now() - t0;
    if (chunk.usage) tokens = chunk.usage.completion_tokens;
  }
  return { latency: performance.now() - t0, ttft: first, tokens };
}

await one(0, -1); // warm-up (kernels, first allocations)
const start = usage(server.pid!);
const rows: string[][] = [];
const all: { p50: number; p99: number; tps: number }[] = [];
for (let r = 0; r < rounds; r++) {
  const t0 = performance.now();
  const res = await Promise.all(Array.from({ length: requests }, (_, i) => one(i, r)));
  const secs = (performance.now() - t0) / 1000;
  const tokens = res.reduce((a, x) => a + x.tokens, 0);
  const lat = res.map((x) => x.latency), ttft = res.map((x) => x.ttft);
  const u = usage(server.pid!);
  const row = { p50: pct(lat, 50), p99: pct(lat, 99), tps: tokens / secs };
  all.push(row);
  rows.push([`${r + 1}`, `${requests}`, `${tokens}`, secs.toFixed(2), (row.p50 / 1000).toFixed(2), (row.p99 / 1000).toFixed(2),
    (pct(ttft, 50) / 1000).toFixed(2), (pct(ttft, 99) / 1000).toFixed(2), row.tps.toFixed(0), u.rssMiB.toFixed(1), `${u.fds}`]);
}
await sleep(6000); // the server's keep-alive timeout is 5 s: idle client sockets close
const end = usage(server.pid!);
server.kill('SIGTERM');

const head = ['round', 'requests', 'tokens', 'wall s', 'p50 s', 'p99 s', 'ttft p50', 'ttft p99', 'tokens/s', 'RSS MiB', 'fds'];
const width = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (cells: string[]) => cells.map((c, i) => c.padStart(width[i])).join('  ');
console.log(`serve-load: ${modelId} on ${device} (${runtime}), ${requests} concurrent streams × ${maxTokens} tokens, max_num_seqs ${maxNumSeqs}`);
console.log(line(head));
for (const r of rows) console.log(line(r));
console.log(`server before: RSS ${start.rssMiB.toFixed(1)} MiB, ${start.fds} fds; after (idle): RSS ${end.rssMiB.toFixed(1)} MiB, ${end.fds} fds`);
const last = all[all.length - 1];
console.log(JSON.stringify({ bench: 'serve-load', model: modelId, runtime, device, requests, max_tokens: maxTokens, max_num_seqs: Number(maxNumSeqs),
  p50_s: +(last.p50 / 1000).toFixed(3), p99_s: +(last.p99 / 1000).toFixed(3), tokens_per_s: +last.tps.toFixed(1),
  rss_mib_before: +start.rssMiB.toFixed(1), rss_mib_after: +end.rssMiB.toFixed(1), fds_before: start.fds, fds_after: end.fds }));
