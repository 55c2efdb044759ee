/**
 * Keys as Deno validates them: a key must be an array (serde_v8's message otherwise), each part a string,
 * number, bigint, boolean or ArrayBufferView, and the parts are encoded with the core tuple codec.
 */
import { decodeKey, encodeKey, type KvKeyPart as CoreKeyPart } from "../../core/keys.ts";
import { serdeTypeError, toDenoError } from "./errors.ts";
import type { KvKeyPart } from "./types.ts";

/** The placeholder `kv.commitVersionstamp()` returns; as a key's last part it becomes the commit's versionstamp. */
export const COMMIT_VERSIONSTAMP: unique symbol = Symbol("KvCommitVersionstamp");

const INVALID_PART = "expected string, number, bigint, ArrayBufferView, boolean";

function toCorePart(part: unknown): CoreKeyPart {
  switch (typeof part) {
    case "string":
    case "number":
    case "bigint":
    case "boolean":
      return part;
  }
  if (ArrayBuffer.isView(part)) {
    // Any view counts (Deno copies its bytes); it reads back as a Uint8Array.
    return part instanceof Uint8Array && part.constructor === Uint8Array
      ? part
      : new Uint8Array(part.buffer, part.byteOffset, part.byteLength);
  }
  throw new TypeError(INVALID_PART);
}

/** Checks a key's shape and parts the way Deno's op layer does, without encoding it. */
export function checkKey(key: unknown): asserts key is readonly unknown[] {
  if (!Array.isArray(key)) throw serdeTypeError("array", key);
  for (let i = 0; i < key.length; i++) toCorePart(key[i]);
}

/** Encodes a Deno key. Throws Deno's TypeErrors for a non-array key or an invalid part. */
export function keyToBytes(key: unknown): Uint8Array {
  if (!Array.isArray(key)) throw serdeTypeError("array", key);
  const parts: CoreKeyPart[] = new Array(key.length);
  for (let i = 0; i < key.length; i++) parts[i] = toCorePart(key[i]);
  try {
    return encodeKey(parts);
  } catch (e) {
    throw toDenoError(e);
  }
}

/** Like keyToBytes, but `null`/`undefined` (an absent optional key) gives null. */
export function optionalKeyToBytes(key: unknown): Uint8Array | null {
  return key === null || key === undefined ? null : keyToBytes(key);
}

/** Decodes stored key bytes into the parts a Deno program sees. */
export function keyFromBytes(bytes: Uint8Array): KvKeyPart[] {
  return decodeKey(bytes);
}
