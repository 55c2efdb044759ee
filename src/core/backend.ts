/**
 * The storage contract. Every backend (memory, SQLite, later PostgreSQL) implements it and passes
 * test/conformance/backend.case.ts. Rules every implementation keeps:
 * - keys are compared bytewise; a range is `[start, end)`; `reverse` scans from the end;
 * - `read` never returns an entry whose `expiresAt` is at or before `now`; a `keysOnly` range returns
 *   entries with empty `data` (never loading the values);
 * - `commit` applies each AtomicWrite of the batch all-or-nothing through `executeAtomic`, in batch
 *   order, each with a versionstamp strictly larger than every earlier one, and the whole batch is durable
 *   (per the backend's durability setting) before the promise resolves: this is the group commit;
 * - deleting a namespace deletes its entries and its queue.
 */
import type { AppliedWrite } from "./atomic.ts";
import type { KvError } from "./errors.ts";
import type { AtomicWrite, Entry, NamespaceInfo, QueueMessage, ReadRange } from "./types.ts";

export interface BatchItem {
  readonly namespaceId: string;
  readonly write: AtomicWrite;
  /** A queue message consumed by this same transaction (dead-lettering writes keysIfUndelivered). */
  readonly consumeMessage?: number;
}

export interface ExpiredKey {
  readonly namespaceId: string;
  readonly key: Uint8Array;
}

export interface Backend {
  readonly kind: "memory" | "sqlite" | "postgres";

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

  /** One consistent snapshot across all ranges; results in request order. */
  read(namespaceId: string, ranges: readonly ReadRange[], now: number): Promise<Entry[][]>;
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

  close(): Promise<void>;
}
