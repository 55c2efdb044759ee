/**
 * The storage contract. Every backend (memory, SQLite, later PostgreSQL) implements it and passes
 * test/conformance/backend.case.ts. Rules every implementation keeps:
 * - keys are compared bytewise; a range is `[start, end)`; `reverse` scans from the end;
 * - `read` never returns an entry whose `expiresAt` is at or before `now`; a `keysOnly` range returns
 *   entries with empty `data` (never loading the values);
 * - `commit` applies each AtomicWrite of the batch all-or-nothing through `executeAtomic`, in batch
 *   order, each with a versionstamp strictly larger than every earlier one, and the whole batch is durable
 *   (per the backend's durability setting) before the promise resolves: this is the group commit;
 * - deleting a namespace deletes its entries and its queue;
 * - every successful write, expiry purge and namespace deletion appends one row to the change feed in
 *   the same transaction (`changes`), under the versionstamp it took, so the feed is gap-free in
 *   versionstamp order;
 * - `Entry.sealed` and `QueueMessage.sealed` are stored and returned as given: sealed bytes and sealed
 *   metadata are opaque (the engine seals and opens them, src/core/keyring.ts); a backend never looks
 *   inside them and needs no key;
 * - every change to a namespace's entries (commit, purge, reseal, load, namespace deletion) keeps its
 *   `namespaceStats` in the same transaction, so reading them never scans.
 */
import type { AnalyticsStore, NamespaceStats } from "./analytics/types.ts";
import type { AppliedWrite, Sealer } from "./atomic.ts";
import type { ChangePage } from "./changes.ts";
import type { KvError } from "./errors.ts";
import type { AtomicWrite, Entry, NamespaceInfo, QueueMessage, ReadOptions, ReadRange } from "./types.ts";

export interface BatchItem {
  readonly namespaceId: string;
  readonly write: AtomicWrite;
  /** A queue message consumed by this same transaction (dead-lettering writes keysIfUndelivered). */
  readonly consumeMessage?: number;
  /** Seals what the write stores and opens what it reads (the engine's keyring); absent = plaintext. */
  readonly sealer?: Sealer;
}

/** Re-encrypted bytes for one entry (key rotation, sealing a plaintext store in place). */
export interface Reseal {
  readonly key: Uint8Array;
  /** The versionstamp the entry had when it was read: the rewrite applies only if it still has it. */
  readonly versionstamp: Uint8Array;
  readonly data: Uint8Array;
  readonly metadata: string | null;
  readonly sealed: boolean;
}

/** Re-encrypted bytes for one queue message. */
export interface MessageReseal {
  readonly id: number;
  /** The payload as read: the rewrite applies only if the message still exists with these bytes. */
  readonly from: Uint8Array;
  readonly payload: Uint8Array;
  readonly sealed: boolean;
}

export type { Change, ChangePage } from "./changes.ts";

/**
 * One piece of a whole-store copy (`Backend.dump` → `Backend.load`): what `openkv backup` and
 * `openkv migrate` move between stores. Entries and messages are raw — sealed bytes stay sealed, expired
 * entries not yet purged are included — and versionstamps are kept.
 */
export type DumpRecord =
  | { readonly kind: "namespace"; readonly namespace: NamespaceInfo }
  | { readonly kind: "entries"; readonly namespaceId: string; readonly entries: readonly Entry[] }
  | { readonly kind: "messages"; readonly namespaceId: string; readonly messages: readonly QueueMessage[] }
  | { readonly kind: "setting"; readonly name: string; readonly value: string }
  /** The commit counter as a versionstamp: a loaded store issues only larger ones. First in every dump. */
  | { readonly kind: "versionstamp"; readonly versionstamp: Uint8Array; readonly entries: number };

export interface ExpiredKey {
  readonly namespaceId: string;
  readonly key: Uint8Array;
}

export interface Backend {
  /** "core": another OpenKV server, the core of an edge node (src/client/core-backend.ts). */
  readonly kind: "memory" | "sqlite" | "postgres" | "core";

  /** Throws KvError("namespace_exists") when the title (or id) is taken. */
  createNamespace(info: NamespaceInfo): Promise<NamespaceInfo>;
  /** Ordered by creation. */
  listNamespaces(): Promise<NamespaceInfo[]>;
  getNamespace(id: string): Promise<NamespaceInfo | null>;
  getNamespaceByTitle(title: string): Promise<NamespaceInfo | null>;
  /** Throws namespace_not_found / namespace_exists. */
  renameNamespace(id: string, title: string): Promise<NamespaceInfo>;
  /** Returns false when there was no such namespace. */
  deleteNamespace(id: string): Promise<boolean>;

  /**
   * One consistent snapshot across all ranges; results in request order. `options` matter only to a
   * backend with a cache (src/client/cached-backend.ts); stores read strongly whatever they say.
   */
  read(namespaceId: string, ranges: readonly ReadRange[], now: number, options?: ReadOptions): Promise<Entry[][]>;
  /**
   * The namespace's key count and byte count (src/core/analytics/types.ts `NamespaceStats`), as kept by
   * the write transactions; zeros for an unknown namespace.
   */
  namespaceStats(namespaceId: string): Promise<NamespaceStats>;
  /**
   * Where this store keeps analytics (src/core/analytics/). Absent: it keeps none (an edge node's core
   * backend forwards what the edge counts to its core instead, through `analytics` of its own).
   */
  readonly analytics?: AnalyticsStore;

  /** Number of live entries in `[start, end)`. */
  count(namespaceId: string, start: Uint8Array, end: Uint8Array, now: number): Promise<number>;

  /** Group commit: one result per item, a KvError for an item whose mutation was invalid. */
  commit(batch: readonly BatchItem[], now: number): Promise<(AppliedWrite | KvError)[]>;

  /** Deletes up to `limit` entries expired at `now` and says which. */
  purgeExpired(now: number, limit: number): Promise<ExpiredKey[]>;

  /** Leases up to `limit` ready messages until `now + leaseMs`; a crash lets the lease lapse. */
  claimMessages(namespaceId: string, now: number, limit: number, leaseMs: number): Promise<QueueMessage[]>;
  /** Removes a delivered message. */
  ackMessage(id: number): Promise<void>;
  /** Puts a message back for another attempt at `readyAt`. */
  retryMessage(id: number, readyAt: number): Promise<void>;
  /** The earliest time a message of the namespace becomes deliverable, or null. */
  nextMessageAt(namespaceId: string): Promise<number | null>;

  /**
   * Store-level settings (the keyring of an encrypted store): small texts by name, null when absent.
   * A commit reads them inside its own transaction (`TxView.setting`), so a `putSetting` is seen by
   * every later commit of every process sharing the store — that is how a key rotation makes all
   * writers seal under the new key at once.
   */
  getSetting(name: string): Promise<string | null>;
  /** Sets (null: removes) a setting iff its current value is `expected`; false when it was not. */
  putSetting(name: string, value: string | null, expected: string | null): Promise<boolean>;

  /**
   * Rewrites entries' stored bytes in place — data, metadata and the sealed flag, nothing else — each
   * only if its versionstamp is still the one given; says per item whether it did. A reseal is not a
   * write: it issues no versionstamp, keeps expiry and encoding, and wakes no watcher, so a key
   * rotation is invisible to readers, to compare-and-swap checks and to caches keyed by versionstamp.
   * An entry written meanwhile keeps its new bytes (they were sealed under the new key already).
   * Expired entries not yet purged are rewritten like live ones.
   */
  reseal(namespaceId: string, items: readonly Reseal[]): Promise<boolean[]>;
  /** Queue messages of a namespace with an id above `afterId`, in id order, leased or not, expired or not. */
  listMessages(namespaceId: string, afterId: number, limit: number): Promise<QueueMessage[]>;
  /** Rewrites messages' payloads, each only if the message still exists with payload `from`. */
  resealMessages(items: readonly MessageReseal[]): Promise<boolean[]>;
  /**
   * For encrypted stores: from now on, bytes that a write replaces or deletes are overwritten in the
   * store's files instead of lingering in free space; with `checkpoint`, also fold the write-ahead log
   * into the database and truncate it, so replaced bytes still in the log leave the files too. (SQLite:
   * `secure_delete`, then `wal_checkpoint(TRUNCATE)`; space freed before the first call is not erased.)
   */
  scrub(options: { checkpoint: boolean }): Promise<void>;

  /**
   * The change feed after `after` (a versionstamp; all zeros: from the start), oldest first, at most
   * `limit` writes, with the latest committed versionstamp read in the same snapshot.
   */
  changes(after: Uint8Array, limit: number): Promise<ChangePage>;
  /** Drops feed rows older than `olderThan` (epoch ms) and all but the last `keepWrites`; says how many went. */
  pruneChanges(olderThan: number, keepWrites: number): Promise<number>;
  /**
   * A doorbell: calls `listener` soon after any process sharing the store commits (PostgreSQL: LISTEN);
   * absent when the backend has none, and followers then poll. Returns a function that stops it. A
   * listener may return a promise (a follower reading the feed): a doorbell that reports how far this
   * node has applied the feed (an edge's core, `reportApplied`) waits for it before it reports.
   */
  onCommit?(listener: () => void | Promise<void>): () => void;
  /**
   * For a store that holds writes until the nodes following it have applied them (a core's write fence,
   * src/core/fence.ts): `applied()` is how far this node's cache has applied the store's feed, sent with
   * every doorbell request. Absent on local stores.
   */
  reportApplied?(applied: () => Uint8Array): void;
  /**
   * For a cache in front of a store (an edge): resolves once reads reflect every write up to
   * `versionstamp` (a client's bookmark); KvError "invalid_argument" when the store has not reached it,
   * "unavailable" when the store cannot be asked. Absent: reads always reflect every write.
   */
  catchUp?(versionstamp: Uint8Array): Promise<void>;
  /**
   * A number that changes whenever a commit may have changed what a read returns — one made through
   * this backend or by any other connection or process on the same store — read synchronously, so a
   * cache in front of the reads can check it on every hit (src/http/response-cache.ts). Spurious changes
   * are allowed; a missed one is not. Absent: the store has no such cheap signal (PostgreSQL, an edge's
   * core), and nothing caches in front of it.
   */
  storeVersion?(): number;
  /**
   * `storeVersion` for eventual reads only (an edge's cache, src/client/cached-backend.ts): a number that
   * changes whenever what an eventual read returns may have changed — the cache forgot a key, a
   * namespace or everything — and on every call while the cache cannot vouch for its entries (its change
   * feed unconfirmed for longer than the bound it serves eventual reads within), so that nothing kept in
   * front of it is served then. Strong reads must not be kept on it. Absent: no such signal.
   */
  eventualVersion?(): number;
  /**
   * For stores behind a network (PostgreSQL): resolves when the store answers, throws KvError
   * "unavailable" when it does not. A local store has none: it is there when the process is.
   */
  ping?(): Promise<void>;
  /**
   * Why this node serves less than usual while its store answers (an edge whose change feed is cut), or
   * null when it does not; /healthz reports it. Absent: never degraded.
   */
  degraded?(): string | null;

  /**
   * The whole store as of one snapshot: first the versionstamp record (with the number of entries, for
   * progress), then settings, then each namespace followed by its entries (in key order, in pages) and
   * its queue messages. Safe while others write.
   */
  dump(): AsyncIterable<DumpRecord>;
  /**
   * Loads a dump into this store, which must hold no namespace (else KvError "invalid_argument"), exactly
   * as dumped; afterwards the counter is at least the dump's, so new versionstamps sort after the copied
   * ones. Queue message ids are issued anew.
   */
  load(records: AsyncIterable<DumpRecord>): Promise<void>;

  close(): Promise<void>;
}
