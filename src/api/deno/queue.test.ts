/** Queues through the Deno API on a manual clock (no sleeps), and their persistence in SQLite. */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ManualClock } from "../../core/clock.ts";
import { Engine } from "../../core/engine.ts";
import { MemoryBackend, SqliteBackend } from "../../storage/index.ts";
import type { Backend } from "../../core/backend.ts";
import { openKv } from "./index.ts";

const dir = mkdtempSync(join(tmpdir(), "openkv-deno-queue-"));
after(() => rmSync(dir, { recursive: true, force: true }));

async function open(backend: Backend, clock: ManualClock) {
  const engine = new Engine(backend, { clock });
  const kv = await openKv(undefined, { engine, onQueueHandlerError: () => {} });
  return {
    engine,
    kv,
    async close() {
      await kv.close();
      await engine.close();
    },
  };
}

test("a delayed message is delivered only once its delay has passed", async () => {
  const clock = new ManualClock();
  const { kv, engine, close } = await open(new MemoryBackend(), clock);
  const got: unknown[] = [];
  const listener = kv.listenQueue((m) => void got.push(m));
  await kv.enqueue("later", { delay: 10_000 });
  await engine.tick();
  clock.advance(9_999);
  await engine.tick();
  assert.deepEqual(got, []);
  clock.advance(1);
  await engine.tick();
  assert.deepEqual(got, ["later"]);
  await close();
  await listener;
});

test("a failing handler is retried on the backoff schedule, then the payload goes to keysIfUndelivered", async () => {
  const clock = new ManualClock();
  const { kv, engine, close } = await open(new MemoryBackend(), clock);
  const attempts: number[] = [];
  const start = clock.now();
  const listener = kv.listenQueue(() => {
    attempts.push(clock.now() - start);
    throw new Error("fail");
  });
  await kv.enqueue({ job: 1 }, { keysIfUndelivered: [["failed", 1]], backoffSchedule: [1000, 5000] });
  await engine.tick();
  assert.deepEqual(attempts, [0]);
  clock.advance(999);
  await engine.tick();
  assert.deepEqual(attempts, [0]);
  clock.advance(1);
  await engine.tick();
  assert.deepEqual(attempts, [0, 1000]);
  assert.equal((await kv.get(["failed", 1])).versionstamp, null);
  clock.advance(5000);
  await engine.tick();
  assert.deepEqual(attempts, [0, 1000, 6000]);
  assert.deepEqual((await kv.get(["failed", 1])).value, { job: 1 });
  clock.advance(60_000);
  await engine.tick();
  assert.equal(attempts.length, 3, "no delivery after dead-lettering");
  await close();
  await listener;
});

test("without a backoffSchedule, Deno's default applies (100 ms, 1 s, 5 s, 30 s, 60 s)", async () => {
  const clock = new ManualClock();
  const { kv, engine, close } = await open(new MemoryBackend(), clock);
  let calls = 0;
  const listener = kv.listenQueue(() => {
    calls++;
    throw new Error("fail");
  });
  await kv.enqueue("m", { keysIfUndelivered: [["dead"]] });
  await engine.tick();
  for (const step of [100, 1000, 5000, 30_000, 60_000]) {
    clock.advance(step);
    await engine.tick();
  }
  assert.equal(calls, 6);
  assert.equal((await kv.get(["dead"])).value, "m");
  await close();
  await listener;
});

test("an async handler that rejects counts as a failure; one that resolves acknowledges", async () => {
  const clock = new ManualClock();
  const { kv, engine, close } = await open(new MemoryBackend(), clock);
  let calls = 0;
  const listener = kv.listenQueue(async (m) => {
    calls++;
    if (calls === 1) throw new Error(`first try of ${String(m)}`);
  });
  await kv.enqueue("x", { backoffSchedule: [10] });
  await engine.tick();
  clock.advance(10);
  await engine.tick();
  clock.advance(1000);
  await engine.tick();
  assert.equal(calls, 2);
  await close();
  await listener;
});

test("the handler error is reported to onQueueHandlerError", async () => {
  const engine = new Engine(new MemoryBackend(), { clock: new ManualClock() });
  const errors: unknown[] = [];
  const kv = await openKv(undefined, { engine, onQueueHandlerError: (e) => errors.push(e) });
  const listener = kv.listenQueue(() => {
    throw new RangeError("bad message");
  });
  await kv.enqueue(1, { backoffSchedule: [] });
  await engine.tick();
  assert.equal(errors.length, 1);
  assert.ok(errors[0] instanceof RangeError);
  await kv.close();
  await engine.close();
  await listener;
});

test("queue messages survive close and reopen of a SQLite file", async () => {
  const path = join(dir, "persist.sqlite");
  const clock = new ManualClock();
  const first = await open(new SqliteBackend(path), clock);
  await first.kv.enqueue("msg0", { delay: 10_000 });
  await first.kv.enqueue("msg1", { delay: 10_000 });
  await first.kv.atomic().enqueue("msg2", { delay: 10_000 }).commit();
  await first.close();

  const second = await open(new SqliteBackend(path), clock);
  const got: unknown[] = [];
  const listener = second.kv.listenQueue((m) => void got.push(m));
  await second.engine.tick();
  assert.deepEqual(got, []);
  clock.advance(10_000);
  await second.engine.tick();
  assert.deepEqual(got.sort(), ["msg0", "msg1", "msg2"]);
  await second.close();
  await listener;
});

test("a message in flight when the database closed is delivered again after reopening", async () => {
  const path = join(dir, "inflight.sqlite");
  const clock = new ManualClock();
  const first = await open(new SqliteBackend(path), clock);
  let started!: () => void;
  const inFlight = new Promise<void>((r) => (started = r));
  const firstListener = first.kv.listenQueue(() => {
    started();
    return new Promise(() => {}); // never finishes
  });
  await first.kv.enqueue("job");
  await inFlight;
  await first.close();
  await firstListener;

  const second = await open(new SqliteBackend(path), clock);
  const got: unknown[] = [];
  const listener = second.kv.listenQueue((m) => void got.push(m));
  await second.engine.tick();
  assert.deepEqual(got, [], "still leased to the closed handle");
  clock.advance(60_000);
  await second.engine.tick();
  assert.deepEqual(got, ["job"]);
  await second.close();
  await listener;
});

test("openKv on a SQLite path keeps undelivered messages for the next process", async () => {
  const path = join(dir, "owned.sqlite");
  const kv1 = await openKv(path);
  await kv1.enqueue({ n: 1 });
  await kv1.close();
  const kv2 = await openKv(path);
  let got!: (v: unknown) => void;
  const received = new Promise((r) => (got = r));
  const listener = kv2.listenQueue((m) => got(m));
  assert.deepEqual(await received, { n: 1 });
  await kv2.close();
  await listener;
});

test("handles sharing an engine share its queue; a closed handle stops receiving", async () => {
  const clock = new ManualClock();
  const engine = new Engine(new MemoryBackend(), { clock });
  const a = await openKv(undefined, { engine });
  const b = await openKv(undefined, { engine });
  const gotA: unknown[] = [];
  const gotB: unknown[] = [];
  const la = a.listenQueue((m) => void gotA.push(m));
  const lb = b.listenQueue((m) => void gotB.push(m));
  await a.enqueue(1);
  await b.enqueue(2);
  await engine.tick();
  assert.deepEqual([...gotA, ...gotB].sort(), [1, 2]);
  await a.close();
  await la;
  await b.enqueue(3);
  await engine.tick();
  assert.deepEqual(gotB.includes(3), true);
  assert.deepEqual(gotA.includes(3), false);
  assert.equal(engine.closed, false, "a handle does not close a shared engine");
  await b.close();
  await lb;
  await engine.close();
});

test("keysIfUndelivered keys that can never be written are dropped at enqueue time", async () => {
  const clock = new ManualClock();
  const { kv, engine, close } = await open(new MemoryBackend(), clock);
  const listener = kv.listenQueue(() => {
    throw new Error("fail");
  });
  await kv.enqueue("p", { keysIfUndelivered: [[], ["ok"]], backoffSchedule: [] });
  await engine.tick();
  assert.equal((await kv.get(["ok"])).value, "p");
  await close();
  await listener;
});
