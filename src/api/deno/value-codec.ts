/**
 * Deno's value encodings: a Uint8Array is stored as "bytes", a KvU64 as "le64", anything else as a V8
 * structured clone (which fails, like in Deno, for functions, symbols, WeakMaps, …).
 */
import { versionstampToHex } from "../../core/versionstamp.ts";
import type { Entry, StoredValue } from "../../core/types.ts";
import { u64Bytes } from "../../core/atomic.ts";
import { decodeStored } from "../../core/values.ts";
import { serializeV8, V8CodecError } from "../../core/v8.ts";
import { keyFromBytes } from "./key-validation.ts";
import { KvU64 } from "./kv-u64.ts";
import type { KvEntry } from "./types.ts";

function isUint8Array(value: unknown): value is Uint8Array {
  // Deno's test is the typed-array tag, so subclasses (Node's Buffer) count as bytes too.
  return ArrayBuffer.isView(value) && (value as { [Symbol.toStringTag]?: unknown })[Symbol.toStringTag] === "Uint8Array";
}

/** V8 serialization with Deno's error classes: DataCloneError is a TypeError, except for shared memory. */
export function serializeMessage(value: unknown): Uint8Array {
  try {
    return serializeV8(value);
  } catch (e) {
    if (e instanceof V8CodecError) {
      throw e.message.startsWith("#<SharedArrayBuffer>") ? new Error(e.message) : new TypeError(e.message);
    }
    throw e;
  }
}

/** A JS value as stored. */
export function serializeValue(value: unknown): StoredValue {
  if (isUint8Array(value)) return { encoding: "bytes", data: new Uint8Array(value) };
  if (value instanceof KvU64) return { encoding: "le64", data: u64Bytes(value.value) };
  return { encoding: "v8", data: serializeMessage(value) };
}

export function deserializeValue(value: StoredValue): unknown {
  return decodeStored(value, (n) => new KvU64(n));
}

export function versionstampString(vs: Uint8Array): string {
  return versionstampToHex(vs);
}

/** A stored entry as the object Deno returns. */
export function toKvEntry<T>(entry: Entry): KvEntry<T> {
  return { key: keyFromBytes(entry.key), value: deserializeValue(entry) as T, versionstamp: versionstampString(entry.versionstamp) };
}
