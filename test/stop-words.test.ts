// StopMatcher: streamed text is cut where a stop word first appears, even when the word spans pieces,
// and nothing that might turn out to be a stop word is shown early.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StopMatcher } from '../src/stop-words.ts';

/** Feeds pieces one at a time; returns every emitted chunk, whether it stopped, and the flushed tail. */
function feed(words: string[], pieces: string[]) {
  const m = new StopMatcher(words);
  const emitted: string[] = [];
  let stopped = false, word: string | undefined;
  for (const p of pieces) {
    const r = m.push(p);
    emitted.push(r.emit);
    if (r.stopped) { stopped = true; word = r.word; break; }
  }
  const tail = stopped ? '' : m.flush();
  return { emitted, text: emitted.join('') + tail, stopped, word, tail };
}

/** The reference: the whole text cut at the earliest occurrence of any stop word. */
function cutAtFirst(text: string, words: string[]): { text: string; stopped: boolean } {
  const hits = words.filter(Boolean).map((w) => text.indexOf(w)).filter((i) => i >= 0);
  return hits.length ? { text: text.slice(0, Math.min(...hits)), stopped: true } : { text, stopped: false };
}

test('no stop words: every piece is shown at once', () => {
  const r = feed([], ['Once', ' upon', ' a time']);
  assert.deepEqual(r.emitted, ['Once', ' upon', ' a time']);
  assert.equal(r.stopped, false);
  assert.equal(new StopMatcher(['']).push('x').emit, 'x', 'an empty stop word is ignored');
});

test('a stop word inside one piece cuts the text before it', () => {
  const r = feed(['END'], ['Hello', ' worldEND and more']);
  assert.deepEqual(r.emitted, ['Hello', ' world']);
  assert.equal(r.stopped, true);
  assert.equal(r.word, 'END');
});

test('a stop word spanning pieces is never shown, and its prefix is held back until settled', () => {
  const r = feed(['\n\n### Human:'], ['The cat.', '\n', '\n###', ' Human', ':', ' more']);
  assert.deepEqual(r.emitted, ['The cat.', '', '', '', '']);
  assert.equal(r.stopped, true);
  assert.equal(r.text, 'The cat.');
});

test('a held-back prefix that turns out not to be a stop word is shown later, in order', () => {
  const m = new StopMatcher(['STOP']);
  assert.deepEqual(m.push('ab ST'), { emit: 'ab ', stopped: false });
  assert.deepEqual(m.push('AR'), { emit: 'STAR', stopped: false });
  assert.deepEqual(m.push('S'), { emit: '', stopped: false });
  assert.equal(m.flush(), 'S', 'generation ended without a stop: the held text is shown');
  assert.equal(m.flush(), '');
});

test('the earliest stop word wins, and after a stop nothing more is emitted', () => {
  const m = new StopMatcher(['world', 'lo w']);
  const r = m.push('hello world');
  assert.deepEqual(r, { emit: 'hel', stopped: true, word: 'lo w' });
  assert.deepEqual(m.push('again'), { emit: '', stopped: true });
  assert.equal(m.stopped, true);
});

test('overlapping prefixes: "aab" held across "aa" + "ab"', () => {
  const r = feed(['aab'], ['xa', 'a', 'ab', 'c']);
  assert.equal(r.text, 'xa');
  assert.equal(r.stopped, true);
});

test('randomized: any split of the text gives the same output as cutting the whole text', () => {
  let seed = 12345;
  const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2147483648) % n);
  const alphabet = ['a', 'b', ' ', '\n', '#', 'é', '🎈'];
  for (let trial = 0; trial < 2000; trial++) {
    const text = Array.from({ length: 1 + rand(30) }, () => alphabet[rand(alphabet.length)]).join('');
    const words = Array.from({ length: rand(3) }, () => Array.from({ length: 1 + rand(4) }, () => alphabet[rand(alphabet.length)]).join(''));
    const pieces: string[] = [];
    const chars = [...text];
    for (let i = 0; i < chars.length;) { const n = 1 + rand(4); pieces.push(chars.slice(i, i + n).join('')); i += n; }
    const got = feed(words, pieces);
    const want = cutAtFirst(text, words);
    assert.equal(got.text, want.text, `${JSON.stringify(text)} ${JSON.stringify(words)} ${JSON.stringify(pieces)}`);
    assert.equal(got.stopped, want.stopped);
    // Nothing shown before the end may be part of a stop word.
    let shown = '';
    for (const e of got.emitted) { shown += e; assert.ok(want.text.startsWith(shown)); }
  }
});
