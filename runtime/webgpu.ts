// Acquires a WebGPU device on the current runtime: Deno and browsers expose navigator.gpu;
// Node gets Dawn through the npm `webgpu` package. Requests the adapter's real limits (the
// defaults are far lower) and the shader-f16 / subgroups features where the adapter has them.

export interface GpuContext {
  device: GPUDevice;
  adapter: GPUAdapter;
  /** human-readable adapter name, e.g. "llvmpipe (LLVM 15.0.6, 256 bits)" */
  description: string;
  /** true for CPU implementations (lavapipe/llvmpipe, SwiftShader): prefer kernels without workgroup memory */
  isCpu: boolean;
  features: Set<string>;
}

export type GpuResult = { ok: true; gpu: GpuContext } | { ok: false; reason: string };

const WANTED_FEATURES = ['shader-f16', 'subgroups', 'timestamp-query'] as const;

// Dawn frees its GPU object when it is garbage-collected, even while a device made from it is in use:
// keep it reachable for the life of the process.
let dawnGpu: GPU | undefined;

async function getNavigatorGpu(): Promise<GPU | undefined> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return nav.gpu;
  if (typeof (globalThis as { process?: unknown }).process === 'undefined') return undefined;
  // Node: Dawn. Imported lazily so that runtimes without the native addon never load it.
  const name = 'webgpu';
  const dawn = await import(/* @vite-ignore */ name) as { create(o: string[]): GPU; globals: object };
  Object.assign(globalThis, dawn.globals);
  return (dawnGpu ??= dawn.create([]));
}

let cached: Promise<GpuResult> | undefined;

export function acquireGPU(): Promise<GpuResult> {
  cached ??= (async (): Promise<GpuResult> => {
    let gpu: GPU | undefined;
    try {
      gpu = await getNavigatorGpu();
    } catch (e) {
      return { ok: false, reason: `WebGPU unavailable (${(e as Error).message.split('\n')[0]})` };
    }
    if (!gpu) return { ok: false, reason: 'this runtime has no WebGPU' };
    const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
    if (!adapter) return { ok: false, reason: 'no WebGPU adapter found (on a machine without a GPU run scripts/install-gpu-driver.sh)' };
    const features = WANTED_FEATURES.filter((f) => adapter.features.has(f)) as GPUFeatureName[];
    const requiredLimits: Record<string, number> = {};
    for (const key of ['maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupStorageSize',
      'maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupSizeX', 'maxComputeWorkgroupSizeY',
      'maxComputeWorkgroupSizeZ', 'maxComputeWorkgroupsPerDimension', 'maxStorageBuffersPerShaderStage']) {
      const v = (adapter.limits as unknown as Record<string, number>)[key];
      if (typeof v === 'number') requiredLimits[key] = v;
    }
    const device = await adapter.requestDevice({ requiredFeatures: features, requiredLimits });
    const info = (adapter as GPUAdapter & { info?: GPUAdapterInfo }).info;
    const description = [info?.vendor, info?.architecture, info?.device, info?.description]
      .filter((s) => s && s !== '0').join(' ') || 'unknown adapter';
    const isCpu = /llvmpipe|lavapipe|swiftshader|software/i.test(description) ||
      Boolean((info as { isFallbackAdapter?: boolean } | undefined)?.isFallbackAdapter);
    return { ok: true, gpu: { device, adapter, description, isCpu, features: new Set(features) } };
  })();
  return cached;
}

/** Destroys the shared device (after every WebGpuOps using it is destroyed); a later acquireGPU starts afresh. */
export async function releaseGPU(): Promise<void> {
  const result = await cached;
  cached = undefined;
  if (result?.ok) result.gpu.device.destroy();
}
