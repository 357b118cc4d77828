// Help text generated from the code: every command that takes --model describes it with the loader's MODEL_KINDS,
// and lists (templates) come from their registries, so help cannot drift from what the commands accept.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MODEL_KINDS } from '../models/load.ts';
import { BUILTIN_NAMES } from '../src/data/templates/chat-format.ts';
import { runCli } from './helpers.ts';

const flat = (s: string) => s.replace(/\s+/g, ' ');

test('every --model help and the top-level help give the same accepted kinds', async () => {
  const commands = ['infer', 'preprocess', 'sft', 'merge-lora', 'export', 'deploy', 'build-edge'];
  const [top, tokenize, ...helps] = await Promise.all([['--help'], ['tokenize', '--help'], ...commands.map((c) => [c, '--help'])].map((a) => runCli(a)));
  for (const [i, r] of [top, tokenize, ...helps].entries()) {
    assert.equal(r.status, 0, r.stderr);
    assert.ok(flat(r.stdout).includes(MODEL_KINDS), `${['webtune', 'tokenize', ...commands][i]} --help names every accepted kind`);
  }
  assert.doesNotMatch(flat(top.stdout), /llama2\.c checkpoint or a directory holding one/, 'infer is not described as llama2.c-only');
  assert.ok(flat(helps[0].stdout).includes(BUILTIN_NAMES.join(', ')), 'infer --template lists the built-in templates');
});
