// MemoryFs, the browser's file system, keeps node:fs's semantics where webtune relies on them (atomic directory
// renames, EEXIST for a taken run number, ENOENT without a parent), and reads URL files lazily: a header read is one
// Range request, a whole read one fetch.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { MemoryFs } from '../runtime/memory-fs.ts';
import { fileSystem, readFileHead, readText, setFileSystem, writeAtomic, writeFileAtomic } from '../runtime/platform.ts';
import { loadModel } from '../models/load.ts';
import { STORIES } from './helpers.ts';

const code = async (p: Promise<unknown>) => ((await p.then(() => undefined, (e) => e)) as { code?: string } | undefined)?.code;

test('MemoryFs: node:fs error codes, directory renames and atomic writes', async () => {
  const fs = new MemoryFs();
  assert.equal(await code(fs.writeFile('/a/b.txt', 'x')), 'ENOENT', 'no parent folder');
  await fs.mkdir('/a/b', { recursive: true });
  assert.equal(await code(fs.mkdir('/a/b')), 'EEXIST');
  await fs.writeFile('/a/b/c.txt', 'hello');
  await fs.appendFile('/a/b/c.txt', ' world');
  assert.equal(new TextDecoder().decode(await fs.readFile('a/b/./c.txt')), 'hello world');
  assert.deepEqual(await fs.readDir('/a'), ['b']);
  await fs.mkdir('/a/d');
  await fs.rename('/a/b', '/a/d');  // onto an empty folder, as Linux allows
  assert.deepEqual(fs.list('/a'), ['/a/d/c.txt']);
  await fs.mkdir('/a/e');
  await fs.writeFile('/a/e/f', '');
  assert.equal(await code(fs.rename('/a/e', '/a/d')), 'ENOTEMPTY');
  assert.equal(await code(fs.rm('/a/d')), 'EISDIR');
  await fs.rm('/a/d', { recursive: true });
  assert.equal(await fs.stat('/a/d'), undefined);
  await fs.rm('/nothing', { force: true });

  // platform's atomic writes on it: a failed build leaves nothing, a finished one replaces the folder whole
  const before = fileSystem();
  setFileSystem(fs);
  try {
    await assert.rejects(writeAtomic('/a/run', async (tmp) => { await fs.mkdir(tmp); await fs.writeFile(`${tmp}/x`, '1'); throw new Error('boom'); }), /boom/);
    assert.deepEqual(fs.list('/a'), ['/a/e/f']);
    await writeFileAtomic('/a/log.jsonl', '{}\n');
    assert.equal(await readText('/a/log.jsonl'), '{}\n');
  } finally {
    setFileSystem(before);
  }
});

test('MemoryFs: URL files are fetched lazily (a header read is one Range request) and a llama2.c model loads from them', async () => {
  const requests: string[] = [];
  const fetchFn = (async (input: string | URL | Request, init?: RequestInit) => {
    const name = String(input).split('/').pop()!, body = readFileSync(resolve(STORIES, name));
    const range = /bytes=(\d+)-(\d+)/.exec(new Headers(init?.headers).get('range') ?? '');
    requests.push(`${init?.method ?? 'GET'} ${name}${range ? ` ${range[1]}-${range[2]}` : ''}`);
    if (range) return new Response(body.subarray(Number(range[1]), Number(range[2]) + 1), { status: 206 });
    return new Response(init?.method === 'HEAD' ? null : body, { headers: { 'content-length': String(body.length) } });
  }) as typeof fetch;
  const fs = new MemoryFs({ fetch: fetchFn }).mount('/m', { baseUrl: 'http://models.test/stories/', manifest: ['stories260K.bin', 'tok512.bin'] });
  const before = fileSystem();
  setFileSystem(fs);
  try {
    const head = await readFileHead('/m/stories260K.bin', 28);
    assert.deepEqual(head, new Uint8Array(readFileSync(resolve(STORIES, 'stories260K.bin')).subarray(0, 28)));
    assert.deepEqual(requests, ['GET stories260K.bin 0-27']);
    const loaded = await loadModel('/m');
    assert.equal(loaded.model.config.hiddenSize, 64);
    assert.deepEqual(loaded.tokenizer.encode('Once upon a time', { addSpecialTokens: true }).length > 3, true);
    // each file's body is fetched once, however often it is read
    assert.equal(requests.filter((r) => /^GET \S+$/.test(r)).length, new Set(requests.filter((r) => /^GET \S+$/.test(r))).size);
  } finally {
    setFileSystem(before);
  }
});

test('resolveFrom agrees with node:path posix.resolve, relative parts included', async () => {
  const { resolveFrom } = await import('../runtime/paths.ts');
  const { posix } = await import('node:path');
  const cases: string[][] = [['../shared/x'], ['a', '../b'], ['./c/', 'd'], ['/abs', 'e/../f'], ['g', '/h', 'i'], ['..', '..', '..', '..', 'j'], ['.']];
  for (const parts of cases) assert.equal(resolveFrom('/w/main', ...parts), posix.resolve('/w/main', ...parts), parts.join(' '));
});
