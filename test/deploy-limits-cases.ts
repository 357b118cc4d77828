// The request limits of `webtune deploy`, checked the same way under Node and Deno (deploy-limits*.test.ts): a
// server with small limits (1 generation slot, 2 waiting, 100 kB bodies, 1 s to send a request), and clients that
// break them: oversized bodies (declared and chunked), a stalled body, a full queue; /metrics counts what happened.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { STORIES } from './helpers.ts';
import { post, processUsage, rawRequest, startDeploy, type Server } from './deploy-helpers.ts';

export const LIMIT_FLAGS = ['--max_num_seqs', '1', '--max_queue', '2', '--max_request_bytes', '100000', '--request_timeout', '1'];

const errorShape = (body: string) => {
  const e = (JSON.parse(body) as { error: Record<string, unknown> }).error;
  assert.deepEqual(Object.keys(e).sort(), ['code', 'message', 'param', 'type'], body);
  return e;
};

const completionHead = (extra: string) => `POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n${extra}\r\n`;

export function limitTests(runtime: 'node' | 'deno'): void {
  // Deno answers a refused body correctly but keeps the connection until the client closes it (no way to close
  // it from the handler): there the tests check the answer only
  const untilClose = runtime === 'node';
  let srv: Server;
  before(async () => { srv = await startDeploy(['--model', STORIES, '--device', 'wasm', ...LIMIT_FLAGS], runtime); });
  after(async () => { await srv?.stop(); });

  test(`${runtime}: a body over --max_request_bytes is refused with 413 before it is read: declared, or counted as it streams`, async () => {
    const rss0 = processUsage(srv.pid).rssMiB;
    // declares 60 MB: answered at once, without waiting for (or keeping) the body
    const declared = await rawRequest(srv.base, completionHead('Content-Length: 60000000\r\n'), { chunks: () => new Uint8Array(65536).fill(32), untilClose });
    assert.equal(declared.status, 413, declared.head);
    assert.equal(errorShape(declared.body).code, 'request_too_large');
    assert.ok(declared.sent < 20_000_000, `the server let the client send ${declared.sent} bytes`);
    // chunked, no length: refused once 100 kB have arrived, while the client is still sending
    const chunked = await rawRequest(srv.base, completionHead('Transfer-Encoding: chunked\r\n'), {
      chunks: () => new TextEncoder().encode(`10000\r\n${' '.repeat(0x10000)}\r\n`), untilClose,
    });
    assert.equal(chunked.status, 413, chunked.head);
    assert.equal(errorShape(chunked.body).type, 'invalid_request_error');
    assert.ok(chunked.sent < 20_000_000, `the server let the client send ${chunked.sent} bytes`);
    assert.ok(processUsage(srv.pid).rssMiB - rss0 < 60, 'memory grew with the refused bodies');
    // a body under the limit is still served
    const ok = await post(srv.base, '/v1/completions', JSON.stringify({ model: 'stories260K', prompt: 'Once', max_tokens: 2, stop: 'x'.repeat(10) }));
    assert.equal(ok.status, 200, JSON.stringify(ok.json));
  });

  test(`${runtime}: a body that stalls is cut after --request_timeout with 408${untilClose ? ' and the connection closed' : ''}`, async () => {
    const r = await rawRequest(srv.base, completionHead('Content-Length: 100\r\n'), { chunks: [new TextEncoder().encode('{"model":')], untilClose });
    assert.equal(r.status, 408, r.head);
    assert.match(r.head, /connection: close/i);
    assert.ok(r.ms >= 900 && r.ms < 5000, `cut after ${r.ms} ms`);
    if (r.body) assert.equal(errorShape(r.body).code, 'request_timeout');
  });

  test(`${runtime}: past --max_num_seqs + --max_queue requests are refused with 429 and Retry-After; the queue drains`, async () => {
    const send = () => fetch(`${srv.base}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'stories260K', prompt: 'Once', max_tokens: 300, temperature: 0 }) });
    const rs = await Promise.all(Array.from({ length: 5 }, send));
    const codes = rs.map((r) => r.status).sort();
    assert.deepEqual(codes, [200, 200, 200, 429, 429]);
    for (const r of rs.filter((x) => x.status === 429)) {
      assert.ok(Number(r.headers.get('retry-after')) >= 1, 'Retry-After');
      const e = errorShape(await r.text());
      assert.equal(e.type, 'rate_limit_error');
      assert.equal(e.code, 'queue_full');
    }
    await Promise.all(rs.filter((r) => !r.bodyUsed).map((r) => r.text()));
    const h = await (await fetch(`${srv.base}/health`)).json() as { active: number; queued: number };
    assert.deepEqual([h.active, h.queued], [0, 0]);
    // admissions were given back: a full round fits again
    assert.deepEqual((await Promise.all(Array.from({ length: 3 }, send))).map((r) => r.status), [200, 200, 200]);
  });

  test(`${runtime}: queued clients that leave give their place back`, async () => {
    const ctls = Array.from({ length: 3 }, () => new AbortController());
    const reqs = ctls.map((c) => fetch(`${srv.base}/v1/completions`, { method: 'POST', signal: c.signal, headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'stories260K', prompt: 'Once', max_tokens: 500, stream: true }) }).catch(() => null));
    await new Promise((r) => setTimeout(r, 300));
    for (const c of ctls) c.abort();
    await Promise.all(reqs);
    let h = { active: 1, queued: 1 };
    for (let i = 0; i < 100 && h.active + h.queued > 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
      h = await (await fetch(`${srv.base}/health`)).json() as typeof h;
    }
    assert.deepEqual([h.active, h.queued], [0, 0]);
  });

  test(`${runtime}: /metrics exposes status codes, queue depth, active sequences, tokens, time to first token, memory`, async () => {
    const r = await fetch(`${srv.base}/metrics`);
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const text = await r.text();
    for (const code of [200, 408, 413, 429]) assert.match(text, new RegExp(`^webtune_http_requests_total\\{code="${code}"\\} [1-9]`, 'm'), `${code}\n${text}`);
    assert.match(text, /^webtune_queue_depth 0$/m);
    assert.match(text, /^webtune_active_sequences 0$/m);
    assert.match(text, /^webtune_generation_tokens_total [1-9]\d*$/m);
    assert.match(text, /^webtune_generation_tokens_per_second \d+(\.\d)?$/m);
    assert.match(text, /^webtune_time_to_first_token_seconds_count [1-9]/m);
    assert.match(text, /^webtune_time_to_first_token_seconds_bucket\{le="\+Inf"\} [1-9]/m);
    assert.match(text, /^process_resident_memory_bytes [1-9]\d+$/m);
  });
}
