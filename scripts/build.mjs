// Builds everything: asm/<name>/index.ts → build/<name>.wasm (AssemblyScript; with --tests also asm/<name>/test-entry.ts
// → build/<name>-test.wasm, the test-only exports), then the esbuild bundles:
//   dist/webtune.mjs        one ESM bundle for Node and Deno (wasm embedded)
//   dist/edge/worker.mjs    a module Worker; its .wasm files sit beside it and are imported as modules
//   dist/browser/webtune.mjs  the library for a browser page (wasm embedded, no node: imports)
//   dist/webui/app.js       the page of `webtune web-ui` (its styles in app.css)
//   build/test/*.mjs        the test files, bundled the same way (node --test runs them)
// Usage: node scripts/build.mjs [--tests[=substring]] [--asm=name] [--skip-asm]
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, copyFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as esbuild from 'esbuild';

const root = new URL('..', import.meta.url).pathname;
const argv = process.argv.slice(2);
const opt = (name) => { const a = argv.find((x) => x === `--${name}` || x.startsWith(`--${name}=`)); return a === undefined ? undefined : (a.split('=')[1] ?? ''); };
const args = new Set(argv);
mkdirSync(join(root, 'build'), { recursive: true });

// AssemblyScript modules: each asm/<name>/index.ts with its own flags in asm/<name>/asconfig.json if present
// (asm/data-wasi: the data stage as a WASI command module, copied into dist/bundle/ as data.wasm below).
if (!args.has('--skip-asm')) {
  for (const name of readdirSync(join(root, 'asm'))) {
    const entry = join(root, 'asm', name, 'index.ts');
    if (!existsSync(entry) || (opt('asm') && opt('asm') !== name)) continue;
    const out = join(root, 'build', `${name}.wasm`);
    const cfg = join(root, 'asm', name, 'asconfig.json');
    const flags = existsSync(cfg) ? ['--config', cfg] : [];
    const asc = (from, to, more = []) => execFileSync(process.execPath, [join(root, 'node_modules/assemblyscript/bin/asc.js'), from, '-o', to,
      '--optimizeLevel', '3', '--shrinkLevel', '0', '--noAssert', '--enable', 'simd', '--runtime', 'stub', ...flags, ...more],
    { stdio: 'inherit', cwd: root });  // cwd: asconfig.json's `use` names elements by their path from the root
    asc(entry, out);
    // the kernels again over an imported shared memory, for the worker pool (src/backend/wasm-pool.ts)
    // and both once more with relaxed SIMD (fused multiply-add), which runtime/wasm.ts prefers where it validates
    if (name === 'kernels') {
      const threads = ['--enable', 'threads', '--importMemory', '--sharedMemory', '--maximumMemory', '65536'];
      asc(entry, join(root, 'build', 'kernels-threads.wasm'), threads);
      asc(entry, join(root, 'build', 'kernels-relaxed.wasm'), ['--enable', 'relaxed-simd']);
      asc(entry, join(root, 'build', 'kernels-threads-relaxed.wasm'), [...threads, '--enable', 'relaxed-simd']);
    }
    // asm/<name>/test-entry.ts: the module plus exports only tests use, built with the tests as build/<name>-test.wasm
    const testEntry = join(root, 'asm', name, 'test-entry.ts');
    if (opt('tests') !== undefined && existsSync(testEntry)) asc(testEntry, join(root, 'build', `${name}-test.wasm`));
  }
}

const common = {
  bundle: true, format: 'esm', platform: 'neutral', target: 'es2022', logLevel: 'warning',
  mainFields: ['module', 'main'], conditions: ['import'],
  loader: { '.wasm': 'binary' },
  external: ['webgpu', 'node:*'],
};

// CommonJS dependencies (commander) call require() for builtins; give the ESM bundle one (Node and Deno).
const requireShim = "import { createRequire as __webtuneCreateRequire } from 'node:module'; const require = __webtuneCreateRequire(import.meta.url);";

await esbuild.build({
  ...common, entryPoints: [join(root, 'src/entry-node.ts')], outfile: join(root, 'dist/webtune.mjs'),
  banner: { js: `#!/usr/bin/env node\n${requireShim}` },
});

if (existsSync(join(root, 'src/entry-edge.ts'))) {
  await esbuild.build({
    ...common, entryPoints: [join(root, 'src/entry-edge.ts')], outfile: join(root, 'dist/edge/worker.mjs'),
    loader: { '.wasm': 'copy' }, assetNames: '[name]',
    // the model's data modules, written by `webtune build-edge` beside a copy of the bundle
    external: ['webgpu', 'node:*', './webtune.json', './config.json', './model.safetensors', './tokenizer.dat'],
  });
}

// dist/bundle/: what `webtune bundle` copies into every job folder (train.mjs for Node and Deno, wasm embedded)
await esbuild.build({
  ...common, entryPoints: [join(root, 'src/entry-bundle.ts')], outfile: join(root, 'dist/bundle/train.mjs'),
  banner: { js: `#!/usr/bin/env node\n${requireShim}` },
});

// The browser library: runtime/browser-host.ts stands in for runtime/node-host.ts (the one home of node: imports),
// and any other node: import is a build error rather than a module the page cannot load.
const browserHost = {
  name: 'browser-host',
  setup(build) {
    build.onResolve({ filter: /\/node-host\.ts$/ }, () => ({ path: join(root, 'runtime/browser-host.ts') }));
  },
};
await esbuild.build({
  ...common, platform: 'browser', external: [], plugins: [browserHost],
  entryPoints: [join(root, 'src/entry-browser.ts')], outfile: join(root, 'dist/browser/webtune.mjs'),
});

// A bundle's page (index.html, page.mjs with the library for browsers, page.css with uPlot's styles), beside train.mjs
await esbuild.build({
  ...common, platform: 'browser', external: [], plugins: [browserHost],
  entryPoints: { page: join(root, 'src/bundle/page/main.ts') }, outdir: join(root, 'dist/bundle'), outExtension: { '.js': '.mjs' },
});
await esbuild.build({ bundle: true, logLevel: 'warning', entryPoints: [join(root, 'src/bundle/page/page.css')], outfile: join(root, 'dist/bundle/page.css') });
copyFileSync(join(root, 'src/bundle/page/index.html'), join(root, 'dist/bundle/index.html'));
// The bundle's WASI data stage (asm/data-wasi) and its node:wasi runner
if (existsSync(join(root, 'build/data-wasi.wasm'))) copyFileSync(join(root, 'build/data-wasi.wasm'), join(root, 'dist/bundle/data.wasm'));
await esbuild.build({ ...common, platform: 'node', entryPoints: [join(root, 'src/entry-data-wasi.ts')], outfile: join(root, 'dist/bundle/prepare-data.mjs') });

// The web UI's page (webtune web-ui serves dist/webui/app.js and app.css: uPlot's styles and the page's)
await esbuild.build({
  ...common, platform: 'browser', external: [], entryPoints: { app: join(root, 'src/webui/page/main.ts') }, outdir: join(root, 'dist/webui'),
});

if (opt('tests') !== undefined) {
  const tests = readdirSync(join(root, 'test')).filter((f) => f.endsWith('.test.ts') && f.includes(opt('tests')))
    .map((f) => join(root, 'test', f));
  await esbuild.build({
    ...common, platform: 'node', entryPoints: tests, outdir: join(root, 'build/test'), outExtension: { '.js': '.mjs' },
    external: ['webgpu', 'node:*', 'onnxruntime-node', '@huggingface/*'], banner: { js: requireShim },
  });
}
