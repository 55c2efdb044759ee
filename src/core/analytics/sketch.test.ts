import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { LatencySketch, SKETCH_RELATIVE_ACCURACY } from "./sketch.ts";

/** The value at rank ⌊q·(n−1)⌋ of the sorted values: what the sketch promises to be within 1% of. */
function exact(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(q * (sorted.length - 1))]!;
}

const QS = [0, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 1];

test("every quantile is within 1% of the exact one, for any latencies from 1 µs to an hour", () => {
  fc.assert(
    fc.property(fc.array(fc.double({ min: 0.001, max: 3_600_000, noNaN: true }), { minLength: 1, maxLength: 500 }), (values) => {
      const s = new LatencySketch();
      for (const v of values) s.add(v);
      for (const q of QS) {
        const want = exact(values, q);
        const got = s.quantile(q);
        assert.ok(Math.abs(got - want) <= SKETCH_RELATIVE_ACCURACY * want * (1 + 1e-9), `q=${q}: got ${got}, exact ${want}`);
      }
    }),
    { numRuns: 300 },
  );
});

test("merged sketches (per-minute rows from several nodes) answer as one sketch over all values", () => {
  fc.assert(
    fc.property(fc.array(fc.array(fc.double({ min: 0.01, max: 10_000, noNaN: true }), { minLength: 1, maxLength: 100 }), { minLength: 1, maxLength: 8 }), (parts) => {
      const merged = new LatencySketch();
      for (const part of parts) {
        const s = new LatencySketch();
        for (const v of part) s.add(v);
        // Through storage and back, as rows are.
        merged.merge(LatencySketch.decode(s.encode()));
      }
      const all = parts.flat();
      assert.equal(merged.count, all.length);
      for (const q of QS) {
        const want = exact(all, q);
        assert.ok(Math.abs(merged.quantile(q) - want) <= SKETCH_RELATIVE_ACCURACY * want * (1 + 1e-9));
      }
    }),
    { numRuns: 200 },
  );
});

test("zero latencies and an empty sketch", () => {
  const s = new LatencySketch();
  assert.equal(s.quantile(0.5), 0);
  s.add(0);
  s.add(0);
  s.add(5);
  assert.equal(s.quantile(0.5), 0);
  assert.ok(Math.abs(s.quantile(1) - 5) <= 0.05);
  assert.equal(LatencySketch.decode(s.encode()).count, 3);
});
