/** Watch streams: subscriptions are released on cancel and close; events come from one snapshot. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Engine } from "../../core/engine.ts";
import { MemoryBackend } from "../../storage/index.ts";
import { openKv } from "./index.ts";

/** An engine that counts live subscriptions. */
function countingEngine() {
  const engine = new Engine(new MemoryBackend());
  let live = 0;
  const subscribe = engine.subscribe.bind(engine);
  engine.subscribe = (ns, keys, listener) => {
    live++;
    const unsubscribe = subscribe(ns, keys, listener);
    let done = false;
    return () => {
      if (!done) live--;
      done = true;
      unsubscribe();
    };
  };
  return { engine, live: () => live };
}

test("cancelling a watch stream releases its subscription", async () => {
  const { engine, live } = countingEngine();
  const kv = await openKv(undefined, { engine });
  const reader = kv.watch([["a"], ["b"]]).getReader();
  await reader.read();
  assert.equal(live(), 1);
  await reader.cancel();
  assert.equal(live(), 0);
  await kv.close();
  await engine.close();
});

test("closing the handle releases every subscription and ends the streams", async () => {
  const { engine, live } = countingEngine();
  const kv = await openKv(undefined, { engine });
  const r1 = kv.watch([["a"]]).getReader();
  const r2 = kv.watch([["b"]]).getReader();
  await r1.read();
  assert.equal(live(), 2);
  const pending = r1.read();
  await kv.close();
  assert.equal(live(), 0);
  assert.deepEqual(await pending, { done: true, value: undefined });
  assert.deepEqual(await r2.read(), { done: true, value: undefined });
  await engine.close();
});

test("several writes before a read are reported as one event with the latest state", async () => {
  const kv = await openKv(":memory:");
  const reader = kv.watch([["k"]]).getReader();
  await reader.read();
  await kv.set(["k"], 1);
  await kv.set(["k"], 2);
  const last = await kv.set(["k"], 3);
  assert.deepEqual((await reader.read()).value, [{ key: ["k"], value: 3, versionstamp: last.versionstamp }]);
  await reader.cancel();
  await kv.close();
});

test("raw mode emits on every notification, changed or not", async () => {
  const kv = await openKv(":memory:");
  const raw = kv.watch([["absent"]], { raw: true }).getReader();
  const plain = kv.watch([["absent"]]).getReader();
  const nothing = [{ key: ["absent"], value: null, versionstamp: null }];
  assert.deepEqual((await raw.read()).value, nothing);
  assert.deepEqual((await plain.read()).value, nothing);
  // Deleting a missing key notifies its watchers without changing its versionstamp.
  const rawNext = raw.read();
  const plainNext = plain.read();
  await kv.delete(["absent"]);
  assert.deepEqual((await rawNext).value, nothing);
  const w = await kv.set(["absent"], 1);
  assert.deepEqual((await plainNext).value, [{ key: ["absent"], value: 1, versionstamp: w.versionstamp }]);
  await raw.cancel();
  await plain.cancel();
  await kv.close();
});
