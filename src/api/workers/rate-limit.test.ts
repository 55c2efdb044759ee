import { test } from "node:test";
import assert from "node:assert/strict";
import { ManualClock } from "../../core/clock.ts";
import { WriteRateLimiter } from "./rate-limit.ts";

test("one write per key per second; keys are independent", () => {
  const clock = new ManualClock(0);
  const limiter = new WriteRateLimiter(clock);
  assert.equal(limiter.tryWrite("a"), true);
  assert.equal(limiter.tryWrite("a"), false);
  assert.equal(limiter.tryWrite("b"), true);
  clock.advance(999);
  assert.equal(limiter.tryWrite("a"), false);
  clock.advance(1);
  assert.equal(limiter.tryWrite("a"), true);
  assert.equal(limiter.tryWrite("a"), false);
});

test("a refused write does not move the window", () => {
  const clock = new ManualClock(0);
  const limiter = new WriteRateLimiter(clock);
  limiter.tryWrite("a");
  clock.advance(500);
  assert.equal(limiter.tryWrite("a"), false);
  clock.advance(500);
  assert.equal(limiter.tryWrite("a"), true);
});

test("old entries are swept once many keys are tracked, without forgetting recent ones", () => {
  const clock = new ManualClock(0);
  const limiter = new WriteRateLimiter(clock);
  for (let i = 0; i < 10_000; i++) limiter.tryWrite(`old${i}`);
  clock.advance(2000);
  limiter.tryWrite("recent");
  limiter.tryWrite("trigger"); // 10,002 tracked → sweep
  assert.equal(limiter.tryWrite("recent"), false);
  assert.equal(limiter.tryWrite("old1"), true);
});
