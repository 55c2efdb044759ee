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
  // 1. Argument shapes (Deno: its JS wrapper, then serde_v8 while decoding the op's arguments). Loops,
  // not map and spread: this runs for every set (bench:sqlite-commit, step 8).
  const m = mutations.length;
  const versioned = new Array<boolean>(m);
  for (let i = 0; i < m; i++) {
    const key = mutations[i]!.key as readonly unknown[];
    versioned[i] = !!key.length && mutations[i]!.type === "set" && key[key.length - 1] === COMMIT_VERSIONSTAMP;
  }
  const checkKeys = new Array<Uint8Array>(checks.length);
  const checkStamps = new Array<string | null>(checks.length);
  for (let i = 0; i < checks.length; i++) {
    const c = checks[i]!;
    checkKeys[i] = keyToBytes(c.key);
    const vs = c.versionstamp;
    if (vs !== null && vs !== undefined && typeof vs !== "string") throw serdeTypeError("string", vs);
    checkStamps[i] = (vs ?? null) as string | null;
  }
  const mutationKeys = new Array<Uint8Array>(m);
  for (let i = 0; i < m; i++) {
    const key = mutations[i]!.key;
    mutationKeys[i] = keyToBytes(versioned[i] ? Array.prototype.slice.call(key, 0, -1) : key);
  }
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
    checkWriteCounts(checks.length, m + parsedEnqueues.length);
  } catch (e) {
    throw toDenoError(e);
  }
  const now = ctx.backend.now();
  const coreChecks = new Array<Check>(checks.length);
  for (let i = 0; i < checks.length; i++) {
    const vs = checkStamps[i]!;
    coreChecks[i] = { key: checkKeys[i]!, versionstamp: vs === null ? null : parseVersionstamp(vs) };
  }
  // Every expiry is checked before any mutation is built (building throws nothing).
  const expiresAt = new Array<number | null>(m);
  for (let i = 0; i < m; i++) {
    const expireIn = mutations[i]!.expireIn;
    if (expireIn === undefined) {
      expiresAt[i] = null;
      continue;
    }
    if (now + expireIn > MAX_EXPIRE_AT) {
      const shown = expireIn >= 2 ** 64 ? U64_MAX_TEXT : BigInt(expireIn).toString();
      throw new TypeError(`Invalid mutation: expireIn is too large: ${shown}`);
    }
    expiresAt[i] = now + expireIn;
  }
  const coreMutations = new Array<Mutation>(m);
  for (let i = 0; i < m; i++) {
    const raw = mutations[i]!;
    const key = mutationKeys[i]!;
    if (raw.type === "delete") coreMutations[i] = { type: "delete", key };
    else if (raw.type === "set") {
      coreMutations[i] = { type: versioned[i] ? "setSuffixVersionstampedKey" : "set", key, value: raw.value!, expiresAt: expiresAt[i]! };
    } else coreMutations[i] = { type: raw.type, key, value: raw.value! };
  }
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
