/** `Deno.AtomicOperation`: a builder of checks, mutations and enqueues committed all-or-nothing. */
import type { KvContext } from "./context.ts";
import { KvU64 } from "./kv-u64.ts";
import type { AtomicCheck, EnqueueOptions, KvCommitError, KvCommitResult, KvKey, KvMutation } from "./types.ts";
import { validateBackoffSchedule, validateExpireIn, validateQueueDelay } from "./validation.ts";
import { serializeMessage, serializeValue } from "./value-codec.ts";
import { atomicWrite, type RawCheck, type RawEnqueue, type RawMutation, type RawMutationType } from "./write-path.ts";

/**
 * Collects operations and commits them in one transaction: the checks are verified first and, if any
 * fails, nothing is written and `commit()` resolves to `{ ok: false }`.
 *
 * @example
 * ```ts
 * const entry = await kv.get(["balance"]);
 * const res = await kv.atomic()
 *   .check(entry)
 *   .set(["balance"], 90)
 *   .sum(["withdrawals"], 1n)
 *   .commit();
 * if (!res.ok) console.log("someone else changed the balance; retry");
 * ```
 */
export class AtomicOperation {
  #ctx: KvContext;
  #checks: RawCheck[] = [];
  #mutations: RawMutation[] = [];
  #enqueues: RawEnqueue[] = [];

  /** @internal Use `kv.atomic()`. */
  constructor(ctx: KvContext) {
    this.#ctx = ctx;
  }

  /** The key must currently have this versionstamp (null: must not exist). Accepts a `get` result. */
  check(...checks: AtomicCheck[]): this {
    for (const check of checks) this.#checks.push({ key: check.key, versionstamp: check.versionstamp });
    return this;
  }

  /** Adds raw mutations: `set` (with optional `expireIn`), `delete`, `sum`, `min`, `max`. */
  mutate(...mutations: KvMutation[]): this {
    for (const mutation of mutations) {
      const m = mutation as { key: KvKey; type: unknown; value?: unknown; expireIn?: unknown };
      const key = m.key;
      let value = null;
      let expireIn: number | undefined = undefined;
      switch (m.type) {
        case "delete":
          if (m.value) throw new TypeError("Invalid mutation 'delete' with value");
          break;
        case "set":
        case "sum":
        case "min":
        case "max":
          if (m.type === "set") {
            if (typeof m.expireIn === "number") expireIn = m.expireIn;
            validateExpireIn(expireIn);
          }
          if (!Object.hasOwn(m, "value")) throw new TypeError(`Invalid mutation '${m.type}' without value`);
          value = serializeValue(m.value);
          break;
        default:
          throw new TypeError("Invalid mutation type");
      }
      this.#mutations.push({ key, type: m.type as RawMutationType, value, expireIn });
    }
    return this;
  }

  /** Adds `n` to a KvU64 (a missing key counts as 0); wraps around at 2^64. */
  sum(key: KvKey, n: bigint): this {
    this.#mutations.push({ key, type: "sum", value: serializeValue(new KvU64(n)), expireIn: undefined });
    return this;
  }

  /** Keeps the smaller of the stored KvU64 and `n`. */
  min(key: KvKey, n: bigint): this {
    this.#mutations.push({ key, type: "min", value: serializeValue(new KvU64(n)), expireIn: undefined });
    return this;
  }

  /** Keeps the larger of the stored KvU64 and `n`. */
  max(key: KvKey, n: bigint): this {
    this.#mutations.push({ key, type: "max", value: serializeValue(new KvU64(n)), expireIn: undefined });
    return this;
  }

  set(key: KvKey, value: unknown, options?: { expireIn?: number }): this {
    validateExpireIn(options?.expireIn);
    this.#mutations.push({ key, type: "set", value: serializeValue(value), expireIn: options?.expireIn });
    return this;
  }

  delete(key: KvKey): this {
    this.#mutations.push({ key, type: "delete", value: null, expireIn: undefined });
    return this;
  }

  /** Enqueues a message, delivered to `listenQueue` handlers only if the commit succeeds. */
  enqueue(value: unknown, options?: EnqueueOptions): this {
    if (options?.delay !== undefined) validateQueueDelay(options.delay);
    if (options?.backoffSchedule !== undefined) validateBackoffSchedule(options.backoffSchedule);
    this.#enqueues.push({
      payload: serializeMessage(value),
      delay: options?.delay ?? 0,
      keysIfUndelivered: options?.keysIfUndelivered ?? [],
      backoffSchedule: options?.backoffSchedule ?? null,
    });
    return this;
  }

  async commit(): Promise<KvCommitResult | KvCommitError> {
    const versionstamp = await atomicWrite(this.#ctx, this.#checks, this.#mutations, this.#enqueues);
    if (versionstamp === null) return { ok: false };
    return { ok: true, versionstamp };
  }

  /** Like Deno: awaiting the builder itself is a mistake, reported loudly. */
  then(): never {
    throw new TypeError("'Deno.AtomicOperation' is not a promise: did you forget to call 'commit()'");
  }
}
