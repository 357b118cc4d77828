// The WebGPU adapter for tests. With WEBTUNE_REQUIRE_GPU=1 (scripts/test.sh sets it once the driver is installed) a
// missing adapter fails the test file instead of letting it skip or quietly compare the reference backend with itself.
import { acquireGPU, type GpuResult } from '../runtime/webgpu.ts';

export const GPU_REQUIRED = process.env.WEBTUNE_REQUIRE_GPU === '1';

export async function testGPU(): Promise<GpuResult> {
  const r = await acquireGPU();
  if (!r.ok && GPU_REQUIRED) throw new Error(`WEBTUNE_REQUIRE_GPU=1 but there is no WebGPU adapter: ${r.reason}`);
  return r;
}

/** A CLI run's stderr must name the WebGPU device when one is required (a run on the reference kernels proves nothing). */
export function deviceOf(stderr: string): string {
  const m = /device: (\S+)/.exec(stderr);
  if (GPU_REQUIRED && m?.[1] !== 'webgpu') throw new Error(`WEBTUNE_REQUIRE_GPU=1 but the run used ${m?.[1] ?? 'no named device'}:\n${stderr}`);
  return m?.[1] ?? 'unknown';
}
