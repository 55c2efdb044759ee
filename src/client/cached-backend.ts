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
 * With a cache file (`cacheFile`, src/client/spill-file.ts) memory spills to a local SQLite file under
 * the same rules, and the cache outlives the process. The file records the feed position it has applied;
 * opening resumes the feed from there — applying every change since before the first read is served —
 * when the core still has it, and empties the file when it does not (`gap`), when the core's feed ends
 * before it (a restored or replaced store), or when the file belongs to another store. So a restarted
 * edge never serves an entry that a write made while it was down changed. Closing moves memory's entries
 * to the file, so a clean restart starts with the whole cache.
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
import { latestVersionstamp } from "../core/changes.ts";
import { ReadCache, type CachedRead } from "./read-cache.ts";
import { SpillFile } from "./spill-file.ts";

export interface CachedBackendOptions {
  /** The most memory the cache holds, in bytes (keys, values and bookkeeping). Default 64 MiB. */
  maxBytes?: number;
  clock?: Clock;
  /** How often the feed is read without a doorbell (ms). Default 250. */
  feedPollMs?: number;
  /** A second tier on disk, kept across restarts (see above). */
  cacheFile?: {
    path: string;
    /** Bytes the file holds at most. Default 1 GiB. */
    maxBytes?: number;
    /** The core's store id (src/core/store-id.ts): a file of another store is emptied. */
    coreId: string;
  };
  /** Where the cache says what it did with its file (kept, resumed, cleared and why). */
  log?: (line: string) => void;
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

/** Feed changes read per request while a restarted edge catches up. */
const CATCH_UP_PAGE = 1000;

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
  /** What eventualVersion answered last while the feed was unconfirmed: -1, -2, … */
  #unvouched = 0;

  readonly #log: (line: string) => void;

  private constructor(inner: Backend, options: CachedBackendOptions, spill: SpillFile | undefined) {
    this.inner = inner;
    this.kind = inner.kind;
    this.#log = options.log ?? (() => {});
    this.cache = new ReadCache(options.maxBytes ?? DEFAULT_CACHE_BYTES, { ...(spill ? { spill } : {}), log: this.#log });
    this.#clock = options.clock ?? systemClock;
    this.#onHit = options.onHit;
    this.#follower = new ChangeFollower(inner, {
      ...(options.feedPollMs === undefined ? {} : { pollMs: options.feedPollMs }),
      now: () => this.#clock.now(),
      onCurrent: (at, latest) => this.#current(at, latest),
    });
  }

  /**
   * A cache over `inner`, following its feed from the latest versionstamp — or, with a cache file that
   * recorded a position the core still has, from there; fails when `inner` does not answer.
   */
  static async open(inner: Backend, options: CachedBackendOptions = {}): Promise<CachedBackend> {
    const clock = options.clock ?? systemClock;
    const at = clock.now();
    const latest = await latestVersionstamp(inner);
    const file = options.cacheFile;
    const spill = file ? SpillFile.open(file.path, file.coreId, { ...(file.maxBytes === undefined ? {} : { maxBytes: file.maxBytes }), ...(options.log ? { log: options.log } : {}) }) : undefined;
    const backend = new CachedBackend(inner, options, spill);
    try {
      const from = spill?.applied ?? null;
      if (spill && !from && spill.stats.entries > 0) {
        backend.#log(`Cache file ${spill.path}: entries without a recorded feed position: cleared.`);
        backend.cache.clear();
      } else if (spill && from && compareBytes(from, latest) > 0) {
        backend.#log(
          `Cache file ${spill.path}: the core's feed ends at ${bytesToHex(latest)}, before the file's position ${bytesToHex(from)} (a restored or replaced store): cleared.`,
        );
        backend.cache.clear();
      } else if (spill && from) {
        const kept = spill.stats.entries;
        const { applied, reset } = await backend.#catchUp(from);
        backend.#log(
          reset
            ? `Cache file ${spill.path}: the core's feed no longer reaches back to the file's position ${bytesToHex(from)} (pruned past it while this edge was down): cleared.`
            : `Cache file ${spill.path}: resumed the core's feed from ${bytesToHex(from)}; ${applied} changes applied, ${spill.stats.entries} of ${kept} entries kept.`,
        );
      }
      backend.#current(at, latest);
    } catch (e) {
      backend.cache.closeFile();
      throw e;
    }
    backend.#follower.seen(backend.#applied);
    backend.#unlisten = backend.#follower.listen((event) => backend.#onFeed(event));
    // A core with a write fence holds each write until this node reports having applied it.
    inner.reportApplied?.(() => backend.#applied);
    return backend;
  }

  /**
   * Reads the feed after `from` to its end and applies it, before anything is served (a restart with a
   * cache file). A core that fails meanwhile fails the open: the file is then resumed on the next start.
   */
  async #catchUp(from: Uint8Array): Promise<{ applied: number; reset: boolean }> {
    let cursor = from;
    let applied = 0;
    for (;;) {
      const at = this.#clock.now();
      const page = await this.inner.changes(cursor, CATCH_UP_PAGE);
      if (page.gap) {
        this.cache.clear();
        this.#current(at, page.latest);
        return { applied, reset: true };
      }
      const fresh = page.changes.filter((c) => compareBytes(c.versionstamp, cursor) > 0);
      if (fresh.length > 0) {
        this.#onFeed({ changes: fresh });
        applied += fresh.length;
        cursor = fresh[fresh.length - 1]!.versionstamp;
      }
      if (page.changes.length < CATCH_UP_PAGE) {
        this.#current(at, compareBytes(page.latest, cursor) > 0 ? page.latest : cursor);
        return { applied, reset: false };
      }
    }
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
    if (compareBytes(latest, this.#applied) > 0) {
      this.#applied = latest;
      // Every change up to `latest` has been applied to both tiers: the file may resume from here.
      this.cache.recordApplied(latest);
    }
    if (at > this.#currentAt) this.#currentAt = at;
  }

  #onFeed(event: FeedEvent): void {
    if ("reset" in event) {
      if (this.cache.spill) this.#log(`Cache file ${this.cache.spill.path}: the core's feed was pruned past this edge (a gap): cache cleared.`);
      return this.cache.clear();
    }
    for (const c of event.changes) {
      if (c.keys === null) this.cache.dropNamespace(c.namespaceId);
      else for (const key of c.keys) this.cache.invalidate(c.namespaceId, key, c.versionstamp);
    }
  }

  /**
   * Resolves once the cache has applied the feed up to `versionstamp` (a client's bookmark): at once
   * when it has; else after one read of the feed, which reaches every write the core had acknowledged.
   * A bookmark still ahead then names no write the core has made (a 400), or the feed was cut (503).
   */
  async catchUp(versionstamp: Uint8Array): Promise<void> {
    if (compareBytes(this.#applied, versionstamp) >= 0) return;
    await this.#follower.kick();
    if (compareBytes(this.#applied, versionstamp) >= 0) return;
    const latest = await latestVersionstamp(this.inner);
    if (compareBytes(latest, versionstamp) < 0) {
      throw new KvError("invalid_argument", `The bookmark ${bytesToHex(versionstamp)} is ahead of the store's latest versionstamp ${bytesToHex(latest)}: send a versionstamp a write returned`);
    }
    await this.#follower.kick();
    if (compareBytes(this.#applied, versionstamp) < 0) {
      throw new KvError("unavailable", `This edge could not read the core's change feed up to the bookmark ${bytesToHex(versionstamp)}: retry, or read through the core`);
    }
  }

  degraded(): string | null {
    return this.#clock.now() - this.#currentAt > FEED_DEGRADED_AFTER_MS ? FEED_DEGRADED : null;
  }

  /**
   * The cache's version (ReadCache.version: moves whenever it forgets anything), for a response cache in
   * front of eventual reads. While the feed is unconfirmed for longer than FEED_DEGRADED_AFTER_MS (5 s,
   * under every eventual bound: Workers' least cacheTtl is 30 s) it answers a new number on every call —
   * counting down from -1, away from the cache's own — so nothing kept in front is served: those reads
   * then go through `read`, which checks each entry against its own bound.
   */
  eventualVersion(): number {
    if (this.#clock.now() - this.#currentAt > FEED_DEGRADED_AFTER_MS) return --this.#unvouched;
    return this.cache.version;
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
      const latest = await latestVersionstamp(this.inner);
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
    if (this.cache.lastTier === "file") this.cache.stats.fileHits++;
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
  onCommit(listener: () => void | Promise<void>): () => void {
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
    // With a file, memory's entries move there for the next start; without, they are dropped.
    this.cache.closeFile();
    await this.inner.close();
  }
}
