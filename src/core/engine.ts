/**
 * The engine: validation, namespaces, the one write path with group commit, expiry, watch and queues,
 * over any Backend. Front ends (Deno Kv, Workers KVNamespace, REST) are thin layers over this class.
 */
import { randomBytes } from "node:crypto";
import type { NamespaceStats } from "./analytics/types.ts";
import type { Backend, BatchItem } from "./backend.ts";
import { systemClock, type Clock } from "./clock.ts";
import { KvError } from "./errors.ts";
import { Keyring, UnknownDataKeyError } from "./keyring.ts";
import { validateWrite } from "./validate.ts";
import type { WriteFence } from "./fence.ts";
import { compareBytes, keyId } from "./keys.ts";
import { CHANGE_RETENTION, latestVersionstamp } from "./changes.ts";
import { ChangeFollower, type FeedEvent } from "./feed.ts";
import { watchFeed, type WatchFeed } from "./watch.ts";
import {
  DEFAULT_BACKOFF_SCHEDULE,
  type AtomicWrite,
  type CommitResult,
  type Entry,
  type NamespaceInfo,
  type QueueMessage,
  type ReadOptions,
  type ReadRange,
} from "./types.ts";

export interface EngineOptions {
  clock?: Clock;
  /** How often expired entries are purged in the background (real time). Default 1000 ms. */
  purgeIntervalMs?: number;
  /** Random 32-hex namespace ids; injectable for tests. */
  newId?: () => string;
  /**
   * The user key (256 bits) of an encrypted store, or the key that turns encryption on for a plaintext
   * one. Takes effect through `Engine.open`, which checks it against the store.
   */
  encryptionKey?: Uint8Array;
  /** Plaintext of hot encrypted entries kept in memory, in bytes (default 16 MiB; 0: decrypt every read). */
  decryptedCacheBytes?: number;
  /** How often watchers look at the change feed for other processes' commits (ms). Default 250. */
  feedPollMs?: number;
  /**
   * Holds each acknowledgement until the edge nodes following this store have applied the write
   * (./fence.ts): read-your-writes for clients that write here and read through an edge.
   */
  fence?: WriteFence;
}

export interface OpenEngineOptions extends EngineOptions {
  /** Open an encrypted store without its key (a backup copies ciphertext); its reads and writes then fail. */
  allowLocked?: boolean;
}

export type QueueHandler = (payload: Uint8Array, message: QueueMessage) => unknown;

type Pending = {
  item: BatchItem;
  resolve: (r: CommitResult) => void;
  reject: (e: unknown) => void;
};


const NAMESPACE_ID = /^[0-9a-f]{32}$/;
const NAMESPACE_CACHE_MS = 1000;
/** How often the change feed is trimmed to CHANGE_RETENTION (engine clock). */
const PRUNE_EVERY_MS = 5000;

export class Engine {
  readonly backend: Backend;
  readonly clock: Clock;
  /** Seals and opens entries and queue payloads of an encrypted store; passes plaintext through otherwise. */
  readonly keyring: Keyring;
  #newId: () => string;
  #pending: Pending[] = [];
  #flushing = false;
  #flushScheduled = false;
  #closed = false;
  #watchers = new Map<string, Map<string, Set<() => void>>>();
  #listeners = new Map<string, QueueListener>();
  #purgeTimer: NodeJS.Timeout;
  #purging: Promise<void> | null = null;
  #namespaceCache = new Map<string, { ns: NamespaceInfo; at: number }>();
  /** Follows the store's change feed while anyone watches: the one source of watch notifications. */
  readonly #follower: ChangeFollower;
  #unfollow: (() => void) | null = null;
  #lastPrune = 0;
  readonly #fence: WriteFence | null;
  #lastCommitted: Uint8Array = new Uint8Array(10);

  constructor(backend: Backend, options: EngineOptions = {}) {
    this.backend = backend;
    this.clock = options.clock ?? systemClock;
    this.keyring = new Keyring(options.encryptionKey, options.decryptedCacheBytes);
    this.#newId = options.newId ?? (() => randomBytes(16).toString("hex"));
    this.#fence = options.fence ?? null;
    this.#follower = new ChangeFollower(backend, options.feedPollMs === undefined ? {} : { pollMs: options.feedPollMs });
    this.#purgeTimer = setInterval(() => void this.purgeExpired().catch(() => {}), options.purgeIntervalMs ?? 1000);
    this.#purgeTimer.unref();
  }

  /**
   * An engine over `backend`, its encryption settled first: a store with a keyring is refused without
   * its key or with a wrong one (KvError "encryption_key", saying what to do), and a plaintext store
   * given a key becomes encrypted — every write from now on is sealed.
   *
   * @example
   * const engine = await Engine.open(openBackend("./data.sqlite"), { encryptionKey });
   */
  static async open(backend: Backend, options: OpenEngineOptions = {}): Promise<Engine> {
    const engine = new Engine(backend, options);
    try {
      await engine.keyring.unlock(backend, { allowLocked: options.allowLocked ?? false, now: engine.clock.now() });
      // Watches start from what the store holds now, not from the start of its feed.
      engine.#follower.seen(await latestVersionstamp(backend));
    } catch (e) {
      await engine.close();
      throw e;
    }
    return engine;
  }

  /**
   * The highest versionstamp a write through this engine has got (all zeros before the first): a
   * bookmark that covers every write this process has acknowledged (src/http/bookmark.ts).
   */
  get lastCommitted(): Uint8Array {
    return this.#lastCommitted;
  }

  /**
   * Resolves once reads through this engine reflect every write up to `versionstamp`: at once on a
   * store; on an edge's cache, once it has applied the core's feed that far (Backend.catchUp).
   */
  async catchUp(versionstamp: Uint8Array): Promise<void> {
    await this.backend.catchUp?.(versionstamp);
  }

  get closed(): boolean {
    return this.#closed;
  }

  #assertOpen(): void {
    if (this.#closed) throw new KvError("closed", "The database is closed");
  }

  // ---- namespaces ----

  async createNamespace(title: string, id?: string): Promise<NamespaceInfo> {
    this.#assertOpen();
    if (typeof title !== "string" || title.trim() === "") {
      throw new KvError("invalid_argument", "A namespace title must be a non-empty string");
    }
    if (id !== undefined && !NAMESPACE_ID.test(id)) {
      throw new KvError("invalid_argument", `Invalid namespace id ${JSON.stringify(id)}: expected 32 lowercase hex characters`);
    }
    return this.backend.createNamespace({ id: id ?? this.#newId(), title, createdAt: this.clock.now() });
  }

  listNamespaces(): Promise<NamespaceInfo[]> {
    this.#assertOpen();
    return this.backend.listNamespaces();
  }

  /** Finds a namespace by id, then by title. */
  async findNamespace(idOrTitle: string): Promise<NamespaceInfo | null> {
    this.#assertOpen();
    // Servers resolve a namespace on every request: answer from a short-lived cache. Changes made
    // through this engine clear it at once; another process's changes show within a second.
    const cached = this.#namespaceCache.get(idOrTitle);
    if (cached && performance.now() - cached.at < NAMESPACE_CACHE_MS) return cached.ns;
    let found: NamespaceInfo | null = null;
    if (NAMESPACE_ID.test(idOrTitle)) found = await this.backend.getNamespace(idOrTitle);
    found ??= await this.backend.getNamespaceByTitle(idOrTitle);
    if (found) {
      if (this.#namespaceCache.size > 10_000) this.#namespaceCache.clear();
      this.#namespaceCache.set(idOrTitle, { ns: found, at: performance.now() });
    }
    return found;
  }

  async getNamespace(idOrTitle: string): Promise<NamespaceInfo> {
    const ns = await this.findNamespace(idOrTitle);
    if (!ns) throw new KvError("namespace_not_found", "namespace not found");
    return ns;
  }

  /** The namespace with this id or title, created (with that title) when absent. */
  async ensureNamespace(idOrTitle: string): Promise<NamespaceInfo> {
    const ns = await this.findNamespace(idOrTitle);
    if (ns) return ns;
    try {
      return await this.createNamespace(idOrTitle);
    } catch (e) {
      // Another writer may have created it in between.
      if (e instanceof KvError && e.code === "namespace_exists") return this.getNamespace(idOrTitle);
      throw e;
    }
  }

  renameNamespace(id: string, title: string): Promise<NamespaceInfo> {
    this.#assertOpen();
    this.#namespaceCache.clear();
    if (typeof title !== "string" || title.trim() === "") {
      throw new KvError("invalid_argument", "A namespace title must be a non-empty string");
    }
    return this.backend.renameNamespace(id, title).finally(() => this.#namespaceCache.clear());
  }

  async deleteNamespace(id: string): Promise<void> {
    this.#assertOpen();
    this.#namespaceCache.clear();
    const deleted = await this.backend.deleteNamespace(id);
    this.#namespaceCache.clear();
    if (!deleted) throw new KvError("namespace_not_found", "namespace not found");
  }

  // ---- reads ----

  /** Scans each range in one snapshot; never returns expired entries. Strong unless `options` say eventual. */
  read(namespaceId: string, ranges: readonly ReadRange[], options?: ReadOptions): Promise<Entry[][]> {
    this.#assertOpen();
    for (const r of ranges) {
      if (!(r.limit > 0)) throw new KvError("invalid_argument", "A read range limit must be greater than 0");
    }
    return this.backend.read(namespaceId, ranges, this.clock.now(), options).then((rows) => this.#opened(namespaceId, rows));
  }

  /** Entries with sealed bytes replaced by their plaintext; a plaintext store pays one flag test per entry. */
  #opened(namespaceId: string, rows: Entry[][]): Entry[][] | Promise<Entry[][]> {
    const openAll = () => {
      for (const list of rows) this.keyring.openEntries(namespaceId, list);
      return rows;
    };
    try {
      return openAll();
    } catch (e) {
      // Another process may have rotated to a data key this one has not seen yet: look once more.
      if (!(e instanceof UnknownDataKeyError)) throw e;
      return this.keyring.refresh(this.backend).then(openAll);
    }
  }

  /** A queue message's payload in plaintext. */
  async openPayload(namespaceId: string, message: QueueMessage): Promise<Uint8Array> {
    try {
      return this.keyring.openPayload(namespaceId, message);
    } catch (e) {
      if (!(e instanceof UnknownDataKeyError)) throw e;
      await this.keyring.refresh(this.backend);
      return this.keyring.openPayload(namespaceId, message);
    }
  }

  async get(namespaceId: string, key: Uint8Array, options?: ReadOptions): Promise<Entry | null> {
    const end = new Uint8Array(key.length + 1);
    end.set(key);
    const [rows] = await this.read(namespaceId, [{ start: key, end, limit: 1 }], options);
    return rows![0] ?? null;
  }

  /**
   * The namespace's key count and byte count, kept by the store inside every write transaction: no scan
   * (src/core/analytics/types.ts says what each counts).
   */
  namespaceStats(namespaceId: string): Promise<NamespaceStats> {
    this.#assertOpen();
    return this.backend.namespaceStats(namespaceId);
  }

  count(namespaceId: string, start: Uint8Array, end: Uint8Array): Promise<number> {
    this.#assertOpen();
    return this.backend.count(namespaceId, start, end, this.clock.now());
  }

  // ---- the one write path ----

  /**
   * Commits one atomic write. Concurrent calls are grouped into one backend transaction (one fsync);
   * each still gets its own versionstamp and its own all-or-nothing outcome.
   */
  atomic(namespaceId: string, write: AtomicWrite, consumeMessage?: number): Promise<CommitResult> {
    this.#assertOpen();
    validateWrite(write);
    const sealer = this.keyring;
    const item: BatchItem = consumeMessage === undefined ? { namespaceId, write, sealer } : { namespaceId, write, consumeMessage, sealer };
    return new Promise((resolve, reject) => {
      this.#pending.push({ item, resolve, reject });
      if (!this.#flushScheduled && !this.#flushing) {
        this.#flushScheduled = true;
        // setImmediate, not a microtask: writes that arrive in the same I/O turn share the commit.
        setImmediate(() => void this.#flush());
      }
    });
  }

  async #flush(): Promise<void> {
    this.#flushScheduled = false;
    this.#flushing = true;
    try {
      while (this.#pending.length > 0) {
        const batch = this.#pending;
        this.#pending = [];
        let results;
        try {
          results = await this.backend.commit(
            batch.map((p) => p.item),
            this.clock.now(),
          );
        } catch (e) {
          for (const p of batch) p.reject(e);
          continue;
        }
        let committed = false;
        results.forEach((r, i) => {
          const p = batch[i]!;
          if (r instanceof KvError) return p.reject(r);
          if (!r.result.ok) return p.resolve(r.result);
          if (compareBytes(r.result.versionstamp, this.#lastCommitted) > 0) this.#lastCommitted = r.result.versionstamp;
          // Acknowledged once the edges have it (at once when none follows this store).
          const fenced = this.#fence?.wait(r.result.versionstamp);
          if (fenced) void fenced.then(() => p.resolve(r.result));
          else p.resolve(r.result);
          committed = true;
          if (p.item.write.enqueues.length > 0) this.#listeners.get(p.item.namespaceId)?.wake();
        });
        // Watchers learn of it from the change feed, like of any other process's commit.
        if (committed) void this.#follower.kick();
      }
    } finally {
      this.#flushing = false;
    }
  }

  // ---- watch ----

  /**
   * Calls `listener` whenever one of `keys` may have changed — written, deleted or purged as expired,
   * through this process or any other sharing the store — soon after the commit, in commit order.
   * The listener re-reads; spurious calls are allowed.
   */
  subscribe(namespaceId: string, keys: readonly Uint8Array[], listener: () => void): () => void {
    this.#assertOpen();
    let byKey = this.#watchers.get(namespaceId);
    if (!byKey) this.#watchers.set(namespaceId, (byKey = new Map()));
    const ids = keys.map(keyId);
    for (const id of ids) {
      let set = byKey.get(id);
      if (!set) byKey.set(id, (set = new Set()));
      set.add(listener);
    }
    this.#unfollow ??= this.#follower.listen((event) => this.#onFeed(event));
    let done = false;
    return () => {
      if (done) return;
      done = true;
      for (const id of ids) {
        const set = byKey.get(id);
        set?.delete(listener);
        if (set?.size === 0) byKey.delete(id);
      }
      if (byKey.size === 0 && this.#watchers.get(namespaceId) === byKey) this.#watchers.delete(namespaceId);
      if (this.#watchers.size === 0) {
        this.#unfollow?.();
        this.#unfollow = null;
      }
    };
  }

  /** Resolves once every watcher has been told of everything committed before the call. */
  settled(): Promise<void> {
    return this.#follower.caughtUp();
  }

  /**
   * The latest committed versionstamp once it is after `after` — at once when it already is, or when
   * `after` is null — else when `timeoutMs` passes or `signal` aborts, whichever comes first. What an
   * edge node long-polls to learn of commits within milliseconds (src/api/edge-rpc/).
   */
  async waitForChanges(after: Uint8Array | null, timeoutMs: number, signal?: AbortSignal): Promise<Uint8Array> {
    this.#assertOpen();
    const latest = () => latestVersionstamp(this.backend);
    let wake: () => void = () => {};
    let done = false;
    // Listening first: a commit that lands between the read of `latest` and the wait still wakes it.
    const unlisten = this.#follower.listen(() => wake());
    const timer = setTimeout(() => {
      done = true;
      wake();
    }, timeoutMs);
    const onAbort = () => {
      done = true;
      wake();
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      for (;;) {
        const woken = new Promise<void>((resolve) => (wake = resolve));
        const now = await latest();
        if (after === null || compareBytes(now, after) > 0 || done || signal?.aborted || this.#closed) return now;
        await woken;
      }
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      unlisten();
    }
  }

  /** The latest state of `keys` over time (src/core/watch.ts). */
  watch(namespaceId: string, keys: readonly Uint8Array[]): WatchFeed {
    return watchFeed(this, namespaceId, keys);
  }

  /** Calls each watcher of the changed keys once per event. */
  #onFeed(event: FeedEvent): void {
    const calls = new Set<() => void>();
    if ("reset" in event) {
      // Changes were missed (the feed was pruned past us): everyone re-reads.
      for (const byKey of this.#watchers.values()) for (const set of byKey.values()) for (const l of set) calls.add(l);
    } else {
      for (const c of event.changes) {
        const byKey = this.#watchers.get(c.namespaceId);
        if (!byKey) continue;
        if (c.keys === null) {
          for (const set of byKey.values()) for (const l of set) calls.add(l);
          continue;
        }
        for (const key of c.keys) {
          const set = byKey.get(keyId(key));
          if (set) for (const l of set) calls.add(l);
        }
      }
    }
    for (const l of calls) {
      try {
        l();
      } catch {
        // A broken watcher must not break the others.
      }
    }
  }

  // ---- expiry ----

  /** Purges expired entries now (the background timer calls this too) and wakes their watchers. */
  purgeExpired(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#purging ??= (async () => {
      try {
        for (;;) {
          const gone = await this.backend.purgeExpired(this.clock.now(), 1000);
          if (gone.length > 0) void this.#follower.kick();
          if (gone.length < 1000) break;
        }
        const now = this.clock.now();
        if (now - this.#lastPrune >= PRUNE_EVERY_MS) {
          this.#lastPrune = now;
          await this.backend.pruneChanges(now - CHANGE_RETENTION.maxAgeMs, CHANGE_RETENTION.maxWrites);
        }
      } finally {
        this.#purging = null;
      }
    })();
    return this.#purging;
  }

  /**
   * Runs background work due at the clock's current time: purges expired entries and delivers ready
   * queue messages. Tests call it after moving a manual clock forward.
   */
  async tick(): Promise<void> {
    await this.purgeExpired();
    await this.#follower.caughtUp();
    await Promise.all([...this.#listeners.values()].map((l) => l.runOnce()));
  }

  // ---- queues ----

  /** Delivers the namespace's queue messages to `handler`, at least once, until `close()`. */
  listenQueue(namespaceId: string, handler: QueueHandler): Promise<void> {
    this.#assertOpen();
    if (this.#listeners.has(namespaceId)) {
      throw new KvError("invalid_argument", "Already listening to the queue of this database");
    }
    const listener = new QueueListener(this, namespaceId, handler);
    this.#listeners.set(namespaceId, listener);
    return listener.start();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    // Let queued writes finish: an acknowledged write is never dropped by close().
    while (this.#pending.length > 0 || this.#flushing || this.#flushScheduled) {
      await new Promise((r) => setImmediate(r));
    }
    this.#closed = true;
    clearInterval(this.#purgeTimer);
    this.#follower.close();
    this.#unfollow = null;
    for (const l of this.#listeners.values()) l.stop();
    this.#listeners.clear();
    // A purge that failed (the store went away first) must not make close() fail.
    await this.#purging?.catch(() => {});
    this.#watchers.clear();
    await this.backend.close();
  }
}

class QueueListener {
  #engine: Engine;
  #ns: string;
  #handler: QueueHandler;
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<void> | null = null;
  #again = false;
  #stopped = false;
  #done!: () => void;

  constructor(engine: Engine, ns: string, handler: QueueHandler) {
    this.#engine = engine;
    this.#ns = ns;
    this.#handler = handler;
  }

  start(): Promise<void> {
    const done = new Promise<void>((resolve) => (this.#done = resolve));
    this.wake();
    return done;
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#done();
  }

  wake(): void {
    if (this.#stopped) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    void this.runOnce();
  }

  runOnce(): Promise<void> {
    if (this.#running) return this.#running;
    this.#running = (async () => {
      try {
        do {
          this.#again = false;
          await this.#deliverReady();
        } while (this.#again && !this.#stopped);
      } catch {
        // Backend trouble (e.g. closed under us): retry on the next timer.
      } finally {
        this.#running = null;
      }
      await this.#schedule();
    })();
    return this.#running;
  }

  async #deliverReady(): Promise<void> {
    const engine = this.#engine;
    for (;;) {
      if (this.#stopped || engine.closed) return;
      const messages = await engine.backend.claimMessages(this.#ns, engine.clock.now(), 16, 60_000);
      if (messages.length === 0) return;
      await Promise.all(messages.map((m) => this.#deliver(m)));
    }
  }

  async #deliver(m: QueueMessage): Promise<void> {
    const engine = this.#engine;
    let ok = false;
    // Null when a sealed payload cannot be opened: a failed attempt, and nothing to dead-letter.
    let payload: Uint8Array | null = null;
    try {
      payload = m.sealed ? await engine.openPayload(this.#ns, m) : m.payload;
    } catch (e) {
      // This process has no key for the store (it was encrypted since it started): leave the message
      // leased, for a process that has the key once the lease lapses, rather than spend its attempts.
      if (e instanceof KvError && e.code === "encryption_key") return;
    }
    try {
      if (payload === null) throw new Error("undecryptable payload");
      await this.#handler(payload, m.sealed ? { ...m, payload, sealed: false } : m);
      ok = true;
    } catch {
      ok = false;
    }
    if (this.#stopped || engine.closed) return;
    if (ok) return engine.backend.ackMessage(m.id);
    const schedule = m.backoffSchedule ?? DEFAULT_BACKOFF_SCHEDULE;
    const delay = schedule[m.attempts - 1];
    if (delay !== undefined) return engine.backend.retryMessage(m.id, engine.clock.now() + delay);
    // Out of retries: write the payload to keysIfUndelivered and drop the message in one transaction.
    const data = payload;
    const mutations = data === null ? [] : m.keysIfUndelivered.map((key) => ({ type: "set" as const, key, value: { encoding: "v8" as const, data } }));
    try {
      await engine.atomic(this.#ns, { checks: [], mutations, enqueues: [] }, m.id);
    } catch {
      // keysIfUndelivered that can never be written (invalid keys) must not keep the message alive
      // forever: drop it alone.
      await engine.atomic(this.#ns, { checks: [], mutations: [], enqueues: [] }, m.id);
    }
  }

  async #schedule(): Promise<void> {
    if (this.#stopped || this.#engine.closed) return;
    if (this.#timer) clearTimeout(this.#timer);
    let next: number | null = null;
    try {
      next = await this.#engine.backend.nextMessageAt(this.#ns);
    } catch {
      next = null;
    }
    if (this.#stopped || this.#engine.closed) return;
    // Poll at least every second: another process may enqueue into the same store.
    const delay = next === null ? 1000 : Math.min(1000, Math.max(0, next - this.#engine.clock.now()));
    this.#timer = setTimeout(() => this.wake(), delay);
    this.#timer.unref();
  }
}
