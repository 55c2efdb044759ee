/**
 * A latency sketch with relative-error quantiles, after DDSketch (Masson, Rim, Lee, VLDB 2019): values
 * fall into logarithmic buckets `(γ^(i-1), γ^i]` with `γ = (1+α)/(1-α)`, and a quantile is answered by
 * the middle of its bucket, `2γ^i/(γ+1)`, which is within `α` of every value in the bucket. With α = 1%
 * a bucket spans 2% and a quantile is off by at most 1% of the true value; latencies from 1 µs to an hour
 * need under 1,100 buckets, and a real minute of one operation uses a few dozen. Sketches merge by adding
 * counts, so per-minute sketches from many nodes combine into any coarser window exactly as if one
 * sketch had seen every value.
 *
 * @example
 * const s = new LatencySketch();
 * for (const ms of [1.2, 3.4, 0.8]) s.add(ms);
 * s.quantile(0.5); // ≈ 1.2 (within 1%)
 */

/** The guaranteed relative accuracy of a quantile. */
export const SKETCH_RELATIVE_ACCURACY = 0.01;
const GAMMA = (1 + SKETCH_RELATIVE_ACCURACY) / (1 - SKETCH_RELATIVE_ACCURACY);
const LN_GAMMA = Math.log(GAMMA);
/** Values at or below this (ms) count as zero: a nanosecond is below any clock we read. */
const MIN_VALUE = 1e-6;

export class LatencySketch {
  /** Bucket index → count. */
  readonly buckets = new Map<number, number>();
  zeros = 0;
  count = 0;

  add(value: number, n = 1): void {
    this.count += n;
    if (!(value > MIN_VALUE)) {
      this.zeros += n;
      return;
    }
    const i = Math.ceil(Math.log(value) / LN_GAMMA);
    this.buckets.set(i, (this.buckets.get(i) ?? 0) + n);
  }

  merge(other: LatencySketch): void {
    this.count += other.count;
    this.zeros += other.zeros;
    for (const [i, n] of other.buckets) this.buckets.set(i, (this.buckets.get(i) ?? 0) + n);
  }

  /**
   * The value at rank ⌊q·(n−1)⌋ of the sorted values seen (0 ≤ q ≤ 1), within 1% of it; 0 when empty.
   */
  quantile(q: number): number {
    if (this.count === 0) return 0;
    const rank = Math.floor(Math.min(1, Math.max(0, q)) * (this.count - 1));
    if (rank < this.zeros) return 0;
    let seen = this.zeros;
    const indexes = [...this.buckets.keys()].sort((a, b) => a - b);
    for (const i of indexes) {
      seen += this.buckets.get(i)!;
      if (seen > rank) return (2 * GAMMA ** i) / (GAMMA + 1);
    }
    return (2 * GAMMA ** indexes.at(-1)!) / (GAMMA + 1);
  }

  /** Compact text for storage: `zeros;index:count,index:count…` (indexes ascending). */
  encode(): string {
    const parts = [...this.buckets].sort((a, b) => a[0] - b[0]).map(([i, n]) => `${i}:${n}`);
    return `${this.zeros};${parts.join(",")}`;
  }

  static decode(text: string): LatencySketch {
    const s = new LatencySketch();
    const [zeros, rest] = text.split(";");
    s.zeros = Number(zeros) || 0;
    s.count = s.zeros;
    if (rest) {
      for (const part of rest.split(",")) {
        const [i, n] = part.split(":").map(Number);
        if (!Number.isInteger(i) || !(n! > 0)) continue;
        s.buckets.set(i!, (s.buckets.get(i!) ?? 0) + n!);
        s.count += n!;
      }
    }
    return s;
  }
}
