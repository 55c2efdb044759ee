/**
 * A random workload for the consistency checker: several clients, each a sequential loop of reads
 * (strong and eventual), writes with unique values and check-and-set on a few keys, all recorded.
 * Randomness comes from a seed, so a run that fails can be replayed; each client keeps to its own node.
 */
import { Recorder, type Op } from "./history.ts";

/** One node's API as the workload drives it. Versionstamps are lowercase hex. */
export interface KvClient {
  /** `versionstamp` is null when the API does not return one (the checker maps the value to its write). */
  read(key: string, consistency: "strong" | "eventual"): Promise<{ value: string | null; versionstamp: string | null }>;
  write(key: string, value: string): Promise<string>;
  /** Writes only if the key's versionstamp is `expected` (null: absent); the new versionstamp, or null when refused. */
  cas(key: string, expected: string | null, value: string): Promise<string | null>;
}

export interface WorkloadOptions {
  readonly seed: number;
  readonly keys: readonly string[];
  readonly opsPerClient: number;
  /** Stop early once this much real time has passed (ms): keeps a slow machine's run bounded. */
  readonly deadlineMs?: number;
  /** The clock the history is timed on. */
  readonly now: () => number;
  /** The bound recorded on eventual reads (what the client asked for). */
  readonly maxAgeMs?: number;
  /** Runs between a client's operations (advance a fake clock, let the feed run, yield); gets the client's random source. */
  readonly between?: (random: () => number) => Promise<void>;
}

/** mulberry32: small, fast, and good enough to pick operations. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export async function runWorkload(clients: readonly { name: string; client: KvClient }[], options: WorkloadOptions): Promise<Op[]> {
  const recorder = new Recorder(options.now);
  const started = performance.now();
  await Promise.all(
    clients.map(async ({ name, client }, index) => {
      const random = seeded(options.seed * 7919 + index);
      // The versionstamp this client last saw per key: what its CAS expects.
      const known = new Map<string, string | null>();
      for (let i = 0; i < options.opsPerClient; i++) {
        if (options.deadlineMs !== undefined && performance.now() - started > options.deadlineMs) break;
        const key = options.keys[Math.floor(random() * options.keys.length)]!;
        const value = `${name}:${i}`;
        const dice = random();
        if (dice < 0.3) {
          await recorder.run({ client: name, kind: "read", key, value: null, consistency: "strong" }, () => client.read(key, "strong"), (op, r) => {
            op.value = r.value;
            op.versionstamp = r.versionstamp;
            if (r.versionstamp !== null || r.value === null) known.set(key, r.versionstamp);
          });
        } else if (dice < 0.6) {
          const maxAge = options.maxAgeMs === undefined ? {} : { maxAgeMs: options.maxAgeMs };
          await recorder.run({ client: name, kind: "read", key, value: null, consistency: "eventual", ...maxAge }, () => client.read(key, "eventual"), (op, r) => {
            op.value = r.value;
            op.versionstamp = r.versionstamp;
          });
        } else if (dice < 0.85) {
          await recorder.run({ client: name, kind: "write", key, value }, () => client.write(key, value), (op, vs) => {
            op.versionstamp = vs;
            known.set(key, vs);
          });
        } else {
          const expected = known.get(key) ?? null;
          await recorder.run({ client: name, kind: "cas", key, value, expected }, () => client.cas(key, expected, value), (op, vs) => {
            op.ok = vs !== null;
            op.versionstamp = vs;
            if (vs !== null) known.set(key, vs);
          });
        }
        await options.between?.(random);
      }
    }),
  );
  return recorder.ops;
}
