/**
 * Workers keys inside the shared key space. A Workers key "k" is the Deno key ["k"]: the bytes
 * `0x02 ‖ escape(utf8(k)) ‖ 0x00`, where escape turns each 0x00 into 0x00 0xFF. Escaping preserves
 * byte order, so these keys sort in the UTF-8 byte order Workers KV lists in.
 *
 * Multi-part Deno keys whose first part is a string live in the same range and interleave with ours:
 * ["a", "b"] (`02 61 00 02 62 00`) sorts between ["a"] (`02 61 00`) and ["a\0"] (`02 61 00 FF 00`).
 * A listing skips each such group in one seek: every tuple starting with the part P lies in
 * `[02 esc(P) 00 00, 02 esc(P) 00 FF)`, so the scan resumes at `02 esc(P) 00 FF`.
 */
import { encodeKey } from "../../core/keys.ts";

const STRING = 0x02;
const utf8 = new TextEncoder();
// ignoreBOM: a key name that starts with U+FEFF keeps it (the default decoder would strip it).
const utf8Decoder = new TextDecoder("utf-8", { ignoreBOM: true });

/** The engine key of the Workers key `name`. */
export function workersKey(name: string): Uint8Array {
  return encodeKey([name]);
}

/** The smallest key after `key` and everything it prefixes: `key` with its last non-0xFF byte + 1. */
function strinc(key: Uint8Array): Uint8Array {
  let n = key.length;
  while (n > 0 && key[n - 1] === 0xff) n--;
  const out = key.slice(0, n);
  out[n - 1]! += 1;
  return out;
}

/** The `[start, end)` range holding every Workers key that starts with `prefix` (and tuples under them). */
export function prefixRange(prefix: string): { start: Uint8Array; end: Uint8Array } {
  const body = utf8.encode(prefix);
  const start = new Uint8Array(1 + body.length * 2);
  start[0] = STRING;
  let n = 1;
  for (const b of body) {
    start[n++] = b;
    if (b === 0) start[n++] = 0xff;
  }
  const trimmed = start.slice(0, n);
  return { start: trimmed, end: strinc(trimmed) };
}

/** The first key strictly after `key`. */
export function keyAfter(key: Uint8Array): Uint8Array {
  const out = new Uint8Array(key.length + 1);
  out.set(key);
  return out;
}

/** What a stored key in the string range is to a Workers listing. */
export type ScannedKey =
  /** A single-string-part key: the Workers key `name`. */
  | { readonly name: string }
  /** A tuple under a string first part: skip its whole group by resuming at `resumeAt`. */
  | { readonly resumeAt: Uint8Array }
  /** Anything else (not produced by the key codec): skip just this key. */
  | null;

export function scanKey(key: Uint8Array): ScannedKey {
  if (key[0] !== STRING) return null;
  for (let i = 1; i < key.length; i++) {
    if (key[i] !== 0) continue;
    if (key[i + 1] === 0xff) {
      i++;
      continue;
    }
    if (i === key.length - 1) return { name: unescapeName(key.subarray(1, i)) };
    const resumeAt = new Uint8Array(i + 2);
    resumeAt.set(key.subarray(0, i + 1));
    resumeAt[i + 1] = 0xff;
    return { resumeAt };
  }
  return null;
}

function unescapeName(escaped: Uint8Array): string {
  if (!escaped.includes(0)) return utf8Decoder.decode(escaped);
  const out = new Uint8Array(escaped.length);
  let n = 0;
  for (let i = 0; i < escaped.length; i++) {
    out[n++] = escaped[i]!;
    if (escaped[i] === 0) i++; // the 0xFF of an escaped NUL
  }
  return utf8Decoder.decode(out.subarray(0, n));
}
