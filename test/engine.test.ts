import { test } from "node:test";
import assert from "node:assert/strict";
import { ManualClock } from "../src/core/clock.ts";
import { Engine } from "../src/core/engine.ts";
import { encodeKey } from "../src/core/keys.ts";
import type { Backend } from "../src/core/backend.ts";
import { counterFromVersionstamp } from "../src/core/versionstamp.ts";
import { serializeV8, deserializeV8 } from "../src/core/v8.ts";
import { MemoryBackend, SqliteBackend } from "../src/storage/index.ts";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const set = (key: string, byte: number, expiresAt?: number) => ({
  checks: [],
  mutations: [{ type: "set" as const, key: encodeKey([key]), value: { encoding: "bytes" as const, data: Uint8Array.of(byte) }, expiresAt: expiresAt ?? null }],
  enqueues: [],
});

async function setup(clock = new ManualClock()) {
  let commits = 0;
  class CountingBackend extends MemoryBackend {
    override commit(...args: Parameters<Backend["commit"]>) {
      commits++;
      return super.commit(...args);
    }
  }
  const counting = new CountingBackend();
  const engine = new Engine(counting, { clock });
  const ns = await engine.ensureNamespace("default");
  return { engine, ns, clock, commits: () => commits };
}

test("group commit: 100 concurrent writes share one backend transaction, each with its own versionstamp", async () => {
  const { engine, ns, commits } = await setup();
  const results = await Promise.all(Array.from({ length: 100 }, (_, i) => engine.atomic(ns.id, set(`k${i}`, i))));
  assert.equal(commits(), 1);
  const stamps = results.map((r) => (r.ok ? counterFromVersionstamp(r.versionstamp) : -1n));
  assert.equal(new Set(stamps).size, 100);
  assert.deepEqual(stamps, [...stamps].sort((a, b) => (a < b ? -1 : 1)), "issued in call order");
  await engine.close();
});

test("invalid writes are refused before they reach storage, with a code and message", async () => {
  const { engine, ns } = await setup();
  assert.throws(() => engine.atomic(ns.id, { checks: [], mutations: [{ type: "delete", key: new Uint8Array() }], enqueues: [] }), {
    code: "invalid_key",
    message: "Key cannot be empty",
  });
  assert.throws(
    () => engine.atomic(ns.id, { checks: Array.from({ length: 101 }, () => ({ key: encodeKey(["a"]), versionstamp: null })), mutations: [], enqueues: [] }),
    { code: "limit_exceeded", message: "Too many checks (max 100)" },
  );
  await engine.close();
  assert.throws(() => engine.atomic(ns.id, set("a", 1)), { code: "closed", message: "The database is closed" });
});

test("close waits for queued writes: an acknowledged write is never dropped", async () => {
  const { engine, ns } = await setup();
  const pending = engine.atomic(ns.id, set("late", 1));
  await engine.close();
  assert.equal((await pending).ok, true);
});

test("watch: subscribers are called for their keys only, and on expiry purges", async () => {
  const { engine, ns, clock } = await setup();
  const calls: string[] = [];
  const stop = engine.subscribe(ns.id, [encodeKey(["w"])], () => calls.push("w"));
  await engine.atomic(ns.id, set("other", 1));
  await engine.settled();
  assert.deepEqual(calls, []);
  await engine.atomic(ns.id, set("w", 1, clock.now() + 1000));
  await engine.settled();
  assert.deepEqual(calls, ["w"]);
  clock.advance(1000);
  assert.equal(await engine.get(ns.id, encodeKey(["w"])), null, "expired entries are invisible before the purge");
  await engine.tick();
  assert.deepEqual(calls, ["w", "w"], "the purge of an expired watched key wakes its watcher");
  stop();
  await engine.atomic(ns.id, set("w", 2));
  await engine.settled();
  assert.deepEqual(calls, ["w", "w"]);
  await engine.close();
});

test("namespaces: ensure creates once, ids are 32 hex, titles unique, bad input has messages", async () => {
  const { engine, ns } = await setup();
  assert.match(ns.id, /^[0-9a-f]{32}$/);
  assert.deepEqual(await engine.ensureNamespace("default"), ns);
  assert.deepEqual(await engine.ensureNamespace(ns.id), ns);
  await assert.rejects(engine.createNamespace(""), { message: "A namespace title must be a non-empty string" });
  await assert.rejects(engine.createNamespace("x", "XYZ"), { message: 'Invalid namespace id "XYZ": expected 32 lowercase hex characters' });
  await assert.rejects(engine.getNamespace("nope"), { code: "namespace_not_found", message: "namespace not found" });
  await assert.rejects(engine.deleteNamespace("f".repeat(32)), { code: "namespace_not_found" });
  await engine.close();
});

test("queue: delayed delivery, retries on the backoff schedule, then keysIfUndelivered — all on a manual clock", async () => {
  const { engine, ns, clock } = await setup();
  const seen: unknown[] = [];
  let fail = true;
  void engine.listenQueue(ns.id, (payload) => {
    seen.push(deserializeV8(payload));
    if (fail) throw new Error("handler failed");
  });
  await engine.atomic(ns.id, {
    checks: [],
    mutations: [],
    enqueues: [{ payload: serializeV8("msg"), readyAt: clock.now() + 500, keysIfUndelivered: [encodeKey(["dead"])], backoffSchedule: [100, 200] }],
  });
  await engine.tick();
  assert.deepEqual(seen, [], "not delivered before its delay");
  clock.advance(500);
  await engine.tick();
  assert.deepEqual(seen, ["msg"]);
  clock.advance(99);
  await engine.tick();
  assert.equal(seen.length, 1, "first retry waits 100 ms");
  clock.advance(1);
  await engine.tick();
  assert.equal(seen.length, 2);
  clock.advance(200);
  await engine.tick();
  assert.equal(seen.length, 3);
  const dead = await engine.get(ns.id, encodeKey(["dead"]));
  assert.equal(deserializeV8(dead!.data), "msg", "after the last retry the payload lands in keysIfUndelivered");
  assert.equal(await engine.backend.nextMessageAt(ns.id), null);
  fail = false;
  await engine.close();
});

test("queue: a successful handler removes the message; a second listener is refused", async () => {
  const { engine, ns, clock } = await setup();
  const seen: unknown[] = [];
  void engine.listenQueue(ns.id, (p) => void seen.push(deserializeV8(p)));
  assert.throws(() => engine.listenQueue(ns.id, () => {}), { message: "Already listening to the queue of this database" });
  await engine.atomic(ns.id, { checks: [], mutations: [], enqueues: [{ payload: serializeV8(1), readyAt: clock.now(), keysIfUndelivered: [] }] });
  await engine.tick();
  assert.deepEqual(seen, [1]);
  assert.equal(await engine.backend.nextMessageAt(ns.id), null);
  await engine.close();
});

test("watch across processes on one SQLite file: the change feed carries another engine's writes, deletes and namespace deletion", async () => {
  const dir = mkdtempSync(join(tmpdir(), "openkv-feed-"));
  const path = join(dir, "shared.sqlite");
  // Two engines on one file stand for two processes: they share nothing but the store.
  const writer = await Engine.open(new SqliteBackend(path));
  const watcher = await Engine.open(new SqliteBackend(path), { feedPollMs: 5 });
  try {
    const ns = await writer.ensureNamespace("shared");
    const seen: string[] = [];
    let wake: (() => void) | null = null;
    const stop = watcher.subscribe(ns.id, [encodeKey(["w"])], () => {
      seen.push("w");
      wake?.();
    });
    const next = () => new Promise<void>((resolve) => (wake = resolve));
    let arrived = next();
    await writer.atomic(ns.id, set("other", 1));
    await writer.atomic(ns.id, set("w", 1));
    await arrived;
    assert.deepEqual(seen, ["w"], "only the watched key's change wakes the watcher");
    arrived = next();
    await writer.atomic(ns.id, { checks: [], mutations: [{ type: "delete", key: encodeKey(["w"]) }], enqueues: [] });
    await arrived;
    arrived = next();
    await writer.deleteNamespace(ns.id);
    await arrived;
    assert.deepEqual(seen, ["w", "w", "w"], "a delete and the namespace's deletion wake it too");
    stop();
  } finally {
    await writer.close();
    await watcher.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
