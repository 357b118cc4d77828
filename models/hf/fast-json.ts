// Fast tokenizer.json reading: a throwaway engine instance finds model.vocab and model.merges in the file bytes
// and packs them itself (asm/tokenizer/hf/json-model.ts), so JS only JSON.parses the small rest of the file.
// Undefined means "use the plain JSON.parse path" (an unusual file, or one with an error to report precisely).
import { instantiateWasm } from '../../runtime/wasm.ts';
import { bpeOptions, hiddenIdsOf, type PackedBpe } from './bpe-pack.ts';

interface JsonEngine {
  memory: WebAssembly.Memory;
  alloc(size: number): number;
  hfScanJson(ptr: number, len: number): number;
  hfJsonRange(i: number): number;
  hfPackJson(ptr: number, flags: number, aff: number, prefixLen: number, suffixLen: number, unk: number, unkLen: number): number;
  hfPackedPtr(): number;
  hfPackedLen(): number;
}

type Cfg = Record<string, unknown>;
export interface FastJson {
  /** The file with model.vocab replaced by {} and model.merges by []. */
  skeleton: Cfg;
  /** The packed model (as packBpe makes it), or undefined to fall back. */
  pack(m: Cfg, byteLevel: boolean, where: string, record: boolean): PackedBpe | undefined;
}

const utf8 = new TextEncoder();

export async function fastJson(bytes: Uint8Array): Promise<FastJson | undefined> {
  const e = (await instantiateWasm('tokenizer')).exports as unknown as JsonEngine;
  const put = (b: Uint8Array) => { const p = e.alloc(Math.max(b.length, 1)); new Uint8Array(e.memory.buffer, p, b.length).set(b); return p; };
  const file = put(bytes);
  if (e.hfScanJson(file, bytes.length) !== 0) return undefined;
  const [va, ve, ma, me] = [0, 1, 2, 3].map((i) => e.hfJsonRange(i));
  const cuts: [number, number, string][] = [[va, ve, '{}'], [ma, me, '[]']];
  cuts.sort((a, b) => a[0] - b[0]);
  const td = new TextDecoder();
  let text = '', at = 0;
  for (const [a, b, r] of cuts) { text += td.decode(bytes.subarray(at, a)) + r; at = b; }
  text += td.decode(bytes.subarray(at));
  let skeleton: unknown;
  try { skeleton = JSON.parse(text); } catch { return undefined; }
  if (!skeleton || typeof skeleton !== 'object' || Array.isArray(skeleton)) return undefined;
  return {
    skeleton: skeleton as Cfg,
    pack(m, byteLevel, where, record) {
      const o = bpeOptions(m, byteLevel, where, record);
      const pre = utf8.encode(o.prefix), suf = utf8.encode(o.suffix), unk = utf8.encode(o.unk);
      const aff = new Uint8Array(pre.length + suf.length);
      aff.set(pre); aff.set(suf, pre.length);
      const code = e.hfPackJson(file, o.flags, put(aff), pre.length, suf.length, put(unk), unk.length);
      if (code !== 0) return undefined;
      const packed = new Uint8Array(e.memory.buffer, e.hfPackedPtr(), e.hfPackedLen()).slice();
      const dv = new DataView(packed.buffer);
      return { bytes: packed, nVocab: dv.getInt32(0, true), hiddenIds: hiddenIdsOf(packed), unkId: dv.getInt32(16, true) };
    },
  };
}
