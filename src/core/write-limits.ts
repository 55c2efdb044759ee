/**
 * Deno's limits on one atomic write, with Deno's messages, in Deno's order. The embedded write path
 * (write-path.ts) and the KV Connect server (src/api/kv-connect) both check writes with these, so a
 * write refused locally is refused the same way over the wire. Errors are KvErrors; the Deno API turns
 * them into TypeErrors, the KV Connect server into 400 plain-text answers.
 */
import { KvError } from "./errors.ts";
import { DENO_LIMITS } from "./limits.ts";
import type { AtomicWrite, StoredValue } from "./types.ts";

/** The counts come first: before any key, versionstamp or expiry is looked at. */
export function checkWriteCounts(checks: number, mutationsAndEnqueues: number): void {
  if (checks > DENO_LIMITS.maxChecks) throw new KvError("limit_exceeded", `Too many checks (max ${DENO_LIMITS.maxChecks})`);
  if (mutationsAndEnqueues > DENO_LIMITS.maxMutations) {
    throw new KvError("limit_exceeded", `Too many mutations (max ${DENO_LIMITS.maxMutations})`);
  }
}

function writeKeySize(key: Uint8Array): number {
  if (key.length > DENO_LIMITS.maxWriteKeyBytes) {
    throw new KvError("key_too_large", `Key too large for write (max ${DENO_LIMITS.maxWriteKeyBytes} bytes)`);
  }
  return key.length;
}

function writeKeyOf(key: Uint8Array): number {
  if (key.length === 0) throw new KvError("invalid_key", "key cannot be empty");
  return writeKeySize(key);
}

function valueSize(value: StoredValue): number {
  if (value.encoding === "le64") return 8;
  if (value.data.length > DENO_LIMITS.maxValueBytes) {
    throw new KvError("value_too_large", `Value too large (max ${DENO_LIMITS.maxValueBytes} bytes)`);
  }
  return value.data.length;
}

/** Keys, values, enqueue payloads and the totals of a write whose counts already passed. */
export function checkWriteSizes(write: AtomicWrite): void {
  let totalPayload = 0;
  let totalKeys = 0;
  // Checks' keys, then mutations' (no array built for it: this runs for every write).
  for (const c of write.checks) totalPayload += writeKeyOf(c.key);
  for (const m of write.mutations) totalPayload += writeKeyOf(m.key);
  for (const m of write.mutations) {
    if (m.type === "delete") continue;
    const keySize = writeKeySize(m.key);
    totalPayload += valueSize(m.value) + keySize;
    totalKeys += keySize;
  }
  for (const q of write.enqueues) {
    if (q.payload.length > DENO_LIMITS.maxValueBytes) {
      throw new KvError("value_too_large", `enqueue payload too large (max ${DENO_LIMITS.maxValueBytes} bytes)`);
    }
    totalPayload += q.payload.length + 4 * (q.backoffSchedule?.length ?? 0);
  }
  if (totalPayload > DENO_LIMITS.maxTotalMutationBytes) {
    throw new KvError("limit_exceeded", `Total mutation size too large (max ${DENO_LIMITS.maxTotalMutationBytes} bytes)`);
  }
  if (totalKeys > DENO_LIMITS.maxTotalKeyBytes) {
    throw new KvError("limit_exceeded", `Total key size too large (max ${DENO_LIMITS.maxTotalKeyBytes} bytes)`);
  }
}
