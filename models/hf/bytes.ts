// GPT-2's byte-level alphabet: every byte has a printable stand-in character, so byte-level BPE vocabularies
// are strings. webtune's engine works on raw bytes, so vocabularies are converted at load and back for display.

/** BYTE_TO_CHAR[b]: the stand-in character code of byte b. */
export const BYTE_TO_CHAR = new Uint16Array(256);
/** CHAR_TO_BYTE[c]: the byte a stand-in character code c < 324 stands for, or -1. */
export const CHAR_TO_BYTE = new Int16Array(324).fill(-1);

{
  let n = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    const c = printable ? b : 256 + n++;
    BYTE_TO_CHAR[b] = c;
    CHAR_TO_BYTE[c] = b;
  }
}

/** The bytes a byte-level token string stands for, or undefined when a character is outside the alphabet. */
export function alphabetToBytes(s: string, out?: Uint8Array): Uint8Array | undefined {
  const r = out ?? new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const b = c < 324 ? CHAR_TO_BYTE[c] : -1;
    if (b < 0) return undefined;
    r[i] = b;
  }
  return r.subarray(0, s.length);
}

/** The byte-level token string for raw bytes. */
export function bytesToAlphabet(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(BYTE_TO_CHAR[bytes[i]]);
  return s;
}
