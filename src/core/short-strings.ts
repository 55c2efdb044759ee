/**
 * Short one-byte strings decoded from stored bytes recur: property names of values, parts of keys. The
 * last string seen per hash slot is handed out again when its characters match, so a list of 1,000 alike
 * entries builds (and V8 internalizes) each name once instead of 1,000 times.
 */
const MAX_LENGTH = 16;
const SLOTS = 1024;
const cache: (string | undefined)[] = new Array<string | undefined>(SLOTS).fill(undefined);

/** `bytes[start, start + length)` read as Latin-1 (each byte one UTF-16 unit), for `length` ≤ 16. */
export function shortLatin1(bytes: Uint8Array, start: number, length: number): string {
  let h = length;
  for (let i = start; i < start + length; i++) h = (Math.imul(h, 31) + bytes[i]!) | 0;
  const slot = h & (SLOTS - 1);
  const cached = cache[slot];
  if (cached !== undefined && cached.length === length) {
    let i = 0;
    while (i < length && cached.charCodeAt(i) === bytes[start + i]) i++;
    if (i === length) return cached;
  }
  let s = "";
  for (let i = start; i < start + length; i++) s += String.fromCharCode(bytes[i]!);
  if (length <= MAX_LENGTH) cache[slot] = s;
  return s;
}

export const SHORT_STRING_MAX = MAX_LENGTH;
