// The folders are layers and imports only go down: core (interfaces, errors, RNG: no I/O) ← runtime (platform:
// files, stdio, WebGPU acquisition, WASM loading) ← gpu (WGSL kernels) and models (architecture, loaders, tokenizers),
// which do not import each other ← src (backends' selection, data, training, serving, CLI). Type-only and dynamic
// imports count, and no file takes part in an import cycle.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { ROOT } from './helpers.ts';

const MAY_IMPORT: Record<string, string[]> = {
  core: ['core'],
  runtime: ['core', 'runtime'],
  gpu: ['core', 'runtime', 'gpu'],
  models: ['core', 'runtime', 'models'],
  src: ['core', 'runtime', 'gpu', 'models', 'src'],
};

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** file (relative to the root) → the .ts files it imports (relative to the root) */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const layer of Object.keys(MAY_IMPORT)) {
    for (const file of sources(join(ROOT, layer))) {
      const text = readFileSync(file, 'utf8');
      const specs = [...text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^;'"]*?\bfrom\s+['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]\s*\)/g)]
        .map((m) => m[1] ?? m[2]).filter((s) => s.endsWith('.ts'));
      graph.set(relative(ROOT, file), specs.map((s) => relative(ROOT, resolve(dirname(file), s))));
    }
  }
  return graph;
}

test('imports go one way: core ← runtime ← gpu, models ← src', () => {
  const wrong: string[] = [];
  for (const [file, deps] of importGraph()) {
    const from = file.split('/')[0];
    for (const dep of deps) {
      const to = dep.split('/')[0];
      if (to in MAY_IMPORT && !MAY_IMPORT[from].includes(to)) wrong.push(`${file} imports ${dep}`);
    }
  }
  assert.deepEqual(wrong, []);
});

test('no import cycles', () => {
  const graph = importGraph(), state = new Map<string, 'open' | 'done'>(), path: string[] = [], cycles: string[] = [];
  const visit = (f: string) => {
    state.set(f, 'open'); path.push(f);
    for (const d of graph.get(f) ?? []) {
      if (state.get(d) === 'open') cycles.push([...path.slice(path.indexOf(d)), d].join(' → '));
      else if (!state.has(d)) visit(d);
    }
    path.pop(); state.set(f, 'done');
  };
  for (const f of graph.keys()) if (!state.has(f)) visit(f);
  assert.deepEqual(cycles, []);
});
