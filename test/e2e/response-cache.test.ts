/**
 * The hot-GET response cache (src/http/response-cache.ts) never answers with a value older than a
 * commit: written through this server (any API, or the engine itself), or by another `openkv` process
 * on the same SQLite file. Each test also checks that the cache did answer, so that it tests something.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { ManualClock } from "../../src/core/clock.ts";
import { encodeKey } from "../../src/core/keys.ts";
import { jsonToStored, storedToJsonText } from "../../src/core/values.ts";
import { databaseIdOf } from "../../src/wire/kv-connect/metadata.ts";
import { encodeSnapshotRead } from "../../src/wire/kv-connect/wire.ts";
import { fromBinary } from "@bufbuild/protobuf";
import { SnapshotReadOutputSchema } from "../../src/wire/kv-connect/gen/kv-connect_pb.ts";
import { ADMIN, auth, startTestServer } from "./harness.ts";
import { startChildServer } from "./serve-child.ts";

const ACCOUNT = "0123456789abcdef0123456789abcdef";
const clock = new ManualClock(Date.UTC(2030, 0, 1));
// Analytics keep their aggregates in memory for the whole file (no flush), for the counting test.
const server = await startTestServer({ persistent: true, clock, analytics: { flushMs: 3_600_000 } });
const cache = server.responses!;
const json = { ...auth(), "content-type": "application/json" };

async function put(base: string, path: string, value: unknown, ttl?: number): Promise<void> {
  const r = await fetch(`${base}/kv/${path}`, { method: "PUT", headers: json, body: JSON.stringify({ value, ...(ttl ? { ttl } : {}) }) });
  assert.equal(r.status, 200, await r.text());
}

async function get(base: string, path: string): Promise<{ status: number; value?: unknown }> {
  const r = await fetch(`${base}/kv/${path}`, { headers: auth() });
  const body = (await r.json()) as { value?: unknown };
  return r.status === 200 ? { status: 200, value: body.value } : { status: r.status };
}

/**
 * Reads twice and checks that the second answer came from the cache. With another process on the file, that
 * process may commit on its own between the two reads (its expiry purge, its analytics), and any commit to
 * the file rightly empties this server's cache: so the pair is tried up to three times, and one of the
 * second reads must be a hit. Every read, hit or not, must give `expected`.
 */
async function assertKeptWithOther<T>(read: () => Promise<T>, expected: T, what: string): Promise<void> {
  for (let attempt = 0; attempt < 3; attempt++) {
    assert.deepEqual(await read(), expected);
    const hits = cache.hits;
    assert.deepEqual(await read(), expected);
    if (cache.hits === hits + 1) return;
  }
  assert.fail(`${what}: the second read was never answered from the cache in three tries`);
}

test("the SQLite server keeps hot GETs' answers (the other tests would prove nothing without it)", async () => {
  assert.ok(cache, "server.responses is set on a SQLite store");
  await put(server.url, "warm", 1);
  await get(server.url, "warm");
  const hits = cache.hits;
  assert.deepEqual(await get(server.url, "warm"), { status: 200, value: 1 });
  assert.equal(cache.hits, hits + 1);
});

test("a write through this server, by any path, is seen by the next GET of the kept key", async () => {
  await put(server.url, "same", "v0");
  for (let i = 1; i <= 20; i++) {
    const hits = cache.hits;
    assert.deepEqual(await get(server.url, "same"), { status: 200, value: `v${i - 1}` });
    assert.deepEqual(await get(server.url, "same"), { status: 200, value: `v${i - 1}` });
    assert.ok(cache.hits > hits, "the second GET was answered from the cache");
    if (i % 2 === 0) await put(server.url, "same", `v${i}`);
    else {
      // The engine itself (as the Workers binding, KV Connect and queues write): not through this route.
      const r = await server.engine.atomic((await server.engine.getNamespace("default")).id, {
        checks: [],
        mutations: [{ type: "set", key: encodeKey(["same"]), value: jsonToStored(`v${i}`), expiresAt: null }],
        enqueues: [],
      });
      assert.ok(r.ok);
    }
  }
  await get(server.url, "same");
  assert.equal((await fetch(`${server.url}/kv/same`, { method: "DELETE", headers: auth() })).status, 200);
  assert.equal((await get(server.url, "same")).status, 404);
});

test("a write by another openkv process on the same file is seen by the next GET here", async () => {
  const other = await startChildServer({ dataDir: server.dir!, adminToken: ADMIN, accountId: ACCOUNT });
  try {
    await put(other.url, "shared", 0);
    for (let i = 1; i <= 20; i++) {
      await assertKeptWithOther(() => get(server.url, "shared"), { status: 200, value: i - 1 }, "GET");
      // Acknowledged by the other process: from now on no GET here may answer i - 1.
      await put(other.url, "shared", i);
    }
    assert.equal((await fetch(`${other.url}/kv/shared`, { method: "DELETE", headers: auth() })).status, 200);
    assert.equal((await get(server.url, "shared")).status, 404);
  } finally {
    await other.stop();
  }
});

test("a kept answer is not served once its entry has expired", async () => {
  await put(server.url, "brief", "here", 60_000);
  await get(server.url, "brief");
  const hits = cache.hits;
  assert.deepEqual(await get(server.url, "brief"), { status: 200, value: "here" });
  assert.equal(cache.hits, hits + 1);
  clock.advance(60_000);
  assert.equal((await get(server.url, "brief")).status, 404);
});

test("the Cloudflare v4 value GET is kept and follows writes too", async () => {
  const ns = (await server.engine.getNamespace("default")).id;
  const path = `${server.url}/client/v4/accounts/${ACCOUNT}/storage/kv/namespaces/${ns}/values/v4key`;
  for (let i = 0; i < 5; i++) {
    assert.equal((await fetch(path, { method: "PUT", headers: auth(), body: `text ${i}` })).status, 200);
    assert.equal(await (await fetch(path, { headers: auth() })).text(), `text ${i}`);
    const hits = cache.hits;
    assert.equal(await (await fetch(path, { headers: auth() })).text(), `text ${i}`);
    assert.equal(cache.hits, hits + 1);
  }
});

test("authorization still runs on a kept answer: a token for another namespace gets 403, no token 401", async () => {
  await put(server.url, "guarded", "secret");
  await get(server.url, "guarded");
  const other = await server.engine.ensureNamespace("elsewhere");
  const created = await fetch(`${server.url}/admin/tokens`, {
    method: "POST",
    headers: json,
    body: JSON.stringify({ name: "narrow", permission: "read", namespaces: [other.id] }),
  });
  const text = await created.text();
  assert.equal(created.status, 201, text);
  const { token: secret } = JSON.parse(text) as { token: string };
  assert.equal((await fetch(`${server.url}/kv/guarded`, { headers: auth(secret) })).status, 403);
  assert.equal((await fetch(`${server.url}/kv/guarded`)).status, 401);
  assert.deepEqual(await get(server.url, "guarded"), { status: 200, value: "secret" });
});

test("a KV Connect snapshot_read is kept too, and follows writes here and by another process", async () => {
  const ns = (await server.engine.getNamespace("default")).id;
  const key = encodeKey(["kvc"]);
  const end = new Uint8Array(key.length + 1);
  end.set(key);
  const request = encodeSnapshotRead([{ start: key, end, limit: 1 }]);
  const read = async (path: string) => {
    const r = await fetch(`${server.url}/kv-connect/${ns}/${path}`, {
      method: "POST",
      headers: { ...auth(), "content-type": "application/x-protobuf", "x-denokv-version": "3", "x-denokv-database-id": databaseIdOf(ns) },
      body: request,
    });
    assert.equal(r.status, 200);
    // Decoded as is: our client's decoder refuses the eventual endpoint's answers (not strongly consistent).
    const out = fromBinary(SnapshotReadOutputSchema, new Uint8Array(await r.arrayBuffer()));
    assert.equal(out.readIsStronglyConsistent, path === "snapshot_read");
    const entry = out.ranges[0]!.values[0];
    return entry === undefined ? null : JSON.parse(storedToJsonText({ encoding: "v8", data: entry.value }));
  };
  const other = await startChildServer({ dataDir: server.dir!, adminToken: ADMIN, accountId: ACCOUNT });
  try {
    for (let i = 0; i < 10; i++) {
      await put(i % 2 === 0 ? server.url : other.url, "kvc", `value ${i}`);
      for (const path of ["snapshot_read", "eventual/snapshot_read"]) {
        await assertKeptWithOther(() => read(path), `value ${i}`, path);
      }
    }
    assert.equal((await fetch(`${other.url}/kv/kvc`, { method: "DELETE", headers: auth() })).status, 200);
    assert.equal(await read("snapshot_read"), null);
  } finally {
    await other.stop();
  }
});

test("cached answers are still counted: operations in /metrics and analytics, and the cache's own hits", async () => {
  await put(server.url, "counted", "c");
  await get(server.url, "counted");
  const scrape = async () => {
    const text = await (await fetch(`${server.url}/metrics`, { headers: auth() })).text();
    const reads = Number(/^openkv_operations_total\{namespace="default",kind="read",api="rest"\} (\d+)$/m.exec(text)?.[1] ?? 0);
    const hits = Number(/^openkv_response_cache_hits (\d+)$/m.exec(text)?.[1]);
    return { reads, hits };
  };
  const ns = (await server.engine.getNamespace("default")).id;
  const analyticsReads = () =>
    server
      .analytics!.pending()
      .filter((r) => r.namespaceId === ns && r.actionType === "read" && r.status === 200)
      .reduce((sum, r) => ({ requests: sum.requests + r.requests, bytes: sum.bytes + r.objectBytes }), { requests: 0, bytes: 0 });
  const before = await scrape();
  const analyticsBefore = analyticsReads();
  for (let i = 0; i < 5; i++) assert.deepEqual(await get(server.url, "counted"), { status: 200, value: "c" });
  const after = await scrape();
  const analyticsAfter = analyticsReads();
  assert.equal(after.hits - before.hits, 5, "all five came from the cache");
  assert.equal(after.reads - before.reads, 5, "every cached answer is an operation in /metrics");
  assert.equal(analyticsAfter.requests - analyticsBefore.requests, 5, "and in analytics");
  const length = Number((await fetch(`${server.url}/kv/counted`, { method: "HEAD", headers: auth() })).headers.get("content-length"));
  assert.equal(analyticsAfter.bytes - analyticsBefore.bytes, 5 * length, "with the bytes of each answer");
});
