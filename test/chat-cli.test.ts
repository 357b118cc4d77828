// `webtune infer` as an interactive chat (no --prompt, no --query) on the real stories260K model: each streamed
// answer equals what `--query` gives for the same conversation, later turns see the history (checked against the
// conversation rendered by hand and generated in-process), the commands work, and stop words cut the text.
import '../runtime/wasm-embedded.ts';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createWasmOps } from '../src/backend/wasm-ops.ts';
import { chatPrompt } from '../src/chat-prompt.ts';
import { Generator } from '../src/generate.ts';
import { loadModel } from '../models/load.ts';
import { CLI, continuation, DENO, runCli, STORIES, type RunResult } from './helpers.ts';

const N = '24';
const FLAGS = ['--model', STORIES, '--max_new_tokens', N, '--temperature', '0', '--device', 'wasm'];

/** Runs `webtune infer FLAGS ARGS` with `input` piped to stdin (then closed). */
function chat(args: string[], input: string, runtime: 'node' | 'deno' = 'node'): Promise<RunResult> {
  const [cmd, pre] = runtime === 'node' ? [process.execPath, [CLI]] : [DENO, ['run', '-A', CLI]];
  return new Promise((done) => {
    const child = spawn(cmd, [...pre, 'infer', ...FLAGS, ...args], { timeout: 300_000,
      env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' } });
    let stdout = '', stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    child.on('close', (status) => done({ status, stdout, stderr }));
    child.stdin.end(input);
  });
}

/**
 * stdout is a prompt (`<<< `, `<<<[M] `, `<<<[S] `, `<<<[MS] `) before every message read, then the message's
 * answer and a newline: the answers are the text between prompts; commands print nothing.
 */
function answers(stdout: string): string[] {
  const parts = stdout.split(/<<<(?:\[M?S?\])? /);
  assert.equal(parts[0], '', 'stdout starts with a prompt');
  return parts.slice(1).filter((p) => p !== '').map((p) => { assert.match(p, /\n$/); return p.slice(0, -1); });
}

async function query(q: string, ...more: string[]): Promise<string> {
  const r = await runCli(['infer', ...FLAGS, '--query', q, ...more]);
  assert.equal(r.status, 0, r.stderr);
  return continuation(r.stdout);
}

/** The answer to a whole conversation, rendered and generated in-process (greedy, as the CLI runs it). */
async function answerTo(messages: { role: string; content: string }[], system?: string): Promise<{ text: string; rendered: string }> {
  const loaded = await loadModel(STORIES);
  const ops = await createWasmOps();
  try {
    const p = await chatPrompt(loaded, { messages, system });
    const r = await new Generator(ops, loaded).generate(p.ids, { maxNewTokens: Number(N), temperature: 0, stopIds: p.stopIds });
    return { text: r.text, rendered: p.text };
  } finally {
    ops.destroy();
  }
}

const Q1 = 'Who are you?', Q2 = 'What is your name?', QM = 'Tell me\na story', SYS = 'You are Lily.';

test('chat: answers equal --query, history is used, clear / multi-line / reset-system / quit work', async () => {
  // In multi-line mode commands end with `#` too (`clear#`); reset-system clears the history.
  const input = [Q1, Q2, 'clear', Q2, 'multi-line', 'clear#', 'Tell me', 'a story#', 'single-line#', '', 'reset-system', SYS, Q1,
    'QUIT', 'Who is Anna?', ''].join('\n');
  const [r, a1, a2alone, am, a1sys] = await Promise.all([chat([], input), query(Q1), query(Q2), query(QM), query(Q1, '--system', SYS)]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /chat template: default/);
  assert.match(r.stderr, /`reset-system`/, 'the commands are explained on stderr');
  const got = answers(r.stdout);
  assert.equal(got.length, 5, r.stdout);
  // Turn 2 sees turn 1: the conversation as the default template renders it, by hand.
  const second = await answerTo([{ role: 'user', content: Q1 }, { role: 'assistant', content: a1 }, { role: 'user', content: Q2 }]);
  assert.equal(second.rendered, `<s>### Human:\n${Q1}\n\n### Assistant:\n${a1}</s>\n\n### Human:\n${Q2}\n\n### Assistant:\n`);
  assert.notEqual(second.text, a2alone, 'these questions must answer differently with and without history');
  assert.deepEqual(got, [a1, second.text, a2alone, am, a1sys]);
  // The prompts as ms-swift shows them: multi-line [M], system [S]; after QUIT nothing more is read.
  assert.match(r.stdout, /<<<\[M\] /);
  assert.match(r.stdout, /<<<\[S\] /);
  assert.ok(r.stdout.endsWith(`${a1sys}\n<<< `), JSON.stringify(r.stdout.slice(-80)));
});

test('chat under Deno: end of input ends cleanly; a turn over the context is refused and the chat goes on', async () => {
  const long = 'hello '.repeat(600).trim();
  const [r, a1] = await Promise.all([chat([], `${long}\n${Q1}`, 'deno'), query(Q1)]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /error: the conversation is \d+ tokens; the model's context is 512: enter `clear`/);
  // The refused turn leaves no trace in the history: the next answer is the first turn's.
  assert.deepEqual(answers(r.stdout), [a1]);
  assert.ok(r.stdout.endsWith(`${a1}\n<<< `));
});

test('--stop_words / --stop cut --prompt, --query and chat answers before the first stop word', async () => {
  const [full, a1] = await Promise.all([runCli(['infer', ...FLAGS, '--prompt', 'Once upon a time']), query(Q1)]);
  assert.equal(full.status, 0, full.stderr);
  const story = continuation(full.stdout);
  // Words that span tokens, taken from the unconstrained texts so that they surely occur.
  const storyStop = story.slice(story.length >> 1, (story.length >> 1) + 5);
  const chatStop = a1.slice(3, 9);
  assert.ok(storyStop.length === 5 && chatStop.length === 6);
  const [p, q, c] = await Promise.all([
    runCli(['infer', ...FLAGS, '--prompt', 'Once upon a time', '--stop_words', 'never-there', storyStop]),
    runCli(['infer', ...FLAGS, '--query', Q1, '--stop', chatStop]),
    chat(['--stop_words', chatStop], `${Q1}\n${Q2}\n`),
  ]);
  for (const x of [p, q, c]) assert.equal(x.status, 0, x.stderr);
  assert.equal(continuation(p.stdout), story.slice(0, story.indexOf(storyStop)));
  const cut = a1.slice(0, a1.indexOf(chatStop));
  assert.equal(continuation(q.stdout), cut);
  // The chat keeps the cut answer in its history.
  const second = await answerTo([{ role: 'user', content: Q1 }, { role: 'assistant', content: cut }, { role: 'user', content: Q2 }]);
  const i = second.text.indexOf(chatStop);
  assert.deepEqual(answers(c.stdout), [cut, i >= 0 ? second.text.slice(0, i) : second.text]);
});
