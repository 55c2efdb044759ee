/**
 * Production's "one write per second per key" (answered with 429), for `strict` namespaces. Handles
 * over the same engine and namespace share one limiter, so two bindings cannot double the rate; it is
 * still per process (another process writing the same SQLite file is not counted).
 */
import type { Clock } from "../../core/clock.ts";
import type { Engine } from "../../core/engine.ts";
import { KV_LIMITS } from "./messages.ts";

const INTERVAL_MS = 1000 / KV_LIMITS.writesPerSecondPerKey;
/** Above this many tracked keys, entries older than the interval are dropped. */
const SWEEP_AT = 10_000;

export class WriteRateLimiter {
  readonly #clock: Clock;
  /** Key → time of its last write, in insertion order ≈ time order (a write re-inserts its key). */
  readonly #last = new Map<string, number>();

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Records a write to `key` now; false (and nothing recorded) if the last one was under 1 s ago. */
  tryWrite(key: string): boolean {
    const now = this.#clock.now();
    const last = this.#last.get(key);
    if (last !== undefined && now - last < INTERVAL_MS && now >= last) return false;
    this.#last.delete(key);
    this.#last.set(key, now);
    if (this.#last.size > SWEEP_AT) this.#sweep(now);
    return true;
  }

  #sweep(now: number): void {
    for (const [key, at] of this.#last) {
      if (now - at < INTERVAL_MS) break;
      this.#last.delete(key);
    }
  }
}

const limiters = new WeakMap<Engine, Map<string, WriteRateLimiter>>();

/** The limiter of one namespace of one engine. */
export function writeLimiterFor(engine: Engine, namespaceId: string): WriteRateLimiter {
  let byNamespace = limiters.get(engine);
  if (!byNamespace) limiters.set(engine, (byNamespace = new Map()));
  let limiter = byNamespace.get(namespaceId);
  if (!limiter) byNamespace.set(namespaceId, (limiter = new WriteRateLimiter(engine.clock)));
  return limiter;
}
