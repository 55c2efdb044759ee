/**
 * The seam between Deno's API and where the data lives. `Kv` (and its read path, write path, watch and
 * queue) validates arguments and produces Deno's exact errors once, then talks only to a `KvBackend`:
 * - `EngineKvBackend` (./engine-backend.ts): embedded, over an Engine namespace;
 * - `KvConnectBackend` (src/client/kv-connect.ts): remote, over KV Connect.
 *
 * Contract for every implementation:
 * - reads and writes take and return core types (byte keys, encoded values, 10-byte versionstamps);
 * - `snapshotRead` reads all ranges in one snapshot and never returns expired entries;
 * - `atomicWrite` applies checks then mutations all-or-nothing; every successful commit, even an empty
 *   one, gets a new, strictly larger versionstamp;
 * - a rejected read or write throws a `KvError` whose message is the user-facing one (Deno's), which the
 *   API layer turns into Deno's error class; a `KvError` with code "closed" means the store is gone.
 */
import type { AtomicWrite, CommitResult, Entry, NamespaceInfo, ReadRange } from "../../core/types.ts";
import type { WatchFeed } from "../../core/watch.ts";

export interface KvBackend {
  /** The namespace (database) this backend reads and writes. */
  readonly namespace: NamespaceInfo;
  /** True once the store behind the backend is gone (e.g. a shared engine was closed elsewhere). */
  readonly closed: boolean;
  /** Epoch ms: what `expireIn` and queue `delay` are added to. */
  now(): number;
  /** `consistency` "eventual" lets a server with a cache (an edge) answer from it; absent: strong. */
  snapshotRead(ranges: readonly ReadRange[], consistency?: "strong" | "eventual"): Promise<Entry[][]>;
  atomicWrite(write: AtomicWrite): Promise<CommitResult>;
  /** Watches keys (at least one). See WatchFeed. */
  watch(keys: readonly Uint8Array[]): WatchFeed;
  /**
   * Registers a queue consumer and returns the function that unregisters it. Each message goes to one
   * consumer at least once: the consumer's promise resolving means delivered; rejecting means a failed
   * attempt, retried per the message's backoff schedule and finally written to its keysIfUndelivered.
   */
  listenQueue(consumer: (payload: Uint8Array) => Promise<void>): () => void;
  /** Releases what the backend holds (an engine it opened, connections). */
  close(): Promise<void>;
}

export type { WatchFeed } from "../../core/watch.ts";
