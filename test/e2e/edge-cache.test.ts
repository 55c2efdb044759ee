/**
 * The edge's cache between real servers: a core on SQLite and an edge in front of it, on 127.0.0.1.
 * Reads go through the Cloudflare REST API v4 value route (eventual, as Workers KV reads are) and /kv
 * (strong). Waiting is polling with a deadline; the edge's clock is a ManualClock so the staleness
 * bound is tested without waiting a minute.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ManualClock } from "../../src/core/clock.ts";
import { startServer, type RunningServer } from "../../src/server/server.ts";
import { FEED_DEGRADED, type CachedBackend } from "../../src/client/cached-backend.ts";
import { ADMIN, auth } from "./harness.ts";

const ACCOUNT = "0123456789abcdef0123456789abcdef";
const dir = mkdtempSync(join(tmpdir(), "openkv-edge-cache-"));
const coreConfig = { host: "127.0.0.1", dataDir: dir, adminToken: ADMIN, accountId: ACCOUNT, durability: "process" as const, log: () => {} };
let core: RunningServer = await startServer({ ...coreConfig, port: 0 });
const edgeToken = (await core.tokens.create({ name: "edge", namespaces: null, permission: "write" }, Date.now())).token;
const clock = new ManualClock(Date.now());
const edge = await startServer({ host: "127.0.0.1", port: 0, dataDir: null, clock, edgeOf: { url: core.url, token: edgeToken }, log: () => {} });
const cache = (edge.engine.backend as CachedBackend).cache;
const responses = edge.responses!;
/** Reads the edge answered from memory: its entry cache, or the answers kept in front of it. */
const memoryHits = () => cache.stats.hits + responses.hits;
const ns = (await core.engine.ensureNamespace("default")).id;
after(async () => {
  await edge.close();
  await core.close();
  rmSync(dir, { recursive: true, force: true });
});

const valueUrl = (server: { url: string }, key: string) => `${server.url}/client/v4/accounts/${ACCOUNT}/storage/kv/namespaces/${ns}/values/${key}`;
const put = async (server: { url: string }, key: string, value: string) => {
  const res = await fetch(valueUrl(server, key), { method: "PUT", headers: { ...auth(), "content-type": "text/plain" }, body: value });
  assert.equal(res.status, 200);
};
const get = async (key: string): Promise<{ status: number; text: string }> => {
  const res = await fetch(valueUrl(edge, key), { headers: auth() });
  return { status: res.status, text: await res.text() };
};
/** Polls `probe` until it returns true or `ms` pass; says how long it took. */
async function within(ms: number, probe: () => Promise<boolean>): Promise<number> {
  const started = performance.now();
  while (performance.now() - started < ms) {
    if (await probe()) return performance.now() - started;
    await new Promise((r) => setImmediate(r));
  }
  assert.fail(`not within ${ms} ms`);
}

test("hot reads on the edge come from its cache; a write on the core shows on the edge within a bound", async () => {
  await put(core, "hot", "v0");
  await (edge.engine.backend as CachedBackend).caughtUp();
  assert.deepEqual(await get("hot"), { status: 200, text: "v0" });
  const hits = memoryHits();
  for (let i = 0; i < 5; i++) assert.deepEqual(await get("hot"), { status: 200, text: "v0" });
  assert.equal(memoryHits(), hits + 5, "served from memory");
  // Not found is cached too.
  assert.equal((await get("absent")).status, 404);
  assert.equal((await get("absent")).status, 404);
  assert.equal(memoryHits(), hits + 6);

  for (let n = 1; n <= 20; n++) {
    await put(core, "hot", `v${n}`);
    // The doorbell long-poll, not the 250 ms feed poll and not the 60 s cacheTtl: well under a second.
    const took = await within(2000, async () => (await get("hot")).text === `v${n}`);
    assert.ok(took < 1000, `write ${n} visible on the edge after ${Math.round(took)} ms`);
  }
});

test("the edge keeps whole answers to eventual reads, and drops them when the feed or its own write changes the key", async () => {
  await put(core, "kept", "k0");
  await (edge.engine.backend as CachedBackend).caughtUp();
  assert.deepEqual(await get("kept"), { status: 200, text: "k0" });
  let kept = responses.hits;
  assert.deepEqual(await get("kept"), { status: 200, text: "k0" });
  assert.equal(responses.hits, kept + 1, "the second read was answered from the kept answer");
  for (let n = 1; n <= 10; n++) {
    // A write on the core: the kept answer must go once the edge applies the feed, or this never ends.
    await put(core, "kept", `k${n}`);
    await within(2000, async () => (await get("kept")).text === `k${n}`);
    kept = responses.hits;
    assert.deepEqual(await get("kept"), { status: 200, text: `k${n}` });
    assert.equal(responses.hits, kept + 1, `k${n} is kept in its turn`);
  }
  // A write through the edge itself: the very next read answers it.
  await put(edge, "kept", "mine");
  assert.deepEqual(await get("kept"), { status: 200, text: "mine" });
  // /kv reads are strong: never answered from a kept answer on an edge.
  await fetch(`${core.url}/kv/strong.kept`, { method: "PUT", headers: auth(), body: '{"value":1}' });
  kept = responses.hits;
  for (let i = 0; i < 3; i++) assert.equal((await fetch(`${edge.url}/kv/strong.kept`, { headers: auth() })).status, 200);
  assert.equal(responses.hits, kept, "no /kv read came from a kept answer");
});

test("a write through the edge is read back through the edge at once, on both APIs", async () => {
  assert.equal((await get("own")).status, 404);
  await put(edge, "own", "mine");
  assert.deepEqual(await get("own"), { status: 200, text: "mine" });
  const kv = await fetch(`${edge.url}/kv/own.deno`, { method: "PUT", headers: auth(), body: '{"value":1}' });
  assert.equal(kv.status, 200);
  const back = await fetch(`${edge.url}/kv/own.deno`, { headers: auth() });
  assert.equal(back.headers.get("etag"), kv.headers.get("etag"));
});

test("/kv reads are strong: a write on the core is seen by the very next read on the edge", async () => {
  await fetch(`${core.url}/kv/strong`, { method: "PUT", headers: auth(), body: '{"value":"a"}' });
  assert.equal(((await (await fetch(`${edge.url}/kv/strong`, { headers: auth() })).json()) as { value: string }).value, "a");
  for (let i = 0; i < 5; i++) {
    const w = await fetch(`${core.url}/kv/strong`, { method: "PUT", headers: auth(), body: JSON.stringify({ value: `b${i}` }) });
    const r = await fetch(`${edge.url}/kv/strong`, { headers: auth() });
    assert.equal(r.headers.get("etag"), w.headers.get("etag"));
  }
});

// Last: it stops the core.
test("core down: cached reads go on up to cacheTtl and no longer; /healthz says degraded; back up, the edge catches up", async () => {
  await put(core, "cut", "before");
  // Once the edge has applied the write, a fill of the key cannot be spoilt by its invalidation.
  await (edge.engine.backend as CachedBackend).caughtUp();
  assert.equal((await get("cut")).text, "before");
  const hits = memoryHits();
  assert.equal((await get("cut")).text, "before");
  assert.equal(memoryHits(), hits + 1, "cached");
  const port = core.port;
  await core.close();
  assert.deepEqual(await get("cut"), { status: 200, text: "before" }, "served from the cache");
  clock.advance(10_000);
  // The feed is unconfirmed for longer than 5 s: no kept answer is served; the entry cache checks each
  // read against its own bound instead.
  const keptHits = responses.hits;
  assert.deepEqual(await get("cut"), { status: 200, text: "before" });
  assert.equal(responses.hits, keptHits, "not from a kept answer");
  const health = await fetch(`${edge.url}/healthz`);
  assert.equal(health.status, 503);
  assert.deepEqual(await health.json(), { ok: false, error: "The core is unavailable", degraded: FEED_DEGRADED });
  clock.advance(50_000); // 60 s since the edge last knew it was current: the default cacheTtl
  assert.deepEqual(await get("cut"), { status: 200, text: "before" });
  clock.advance(1);
  assert.equal((await get("cut")).status, 503, "older than cacheTtl: not served");
  assert.equal((await get("hot")).status, 503);

  core = await startServer({ ...coreConfig, port });
  await put(core, "cut", "after");
  await within(5000, async () => (await get("cut")).text === "after");
  await within(5000, async () => {
    const res = await fetch(`${edge.url}/healthz`);
    return res.status === 200 && JSON.stringify(await res.json()) === '{"ok":true}';
  });
});
