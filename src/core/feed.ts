/**
 * Follows a store's change feed (src/core/changes.ts) and tells subscribers which keys changed, in
 * versionstamp order. It is how watch works on every node: a commit through this process, through
 * another process on the same SQLite file, or through another node on the same PostgreSQL all land in
 * the feed, and the follower reads them from there — one mechanism, whoever wrote.
 *
 * It reads only while someone listens. It wakes when this process commits (`kick`), when the backend's
 * doorbell rings (PostgreSQL NOTIFY), and on a poll timer (other processes on a SQLite file; a missed
 * doorbell). Its cursor starts at the latest versionstamp this process has seen, so nothing committed
 * after a subscription began is missed; seeing a change twice is allowed (watchers re-read).
 */
import type { Backend } from "./backend.ts";
import type { Change } from "./changes.ts";
import { compareBytes } from "./keys.ts";

/** What a follower hands its listeners: changes in order, or `reset` when some were missed (pruned). */
export type FeedEvent = { readonly changes: readonly Change[] } | { readonly reset: true };

export interface FollowerOptions {
  /** How often to look at the feed without a doorbell (ms). Default 250. */
  pollMs?: number;
  /** Writes read per page. Default 1000. */
  pageSize?: number;
  /**
   * Called each time a read of the feed reached its end and everything in it was reported, with the
   * `now()` taken just before that read was sent and the latest versionstamp the read saw: every
   * commit up to `latest`, so every commit made before `at`, has been reported. An edge's cache
   * bounds its staleness with it.
   */
  onCurrent?: (at: number, latest: Uint8Array) => void;
  /** The clock for `onCurrent`. Default Date.now. */
  now?: () => number;
}

const ZERO = new Uint8Array(10);

export class ChangeFollower {
  readonly #backend: Backend;
  readonly #pollMs: number;
  readonly #pageSize: number;
  readonly #onCurrent: ((at: number, latest: Uint8Array) => void) | undefined;
  readonly #now: () => number;
  readonly #listeners = new Set<(event: FeedEvent) => void>();
  #cursor: Uint8Array = ZERO;
  #timer: NodeJS.Timeout | null = null;
  #stopDoorbell: (() => void) | null = null;
  #reading: Promise<void> | null = null;
  #again = false;
  #closed = false;

  constructor(backend: Backend, options: FollowerOptions = {}) {
    this.#backend = backend;
    this.#pollMs = options.pollMs ?? 250;
    this.#pageSize = options.pageSize ?? 1000;
    this.#onCurrent = options.onCurrent;
    this.#now = options.now ?? Date.now;
  }

  /** The versionstamp the follower has applied up to (all zeros before it learnt anything). */
  get cursor(): Uint8Array {
    return this.#cursor;
  }

  /** Moves the cursor forward (never back): nothing at or before `versionstamp` will be reported. */
  seen(versionstamp: Uint8Array): void {
    if (compareBytes(versionstamp, this.#cursor) > 0) this.#cursor = versionstamp;
  }

  /** Adds a listener; the follower runs while it has any. Returns the function that removes it. */
  listen(listener: (event: FeedEvent) => void): () => void {
    this.#listeners.add(listener);
    if (this.#listeners.size === 1) this.#start();
    return () => {
      if (!this.#listeners.delete(listener)) return;
      if (this.#listeners.size === 0) this.#stop();
    };
  }

  /**
   * Something was committed: read the feed soon. Resolves when a read that started after the call has
   * ended (reported what it found, or failed and left it to the poll timer).
   */
  kick(): Promise<void> {
    if (this.#listeners.size === 0 || this.#closed) return Promise.resolve();
    if (this.#reading) {
      this.#again = true;
      // The read under way may have started before the commit: wait for the one after it too.
      return this.#reading.then(() => this.#reading ?? undefined);
    }
    this.#reading = this.#drain().finally(() => {
      this.#reading = null;
      if (this.#again) {
        this.#again = false;
        void this.kick();
      }
    });
    return this.#reading;
  }

  /** Resolves once everything committed before the call has been read and reported. */
  async caughtUp(): Promise<void> {
    while (this.#reading) await this.#reading;
    if (this.#listeners.size > 0) {
      void this.kick();
      while (this.#reading) await this.#reading;
    }
  }

  close(): void {
    this.#closed = true;
    this.#listeners.clear();
    this.#stop();
  }

  #start(): void {
    if (this.#closed) return;
    this.#stopDoorbell = this.#backend.onCommit?.(() => this.kick()) ?? null;
    const tick = () => {
      void this.kick();
      this.#timer = setTimeout(tick, this.#pollMs);
      this.#timer.unref();
    };
    this.#timer = setTimeout(tick, this.#pollMs);
    this.#timer.unref();
  }

  #stop(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#stopDoorbell?.();
    this.#stopDoorbell = null;
  }

  async #drain(): Promise<void> {
    for (;;) {
      if (this.#listeners.size === 0 || this.#closed) return;
      let page;
      const at = this.#now();
      try {
        page = await this.#backend.changes(this.#cursor, this.#pageSize);
      } catch {
        // The store is unreachable for now (a failover): the poll timer tries again.
        return;
      }
      if (page.gap) {
        this.#cursor = page.latest;
        this.#emit({ reset: true });
        this.#onCurrent?.(at, page.latest);
        return;
      }
      const fresh = page.changes.filter((c) => compareBytes(c.versionstamp, this.#cursor) > 0);
      if (fresh.length > 0) {
        this.#cursor = fresh[fresh.length - 1]!.versionstamp;
        this.#emit({ changes: fresh });
      }
      if (page.changes.length < this.#pageSize) {
        this.#onCurrent?.(at, page.latest);
        return;
      }
    }
  }

  #emit(event: FeedEvent): void {
    for (const l of [...this.#listeners]) {
      try {
        l(event);
      } catch {
        // A broken listener must not stop the others.
      }
    }
  }
}
