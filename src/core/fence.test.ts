import { test } from "node:test";
import assert from "node:assert/strict";
import { WriteFence } from "./fence.ts";
import { versionstampFromCounter } from "./versionstamp.ts";

const vs = (n: number) => versionstampFromCounter(BigInt(n));
/** Settles to "done" or "pending" without waiting for timers. */
const state = (p: Promise<void>) => Promise.race([p.then(() => "done"), new Promise<string>((r) => setImmediate(() => r("pending")))]);

test("no edge follows: writes never wait", () => {
  const fence = new WriteFence({ timeoutMs: 10_000 });
  assert.equal(fence.wait(vs(5)), null);
});

test("a write waits until every following edge has applied it", async () => {
  const fence = new WriteFence({ timeoutMs: 10_000 });
  const endA = fence.attach("a", vs(1));
  const endB = fence.attach("b", vs(1));
  assert.equal(fence.following, 2);
  const w = fence.wait(vs(3))!;
  assert.ok(w, "the edges are behind: the write waits");
  endA();
  fence.attach("a", vs(3));
  assert.equal(await state(w), "pending", "b has not applied it yet");
  endB();
  fence.attach("b", vs(4));
  assert.equal(await state(w), "done");
  assert.equal(fence.timeouts, 0);
  // Already applied everywhere: no wait at all.
  assert.equal(fence.wait(vs(3)), null);
});

test("an edge that misses a fence is set aside until it catches up with what it missed", async () => {
  const fence = new WriteFence({ timeoutMs: 20 });
  fence.attach("slow", vs(1));
  const started = performance.now();
  await fence.wait(vs(2));
  assert.ok(performance.now() - started >= 15, "the write waited for the edge, up to the timeout");
  assert.equal(fence.timeouts, 1);
  assert.equal(fence.following, 0, "the lagging edge is not waited for");
  assert.equal(fence.wait(vs(3)), null, "so the next write is acknowledged at once");
  // It reports having applied past the write it missed: it counts again.
  fence.attach("slow", vs(2));
  assert.equal(fence.following, 1);
  const w = fence.wait(vs(4))!;
  assert.ok(w);
  fence.attach("slow", vs(4));
  assert.equal(await state(w), "done");
  assert.equal(fence.timeouts, 1);
});

test("an edge that stopped polling is forgotten after the grace period", () => {
  let now = 0;
  const fence = new WriteFence({ timeoutMs: 10_000, graceMs: 1000, now: () => now });
  const end = fence.attach("gone", vs(1));
  end();
  now = 999;
  assert.equal(fence.following, 1, "between two polls it still follows");
  now = 1001;
  assert.equal(fence.following, 0);
  assert.equal(fence.wait(vs(9)), null);
});

test("close releases every waiting write", async () => {
  const fence = new WriteFence({ timeoutMs: 10_000 });
  fence.attach("a", vs(1));
  const w = fence.wait(vs(2))!;
  fence.close();
  assert.equal(await state(w), "done");
});
