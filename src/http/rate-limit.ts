/** A token bucket per caller: `rate` requests per second on average, bursts up to `burst`. */
import type { Clock } from "../core/clock.ts";

export class RateLimiter {
  #rate: number;
  #burst: number;
  #clock: Clock;
  #buckets = new Map<string, { tokens: number; at: number }>();

  constructor(rate: number, burst: number, clock: Clock) {
    this.#rate = rate;
    this.#burst = burst;
    this.#clock = clock;
  }

  /** 0 when allowed; else the whole seconds to wait (for `Retry-After`). */
  take(caller: string): number {
    const now = this.#clock.now();
    const b = this.#buckets.get(caller) ?? { tokens: this.#burst, at: now };
    b.tokens = Math.min(this.#burst, b.tokens + ((now - b.at) / 1000) * this.#rate);
    b.at = now;
    this.#buckets.set(caller, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - b.tokens) / this.#rate));
  }
}
