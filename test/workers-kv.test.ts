/**
 * The Workers KV conformance suite against Miniflare's real workerd binding, OpenKV on memory, OpenKV
 * on SQLite and OpenKV on SQLite encrypted at rest — then a check that OpenKV observed exactly what Miniflare did, case by case,
 * except for the deliberate differences listed below. Node-only tests follow: expiry with a manual
 * clock (Miniflare cannot take one), strict mode, the shared key space with Deno KV, persistence.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Miniflare } from "miniflare";
import { defineWorkersKvSuite, WORKERS_KV_CASES, type WorkersKvFactory } from "./conformance/workers-kv.case.ts";
import { assertDeliberateDifferencesReal, mismatches, recorder, type Observations } from "./conformance/observations.ts";
import { openNamespace, type KVNamespace } from "../src/api/workers/index.ts";
import { ManualClock } from "../src/core/clock.ts";
import { Engine } from "../src/core/engine.ts";
import { encodeKey, type KvKey } from "../src/core/keys.ts";
import type { StoredValue } from "../src/core/types.ts";
import { encodeV8String } from "../src/core/values.ts";
import { serializeV8, deserializeV8 } from "../src/core/v8.ts";
import { MemoryBackend, SqliteBackend } from "../src/storage/index.ts";
import { freshStoreUrl } from "./fixtures/postgres.ts";

const dir = mkdtempSync(join(tmpdir(), "openkv-workers-"));
test.after(() => rmSync(dir, { recursive: true, force: true }));

/**
 * Where OpenKV deliberately does not do what Miniflare does. Each case still runs everywhere and
 * asserts what all implementations agree on; only the observation comparison is waived.
 */
const DELIBERATE_DIFFERENCES: Readonly<Record<string, string>> = {
  "bulk getWithMetadata of empty, zero, false and null values":
    "Miniflare's bulk endpoint returns the bare value instead of { value, metadata } when the value is " +
    "falsy ('' as text; 0, false, null as json) because of a `val && withMetadata` test; OpenKV always " +
    "returns { value, metadata } for an existing key, as the binding's types and docs promise.",
  "bulk get of key names that look like array indices":
    "workerd's bulk Map loses key names that are array indices ('1'), having passed through a JS object; " +
    "OpenKV returns every requested key.",
  "a list prefix containing NUL":
    "Miniflare matches prefixes with SQLite's substr/length on TEXT, which stop at the first NUL, so a " +
    "prefix containing NUL lists nothing; OpenKV compares bytes and lists the keys that start with it.",
};

// ---------------------------------------------------------------------------------------------------
// The implementations

type Impl = "miniflare" | "memory" | "sqlite" | "encrypted" | "postgres";
const observed: Record<Impl, Observations> = { miniflare: new Map(), memory: new Map(), sqlite: new Map(), encrypted: new Map(), postgres: new Map() };
const observe = (impl: Impl) => recorder(observed[impl]);
const run = (impl: Impl) => ({ label: impl, observed: observed[impl] });
const CASE_NAMES = WORKERS_KV_CASES.map((c) => c.name);

// One Miniflare for the whole run, one namespace binding per case: each case starts empty.
const BINDINGS = WORKERS_KV_CASES.map((_, i) => `NS${i}`);
let mf: Miniflare | undefined;
let nextBinding = 0;
test.after(async () => {
  await mf?.dispose();
});

const miniflare: WorkersKvFactory = async () => {
  mf ??= new Miniflare({
    modules: true,
    script: "export default { fetch() { return new Response(''); } }",
    kvNamespaces: BINDINGS,
  });
  const binding = BINDINGS[nextBinding++];
  assert.ok(binding, "more cases than bindings");
  // Miniflare types its proxy with @cloudflare/workers-types' streams; at runtime they are Node's.
  const kv = (await mf.getKVNamespace(binding)) as unknown as KVNamespace;
  return { kv, close: async () => {} };
};

const memory: WorkersKvFactory = async () => {
  const kv = await openNamespace(":memory:");
  return { kv, close: () => kv.close() };
};

let sqliteCase = 0;
const sqlite: WorkersKvFactory = async () => {
  const kv = await openNamespace(join(dir, "conformance.sqlite"), { namespace: `case-${sqliteCase++}`, durability: "process" });
  return { kv, close: () => kv.close() };
};

const encryptionKey = randomBytes(32);
let encryptedCase = 0;
const encrypted: WorkersKvFactory = async () => {
  const kv = await openNamespace(join(dir, "encrypted.sqlite"), { namespace: `case-${encryptedCase++}`, durability: "process", encryptionKey });
  return { kv, close: () => kv.close() };
};

// A real PostgreSQL started for this file; each case a store (schema) of its own.
const postgres: WorkersKvFactory = async () => {
  const kv = await openNamespace(await freshStoreUrl());
  return { kv, close: () => kv.close() };
};

// Cases are independent (a namespace each), so Miniflare's round trips can overlap.
defineWorkersKvSuite("miniflare", miniflare, { observe: observe("miniflare"), concurrency: 8 });
defineWorkersKvSuite("memory", memory, { observe: observe("memory"), concurrency: 8 });
defineWorkersKvSuite("sqlite", sqlite, { observe: observe("sqlite") });
defineWorkersKvSuite("sqlite, encrypted", encrypted, { observe: observe("encrypted") });
defineWorkersKvSuite("postgres", postgres, { observe: observe("postgres"), concurrency: 4 });

for (const impl of ["memory", "sqlite", "encrypted", "postgres"] as const) {
  test(`${impl}: every observation is identical to Miniflare's`, () => {
    assert.deepEqual(mismatches(CASE_NAMES, run("miniflare"), run(impl), DELIBERATE_DIFFERENCES), []);
  });
}

test("the deliberate differences are real (so the list stays honest)", () => {
  assertDeliberateDifferencesReal(CASE_NAMES, run("miniflare"), run("memory"), DELIBERATE_DIFFERENCES);
});

test("the suite has at least 60 cases", () => {
  assert.ok(WORKERS_KV_CASES.length >= 60, `${WORKERS_KV_CASES.length} cases`);
});

// ---------------------------------------------------------------------------------------------------
// Node-only: what Miniflare cannot be driven through

const START = Date.UTC(2030, 0, 1); // a whole second
const startSeconds = START / 1000;

async function withClock(fn: (kv: Awaited<ReturnType<typeof openNamespace>>, clock: ManualClock) => Promise<void>, strict = false) {
  const clock = new ManualClock(START);
  const kv = await openNamespace(":memory:", { clock, strict });
  try {
    await fn(kv, clock);
  } finally {
    await kv.close();
  }
}

test("expiry: an expirationTtl key disappears from get, getWithMetadata, bulk get and list at its second", async () => {
  await withClock(async (kv, clock) => {
    clock.advance(400); // not on a whole second: the TTL counts from the current whole second
    await kv.put("t", "v", { expirationTtl: 60, metadata: { m: 1 } });
    await kv.put("keep", "v");
    assert.deepEqual((await kv.list()).keys, [{ name: "keep" }, { name: "t", expiration: startSeconds + 60, metadata: { m: 1 } }].sort((a, b) => (a.name < b.name ? -1 : 1)));
    clock.set(START + 60_000 - 1);
    assert.equal(await kv.get("t"), "v");
    clock.set(START + 60_000);
    assert.equal(await kv.get("t"), null);
    assert.deepEqual(await kv.getWithMetadata("t"), { value: null, metadata: null, cacheStatus: null });
    assert.deepEqual([...(await kv.get(["t", "keep"]))], [["t", null], ["keep", "v"]]);
    assert.deepEqual(await kv.list(), { keys: [{ name: "keep" }], list_complete: true, cacheStatus: null });
  });
});

test("expiry: an absolute expiration is exact to the millisecond of its second", async () => {
  await withClock(async (kv, clock) => {
    await kv.put("e", "v", { expiration: startSeconds + 90 });
    clock.set((startSeconds + 90) * 1000 - 1);
    assert.equal(await kv.get("e"), "v");
    assert.equal((await kv.list()).keys[0]!.expiration, startSeconds + 90);
    clock.advance(1);
    assert.equal(await kv.get("e"), null);
    assert.equal((await kv.list()).keys.length, 0);
  });
});

test("expiry: validation uses the injected clock, not the system clock", async () => {
  await withClock(async (kv, clock) => {
    await assert.rejects(kv.put("k", "v", { expiration: startSeconds + 59 }), {
      message: `KV PUT failed: 400 Invalid expiration of ${startSeconds + 59}. Expiration times must be at least 60 seconds in the future.`,
    });
    await assert.rejects(kv.put("k", "v", { expiration: startSeconds }), /greater than the current number of seconds/);
    await kv.put("k", "v", { expiration: startSeconds + 60 });
    clock.advance(999);
    await kv.put("k2", "v", { expiration: startSeconds + 60 }); // still second `startSeconds`
    clock.advance(1);
    await assert.rejects(kv.put("k3", "v", { expiration: startSeconds + 60 }), /at least 60 seconds/);
  });
});

test("expiry: overwriting without a TTL makes a key permanent again", async () => {
  await withClock(async (kv, clock) => {
    await kv.put("k", "v1", { expirationTtl: 60 });
    await kv.put("k", "v2");
    clock.advance(3_600_000);
    assert.equal(await kv.get("k"), "v2");
  });
});

test("strict: one write per key per second, else 429 (put and delete)", async () => {
  await withClock(async (kv, clock) => {
    await kv.put("k", "1");
    await assert.rejects(kv.put("k", "2"), (e: Error) => e.constructor === Error && e.message === "KV PUT failed: 429 Too Many Requests");
    await assert.rejects(kv.delete("k"), { message: "KV DELETE failed: 429 Too Many Requests" });
    await kv.put("other", "x"); // other keys are independent
    assert.equal(await kv.get("k"), "1");
    clock.advance(999);
    await assert.rejects(kv.put("k", "3"), { message: "KV PUT failed: 429 Too Many Requests" });
    clock.advance(1);
    await kv.put("k", "4");
    clock.advance(1000);
    await kv.delete("k");
    assert.equal(await kv.get("k"), null);
    // A rejected write (validation) does not count as a write.
    clock.advance(1000);
    await assert.rejects(kv.put("v", "x", { expirationTtl: 1 }), /Expiration TTL must be at least 60/);
    await kv.put("v", "x");
  }, true);
});

test("strict: handles over the same engine and namespace share the limit", async () => {
  const clock = new ManualClock(START);
  const engine = new Engine(new MemoryBackend(), { clock });
  const a = await openNamespace(undefined, { engine, strict: true });
  const b = await openNamespace(undefined, { engine, strict: true });
  const other = await openNamespace(undefined, { engine, strict: true, namespace: "other" });
  await a.put("k", "1");
  await assert.rejects(b.put("k", "2"), /429/);
  await other.put("k", "3");
  await a.close();
  await b.close();
  await other.close();
  assert.equal(engine.closed, false, "a handle does not close an engine it was given");
  await engine.close();
});

test("not strict: rapid writes to one key all succeed; TTL minimum still applies", async () => {
  await withClock(async (kv) => {
    for (let i = 0; i < 5; i++) await kv.put("k", String(i));
    await kv.delete("k");
    await kv.put("k", "last");
    assert.equal(await kv.get("k"), "last");
    await assert.rejects(kv.put("t", "v", { expirationTtl: 59 }), { message: "KV PUT failed: 400 Invalid expiration_ttl of 59. Expiration TTL must be at least 60." });
  });
});

test("list: the default limit is 1000, and the next page continues after the 1000th key", async () => {
  const kv = await openNamespace(":memory:");
  const keys = Array.from({ length: 1001 }, (_, i) => `k${String(i).padStart(4, "0")}`);
  await Promise.all(keys.map((k) => kv.put(k, "v")));
  const first = await kv.list();
  assert.equal(first.keys.length, 1000);
  assert.equal(first.list_complete, false);
  const second = await kv.list({ cursor: (first as { cursor: string }).cursor });
  assert.deepEqual(second, { keys: [{ name: "k1000" }], list_complete: true, cacheStatus: null });
  await kv.close();
});

test("a string value of exactly 25 MiB is accepted and round-trips", async () => {
  const kv = await openNamespace(":memory:");
  const text = "x".repeat(25 * 1024 * 1024);
  await kv.put("big", text);
  assert.equal((await kv.get("big"))!.length, text.length);
  await assert.rejects(kv.put("big2", text + "y"), { message: "KV PUT failed: 413 Value length of 26214401 exceeds limit of 26214400." });
  await kv.close();
});

test("a put from a stream copies each chunk once and does not alias the caller's buffers", async () => {
  const kv = await openNamespace(":memory:");
  const chunk = new Uint8Array([1, 2, 3]);
  await kv.put("s", new ReadableStream({ start: (c) => (c.enqueue(chunk), c.close()) }));
  const view = new Uint8Array([9, 9, 9, 9]);
  await kv.put("v", view.subarray(1, 3));
  chunk.fill(0);
  view.fill(0);
  assert.deepEqual(new Uint8Array((await kv.get("s", "arrayBuffer"))!), Uint8Array.of(1, 2, 3));
  assert.deepEqual(new Uint8Array((await kv.get("v", "arrayBuffer"))!), Uint8Array.of(9, 9));
  // …and a returned ArrayBuffer is the caller's: writing to it does not change the stored value.
  new Uint8Array((await kv.get("s", "arrayBuffer"))!).fill(7);
  assert.equal(await kv.get("s"), "\u0001\u0002\u0003");
  await kv.close();
});

test("a failing stream rejects the put and writes nothing", async () => {
  const kv = await openNamespace(":memory:");
  const stream = new ReadableStream({ pull: (c) => c.error(new Error("boom")) });
  await assert.rejects(kv.put("s", stream), { message: "boom" });
  await assert.rejects(kv.put("n", new ReadableStream({ start: (c) => (c.enqueue(42 as never), c.close()) })), {
    name: "TypeError",
    message: "This ReadableStream did not return bytes.",
  });
  assert.deepEqual((await kv.list()).keys, []);
  await kv.close();
});

test("validation failures cancel a stream value without reading it", async () => {
  const kv = await openNamespace(":memory:");
  let cancelled: unknown = null;
  let pulled = 0;
  const stream = new ReadableStream({ pull: () => void pulled++, cancel: (r) => void (cancelled = r) }, { highWaterMark: 0 });
  await assert.rejects(kv.put("k", stream, { expirationTtl: 5 }), /at least 60/);
  assert.equal(pulled, 0);
  assert.match(String(cancelled), /at least 60/);
  await kv.close();
});

// ---------------------------------------------------------------------------------------------------
// The key space shared with Deno KV

async function sharedEngine() {
  const engine = new Engine(new MemoryBackend());
  const kv = await openNamespace(undefined, { engine });
  const ns = (await engine.findNamespace("default"))!;
  const set = (key: KvKey, value: StoredValue, metadata: string | null = null) =>
    engine.atomic(ns.id, { checks: [], enqueues: [], mutations: [{ type: "set", key: encodeKey(key), value, metadata }] });
  const get = (key: KvKey) => engine.get(ns.id, encodeKey(key));
  return { engine, kv, set, get };
}

test("shared keys: Workers key 'k' is Deno key ['k'], strings stay strings both ways", async () => {
  const { engine, kv, set, get } = await sharedEngine();
  await kv.put("greeting", "héllo");
  const stored = (await get(["greeting"]))!;
  assert.equal(stored.encoding, "v8");
  assert.equal(deserializeV8(stored.data), "héllo");
  await kv.put("raw", Uint8Array.of(1, 2));
  assert.equal((await get(["raw"]))!.encoding, "bytes");

  await set(["fromDeno"], { encoding: "v8", data: serializeV8({ a: 1, list: [true, null] }) });
  await set(["text"], { encoding: "v8", data: encodeV8String("plain") });
  await set(["bytes"], { encoding: "bytes", data: Uint8Array.of(104, 105) });
  assert.equal(await kv.get("fromDeno"), '{"a":1,"list":[true,null]}');
  assert.deepEqual(await kv.get("fromDeno", "json"), { a: 1, list: [true, null] });
  assert.equal(await kv.get("text"), "plain");
  assert.equal(await kv.get("bytes"), "hi");
  await kv.close();
  await engine.close();
});

test("shared keys: list sees only single-string keys and skips Deno tuples and other key types", async () => {
  const { engine, kv, set } = await sharedEngine();
  const v: StoredValue = { encoding: "v8", data: encodeV8String("v") };
  for (const k of ["a", "a\u0000", "a\u0000b", "ab", "b", "é"]) await kv.put(k, "v");
  const tuples: KvKey[] = [
    ["a", "b"],
    ["a", 1],
    ["a", "b", "c"],
    ["a\u0000", "x"],
    ["ab", new Uint8Array([0])],
    ["b", true],
    [1, "a"],
    [new Uint8Array([2]), "a"],
    [1n],
    [true],
  ];
  for (const t of tuples) await set(t, v);
  for (let i = 0; i < 50; i++) await set(["a", i], v); // a large tuple group, skipped in one seek
  const all = ["a", "a\u0000", "a\u0000b", "ab", "b", "é"];
  assert.deepEqual((await kv.list()).keys.map((k) => k.name), all);
  assert.deepEqual((await kv.list({ prefix: "a" })).keys.map((k) => k.name), ["a", "a\u0000", "a\u0000b", "ab"]);
  assert.deepEqual((await kv.list({ prefix: "a\u0000" })).keys.map((k) => k.name), ["a\u0000", "a\u0000b"]);
  // Every page size walks the same keys, with cursors falling just before tuple groups.
  for (let limit = 1; limit <= 7; limit++) {
    const seen: string[] = [];
    let cursor: string | undefined;
    for (;;) {
      const page = await kv.list({ limit, ...(cursor ? { cursor } : {}) });
      assert.ok(page.keys.length <= limit);
      seen.push(...page.keys.map((k) => k.name));
      if (page.list_complete) break;
      cursor = page.cursor;
    }
    assert.deepEqual(seen, all, `limit ${limit}`);
  }
  // Bulk and single reads never see tuples either.
  assert.deepEqual([...(await kv.get(["a", "b", "zz"]))], [["a", "v"], ["b", "v"], ["zz", null]]);
  await kv.close();
  await engine.close();
});

test("shared keys: metadata written by another front end is listed; Deno expiry is shown in seconds", async () => {
  const clock = new ManualClock(START);
  const engine = new Engine(new MemoryBackend(), { clock });
  const kv = await openNamespace(undefined, { engine });
  const ns = (await engine.findNamespace("default"))!;
  await engine.atomic(ns.id, {
    checks: [],
    enqueues: [],
    mutations: [{ type: "set", key: encodeKey(["d"]), value: { encoding: "bytes", data: Uint8Array.of(65) }, expiresAt: START + 90_500, metadata: '{"by":"rest"}' }],
  });
  assert.deepEqual((await kv.list()).keys, [{ name: "d", expiration: startSeconds + 90, metadata: { by: "rest" } }]);
  assert.deepEqual(await kv.getWithMetadata("d"), { value: "A", metadata: { by: "rest" }, cacheStatus: null });
  await kv.close();
  await engine.close();
});

// ---------------------------------------------------------------------------------------------------
// Persistence and handles

test("sqlite: values, metadata and expiration survive reopening; namespaces are separate", async () => {
  const path = join(dir, "persist.sqlite");
  const at = Math.floor(Date.now() / 1000) + 3600;
  const a = await openNamespace(path);
  await a.put("k", "v", { metadata: { m: 1 }, expiration: at });
  await a.put("bin", Uint8Array.of(0, 255));
  await a.close();
  const b = await openNamespace(path);
  assert.deepEqual(await b.getWithMetadata("k"), { value: "v", metadata: { m: 1 }, cacheStatus: null });
  assert.deepEqual(new Uint8Array((await b.get("bin", "arrayBuffer"))!), Uint8Array.of(0, 255));
  assert.deepEqual((await b.list()).keys, [{ name: "bin" }, { name: "k", expiration: at, metadata: { m: 1 } }]);
  await b.close();
  const other = await openNamespace(path, { namespace: "other" });
  assert.deepEqual((await other.list()).keys, []);
  await other.close();
});

test("close: is idempotent, and a closed namespace rejects", async () => {
  const kv = await openNamespace(":memory:");
  await kv.put("k", "v");
  await Promise.all([kv.close(), kv.close()]);
  await kv.close();
  await assert.rejects(kv.get("k"), { message: "The database is closed" });
});

test("an acknowledged write is durable across close on SQLite", async () => {
  const path = join(dir, "durable.sqlite");
  const kv = await openNamespace(path);
  const writes = Array.from({ length: 20 }, (_, i) => kv.put(`k${i}`, String(i)));
  await Promise.all(writes);
  await kv.close();
  const engine = new Engine(new SqliteBackend(path));
  const again = await openNamespace(undefined, { engine });
  assert.equal((await again.list()).keys.length, 20);
  await again.close();
  await engine.close();
});
