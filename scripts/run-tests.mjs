// The suite in two lanes (npm test, after the build): the unit test files (pure computation: no CLI runs, servers,
// WebGPU or timeouts) two at a time, then the end-to-end ones one at a time, since their timeouts and timings assume
// a machine not also running another test file. Exits non-zero if either lane fails.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const UNIT = ['data-collate', 'data-datasets', 'data-preprocess', 'data-templates', 'data-tokenized', 'attention-policy', 'families', 'gemm-policy',
  'generate-prefix', 'hf-pipeline', 'hf-tokenizer', 'layers', 'llama2c-to-json', 'plot', 'plot-svg', 'sampling', 'stop-words',
  'tokenizer', 'wasm-ops'];

const dir = 'build/test';
const all = readdirSync(dir).filter((f) => f.endsWith('.test.mjs')).sort();
const unit = all.filter((f) => UNIT.includes(f.replace(/\.test\.mjs$/, '')));
const e2e = all.filter((f) => !unit.includes(f));
for (const name of UNIT) if (!existsSync(join(dir, `${name}.test.mjs`))) throw new Error(`scripts/run-tests.mjs: no ${dir}/${name}.test.mjs`);

let failed = false;
for (const [lane, files, concurrency] of [['unit', unit, 2], ['end-to-end', e2e, 1]]) {
  console.log(`# ${lane}: ${files.length} files, ${concurrency} at a time`);
  const r = spawnSync(process.execPath, ['--test', `--test-concurrency=${concurrency}`, ...files.map((f) => join(dir, f))], { stdio: 'inherit' });
  failed ||= r.status !== 0;
}
process.exit(failed ? 1 : 0);
