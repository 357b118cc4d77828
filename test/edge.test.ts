// The edge bundle (dist/edge/worker.mjs) in workerd: an HTTP request returns llama2.c's greedy story.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { expectedStory, oracleContinuation, ROOT, STORIES } from './helpers.ts';

async function freePort(): Promise<number> {
  return new Promise((done) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => done(port));
    });
  });
}

/** workerd resolves embed paths relative to the config file and refuses absolute ones. */
function workerdConfig(port: number, dir: string): string {
  const edge = relative(dir, resolve(ROOT, 'dist/edge'));
  const stories = relative(dir, STORIES);
  return `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [ (name = "main", worker = .webtune) ],
  sockets = [ (name = "http", address = "127.0.0.1:${port}", http = (), service = "main") ],
);
const webtune :Workerd.Worker = (
  modules = [
    (name = "worker.mjs", esModule = embed "${edge}/worker.mjs"),
    (name = "kernels.wasm", wasm = embed "${edge}/kernels.wasm"),
    (name = "tokenizer.wasm", wasm = embed "${edge}/tokenizer.wasm"),
    (name = "model.bin", data = embed "${stories}/stories260K.bin"),
    (name = "tokenizer.bin", data = embed "${stories}/tok512.bin"),
  ],
  compatibilityDate = "2025-09-01",
);
`;
}

test('workerd serves llama2.c\'s greedy story from the WASM backend', async (t) => {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'webtune-edge-'));
  writeFileSync(join(dir, 'config.capnp'), workerdConfig(port, dir));
  const workerd = spawn(resolve(ROOT, 'node_modules/.bin/workerd'), ['serve', join(dir, 'config.capnp')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '', exited = false;
  workerd.on('exit', () => (exited = true));
  workerd.stdout.on('data', (d) => (log += d));
  workerd.stderr.on('data', (d) => (log += d));
  t.after(() => { workerd.kill('SIGKILL'); });
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try { if ((await fetch(`${base}/health`)).ok) break; } catch { /* not up yet */ }
    if (i > 200 || exited) assert.fail(`workerd did not start:\n${log}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const story = await fetch(`${base}/?prompt=&max_new_tokens=200&temperature=0`);
  assert.equal(story.status, 200, log);
  assert.equal(await story.text(), expectedStory());

  const prompt = 'Tom and Lily';
  const cont = await fetch(`${base}/?prompt=${encodeURIComponent(prompt)}&max_new_tokens=40&temperature=0`);
  assert.equal(await cont.text(), oracleContinuation(prompt, 40).text);

  const bad = await fetch(`${base}/?prompt=x&temperature=hot`);
  assert.equal(bad.status, 400);
  assert.match(await bad.text(), /temperature/);
});
