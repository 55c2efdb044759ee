/**
 * An edge node's cache: a Backend in front of another (the core, src/client/core-backend.ts) that answers
 * point reads — a get, one key — from memory (src/client/read-cache.ts) and forwards everything else.
 *
 * What it guarantees:
 * - Invalidation: it follows the core's change feed (the doorbell long-poll makes that milliseconds) and
 *   forgets each changed key in versionstamp order; a deleted namespace is forgotten whole; a feed that
 *   was pruned past it (`gap`) empties the cache. A fill that was out while its key changed is dropped,
 *   never inserted (see ReadCache).
 * - Its own writes: once a commit through this node returns, the keys it wrote are forgotten, so the
 *   next read through this node fetches them (read-your-writes for its clients).
 * - Strong reads (the default): answered from memory only when the node has applied the feed up to the
 *   core's latest versionstamp, asked for at the time of the read (one small request); else from the core.
 * - Eventual reads (`{ consistency: "eventual", maxAgeMs }`, Workers `cacheTtl`): answered from memory
 *   when the entry was current within `maxAgeMs` — fetched then, or confirmed by a read of the feed that
 *   reached its end then. While the feed is cut that stops after `maxAgeMs`, and reads go to the core
 *   (which fails them if it is down too): nothing older than the bound is served.
 *
 * A read of several ranges, or of a range that is not one key (or the first entry from one key, as
 * @deno/kv reads a key), goes to the core as one snapshot.
 *
 * @example
 * const backend = await CachedBackend.open(new CoreBackend(url, token), { maxBytes: 64 << 20 });
 * const engine = await Engine.open(backend);
 */
import type { AnalyticsStore, NamespaceStats } from "../core/analytics/types.ts";
import type { AppliedWrite } from "../core/atomic.ts";
import type { Backend, BatchItem, ChangePage, DumpRecord, ExpiredKey, MessageReseal, Reseal } from "../core/backend.ts";
import { systemClock, type Clock } from "../core/clock.ts";
import { KvError } from "../core/errors.ts";
import { ChangeFollower, type FeedEvent } from "../core/feed.ts";
import { bytesToHex, compareBytes, concatBytes, isPointRange } from "../core/keys.ts";
import type { Entry, NamespaceInfo, QueueMessage, ReadOptions, ReadRange } from "../core/types.ts";
import { versionstampFromCounter } from "../core/versionstamp.ts";
import { ReadCache, type CachedRead } from "./read-cache.ts";

export interface CachedBackendOptions {
  /** The most memory the cache holds, in bytes (keys, values and bookkeeping). Default 64 MiB. */
  maxBytes?: number;
  clock?: Clock;
  /** How often the feed is read without a doorbell (ms). Default 250. */
  feedPollMs?: number;
  /** Called whenever a read is answered from memory (the server counts it as a `hot_read`). */
  onHit?: () => void;
}

export const DEFAULT_CACHE_BYTES = 64 * 1024 * 1024;
/** Workers KV's default cacheTtl: an eventual read that names no bound gets this one. */
export const DEFAULT_MAX_AGE_MS = 60_000;
/** How long the feed may go without a complete read before the node calls itself degraded. */
export const FEED_DEGRADED_AFTER_MS = 5_000;
export const FEED_DEGRADED =
  "The core's change feed is unreachable: cached reads are served up to their cacheTtl old (60 s by default), strong reads and writes go to the core";

/** A cursor past any real versionstamp: reading the feed after it returns only the latest versionstamp. */
const PAST_THE_END = versionstampFromCounter(BigInt(Number.MAX_SAFE_INTEGER));

/**
 * The reads the cache can answer: a point read of one key (`[k, k‖00)`, what Deno's `get` and our APIs
 * send), or the first entry from a key onwards (`[k, end)`, limit 1, forward: what @deno/kv's `get`
 * sends, filtering the answer for k itself).
 */
function cacheableShape(range: ReadRange): "point" | "first" | null {
  if (range.keysOnly) return null;
  if (isPointRange(range)) return "point";
  return range.limit === 1 && !range.reverse && compareBytes(range.start, range.end) < 0 ? "first" : null;
}

export class CachedBackend implements Backend {
  readonly kind: Backend["kind"];
  readonly inner: Backend;
  readonly cache: ReadCache;
  readonly #clock: Clock;
  readonly #onHit: (() => void) | undefined;
  readonly #follower: ChangeFollower;
  #unlisten: (() => void) | null = null;
  /** Every commit up to this versionstamp has been applied to the cache. */
  #applied: Uint8Array = new Uint8Array(10);
  /** Clock time at which the cache last knew of every commit (the start of a complete feed read). */
  #currentAt = -Infinity;

  private constructor(inner: Backend, options: CachedBackendOptions) {
    this.inner = inner;
    this.kind = inner.kind;
    this.cache = new ReadCache(options.maxBytes ?? DEFAULT_CACHE_BYTES);
    this.#clock = options.clock ?? systemClock;
    this.#onHit = options.onHit;
    this.#follower = new ChangeFollower(inner, {
      ...(options.feedPollMs === undefined ? {} : { pollMs: options.feedPollMs }),
      now: () => this.#clock.now(),
      onCurrent: (at, latest) => this.#current(at, latest),
    });
  }

  /** A cache over `inner`, following its feed from the latest versionstamp; fails when `inner` does not answer. */
  static async open(inner: Backend, options: CachedBackendOptions = {}): Promise<CachedBackend> {
    const backend = new CachedBackend(inner, options);
    const at = backend.#clock.now();
    const { latest } = await inner.changes(PAST_THE_END, 1);
    backend.#follower.seen(latest);
    backend.#current(at, latest);
    backend.#unlisten = backend.#follower.listen((event) => backend.#onFeed(event));
    return backend;
  }

  /** The feed position the cache has applied. */
  get applied(): Uint8Array {
    return this.#applied;
  }

  /** Resolves once everything committed before the call is reflected in the cache (tests, benchmarks). */
  caughtUp(): Promise<void> {
    return this.#follower.caughtUp();
  }

  #current(at: number, latest: Uint8Array): void {
    if (compareBytes(latest, this.#applied) > 0) this.#applied = latest;
    if (at > this.#currentAt) this.#currentAt = at;
  }

  #onFeed(event: FeedEvent): void {
    if ("reset" in event) return this.cache.clear();
    for (const c of event.changes) {
      if (c.keys === null) this.cache.dropNamespace(c.namespaceId);
      else for (const key of c.keys) this.cache.invalidate(c.namespaceId, key, c.versionstamp);
    }
  }

  degraded(): string | null {
    return this.#clock.now() - this.#currentAt > FEED_DEGRADED_AFTER_MS ? FEED_DEGRADED : null;
  }

  // ---- reads ----

  async read(namespaceId: string, ranges: readonly ReadRange[], now: number, options?: ReadOptions): Promise<Entry[][]> {
    const range = ranges.length === 1 ? ranges[0]! : null;
    const shape = range ? cacheableShape(range) : null;
    if (!range || !shape) return this.inner.read(namespaceId, ranges, now);
    // "The first entry from k" is k's entry when k exists; when it does not, the answer is some later
    // key the cache does not hold, so only a present entry answers that shape.
    const usable = (hit: CachedRead | undefined) => (hit && (shape === "point" || hit.entry !== null) ? hit : undefined);
    if (options?.consistency === "eventual") {
      const hit = usable(this.#live(namespaceId, range.start, now));
      const maxAge = options.maxAgeMs ?? DEFAULT_MAX_AGE_MS;
      if (hit && this.#clock.now() - Math.max(this.#currentAt, hit.fetchedAt) <= maxAge) return this.#serve(hit);
    } else {
      // Read-index: the cache may answer only if it has applied every commit the core had made by now.
      const { latest } = await this.inner.changes(PAST_THE_END, 1);
      if (compareBytes(this.#applied, latest) >= 0) {
        const hit = usable(this.#live(namespaceId, range.start, now));
        if (hit) return this.#serve(hit);
      }
    }
    this.cache.stats.misses++;
    const fill = this.cache.beginFill(namespaceId, range.start, this.#clock.now(), this.#applied);
    let rows: Entry[][];
    try {
      rows = await this.inner.read(namespaceId, ranges, now);
    } catch (e) {
      this.cache.abandonFill(fill);
      throw e;
    }
    // Either shape tells whether k exists: the first entry from k is k's own, or k has none.
    const first = rows[0]?.[0] ?? null;
    this.cache.finishFill(fill, range.start, first && compareBytes(first.key, range.start) === 0 ? first : null);
    return rows;
  }

  /** The cached read of a key unless it has expired by `now` (the core then decides, and purges it). */
  #live(namespaceId: string, key: Uint8Array, now: number): CachedRead | undefined {
    const hit = this.cache.get(namespaceId, key);
    if (hit?.entry && hit.entry.expiresAt !== null && hit.entry.expiresAt <= now) return undefined;
    return hit;
  }

  #serve(hit: CachedRead): Entry[][] {
    this.cache.stats.hits++;
    this.#onHit?.();
    return [hit.entry ? [hit.entry] : []];
  }

  namespaceStats(namespaceId: string): Promise<NamespaceStats> {
    return this.inner.namespaceStats(namespaceId);
  }

  get analytics(): AnalyticsStore | undefined {
    return this.inner.analytics;
  }

  count(namespaceId: string, start: Uint8Array, end: Uint8Array, now: number): Promise<number> {
    return this.inner.count(namespaceId, start, end, now);
  }

  // ---- writes: forwarded, then the written keys forgotten ----

  async commit(batch: readonly BatchItem[], now: number): Promise<(AppliedWrite | KvError)[]> {
    let results: (AppliedWrite | KvError)[];
    try {
      results = await this.inner.commit(batch, now);
    } catch (e) {
      // The outcome may be unknown: forget every key the batch may have written.
      for (const item of batch) this.#forget(item, null);
      throw e;
    }
    results.forEach((r, i) => {
      if (!(r instanceof KvError) && r.result.ok) this.#forget(batch[i]!, r.result.versionstamp);
    });
    return results;
  }

  #forget(item: BatchItem, versionstamp: Uint8Array | null): void {
    for (const m of item.write.mutations) {
      if (m.type !== "setSuffixVersionstampedKey") this.cache.invalidate(item.namespaceId, m.key);
      else if (versionstamp) {
        // The key the core made (src/core/atomic.ts): someone may have read it before it existed.
        const suffix = new TextEncoder().encode(bytesToHex(versionstamp));
        this.cache.invalidate(item.namespaceId, concatBytes(m.key, Uint8Array.of(0x02), suffix, Uint8Array.of(0x00)));
      }
    }
  }

  createNamespace(info: NamespaceInfo): Promise<NamespaceInfo> {
    return this.inner.createNamespace(info);
  }
  listNamespaces(): Promise<NamespaceInfo[]> {
    return this.inner.listNamespaces();
  }
  getNamespace(id: string): Promise<NamespaceInfo | null> {
    return this.inner.getNamespace(id);
  }
  getNamespaceByTitle(title: string): Promise<NamespaceInfo | null> {
    return this.inner.getNamespaceByTitle(title);
  }
  renameNamespace(id: string, title: string): Promise<NamespaceInfo> {
    return this.inner.renameNamespace(id, title);
  }
  async deleteNamespace(id: string): Promise<boolean> {
    try {
      return await this.inner.deleteNamespace(id);
    } finally {
      this.cache.dropNamespace(id);
    }
  }

  // ---- everything else: the inner backend's ----

  purgeExpired(now: number, limit: number): Promise<ExpiredKey[]> {
    return this.inner.purgeExpired(now, limit);
  }
  claimMessages(namespaceId: string, now: number, limit: number, leaseMs: number): Promise<QueueMessage[]> {
    return this.inner.claimMessages(namespaceId, now, limit, leaseMs);
  }
  ackMessage(id: number): Promise<void> {
    return this.inner.ackMessage(id);
  }
  retryMessage(id: number, readyAt: number): Promise<void> {
    return this.inner.retryMessage(id, readyAt);
  }
  nextMessageAt(namespaceId: string): Promise<number | null> {
    return this.inner.nextMessageAt(namespaceId);
  }
  getSetting(name: string): Promise<string | null> {
    return this.inner.getSetting(name);
  }
  putSetting(name: string, value: string | null, expected: string | null): Promise<boolean> {
    return this.inner.putSetting(name, value, expected);
  }
  reseal(namespaceId: string, items: readonly Reseal[]): Promise<boolean[]> {
    return this.inner.reseal(namespaceId, items);
  }
  listMessages(namespaceId: string, afterId: number, limit: number): Promise<QueueMessage[]> {
    return this.inner.listMessages(namespaceId, afterId, limit);
  }
  resealMessages(items: readonly MessageReseal[]): Promise<boolean[]> {
    return this.inner.resealMessages(items);
  }
  scrub(options: { checkpoint: boolean }): Promise<void> {
    return this.inner.scrub(options);
  }
  changes(after: Uint8Array, limit: number): Promise<ChangePage> {
    return this.inner.changes(after, limit);
  }
  pruneChanges(olderThan: number, keepWrites: number): Promise<number> {
    return this.inner.pruneChanges(olderThan, keepWrites);
  }
  onCommit(listener: () => void): () => void {
    return this.inner.onCommit?.(listener) ?? (() => {});
  }
  async ping(): Promise<void> {
    await this.inner.ping?.();
  }
  dump(): AsyncIterable<DumpRecord> {
    return this.inner.dump();
  }
  load(records: AsyncIterable<DumpRecord>): Promise<void> {
    return this.inner.load(records);
  }

  async close(): Promise<void> {
    this.#unlisten?.();
    this.#follower.close();
    this.cache.clear();
    await this.inner.close();
  }
}
