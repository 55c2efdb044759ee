/**
 * A recorded history of single-key operations on a KV store, as the consistency checker (checker.ts)
 * reads it: each operation with the client that made it, what it asked, what it got, and when it was
 * invoked and returned on one clock.
 *
 * Values are unique per write, so a read that returns a value names exactly one write; versionstamps
 * are lowercase hex (20 characters), so comparing them as strings compares them as the store does.
 */

/** What a read of a key that was never written resolves to: before every write. */
export const NEVER_WRITTEN = "";

export interface Op {
  /** Position in the history, for witnesses. */
  readonly id: number;
  readonly client: string;
  readonly kind: "read" | "write" | "cas";
  /** Reads: strong (linearizable) or eventual (bounded staleness). */
  readonly consistency?: "strong" | "eventual";
  /** Eventual reads: the staleness bound the read asked for (ms); absent = the checker's default. */
  readonly maxAgeMs?: number;
  readonly key: string;
  /** Writes and CAS: the value written. Reads: the value returned, null when the key was not found. */
  value: string | null;
  /** Writes and CAS: the versionstamp issued. Reads: the one returned, when the API returns one. */
  versionstamp: string | null;
  /** CAS: the versionstamp the write required the key to have (null: absent). */
  readonly expected?: string | null;
  readonly invoke: number;
  ret: number;
  /**
   * true: acknowledged (a read answered, a write committed); false: known not to have happened (a CAS
   * whose check failed, a read that failed); null: a write whose outcome is unknown (the call failed).
   */
  ok: boolean | null;
  error?: string;
}

/** Collects operations, timing each on `now` (the clock the store under test uses for its bounds). */
export class Recorder {
  readonly ops: Op[] = [];
  readonly #now: () => number;

  constructor(now: () => number) {
    this.#now = now;
  }

  /** Runs `fn` as one operation; `fill` copies what it returned into the op. A throw is recorded, not raised. */
  async run<T>(
    start: Pick<Op, "client" | "kind" | "key" | "value"> & Partial<Pick<Op, "consistency" | "maxAgeMs" | "expected">>,
    fn: () => Promise<T>,
    fill: (op: Op, result: T) => void,
  ): Promise<Op> {
    const op: Op = { id: this.ops.length, versionstamp: null, ok: null, invoke: this.#now(), ret: NaN, ...start };
    this.ops.push(op);
    try {
      const result = await fn();
      op.ret = this.#now();
      op.ok = true;
      fill(op, result);
    } catch (e) {
      op.ret = this.#now();
      // A failed read changed nothing; a failed write may or may not have committed.
      op.ok = op.kind === "read" ? false : null;
      op.error = e instanceof Error ? e.message : String(e);
    }
    return op;
  }
}

/** One line per operation, for witnesses and failure messages. */
export function formatOp(op: Op): string {
  const what =
    op.kind === "read"
      ? `read(${op.consistency ?? "strong"}${op.maxAgeMs === undefined ? "" : `, ≤${op.maxAgeMs} ms`}) ${op.key} → ${op.ok === false ? `failed: ${op.error}` : JSON.stringify(op.value)}`
      : `${op.kind}${op.kind === "cas" ? `(expect ${op.expected ?? "absent"})` : ""} ${op.key} = ${JSON.stringify(op.value)} → ${
          op.ok === true ? "ok" : op.ok === false ? "refused" : `unknown: ${op.error}`
        }`;
  return `#${op.id} ${op.client} [${op.invoke}, ${op.ret}] ${what}${op.versionstamp ? ` @${op.versionstamp}` : ""}`;
}
