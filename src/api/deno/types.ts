/** The public types of the Deno KV API, shaped like the `Deno.*` types of the same names. */
import type { KvU64 } from "./kv-u64.ts";

/** One part of a key. Any ArrayBufferView is accepted on input and read back as a Uint8Array. */
export type KvKeyPart = Uint8Array | string | number | bigint | boolean | symbol;
/** A key: a list of parts, ordered bytes < strings < bigints < numbers < false < true. */
export type KvKey = readonly KvKeyPart[];

export type KvConsistencyLevel = "strong" | "eventual";

/** An entry that exists. `versionstamp` is 20 lowercase hex characters, increasing with every commit. */
export interface KvEntry<T = unknown> {
  key: KvKey;
  value: T;
  versionstamp: string;
}

/** What `get` returns: the entry, or `{ key, value: null, versionstamp: null }` when absent. */
export type KvEntryMaybe<T = unknown> = KvEntry<T> | { key: KvKey; value: null; versionstamp: null };

/**
 * Which keys `list` visits: everything under `prefix` (optionally from `start` or up to `end`, both
 * inside the prefix), or the range `[start, end)`.
 */
export type KvListSelector =
  | { prefix: KvKey }
  | { prefix: KvKey; start: KvKey }
  | { prefix: KvKey; end: KvKey }
  | { start: KvKey; end: KvKey };

export interface KvListOptions {
  /** Stop after this many entries. */
  limit?: number;
  /** Continue after the entry a previous iterator's `cursor` points at. */
  cursor?: string;
  reverse?: boolean;
  /** Accepted for compatibility; every read here is strongly consistent. */
  consistency?: KvConsistencyLevel;
  /** Entries fetched per round trip (default: `limit`, capped at 500, or 100). At most 1000. */
  batchSize?: number;
}

export interface AtomicCheck {
  key: KvKey;
  /** The versionstamp the key must have, or null for "must not exist". */
  versionstamp: string | null;
}

export type KvMutation = { key: KvKey } & (
  | { type: "set"; value: unknown; expireIn?: number }
  | { type: "delete" }
  | { type: "sum"; value: KvU64 | number | bigint }
  | { type: "max"; value: KvU64 }
  | { type: "min"; value: KvU64 }
);

export interface KvCommitResult {
  ok: true;
  versionstamp: string;
}

export interface KvCommitError {
  ok: false;
}

export interface EnqueueOptions {
  /** Milliseconds before the message becomes deliverable (at most 30 days). */
  delay?: number;
  /** Where the message is written if it cannot be delivered after all retries. */
  keysIfUndelivered?: KvKey[];
  /** Delays in ms between retries (at most 5, each ≤ 1 hour); default 100 ms, 1 s, 5 s, 30 s, 60 s. */
  backoffSchedule?: number[];
}

export interface SetOptions {
  /** Milliseconds after which the entry expires (a non-negative integer). */
  expireIn?: number;
}

export interface ReadOptions {
  consistency?: KvConsistencyLevel;
}
