/**
 * What every write must satisfy before anything is stored, checked once here for every front end
 * (Workers, REST v4, /kv, KV Connect, import): whatever passes can always be read back, listed,
 * exported and deleted. Front ends keep only their vendor's exact wording for the limits they share.
 */
import { KvError } from "./errors.ts";
import { ENGINE_LIMITS } from "./limits.ts";
import type { AtomicWrite, Enqueue, Mutation, StoredValue } from "./types.ts";
import { deserializeV8, isOwnEncoding, V8CodecError } from "./v8.ts";

const L = ENGINE_LIMITS;

/**
 * The length of the UTF-8 body of a V8 string in the one-byte-header 'S' form (what `encodeV8String`
 * writes and Workers text becomes), or -1 when `data` is not exactly such a string.
 */
export function v8Utf8StringLength(data: Uint8Array): number {
  if (data[0] !== 0xff || data[2] !== 0x53) return -1;
  let n = 0;
  let shift = 0;
  let pos = 3;
  for (;;) {
    const b = data[pos++];
    if (b === undefined || shift > 28) return -1;
    n += (b & 0x7f) * 2 ** shift;
    if (!(b & 0x80)) break;
    shift += 7;
  }
  return pos + n === data.byteLength ? n : -1;
}

/**
 * A value's size as its user sees it: the bytes of a byte value, the UTF-8 text of a string, and for
 * any other structured value its serialised form without the 2-byte version header. So a 25 MiB text is
 * 25 MiB through every API, and 25 MiB + 1 byte is refused by every API.
 */
export function valueSize(v: StoredValue): number {
  if (v.encoding !== "v8") return v.data.byteLength;
  const text = v8Utf8StringLength(v.data);
  return text >= 0 ? text : Math.max(0, v.data.byteLength - 2);
}

/** Throws unless `data` is V8 serialised data our codec (and so every API) can read back. */
export function checkV8(data: Uint8Array, what = "value"): void {
  if (isOwnEncoding(data) || v8Utf8StringLength(data) >= 0) return;
  try {
    deserializeV8(data);
  } catch (e) {
    if (e instanceof V8CodecError) throw new KvError("invalid_value", `The ${what} is not valid V8 serialized data: ${e.message}`);
    throw e;
  }
}

export function checkValue(v: StoredValue): void {
  switch (v.encoding) {
    case "bytes":
      break;
    case "le64":
      if (v.data.byteLength !== 8) throw new KvError("invalid_value", `A KvU64 (le64) value is exactly 8 bytes, got ${v.data.byteLength}`);
      break;
    case "v8":
      checkV8(v.data);
      break;
    default:
      throw new KvError("invalid_value", `Unknown value encoding ${JSON.stringify(v.encoding)}: expected "v8", "bytes" or "le64"`);
  }
  if (!(v.data instanceof Uint8Array)) throw new KvError("invalid_value", "A value's data must be bytes");
  const size = valueSize(v);
  if (size > L.maxValueBytes) throw new KvError("value_too_large", `Value too large (max ${L.maxValueBytes} bytes)`);
}

/** An epoch-ms time that survives every round trip: a number from 0 to the last JS date (never NaN). */
export function checkTimestamp(ms: number, what: string): void {
  if (typeof ms !== "number" || !(ms >= 0 && ms <= L.maxTimestampMs)) {
    throw new KvError(
      "invalid_expiration",
      `Invalid ${what} ${String(ms)}: expected milliseconds since the epoch, from 0 to ${L.maxTimestampMs} (the latest date JavaScript can hold)`,
    );
  }
}

/** How deep JSON text nests (arrays and objects), by a scan: no parse, no recursion. */
export function jsonDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) max = Math.max(max, ++depth);
    else if (c === 0x7d || c === 0x5d) depth--;
  }
  return max;
}

export function checkMetadata(metadata: string): void {
  if (typeof metadata !== "string") throw new KvError("invalid_value", "Metadata must be JSON text");
  const bytes = Buffer.byteLength(metadata, "utf8");
  if (bytes > L.maxMetadataBytes) throw new KvError("metadata_too_large", `Metadata too large (max ${L.maxMetadataBytes} bytes, got ${bytes})`);
  if (jsonDepth(metadata) > L.maxNestingDepth) throw new KvError("invalid_value", `Metadata nests deeper than ${L.maxNestingDepth} levels`);
  try {
    JSON.parse(metadata);
  } catch {
    throw new KvError("invalid_value", "Metadata must be JSON text");
  }
}

function checkKey(key: Uint8Array, what = "Key"): void {
  if (!(key instanceof Uint8Array)) throw new KvError("invalid_key", `${what} must be bytes`);
  if (key.byteLength === 0) throw new KvError("invalid_key", `${what} cannot be empty`);
  if (key.byteLength > L.maxKeyBytes) throw new KvError("key_too_large", `${what} too large (max ${L.maxKeyBytes} bytes)`);
}

function checkMutation(m: Mutation): void {
  checkKey(m.key);
  switch (m.type) {
    case "delete":
      return;
    case "set":
    case "setSuffixVersionstampedKey":
      checkValue(m.value);
      if (m.expiresAt !== undefined && m.expiresAt !== null) checkTimestamp(m.expiresAt, "expiration");
      if (m.type === "set" && m.metadata !== undefined && m.metadata !== null) checkMetadata(m.metadata);
      return;
    case "sum":
    case "min":
    case "max":
      // Deno's wording for any operand that is not a u64 (a v8 number or bigint is a sum operand too).
      if (m.value.encoding === "le64" ? m.value.data.byteLength !== 8 : m.value.encoding !== "v8" || m.type !== "sum") {
        throw new KvError("invalid_mutation", `Failed to perform '${m.type}' mutation on a non-U64 operand`);
      }
      try {
        checkValue(m.value);
        if (m.sumMin?.byteLength) checkV8(m.sumMin);
        if (m.sumMax?.byteLength) checkV8(m.sumMax);
      } catch (e) {
        if (e instanceof KvError && e.code === "invalid_value") throw new KvError("invalid_mutation", "Some of the parameters are not valid V8 values");
        throw e;
      }
      return;
    default:
      throw new KvError("invalid_mutation", `Unknown mutation type ${JSON.stringify((m as { type: unknown }).type)}`);
  }
}

function checkEnqueue(q: Enqueue): void {
  checkV8(q.payload, "queue message");
  if (q.payload.byteLength > L.maxValueBytes) throw new KvError("value_too_large", `Value too large (max ${L.maxValueBytes} bytes)`);
  checkTimestamp(q.readyAt, "delivery time");
  for (const key of q.keysIfUndelivered) checkKey(key, "A keysIfUndelivered key");
  for (const delay of q.backoffSchedule ?? []) {
    if (!Number.isSafeInteger(delay) || delay < 0 || delay > L.maxTimestampMs) {
      throw new KvError("invalid_argument", `Invalid backoffSchedule delay ${String(delay)}: expected whole milliseconds, 0 or more`);
    }
  }
}

/** Checks one atomic write; throws the first problem as a KvError. */
export function validateWrite(write: AtomicWrite): void {
  if (write.checks.length > L.maxChecks) throw new KvError("limit_exceeded", `Too many checks (max ${L.maxChecks})`);
  if (write.mutations.length + write.enqueues.length > L.maxMutations) {
    throw new KvError("limit_exceeded", `Too many mutations (max ${L.maxMutations})`);
  }
  for (const c of write.checks) checkKey(c.key);
  for (const m of write.mutations) checkMutation(m);
  for (const q of write.enqueues) checkEnqueue(q);
}
