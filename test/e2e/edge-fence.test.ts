/**
 * Reading your own writes across nodes, with real servers: a core and two edges in this process.
 * - Bookmarks: a write answers `OpenKV-Bookmark`; a read that sends it back through another edge sees
 *   that write, even with the core's write fence off (so the edge's own catch-up is what is tested).
 * - The write fence: an edge that stops applying the feed costs the writers one `--edge-fence-ms`, then
 *   is set aside until it catches up (read off the core's /metrics).
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, request as httpRequest } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startServer, type RunningServer } from "../../src/server/server.ts";
import { ADMIN, auth } from "./harness.ts";

const dir = mkdtempSync(join(tmpdir(), "openkv-edge-fence-"));
const FENCE_MS = 300;
const core: RunningServer = await startServer({ host: "127.0.0.1", port: 0, dataDir: dir, adminToken: ADMIN, durability: "process", edgeFenceMs: FENCE_MS, log: () => {} });
const unfenced: RunningServer = await startServer({ host: "127.0.0.1", port: 0, dataDir: null, adminToken: ADMIN, edgeFenceMs: 0, log: () => {} });
const edgeOf = async (of: RunningServer) => {
  const token = (await of.tokens.create({ name: "edge", namespaces: null, permission: "write" }, Date.now())).token;
  return startServer({ host: "127.0.0.1", port: 0, dataDir: null, edgeOf: { url: of.url, token }, log: () => {} });
};
/**
 * Edge B reaches the core through a link whose doorbell answers arrive DOORBELL_DELAY_MS late (a far
 * edge), so without a bookmark its cache is still behind when a client reads right after a write.
 */
const DOORBELL_DELAY_MS = 10_000;
const slowLink = createServer((req, res) => {
  const upstream = httpRequest(new URL(req.url!, unfenced.url), { method: req.method, headers: req.headers }, (up) => {
    const delay = req.url!.startsWith("/_openkv/v1/feed/wait") ? DOORBELL_DELAY_MS : 0;
    setTimeout(() => {
      if (res.destroyed) return up.destroy();
      res.writeHead(up.statusCode!, up.headers);
      up.pipe(res);
    }, delay).unref();
  });
  upstream.on("error", () => res.destroy());
  req.pipe(upstream);
});
await new Promise<void>((resolve) => slowLink.listen(0, "127.0.0.1", resolve));
const slowUrl = `http://127.0.0.1:${(slowLink.address() as AddressInfo).port}`;
const edgeA = await edgeOf(unfenced);
const edgeB = await startServer({
  host: "127.0.0.1",
  port: 0,
  dataDir: null,
  // Polling rarely: the doorbell is how it learns of writes.
  edgeOf: { url: slowUrl, token: (await unfenced.tokens.create({ name: "far edge", namespaces: null, permission: "write" }, Date.now())).token, feedPollMs: 60_000 },
  log: () => {},
});
after(async () => {
  await edgeA.close();
  await edgeB.close();
  slowLink.closeAllConnections();
  slowLink.close();
  await unfenced.close();
  await core.close();
  rmSync(dir, { recursive: true, force: true });
});

const values = (server: RunningServer, ns: string, key: string) => `${server.url}/client/v4/accounts/${server.accountId}/storage/kv/namespaces/${ns}/values/${key}`;

async function metric(server: RunningServer, name: string): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`, { headers: auth() })).text();
  const m = new RegExp(`^${name} (\\d+)`, "m").exec(text);
  assert.ok(m, `${name} is exported`);
  return Number(m[1]);
}

test("a REST v4 read through edge B with the bookmark of a write through edge A sees that write", async () => {
  const ns = (await unfenced.engine.ensureNamespace("bookmarks")).id;
  assert.equal((await fetch(values(edgeA, ns, "k"), { method: "PUT", headers: auth(), body: "0" })).status, 200);
  // Until the first delayed doorbell answer arrives, edge B hears of no write by itself.
  const deaf = performance.now() + DOORBELL_DELAY_MS - 2_000;
  let staleSeen = 0;
  for (let n = 1; n <= 20; n++) {
    // Edge B holds the previous value in its cache (REST v4 reads are eventual, cacheTtl 60 s).
    const before = await fetch(values(edgeB, ns, "k"), { headers: auth() });
    assert.equal(await before.text(), String(n - 1));
    const put = await fetch(values(edgeA, ns, "k"), { method: "PUT", headers: auth(), body: String(n) });
    assert.equal(put.status, 200);
    const bookmark = put.headers.get("openkv-bookmark");
    assert.match(bookmark ?? "", /^[0-9a-f]{20}$/);
    // Without the bookmark the far edge answers from its cache: it has not heard of the write yet.
    const plain = await fetch(values(edgeB, ns, "k"), { headers: auth() });
    const plainText = await plain.text();
    if (performance.now() < deaf) {
      assert.equal(plainText, String(n - 1), "a read without the bookmark may be older");
      staleSeen++;
    }
    const read = await fetch(values(edgeB, ns, "k"), { headers: { ...auth(), "openkv-bookmark": bookmark! } });
    assert.equal(await read.text(), String(n), `write ${n} read back through the other edge`);
  }
  assert.ok(staleSeen > 0, "the far edge was seen behind at least once");
});

test("/kv writes answer the bookmark too; a DELETE's covers the delete", async () => {
  await unfenced.engine.ensureNamespace("default");
  const put = await fetch(`${edgeA.url}/kv/default/doc`, { method: "PUT", headers: { ...auth(), "content-type": "application/json" }, body: '{"value":{"v":1}}' });
  const { versionstamp } = (await put.json()) as { versionstamp: string };
  assert.equal(put.headers.get("openkv-bookmark"), versionstamp);
  const read = await fetch(`${edgeB.url}/kv/default/doc`, { headers: { ...auth(), "openkv-bookmark": versionstamp } });
  assert.deepEqual(((await read.json()) as { value: unknown }).value, { v: 1 });
  const del = await fetch(`${edgeA.url}/kv/default/doc`, { method: "DELETE", headers: auth() });
  const deleted = del.headers.get("openkv-bookmark")!;
  assert.ok(deleted > versionstamp, "the delete's bookmark is after the write's");
  const gone = await fetch(values(edgeB, (await unfenced.engine.ensureNamespace("default")).id, "doc"), { headers: { ...auth(), "openkv-bookmark": deleted } });
  assert.equal(gone.status, 404);
});

test("a malformed bookmark is a 400; one ahead of the store is a 400 that says what to send", async () => {
  const ns = (await unfenced.engine.ensureNamespace("bookmarks")).id;
  const bad = await fetch(values(edgeB, ns, "k"), { headers: { ...auth(), "openkv-bookmark": "nope" } });
  assert.equal(bad.status, 400);
  assert.equal(((await bad.json()) as { errors: { message: string }[] }).errors[0]!.message, 'OpenKV-Bookmark must be a versionstamp of 20 hex digits, as a write returned it, got "nope"');
  const ahead = await fetch(values(edgeB, ns, "k"), { headers: { ...auth(), "openkv-bookmark": "7fffffffffffffff0000" } });
  assert.equal(ahead.status, 400);
  assert.match(((await ahead.json()) as { errors: { message: string }[] }).errors[0]!.message, /^The bookmark 7fffffffffffffff0000 is ahead of the store's latest versionstamp [0-9a-f]{20}: send a versionstamp a write returned$/);
});

test("an edge that stops applying the feed costs writers one fence, then is set aside until it catches up", async () => {
  const ns = (await core.engine.ensureNamespace("fence")).id;
  const put = (v: string) => fetch(values(core, ns, "k"), { method: "PUT", headers: auth(), body: v });
  assert.equal(await metric(core, "openkv_edge_fence_following"), 0);
  // A follower that reports it has applied nothing and then never polls again within the test.
  const stall = new AbortController();
  const wait = (applied: string) =>
    fetch(`${core.url}/_openkv/v1/feed/wait?edge=stuck&applied=${applied}&timeoutMs=20000`, { headers: auth(), signal: stall.signal }).catch(() => null);
  const pending = wait("00000000000000000000");
  try {
    while ((await metric(core, "openkv_edge_fence_following")) === 0);
    const started = performance.now();
    const first = await put("1");
    assert.equal(first.status, 200);
    assert.ok(performance.now() - started >= FENCE_MS - 20, "the write waited for the edge, up to the fence");
    assert.equal(await metric(core, "openkv_edge_fence_timeouts_total"), 1);
    assert.equal(await metric(core, "openkv_edge_fence_following"), 0, "the lagging edge is set aside");
    const second = await put("2");
    assert.equal(second.status, 200);
    assert.equal(await metric(core, "openkv_edge_fence_timeouts_total"), 1, "the next write did not wait for it");
    // It comes back having applied everything: it counts again.
    const caughtUp = wait(second.headers.get("openkv-bookmark")!);
    while ((await metric(core, "openkv_edge_fence_following")) === 0);
    stall.abort();
    await Promise.all([pending, caughtUp]);
  } finally {
    stall.abort();
  }
});
