/**
 * List selectors and cursors, byte for byte as Deno builds them (ext/kv): a selector becomes a
 * `[start, end)` scan; a cursor is the padded base64url of the last key returned, minus the selector's
 * common prefix, and the next page starts right after it (or, reversed, ends right before it).
 */
import { compareBytes, concatBytes } from "../../core/keys.ts";

export type RawSelector =
  | { readonly kind: "prefixed"; readonly prefix: Uint8Array; readonly start: Uint8Array | null; readonly end: Uint8Array | null }
  | { readonly kind: "range"; readonly start: Uint8Array; readonly end: Uint8Array };

function startsWith(key: Uint8Array, prefix: Uint8Array): boolean {
  if (key.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (key[i] !== prefix[i]) return false;
  return true;
}

const ZERO = Uint8Array.of(0x00);
const FF = Uint8Array.of(0xff);

/** Builds a selector from already encoded keys; `start` alone is a point read (Deno's `get`). */
export function selectorFromKeys(prefix: Uint8Array | null, start: Uint8Array | null, end: Uint8Array | null): RawSelector {
  if (prefix !== null && start === null && end === null) return { kind: "prefixed", prefix, start: null, end: null };
  if (prefix !== null && start !== null && end === null) {
    if (!startsWith(start, prefix) || start.length === prefix.length) {
      throw new TypeError("Start key is not in the keyspace defined by prefix");
    }
    return { kind: "prefixed", prefix, start, end: null };
  }
  if (prefix !== null && start === null && end !== null) {
    if (!startsWith(end, prefix) || end.length === prefix.length) {
      throw new TypeError("End key is not in the keyspace defined by prefix");
    }
    return { kind: "prefixed", prefix, start: null, end };
  }
  if (prefix === null && start !== null && end !== null) {
    if (compareBytes(start, end) > 0) throw new TypeError("Start key is greater than end key");
    return { kind: "range", start, end };
  }
  if (prefix === null && start !== null && end === null) return { kind: "range", start, end: concatBytes(start, ZERO) };
  throw new TypeError("Invalid range");
}

function commonPrefix(selector: RawSelector): Uint8Array {
  if (selector.kind === "prefixed") return selector.prefix;
  const { start, end } = selector;
  let i = 0;
  while (i < start.length && i < end.length && start[i] === end[i]) i++;
  return start.subarray(0, i);
}

function rangeStart(selector: RawSelector): Uint8Array {
  if (selector.kind === "range") return selector.start;
  return selector.start ?? concatBytes(selector.prefix, ZERO);
}

function rangeEnd(selector: RawSelector): Uint8Array {
  if (selector.kind === "range") return selector.end;
  return selector.end ?? concatBytes(selector.prefix, FF);
}

// Rust's base64 URL_SAFE engine: padding required and canonical, no stray trailing bits.
const BASE64URL_PADDED = /^(?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-]{2}==|[A-Za-z0-9_-]{3}=)?$/;

function encodeBase64UrlPadded(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64").replace(/\+/g, "-").replace(/\//g, "_");
}

function decodeCursor(cursor: string): Uint8Array {
  if (!BASE64URL_PADDED.test(cursor)) throw new TypeError("invalid cursor");
  const bytes = new Uint8Array(Buffer.from(cursor, "base64url"));
  if (encodeBase64UrlPadded(bytes) !== cursor) throw new TypeError("invalid cursor");
  return bytes;
}

/** The cursor that continues a listing after `boundaryKey` (an encoded key the selector returned). */
export function encodeCursor(selector: RawSelector, boundaryKey: Uint8Array): string {
  const prefix = commonPrefix(selector);
  if (!startsWith(boundaryKey, prefix)) throw new TypeError("Invalid boundary key");
  return encodeBase64UrlPadded(boundaryKey.subarray(prefix.length));
}

/** The `[start, end)` to scan for a selector, continuing after `cursor` when one is given. */
export function scanBounds(selector: RawSelector, reverse: boolean, cursor: string | null): { start: Uint8Array; end: Uint8Array } {
  if (cursor === null) return { start: rangeStart(selector), end: rangeEnd(selector) };
  const prefix = commonPrefix(selector);
  const after = decodeCursor(cursor);
  const start = reverse ? rangeStart(selector) : concatBytes(prefix, after, ZERO);
  const end = reverse ? concatBytes(prefix, after) : rangeEnd(selector);
  // Only explicit bounds are enforced; a bare prefix's range already contains every cursor key.
  if ((selector.start !== null && compareBytes(start, selector.start) < 0) || (selector.end !== null && compareBytes(end, selector.end) > 0)) {
    throw new TypeError("cursor out of bounds");
  }
  return { start, end };
}
