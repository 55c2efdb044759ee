/** The engine's data model: byte keys, encoded values, versionstamps. */

/** How a value's bytes are to be read: V8 structured clone, raw bytes, or a little-endian u64. */
export type ValueEncoding = "v8" | "bytes" | "le64";

export interface StoredValue {
  readonly encoding: ValueEncoding;
  readonly data: Uint8Array;
}

/** One live entry as stored. `versionstamp` is 10 bytes; `expiresAt` is epoch ms or null. */
export interface Entry extends StoredValue {
  readonly key: Uint8Array;
  readonly versionstamp: Uint8Array;
  readonly expiresAt: number | null;
  /** JSON text of Workers KV metadata, or null. */
  readonly metadata: string | null;
  /**
   * True when `data` and `metadata` are sealed (AES-256-GCM envelopes, src/core/sealing.ts) rather than
   * plaintext. Backends store and return the flag as they got it; the engine opens sealed entries before
   * anything above it sees them, so front ends never meet a sealed entry.
   */
  readonly sealed?: boolean;
}

/** A `[start, end)` scan. `limit` > 0. */
export interface ReadRange {
  readonly start: Uint8Array;
  readonly end: Uint8Array;
  readonly limit: number;
  readonly reverse?: boolean;
  /** Leave values out (`data` is empty; everything else is real): listings of large values stay cheap. */
  readonly keysOnly?: boolean;
}

/**
 * How fresh a read must be. Absent, or `strong`: it sees every write acknowledged before it began.
 * `eventual` lets a node with a cache (an edge) answer from it, the answer being current as of some
 * moment at most `maxAgeMs` ago (default 60 s, Workers KV's `cacheTtl`). A store without a cache
 * ignores it: every read it makes is strong.
 */
export interface ReadOptions {
  readonly consistency?: "strong" | "eventual";
  readonly maxAgeMs?: number;
}

/** `versionstamp: null` means "the key must not exist". */
export interface Check {
  readonly key: Uint8Array;
  readonly versionstamp: Uint8Array | null;
}

export type Mutation =
  | {
      readonly type: "set";
      readonly key: Uint8Array;
      readonly value: StoredValue;
      readonly expiresAt?: number | null;
      readonly metadata?: string | null;
    }
  | { readonly type: "delete"; readonly key: Uint8Array }
  | {
      readonly type: "sum" | "min" | "max";
      readonly key: Uint8Array;
      /** An le64 operand (KvU64), or — for sum only — a v8 number/bigint operand. */
      readonly value: StoredValue;
      /** Bounds for a v8 sum (Deno's `sum_min`/`sum_max`, V8-encoded); the result must stay inside. */
      readonly sumMin?: Uint8Array;
      readonly sumMax?: Uint8Array;
      readonly sumClamp?: boolean;
    }
  | {
      /** Key becomes `key ‖ 0x02 ‖ ascii(hex(versionstamp)) ‖ 0x00`. */
      readonly type: "setSuffixVersionstampedKey";
      readonly key: Uint8Array;
      readonly value: StoredValue;
      readonly expiresAt?: number | null;
    };

export interface Enqueue {
  /** V8-encoded message. */
  readonly payload: Uint8Array;
  /** Epoch ms at which the message becomes deliverable. */
  readonly readyAt: number;
  readonly keysIfUndelivered: readonly Uint8Array[];
  /** Delays in ms between retries; absent = the default schedule. */
  readonly backoffSchedule?: readonly number[];
  /** True when `payload` is sealed (see `Entry.sealed`); backends keep the flag with the message. */
  readonly sealed?: boolean;
}

export interface AtomicWrite {
  readonly checks: readonly Check[];
  readonly mutations: readonly Mutation[];
  readonly enqueues: readonly Enqueue[];
}

export type CommitResult =
  | { readonly ok: true; readonly versionstamp: Uint8Array }
  | { readonly ok: false; readonly failedChecks: readonly number[] };

export interface NamespaceInfo {
  /** 32 lowercase hex characters. */
  readonly id: string;
  readonly title: string;
  readonly createdAt: number;
}

export interface QueueMessage {
  readonly id: number;
  readonly namespaceId: string;
  readonly payload: Uint8Array;
  readonly readyAt: number;
  readonly attempts: number;
  readonly keysIfUndelivered: readonly Uint8Array[];
  readonly backoffSchedule: readonly number[] | null;
  /** True when `payload` is sealed; the engine opens it before a handler sees it. */
  readonly sealed?: boolean;
}

/** Deno's default: retry after 100 ms, 1 s, 5 s, 30 s, 60 s. */
export const DEFAULT_BACKOFF_SCHEDULE: readonly number[] = [100, 1000, 5000, 30000, 60000];
