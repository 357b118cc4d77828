// Acquires a WebGPU device on the current runtime: Deno and browsers expose navigator.gpu;
// Node gets Dawn through the npm `webgpu` package. Requests the adapter's real limits (the
// defaults are far lower) and the subgroups and timestamp-query features where the adapter has them (16-bit
// storage is packed in u32 words, gpu/ops/half.ts, so shader-f16 is not needed).
import { host } from './platform.ts';

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

const WANTED_FEATURES = ['subgroups', 'timestamp-query'] as const;

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
  // WEBTUNE_GPU_ADAPTER=NAME: Dawn's own adapter choice by name (a multi-GPU host with different GPUs); identical
  // GPUs share a name, so a process per GPU needs the GPU made visible to it from outside (README, Real GPUs).
  const adapter = (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env.WEBTUNE_GPU_ADAPTER;
  return (dawnGpu ??= dawn.create(adapter ? [`adapter=${adapter}`] : []));
}

let cached: Promise<GpuResult> | undefined;

/** Dawn's notice that it clamped the adapter's dynamic-buffer limits (printed while it lists adapters; harmless). */
const DAWN_LIMIT_NOTICE = /^Warning: maxDynamic(Uniform|Storage)BuffersPerPipelineLayout artificially reduced from \d+ to \d+/;
let dawnListed = false;

async function requestAdapter(gpu: GPU): Promise<GPUAdapter | null> {
  const options: GPURequestAdapterOptions = { powerPreference: 'high-performance' };
  if (gpu !== dawnGpu || dawnListed) return gpu.requestAdapter(options);
  dawnListed = true; // Dawn lists the adapters, and prints, on its first request only, inside the call
  return host.filterNativeStderr(() => gpu.requestAdapter(options), DAWN_LIMIT_NOTICE);
}

/** PCI vendor ids (Deno reports the id as a number: "65541" for Mesa's llvmpipe) → the vendor's name. */
const PCI_VENDORS: Record<number, string> = {
  0x10de: 'NVIDIA', 0x1002: 'AMD', 0x1022: 'AMD', 0x8086: 'Intel', 0x10005: 'Mesa', 0x13b5: 'ARM', 0x5143: 'Qualcomm',
  0x106b: 'Apple', 0x1af4: 'virtio', 0x1414: 'Microsoft', 0x14e4: 'Broadcom', 0x1010: 'Imagination', 0x15ad: 'VMware',
  0x1ae0: 'Google',
};

/** An adapter's vendor as a name: a numeric PCI id (decimal or 0x hex) is looked up, a name is kept as it is. */
export function vendorName(vendor: string | undefined): string | undefined {
  const v = vendor?.trim();
  if (!v || v === '0') return undefined;
  if (!/^(0x[0-9a-f]+|\d+)$/i.test(v)) return v;
  const id = Number(v);
  return PCI_VENDORS[id] ?? `vendor 0x${id.toString(16).padStart(4, '0')}`;
}

/** The adapter's description from GPUAdapterInfo: vendor name, architecture, device, driver description. */
export function describeAdapter(info: Partial<Pick<GPUAdapterInfo, 'vendor' | 'architecture' | 'device' | 'description'>> | undefined): string {
  return [vendorName(info?.vendor), info?.architecture, info?.device, info?.description]
    .filter((s) => s && s !== '0').join(' ') || 'unknown adapter';
}

// One uncapturederror listener per device, whatever number of backends share it: a listener per backend piled up past
// EventTarget's limit of 10 (MaxListenersExceededWarning) in any process that made more than ten.
const errorSinks = new WeakMap<GPUDevice, Set<(message: string) => void>>();

/** Calls `sink` with the message of each uncaptured error of `device`; returns the function that stops it. */
export function onUncapturedError(device: GPUDevice, sink: (message: string) => void): () => void {
  let sinks = errorSinks.get(device);
  if (!sinks) {
    const set = sinks = new Set();
    errorSinks.set(device, set);
    device.addEventListener?.('uncapturederror', (e) => {
      for (const s of set) s((e as GPUUncapturedErrorEvent).error.message);
    });
  }
  sinks.add(sink);
  return () => { sinks.delete(sink); };
}

// Why each lost device was lost (a browser takes the GPU back: a driver reset, a tab in the background, destroy()).
const lostDevices = new WeakMap<GPUDevice, string>();

/** The reason `device` was lost, as one line; undefined while it works. */
export function deviceLostReason(device: GPUDevice): string | undefined {
  return lostDevices.get(device);
}

export function acquireGPU(): Promise<GpuResult> {
  if (cached) return cached;
  const mine: Promise<GpuResult> = cached = (async (): Promise<GpuResult> => {
    let gpu: GPU | undefined;
    try {
      gpu = await getNavigatorGpu();
    } catch (e) {
      return { ok: false, reason: `WebGPU unavailable (${(e as Error).message.split('\n')[0]})` };
    }
    if (!gpu) return { ok: false, reason: 'this runtime has no WebGPU' };
    let adapter: GPUAdapter | null;
    try {
      adapter = await requestAdapter(gpu);
    } catch (e) {  // Dawn refuses an adapter= it has not got (WEBTUNE_GPU_ADAPTER) this way; the list is on stderr
      const chosen = (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env.WEBTUNE_GPU_ADAPTER;
      return { ok: false, reason: `${chosen ? `WEBTUNE_GPU_ADAPTER=${chosen}: ` : ''}${(e as Error).message.split('\n')[0]}` };
    }
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
    // A lost device never comes back: the next acquireGPU asks for a new one.
    void device.lost?.then((info) => {
      lostDevices.set(device, `${info.reason ?? 'unknown'}${info.message ? `: ${info.message.split('\n')[0]}` : ''}`);
      if (cached === mine) cached = undefined;
    });
    const info = (adapter as GPUAdapter & { info?: GPUAdapterInfo }).info;
    const description = describeAdapter(info);
    const isCpu = /llvmpipe|lavapipe|swiftshader|software/i.test(description) ||
      Boolean((info as { isFallbackAdapter?: boolean } | undefined)?.isFallbackAdapter);
    return { ok: true, gpu: { device, adapter, description, isCpu, features: new Set(features) } };
  })();
  return mine;
}

/** Destroys the shared device (after every WebGpuOps using it is destroyed); a later acquireGPU starts afresh. */
export async function releaseGPU(): Promise<void> {
  const result = await cached;
  cached = undefined;
  if (result?.ok) result.gpu.device.destroy();
}
