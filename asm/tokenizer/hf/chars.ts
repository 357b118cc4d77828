// Rust regex's Unicode \w, which single_word added tokens test on each side of a match:
// Alphabetic ∪ Mark ∪ Decimal_Number ∪ Connector_Punctuation ∪ Join_Control. Approximated with the shared
// tables as \p{L} ∪ \p{M} ∪ \p{N} plus the few Pc and join-control characters.
import { ctype, C_LETTER, C_MARK, C_NUMBER } from '../unicode/props';

export function isWordChar(cp: i32): bool {
  if (cp < 0x80) return (cp >= 0x30 && cp <= 0x39) || ((cp | 0x20) >= 0x61 && (cp | 0x20) <= 0x7a) || cp == 0x5f;
  if ((ctype(cp) & (C_LETTER | C_MARK | C_NUMBER)) != 0) return true;
  return cp == 0x200c || cp == 0x200d || cp == 0x203f || cp == 0x2040 || cp == 0x2054 || cp == 0xfe33 ||
    cp == 0xfe34 || (cp >= 0xfe4d && cp <= 0xfe4f) || cp == 0xff3f;
}
