// Entry of dist/webtune.mjs: the CLI for Node and Deno (wasm modules embedded in the bundle).
import '../runtime/wasm-embedded.ts';
import { argv, exit } from '../runtime/platform.ts';
import { main } from './cli/main.ts';

await exit(await main(argv()));
