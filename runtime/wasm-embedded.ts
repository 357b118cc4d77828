// Embeds the built .wasm modules into a bundle (esbuild's binary loader) and registers them.
// Edge bundles do not import this: they register WebAssembly.Module imports instead.
import kernels from '../build/kernels.wasm';
import kernelsThreads from '../build/kernels-threads.wasm';
import kernelsRelaxed from '../build/kernels-relaxed.wasm';
import kernelsThreadsRelaxed from '../build/kernels-threads-relaxed.wasm';
import tokenizer from '../build/tokenizer.wasm';
import collate from '../build/collate.wasm';
import { registerWasm } from './wasm.ts';

registerWasm('kernels', kernels);
registerWasm('kernels-threads', kernelsThreads);
registerWasm('kernels-relaxed', kernelsRelaxed);
registerWasm('kernels-threads-relaxed', kernelsThreadsRelaxed);
registerWasm('tokenizer', tokenizer);
registerWasm('collate', collate);
