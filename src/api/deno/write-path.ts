/**
 * The Deno write path: every `set`, `delete`, `enqueue` and `atomic().commit()` ends here. It checks the
 * write the way Deno does, in Deno's order and with Deno's messages (argument types, "closed", counts,
 * versionstamps, expiry, key and value sizes, totals), then hands one AtomicWrite to the engine.
 */
import { KvError } from "../../core/errors.ts";
import { DENO_LIMITS } from "../../core/limits.ts";
import type { AtomicWrite, Check, Enqueue, Mutation, StoredValue } from "../../core/types.ts";
import { hexToBytes } from "../../core/keys.ts";
import { BadResource, serdeTypeError, toDenoError } from "./errors.ts";
import type { KvContext } from "./context.ts";
import { COMMIT_VERSIONSTAMP, keyToBytes } from "./key-validation.ts";
import { versionstampString } from "./value-codec.ts";
import { checkWriteCounts, checkWriteSizes } from "../../core/write-limits.ts";

export interface RawCheck {
  readonly key: unknown;
  readonly versionstamp: unknown;
}

export type RawMutationType = "set" | "delete" | "sum" | "min" | "max";

export interface RawMutation {
  readonly key: unknown;
  readonly type: RawMutationType;
  readonly value: StoredValue | null;
  readonly expireIn: number | undefined;
}

export interface RawEnqueue {
  readonly payload: Uint8Array;
  readonly delay: unknown;
  readonly keysIfUndelivered: unknown;
  readonly backoffSchedule: unknown;
}

/** Deno's expiry times are chrono DateTimes; this is the latest one it can represent (epoch ms). */
const MAX_EXPIRE_AT = 8210266876799999;
const U64_MAX_TEXT = "18446744073709551615";

function parseU64(value: unknown): number {
  if (typeof value !== "number") throw serdeTypeError("integer", value);
  return Math.trunc(value);
}

function parseVersionstamp(vs: string): Uint8Array {
  if (vs.length !== 20) throw new TypeError("Invalid check");
  try {
    return hexToBytes(vs);
  } catch {
    throw new TypeError("Invalid check");
  }
}

/**
 * Commits one write. Resolves to the commit's versionstamp, or null when a check failed.
 * A mutation `set` whose key ends in `kv.commitVersionstamp()` gets the versionstamp as its last part.
 */
export async function atomicWrite(
  ctx: KvContext,
  checks: readonly RawCheck[],
  mutations: readonly RawMutation[],
  enqueues: readonly RawEnqueue[],
): Promise<string | null> {
  // 1. Argument shapes (Deno: its JS wrapper, then serde_v8 while decoding the op's arguments).
  const rawMutations = mutations.map((m) => {
    const key = m.key as readonly unknown[];
    if (key.length && m.type === "set" && key[key.length - 1] === COMMIT_VERSIONSTAMP) {
      return { ...m, key: Array.prototype.slice.call(key, 0, -1), versioned: true };
    }
    return { ...m, versioned: false };
  });
  const parsedChecks = checks.map((c) => {
    const key = keyToBytes(c.key);
    const vs = c.versionstamp;
    if (vs !== null && vs !== undefined && typeof vs !== "string") throw serdeTypeError("string", vs);
    return { key, versionstamp: (vs ?? null) as string | null };
  });
  const parsedMutations = rawMutations.map((m) => ({ ...m, key: keyToBytes(m.key) }));
  const parsedEnqueues = enqueues.map((q) => {
    const delay = parseU64(q.delay);
    if (!Array.isArray(q.keysIfUndelivered)) throw serdeTypeError("array", q.keysIfUndelivered);
    const keysIfUndelivered = q.keysIfUndelivered.map((k: unknown) => keyToBytes(k));
    let backoffSchedule: number[] | null = null;
    if (q.backoffSchedule !== null && q.backoffSchedule !== undefined) {
      if (!Array.isArray(q.backoffSchedule)) throw serdeTypeError("array", q.backoffSchedule);
      backoffSchedule = q.backoffSchedule.map(parseU64);
    }
    return { payload: q.payload, delay, keysIfUndelivered, backoffSchedule };
  });

  // 2. The handle.
  if (ctx.isClosed()) throw new BadResource();

  // 3. Limits and conversions, in Deno's order.
  try {
    checkWriteCounts(parsedChecks.length, parsedMutations.length + parsedEnqueues.length);
  } catch (e) {
    throw toDenoError(e);
  }
  const now = ctx.backend.now();
  const coreChecks: Check[] = parsedChecks.map((c) => ({
    key: c.key,
    versionstamp: c.versionstamp === null ? null : parseVersionstamp(c.versionstamp),
  }));
  const expiresAt = parsedMutations.map((m) => {
    if (m.expireIn === undefined) return null;
    if (now + m.expireIn > MAX_EXPIRE_AT) {
      const shown = m.expireIn >= 2 ** 64 ? U64_MAX_TEXT : BigInt(m.expireIn).toString();
      throw new TypeError(`Invalid mutation: expireIn is too large: ${shown}`);
    }
    return now + m.expireIn;
  });

  const coreMutations: Mutation[] = parsedMutations.map((m, i): Mutation => {
    if (m.type === "delete") return { type: "delete", key: m.key };
    const value = m.value!;
    if (m.type === "set") {
      return m.versioned
        ? { type: "setSuffixVersionstampedKey", key: m.key, value, expiresAt: expiresAt[i] ?? null }
        : { type: "set", key: m.key, value, expiresAt: expiresAt[i] ?? null };
    }
    return { type: m.type, key: m.key, value };
  });
  const coreEnqueues: Enqueue[] = parsedEnqueues.map((q) => ({
    payload: q.payload,
    readyAt: now + q.delay,
    // A key that can never be written (empty, oversized) would make the dead-letter write fail forever;
    // Deno accepts such keys here too, and it cannot write them either.
    keysIfUndelivered: q.keysIfUndelivered.filter((k) => k.length > 0 && k.length <= DENO_LIMITS.maxWriteKeyBytes),
    ...(q.backoffSchedule === null ? {} : { backoffSchedule: q.backoffSchedule }),
  }));
  const write: AtomicWrite = { checks: coreChecks, mutations: coreMutations, enqueues: coreEnqueues };
  try {
    checkWriteSizes(write);
  } catch (e) {
    throw toDenoError(e);
  }

  try {
    const result = await ctx.backend.atomicWrite(write);
    return result.ok ? versionstampString(result.versionstamp) : null;
  } catch (e) {
    // Deno hands a sum's non-U64 operand to its V8 sum, which calls a Uint8Array operand invalid.
    if (e instanceof KvError && e.message === "Failed to perform 'sum' mutation on a non-U64 operand") {
      throw new TypeError("Some of the parameters are not valid V8 values");
    }
    throw toDenoError(e);
  }
}
