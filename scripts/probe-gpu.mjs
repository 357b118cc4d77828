// Prints the WebGPU adapter Node (Dawn) finds, or exits 1 when there is none.
import { create, globals } from 'webgpu';
Object.assign(globalThis, globals);
const adapter = await create([]).requestAdapter();
if (!adapter) { console.error('no WebGPU adapter'); process.exit(1); }
console.log(adapter.info?.description || adapter.info?.vendor || 'adapter found');
process.exit(0);
