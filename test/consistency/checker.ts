/**
 * Checks a recorded history (history.ts) of reads, writes and check-and-set on a few keys against what
 * an OpenKV core with edge caches promises (README "Edge nodes"):
 *
 * 1. lost-write: no acknowledged write is lost — the final state of each key is the acknowledged write
 *    with the highest versionstamp, and every acknowledged write is in the change feed under its key.
 * 2. linearizable: strong reads, per key, behave as one register whose writes are ordered by
 *    versionstamp. A strong read returns a write invoked before it returned, never one older than a write
 *    acknowledged before it was invoked, and never one older than what a strong read that returned before
 *    it was invoked saw. Versionstamps respect real time among writes; a CAS that succeeded follows the
 *    write it expected.
 * 3. monotonic: each client's reads of a key never go back in time, counting its own acknowledged writes
 *    (a client keeps to one node: bookmarks across edges are not promised).
 * 4. staleness: an eventual read is never older than its bound — it returns no write older than one
 *    acknowledged more than `maxAgeMs` before the read was invoked.
 * Plus unknown-value: a read returns only values that some write (not a refused CAS) wrote.
 *
 * With unique values and versionstamps issued by the core in commit order, each check is a scan over the
 * history, not a search over orderings (as Porcupine must do for opaque registers).
 */
import { formatOp, NEVER_WRITTEN, type Op } from "./history.ts";

export type Rule = "lost-write" | "linearizable" | "monotonic" | "staleness" | "unknown-value";

export interface Violation {
  readonly rule: Rule;
  readonly message: string;
  /** The operations that show it, the offending one first. */
  readonly ops: readonly Op[];
}

export interface CheckInput {
  readonly history: readonly Op[];
  /** Each key's state read strongly from the core after the run (null: absent). */
  readonly final: ReadonlyMap<string, { value: string; versionstamp: string } | null>;
  /** The core's change feed for the run's keys, when available: (key, versionstamp) per write. */
  readonly feed?: readonly { key: string; versionstamp: string }[];
  /** The bound for eventual reads that name none (ms). Default 60 s, Workers KV's cacheTtl. */
  readonly defaultMaxAgeMs?: number;
}

export function checkHistory(input: CheckInput): Violation[] {
  const out: Violation[] = [];
  const byKey = new Map<string, Op[]>();
  for (const op of input.history) {
    let list = byKey.get(op.key);
    if (!list) byKey.set(op.key, (list = []));
    list.push(op);
  }
  for (const [key, ops] of byKey) out.push(...checkKey(key, ops, input));
  out.push(...checkClients(input.history, resolver(input.history)));
  return out;
}

/** Renders violations with their witnesses, one operation a line. */
export function describe(violations: readonly Violation[]): string {
  return violations.map((v) => `${v.rule}: ${v.message}\n${v.ops.map((op) => "    " + formatOp(op)).join("\n")}`).join("\n");
}

const isWrite = (op: Op) => op.kind === "write" || op.kind === "cas";
const acked = (op: Op) => isWrite(op) && op.ok === true && op.versionstamp !== null;

/** Maps a read to the write it returned: the versionstamp it reads at, and that write when known. */
type Resolved = { versionstamp: string; write: Op | null } | { unknown: true };

function resolver(history: readonly Op[]): (read: Op) => Resolved {
  const writes = new Map<string, Op>();
  for (const op of history) if (isWrite(op) && op.value !== null) writes.set(op.key + "\u0000" + op.value, op);
  return (read) => {
    if (read.value === null) return { versionstamp: NEVER_WRITTEN, write: null };
    const w = writes.get(read.key + "\u0000" + read.value);
    if (!w || w.ok === false) return { unknown: true };
    const vs = w.versionstamp ?? read.versionstamp;
    return vs === null ? { unknown: true } : { versionstamp: vs, write: w };
  };
}

function checkKey(key: string, ops: readonly Op[], input: CheckInput): Violation[] {
  const out: Violation[] = [];
  const resolve = resolver(ops);
  const writes = ops.filter(acked).sort((a, b) => (a.versionstamp! < b.versionstamp! ? -1 : 1));
  const reads = ops.filter((op) => op.kind === "read" && op.ok === true);
  const resolved = new Map<Op, { versionstamp: string; write: Op | null }>();
  for (const r of reads) {
    const res = resolve(r);
    if ("unknown" in res) {
      out.push({ rule: "unknown-value", message: `a read of ${key} returned a value no write wrote`, ops: [r] });
      continue;
    }
    if (res.write && res.write.versionstamp && r.versionstamp && r.versionstamp !== res.write.versionstamp) {
      out.push({ rule: "unknown-value", message: `a read of ${key} returned a value under another versionstamp than its write's`, ops: [r, res.write] });
    }
    resolved.set(r, res);
  }

  // Writes: versionstamps follow real time, and a CAS that succeeded followed the write it expected.
  for (let i = 0; i < writes.length; i++) {
    const w = writes[i]!;
    for (let j = 0; j < i; j++) {
      if (w.ret < writes[j]!.invoke) {
        out.push({ rule: "linearizable", message: `a write of ${key} that returned before another was invoked has the later versionstamp`, ops: [w, writes[j]!] });
      }
    }
    const unknownWrites = ops.some((op) => isWrite(op) && op.ok === null);
    if (w.kind === "cas" && !unknownWrites) {
      const before = i > 0 ? writes[i - 1]!.versionstamp : null;
      if ((w.expected ?? null) !== before) {
        out.push({ rule: "linearizable", message: `a CAS of ${key} succeeded though the write before it was not the one it expected`, ops: i > 0 ? [w, writes[i - 1]!] : [w] });
      }
    }
  }

  // Strong reads, in invoke order against writes and reads that returned before.
  const strong = [...resolved].filter(([r]) => (r.consistency ?? "strong") === "strong");
  for (const [r, res] of strong) {
    if (res.write && res.write.invoke > r.ret) {
      out.push({ rule: "linearizable", message: `a strong read of ${key} returned a write invoked after the read returned`, ops: [r, res.write] });
    }
    const newer = latestBefore(writes, r.invoke);
    if (newer && newer.versionstamp! > res.versionstamp) {
      out.push({ rule: "linearizable", message: `a strong read of ${key} returned an older write than one acknowledged before it was invoked`, ops: witness(r, newer, res.write) });
    }
    for (const [prev, prevRes] of strong) {
      if (prev.ret < r.invoke && prevRes.versionstamp > res.versionstamp) {
        out.push({ rule: "linearizable", message: `a strong read of ${key} returned an older write than a strong read that returned before it was invoked`, ops: witness(r, prev, res.write) });
        break;
      }
    }
  }

  // Eventual reads: no older than the bound, measured from when the newer write was acknowledged.
  for (const [r, res] of resolved) {
    if (r.consistency !== "eventual") continue;
    const bound = r.maxAgeMs ?? input.defaultMaxAgeMs ?? 60_000;
    const newer = latestBefore(writes, r.invoke - bound);
    if (newer && newer.versionstamp! > res.versionstamp) {
      out.push({
        rule: "staleness",
        message: `an eventual read of ${key} returned a write older than one acknowledged ${r.invoke - newer.ret} ms before it (bound ${bound} ms)`,
        ops: witness(r, newer, res.write),
      });
    }
  }

  // The final state and the feed.
  const last = writes.at(-1) ?? null;
  const final = input.final.get(key);
  if (final !== undefined) {
    const finalWrite = final && ops.find((op) => isWrite(op) && op.value === final.value);
    const unknownLater = finalWrite && finalWrite.ok === null && (!last || final.versionstamp > last.versionstamp!);
    if (last && (!final || final.versionstamp !== last.versionstamp) && !unknownLater) {
      out.push({
        rule: "lost-write",
        message: `${key} ends as ${final ? `${JSON.stringify(final.value)} @${final.versionstamp}` : "absent"}, not as its last acknowledged write`,
        ops: finalWrite ? [last, finalWrite] : [last],
      });
    } else if (!last && final && !finalWrite) {
      out.push({ rule: "lost-write", message: `${key} ends with a value no write wrote: ${JSON.stringify(final.value)}`, ops: [] });
    }
  }
  if (input.feed) {
    const inFeed = new Set(input.feed.filter((c) => c.key === key).map((c) => c.versionstamp));
    for (const w of writes) {
      if (!inFeed.has(w.versionstamp!)) out.push({ rule: "lost-write", message: `an acknowledged write of ${key} is not in the change feed`, ops: [w] });
    }
  }
  return out;
}

/** The acknowledged write with the highest versionstamp among those that returned before `t`. */
function latestBefore(writesByVersionstamp: readonly Op[], t: number): Op | null {
  for (let i = writesByVersionstamp.length - 1; i >= 0; i--) if (writesByVersionstamp[i]!.ret < t) return writesByVersionstamp[i]!;
  return null;
}

function witness(read: Op, other: Op, returned: Op | null): Op[] {
  return returned ? [read, other, returned] : [read, other];
}

/** Per client, per key: what it has seen (reads, its own acknowledged writes) never goes backwards. */
function checkClients(history: readonly Op[], resolve: (read: Op) => Resolved): Violation[] {
  const out: Violation[] = [];
  const seen = new Map<string, { versionstamp: string; by: Op }>();
  const ordered = [...history].sort((a, b) => a.invoke - b.invoke || a.id - b.id);
  for (const op of ordered) {
    const id = op.client + "\u0000" + op.key;
    let vs: string | null = null;
    if (acked(op)) vs = op.versionstamp;
    else if (op.kind === "read" && op.ok === true) {
      const res = resolve(op);
      if (!("unknown" in res)) vs = res.versionstamp;
    }
    if (vs === null) continue;
    const prev = seen.get(id);
    if (prev && vs < prev.versionstamp) {
      out.push({ rule: "monotonic", message: `${op.client} read ${op.key} older than what it had seen before`, ops: [op, prev.by] });
      continue;
    }
    if (!prev || vs > prev.versionstamp) seen.set(id, { versionstamp: vs, by: op });
  }
  return out;
}
