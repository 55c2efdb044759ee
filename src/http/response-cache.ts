/**
 * The exact answer to a hot GET (status 200, headers, body bytes), kept per key so that reading the same
 * key again skips the store, the value codec and the JSON encoding. Authentication, authorization,
 * analytics and metrics still run for every request: only the handler's work is saved.
 *
 * Never older than a commit: each answer is tagged with the store's version (`Backend.storeVersion`)
 * read *before* the read that made it, and a hit needs the version to be the same now. The SQLite store
 * moves it on every write transaction of its own and whenever `PRAGMA data_version` says another
 * connection (another `openkv` process, the CLI, an engine in another process) committed to the file; so
 * any commit the client could have seen acknowledged empties the cache. An answer also carries the
 * entry's expiry and is not served at or past it. A store without `storeVersion` (PostgreSQL, an edge's
 * core) gets no cache for its strong reads.
 *
 * An edge keeps the answers to eventual reads only (`edgeBoundMs`; see `keeps`), against its memory cache's
 * `eventualVersion`: it moves whenever the cache forgets a key (the core's change feed, the edge's own
 * writes), and nothing is served while the feed has been unconfirmed for longer than 5 s — so a kept
 * answer is never staler than the cache it came through would be. Strong reads (`/kv`, KV Connect's
 * strong endpoint) on an edge ask the core how far its feed goes first, and are never kept.
 *
 * @example
 * const hit = await cache.lookup(key);
 * if (hit) return sendCached(res, hit);
 * const version = cache.version();
 * const entry = await engine.get(ns, k); // …then build the answer
 * cache.set(key, version, { headers, body, expiresAt: entry.expiresAt });
 */
import type { ServerResponse } from "node:http";
import type { Clock } from "../core/clock.ts";
import type { ReadOptions } from "../core/types.ts";
import type { Response } from "./listener.ts";
import type { OperationNote } from "./route.ts";

export interface CachedAnswer {
  /** Response headers, content-length included. */
  headers: Record<string, string | number>;
  /**
   * A string is written with the headers in one write (Node joins them); a Buffer takes a writev of two.
   * Either way its size counts against `maxBytes` (UTF-8).
   */
  body: Buffer | string;
  /** The entry's expiry (ms since the epoch), or null. */
  expiresAt: number | null;
}

export interface ResponseCacheOptions {
  /** Most answers kept (least recently stored first out). Default 10,000. */
  maxEntries?: number;
  /** Most body bytes kept in all. Default 32 MiB. */
  maxBytes?: number;
  /** Bodies larger than this are not kept. Default 64 KiB. */
  maxBodyBytes?: number;
  /**
   * An edge's cache: a hit is a `hot_read` in analytics, and the version vouches only for eventual reads
   * with a bound of at least this many ms — never for strong ones. Default: not an edge (a store's version
   * is exact for every read).
   */
  edgeBoundMs?: number;
}

export class ResponseCache {
  readonly #storeVersion: () => number;
  readonly #clock: Clock;
  readonly #maxEntries: number;
  readonly #maxBytes: number;
  readonly #maxBodyBytes: number;
  #slots = new Map<string, CachedAnswer>();
  #bytes = 0;
  /** Answers served from here, and lookups that found none to serve (for metrics and tests). */
  hits = 0;
  misses = 0;
  /** The store version the kept answers were made at: all of them share it (an older one is dropped). */
  #at = Number.NaN;
  /** On an edge: the least eventual bound (ms) its version vouches for; else null. */
  readonly edgeBoundMs: number | null;

  constructor(storeVersion: () => number, clock: Clock, options: ResponseCacheOptions = {}) {
    this.#storeVersion = storeVersion;
    this.#clock = clock;
    this.#maxEntries = options.maxEntries ?? 10_000;
    this.#maxBytes = options.maxBytes ?? 32 * 1024 * 1024;
    this.#maxBodyBytes = options.maxBodyBytes ?? 64 * 1024;
    this.edgeBoundMs = options.edgeBoundMs ?? null;
  }

  /**
   * Whether the answer to a read made with these options (none: strong) may be kept here: any read on a
   * store; on an edge, an eventual read whose bound (undefined: the default, 60 s) is at least `edgeBoundMs`.
   */
  keeps(read?: ReadOptions): boolean {
    if (this.edgeBoundMs === null) return true;
    return read?.consistency === "eventual" && (read.maxAgeMs === undefined || read.maxAgeMs >= this.edgeBoundMs);
  }

  /** The store's version now: read it before the read whose answer `set` will keep. */
  version(): number {
    const v = this.#storeVersion();
    if (v !== this.#at) {
      // Something was committed since the kept answers were made: none of them may be served.
      if (this.#slots.size > 0) this.#slots = new Map();
      this.#bytes = 0;
      this.#at = v;
    }
    return v;
  }

  /** The kept answer for `key`, when nothing was committed since it was made and it has not expired. */
  get(key: string): CachedAnswer | null {
    this.version();
    return this.#fresh(key);
  }

  /**
   * `get`, with the store's version read once for every lookup of this event-loop turn: null at once
   * when nothing is kept for `key` (read the store), else a promise settled in the turn's check phase,
   * after every request that arrived in its poll phase has been read, so any commit acknowledged before
   * one of them was sent is seen by that one version check. (Reading the version only once per turn
   * as the requests are handled would not do: a socket read later in the same turn can carry a request
   * sent after a commit that landed since.) `PRAGMA data_version` costs about half a point read.
   */
  lookup(key: string): Promise<CachedAnswer | null> | null {
    if (!this.#slots.has(key)) {
      this.misses++;
      return null;
    }
    return new Promise((resolve) => {
      this.#waiting.push({ key, resolve });
      if (this.#waiting.length === 1) setImmediate(this.#answerWaiting);
    });
  }

  #waiting: { key: string; resolve: (answer: CachedAnswer | null) => void }[] = [];

  #answerWaiting = (): void => {
    const waiting = this.#waiting;
    this.#waiting = [];
    this.version();
    for (const w of waiting) w.resolve(this.#fresh(w.key));
  };

  /** The slot for `key` if unexpired (the version already checked), counted as a hit or a miss. */
  #fresh(key: string): CachedAnswer | null {
    const slot = this.#slots.get(key);
    if (slot && (slot.expiresAt === null || slot.expiresAt > this.#clock.now())) {
      this.hits++;
      return slot;
    }
    if (slot) this.#drop(key, slot);
    this.misses++;
    return null;
  }

  /** Keeps `answer` for `key` if the store is still at `version` (read before the answer's read). */
  set(key: string, version: number, answer: CachedAnswer): void {
    // Against the last version seen, not the store's now: if the store has moved on unseen, the next
    // lookup's version check empties the cache, this answer with it.
    if (sizeOf(answer) > this.#maxBodyBytes || version !== this.#at) return;
    const old = this.#slots.get(key);
    if (old) this.#drop(key, old);
    this.#slots.set(key, answer);
    this.#bytes += sizeOf(answer);
    while (this.#slots.size > this.#maxEntries || this.#bytes > this.#maxBytes) {
      const [oldestKey, oldest] = this.#slots.entries().next().value!;
      this.#drop(oldestKey, oldest);
    }
  }

  get size(): number {
    return this.#slots.size;
  }

  #drop(key: string, slot: CachedAnswer): void {
    this.#slots.delete(key);
    this.#bytes -= sizeOf(slot);
  }
}

function sizeOf(answer: CachedAnswer): number {
  return typeof answer.body === "string" ? Buffer.byteLength(answer.body) : answer.body.byteLength;
}

/** Sends a kept answer (status 200); on an edge it is a hot read, as one its memory cache answers. */
export function sendCached(ctx: { res: Response; op: OperationNote }, cache: ResponseCache, answer: CachedAnswer): void {
  if (cache.edgeBoundMs !== null) ctx.op.hot = true;
  (ctx.res as ServerResponse).writeHead(200, answer.headers);
  ctx.res.end(answer.body);
}
