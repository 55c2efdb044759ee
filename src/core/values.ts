/**
 * How JS values become stored values and back, shared by every front end so that an entry written
 * through one API reads the same through the others:
 * - Deno `set(k, Uint8Array)` → bytes; `set(k, new KvU64(n))` → le64; anything else → v8.
 * - Workers `put(k, string)` → v8 string (Deno reads a string); `put(k, ArrayBuffer|view|stream)` → bytes.
 * - Reading as text: a v8 string is its text; another v8 value is its JSON form; bytes are UTF-8 text;
 *   le64 is the decimal number.
 */
import { KvError } from "./errors.ts";
import { ENGINE_LIMITS } from "./limits.ts";
import type { StoredValue } from "./types.ts";
import { deserializeV8, serializeV8, V8CodecError } from "./v8.ts";

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder();

/**
 * A V8 string in the UTF-8 form (tag 'S'), which V8 reads in every version; it costs one copy of the
 * UTF-8 bytes and never doubles a non-Latin-1 text the way a two-byte string would.
 */
export function encodeV8String(text: string): Uint8Array {
  const body = utf8.encode(text);
  return encodeV8Utf8Bytes(body);
}

/** Wraps already-UTF-8 bytes as a V8 string value without decoding them. */
function encodeV8Utf8Bytes(body: Uint8Array): Uint8Array {
  const header: number[] = [0xff, 0x0f, 0x53];
  let n = body.byteLength;
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    header.push(b);
  } while (n);
  const out = new Uint8Array(header.length + body.byteLength);
  out.set(header);
  out.set(body, header.length);
  return out;
}

/** The UTF-8 bytes of a V8 string stored in the 'S' form, without a decode/encode round trip. */
function v8Utf8Body(data: Uint8Array): Uint8Array | null {
  if (data[0] !== 0xff || data[2] !== 0x53) return null;
  let n = 0;
  let shift = 0;
  let pos = 3;
  for (;;) {
    const b = data[pos++];
    if (b === undefined) return null;
    n += (b & 0x7f) * 2 ** shift;
    if (!(b & 0x80)) break;
    shift += 7;
  }
  return pos + n === data.byteLength ? data.subarray(pos) : null;
}

export function u64FromStored(v: StoredValue): bigint {
  if (v.encoding !== "le64" || v.data.byteLength !== 8) throw new KvError("invalid_value", "Not a U64 value");
  return new DataView(v.data.buffer, v.data.byteOffset, 8).getBigUint64(0, true);
}

/** The JS value a Deno program sees. `makeU64` builds its KvU64. */
export function decodeStored<U>(v: StoredValue, makeU64: (n: bigint) => U): unknown {
  switch (v.encoding) {
    case "bytes":
      return new Uint8Array(v.data);
    case "le64":
      return makeU64(u64FromStored(v));
    case "v8":
      return deserializeV8(v.data);
  }
}

/**
 * A decoded V8 value as something JSON.stringify takes without throwing: bigints as decimal strings,
 * Maps as objects, Sets and byte views as arrays, and a reference back to an enclosing object (Deno
 * values may be cyclic) as the string "[Circular]". Depth is bounded by the V8 decoder's own limit.
 */
function toJsonable(value: unknown, ancestors: object[]): unknown {
  if (typeof value === "bigint") return value.toString();
  if (typeof value !== "object" || value === null) return value;
  if (ancestors.includes(value)) return "[Circular]";
  ancestors.push(value);
  try {
    if (value instanceof Map) {
      const out: Record<string, unknown> = Object.create(null);
      for (const [k, v] of value) out[String(k)] = toJsonable(v, ancestors);
      return out;
    }
    if (value instanceof Set) return [...value].map((v) => toJsonable(v, ancestors));
    if (ArrayBuffer.isView(value)) return Array.from(new Uint8Array(value.buffer, value.byteOffset, value.byteLength));
    if (value instanceof ArrayBuffer) return Array.from(new Uint8Array(value));
    if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
    if (Array.isArray(value)) return value.map((v) => toJsonable(v, ancestors));
    const out: Record<string, unknown> = Object.create(null);
    for (const k of Object.keys(value)) out[k] = toJsonable((value as Record<string, unknown>)[k], ancestors);
    return out;
  } finally {
    ancestors.pop();
  }
}

/**
 * A stored V8 value decoded, or — for bytes no decoder can read (written before writes were
 * validated) — null, so readers fall back to the raw bytes instead of failing on the row.
 */
function decodeV8OrNull(data: Uint8Array): { value: unknown } | null {
  try {
    return { value: deserializeV8(data) };
  } catch {
    return null;
  }
}

/**
 * The text a Workers `get(k, "text")` (or REST) returns for any stored value. Never throws: whatever is
 * stored can be read, and a value no decoder understands reads as its raw bytes.
 */
export function storedToText(v: StoredValue): string {
  switch (v.encoding) {
    case "le64":
      if (v.data.byteLength === 8) return u64FromStored(v).toString();
      return utf8Decoder.decode(v.data);
    case "v8": {
      const body = v8Utf8Body(v.data);
      if (body) return utf8Decoder.decode(body);
      const decoded = decodeV8OrNull(v.data);
      if (!decoded) return utf8Decoder.decode(v.data);
      if (typeof decoded.value === "string") return decoded.value;
      return JSON.stringify(toJsonable(decoded.value, [])) ?? "null";
    }
    default:
      return utf8Decoder.decode(v.data);
  }
}

/** The bytes a Workers `get(k, "arrayBuffer"|"stream")` returns: raw bytes, or the UTF-8 of the text form. */
export function storedToBytes(v: StoredValue): Uint8Array {
  if (v.encoding === "bytes") return v.data;
  if (v.encoding === "v8") {
    const body = v8Utf8Body(v.data);
    if (body) return body;
  }
  return utf8.encode(storedToText(v));
}

/**
 * A JSON-able JS value (REST `PUT {"value": …}`) as stored: strings and objects alike go to v8. A value
 * nested deeper than the codec allows is the caller's mistake.
 */
export function jsonToStored(value: unknown): StoredValue {
  if (typeof value === "string") return { encoding: "v8", data: encodeV8String(value) };
  const depth = jsonNesting(value);
  if (depth > ENGINE_LIMITS.maxNestingDepth) {
    throw new KvError("invalid_value", `The value nests ${depth} levels deep; the most is ${ENGINE_LIMITS.maxNestingDepth}`);
  }
  try {
    return { encoding: "v8", data: serializeV8(value) };
  } catch (e) {
    if (e instanceof V8CodecError) throw new KvError("invalid_value", `The value cannot be stored: ${e.message}`);
    throw e;
  }
}

/** How deep parsed JSON nests (arrays and objects), measured without recursion. */
function jsonNesting(value: unknown): number {
  let max = 0;
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (typeof v !== "object" || v === null) continue;
    if (depth > max) max = depth;
    for (const child of Array.isArray(v) ? v : Object.values(v)) {
      if (typeof child === "object" && child !== null) stack.push([child, depth + 1]);
    }
  }
  return max;
}

/** A stored value as JSON text (REST `GET`). Bytes become a number array, u64 a decimal string. Never throws. */
export function storedToJsonText(v: StoredValue): string {
  if (v.encoding === "le64" && v.data.byteLength === 8) return JSON.stringify(u64FromStored(v).toString());
  if (v.encoding === "v8") {
    const body = v8Utf8Body(v.data);
    if (body) return JSON.stringify(utf8Decoder.decode(body));
    const decoded = decodeV8OrNull(v.data);
    if (decoded) return JSON.stringify(toJsonable(decoded.value, [])) ?? "null";
  }
  return JSON.stringify(Array.from(v.data));
}
