/**
 * The write fence: a core holds a write's acknowledgement until every edge node that follows its change
 * feed has applied that write, so a client that writes through the core (or through any edge) and then
 * reads through any edge never reads back something older than its own write — without sending anything
 * extra. This is what gives @deno/kv read-your-writes: it writes to the core (the `strong` endpoint) and
 * reads eventually from an edge, and it has no way to say which versionstamp it has seen.
 *
 * An edge says how far it has applied the feed each time it long-polls the core's doorbell
 * (src/api/edge-rpc/routes.ts); a fence resolves when every edge that is following has said so for the
 * write's versionstamp, or when `timeoutMs` passes. An edge that misses a fence is set aside as
 * *lagging*: later writes do not wait for it until it reports having applied the write it missed, so one
 * slow or stopped edge costs the writers `timeoutMs` once, not on every write. An edge with no doorbell
 * request open for longer than `graceMs` is no longer following (it stopped, or lost the core) and is
 * forgotten; when it comes back it catches up from the feed (or clears its cache on a gap) before it
 * reports again.
 *
 * What it does not promise: a write acknowledged while an edge was lagging may be read stale on that
 * edge until its feed catches up (milliseconds to `cacheTtl`). A client that must never see that presents
 * its bookmark (the versionstamp it got back), which an edge honours on its own.
 *
 * @example
 * const fence = new WriteFence({ timeoutMs: 200 });
 * const engine = await Engine.open(backend, { fence });
 * // the doorbell route: const done = fence.attach(edgeId, appliedVersionstamp); … done();
 */
import { compareBytes } from "./keys.ts";

export interface WriteFenceOptions {
  /** The longest a write's acknowledgement waits for the edges (ms). Default 200. */
  timeoutMs?: number;
  /** How long an edge between two doorbell requests still counts as following (ms). Default 1000. */
  graceMs?: number;
  now?: () => number;
}

export const DEFAULT_FENCE_MS = 200;

interface Follower {
  applied: Uint8Array;
  /** Doorbell requests it has open now. */
  open: number;
  /** When its last doorbell request ended (meaningful when `open` is 0). */
  lastSeen: number;
  /** Set when it missed a fence: it is not waited for until it has applied this versionstamp. */
  lagging: Uint8Array | null;
}

interface Waiter {
  versionstamp: Uint8Array;
  resolve: () => void;
  timer: NodeJS.Timeout;
}

export class WriteFence {
  readonly timeoutMs: number;
  readonly #graceMs: number;
  readonly #now: () => number;
  readonly #followers = new Map<string, Follower>();
  readonly #waiters = new Set<Waiter>();
  /** Fences that timed out (tests, metrics). */
  timeouts = 0;

  constructor(options: WriteFenceOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? DEFAULT_FENCE_MS;
    this.#graceMs = options.graceMs ?? 1000;
    this.#now = options.now ?? Date.now;
  }

  /**
   * An edge opened a doorbell request, having applied the feed up to `applied`. Returns the function to
   * call when that request ends.
   */
  attach(id: string, applied: Uint8Array): () => void {
    let f = this.#followers.get(id);
    if (!f) {
      f = { applied, open: 0, lastSeen: this.#now(), lagging: null };
      this.#followers.set(id, f);
    }
    if (compareBytes(applied, f.applied) > 0) f.applied = applied;
    if (f.lagging && compareBytes(f.applied, f.lagging) >= 0) f.lagging = null;
    f.open++;
    const follower = f;
    this.#settle();
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      follower.open--;
      follower.lastSeen = this.#now();
    };
  }

  /** The edges that count now: following, and not set aside as lagging. */
  #following(): Follower[] {
    const now = this.#now();
    const out: Follower[] = [];
    for (const [id, f] of this.#followers) {
      if (f.open === 0 && now - f.lastSeen > this.#graceMs) {
        this.#followers.delete(id);
        continue;
      }
      if (!f.lagging) out.push(f);
    }
    return out;
  }

  #reached(versionstamp: Uint8Array): boolean {
    return this.#following().every((f) => compareBytes(f.applied, versionstamp) >= 0);
  }

  #settle(): void {
    for (const w of this.#waiters) {
      if (this.#reached(w.versionstamp)) this.#finish(w);
    }
  }

  #finish(w: Waiter): void {
    clearTimeout(w.timer);
    this.#waiters.delete(w);
    w.resolve();
  }

  /** How many edges a write waits for now. */
  get following(): number {
    return this.#following().length;
  }

  /**
   * Resolves once every following edge has applied `versionstamp`, or after `timeoutMs`; at once when no
   * edge follows. Never rejects: the write is committed whatever the edges do.
   */
  wait(versionstamp: Uint8Array): Promise<void> | null {
    if (this.#followers.size === 0 || this.#reached(versionstamp)) return null;
    return new Promise((resolve) => {
      const w: Waiter = {
        versionstamp,
        resolve,
        timer: setTimeout(() => {
          this.timeouts++;
          for (const f of this.#following()) {
            if (compareBytes(f.applied, versionstamp) < 0) f.lagging = versionstamp;
          }
          this.#finish(w);
        }, this.timeoutMs),
      };
      w.timer.unref();
      this.#waiters.add(w);
    });
  }

  /** Releases every waiting write (the server is stopping). */
  close(): void {
    for (const w of [...this.#waiters]) this.#finish(w);
    this.#followers.clear();
  }
}
