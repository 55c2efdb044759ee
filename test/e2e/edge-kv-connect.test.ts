/**
 * KV Connect through an edge with the real @deno/kv client: the edge's metadata names the core as the
 * strong endpoint and itself as the eventual one, so eventual reads land on the edge (and come from its
 * cache) while strong reads and writes land on the core. Requests are counted per server from /metrics.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openKv } from "@deno/kv";
import { startServer, type RunningServer } from "../../src/server/server.ts";
import type { CachedBackend } from "../../src/client/cached-backend.ts";
import { ADMIN, auth } from "./harness.ts";
import { DENO_RUN_TIMEOUT_MS, haveDeno, runDenoKvNpm } from "./kv-connect-compare.ts";

const dir = mkdtempSync(join(tmpdir(), "openkv-edge-kv-connect-"));
// The write fence is given all the time a loaded machine may need: read-your-writes is asserted below.
const core: RunningServer = await startServer({ host: "127.0.0.1", port: 0, dataDir: dir, adminToken: ADMIN, durability: "process", edgeFenceMs: 30_000, log: () => {} });
const edgeToken = (await core.tokens.create({ name: "edge", namespaces: null, permission: "write" }, Date.now())).token;
const edge = await startServer({ host: "127.0.0.1", port: 0, dataDir: null, edgeOf: { url: core.url, token: edgeToken }, log: () => {} });
const cached = edge.engine.backend as CachedBackend;
/** Reads the edge answered from memory: its entry cache, or the whole answers it keeps in front of it. */
const memoryHits = () => cached.cache.stats.hits + edge.responses!.hits;
after(async () => {
  await edge.close();
  await core.close();
  rmSync(dir, { recursive: true, force: true });
});

/** KV Connect operations a server has answered, by kind (from its Prometheus metrics). */
async function kvConnectOps(server: RunningServer): Promise<{ read: number; write: number }> {
  const text = await (await fetch(`${server.url}/metrics`, { headers: auth() })).text();
  const sum = (kind: string) =>
    [...text.matchAll(new RegExp(`^openkv_operations_total\\{[^}]*kind="${kind}"[^}]*api="kv-connect"[^}]*\\} (\\d+)`, "gm"))].reduce((n, m) => n + Number(m[1]), 0);
  return { read: sum("read"), write: sum("write") };
}

async function delta<T>(run: () => Promise<T>): Promise<{ result: T; core: { read: number; write: number }; edge: { read: number; write: number } }> {
  const [c0, e0] = [await kvConnectOps(core), await kvConnectOps(edge)];
  const result = await run();
  const [c1, e1] = [await kvConnectOps(core), await kvConnectOps(edge)];
  return { result, core: { read: c1.read - c0.read, write: c1.write - c0.write }, edge: { read: e1.read - e0.read, write: e1.write - e0.write } };
}

test("the edge's metadata: the core is the strong endpoint, the edge the eventual one", async () => {
  const res = await fetch(`${edge.url}/kv-connect/meta`, { method: "POST", headers: { ...auth(), "content-type": "application/json" }, body: '{"supportedVersions":[1,2,3]}' });
  assert.equal(res.status, 200);
  const { endpoints, databaseId } = (await res.json()) as { endpoints: { url: string; consistency: string }[]; databaseId: string };
  const id = databaseId.replace(/-/g, "");
  assert.deepEqual(endpoints, [
    { url: `${core.url}/kv-connect/${id}`, consistency: "strong" },
    { url: `/kv-connect/${id}/eventual`, consistency: "eventual" },
  ]);
  // A core lists only itself.
  const onCore = await fetch(`${core.url}/kv-connect/meta`, { method: "POST", headers: { ...auth(), "content-type": "application/json" }, body: '{"supportedVersions":[3]}' });
  assert.deepEqual(((await onCore.json()) as { endpoints: unknown }).endpoints, [{ url: `/kv-connect/${id}`, consistency: "strong" }]);
});

test("@deno/kv through an edge: eventual reads hit the edge's cache, strong reads and writes the core", async () => {
  const kv = await openKv(`${edge.url}/kv-connect/routing`, { accessToken: ADMIN });
  try {
    const w = await delta(() => kv.set(["hot"], "v1"));
    assert.ok(w.result.ok);
    assert.deepEqual([w.core.write, w.edge.write], [1, 0], "the write went to the core");

    const s = await delta(() => kv.get(["hot"]));
    assert.equal(s.result.value, "v1");
    assert.deepEqual([s.core.read, s.edge.read], [1, 0], "a strong read went to the core");

    await cached.caughtUp();
    const first = await delta(() => kv.get(["hot"], { consistency: "eventual" }));
    assert.equal(first.result.value, "v1");
    assert.equal(first.result.versionstamp, s.result.versionstamp);
    assert.deepEqual([first.core.read, first.edge.read], [0, 1], "an eventual read went to the edge");
    const hits = memoryHits();
    const again = await delta(async () => {
      for (let i = 0; i < 5; i++) assert.equal((await kv.get(["hot"], { consistency: "eventual" })).value, "v1");
    });
    assert.deepEqual([again.core.read, again.edge.read], [0, 5]);
    assert.equal(memoryHits(), hits + 5, "answered from the edge's memory");
    // Absent keys read eventually through the edge too (the core answers what follows them).
    assert.equal((await kv.get(["absent"], { consistency: "eventual" })).value, null);
  } finally {
    kv.close();
  }
});

test("@deno/kv: a write to the core is in the edge's very next eventual read (the write fence); watch runs on the edge", async () => {
  const kv = await openKv(`${edge.url}/kv-connect/ryw`, { accessToken: ADMIN });
  // @deno/kv withholds a watch's first event while every watched key is absent.
  await kv.set(["w"], 0);
  const reader = kv.watch([["w"]]).getReader();
  try {
    assert.equal((await reader.read()).value?.[0]?.value, 0);
    const N = 20;
    const hits = memoryHits();
    for (let n = 1; n <= N; n++) {
      const { versionstamp } = (await kv.set(["w"], n)) as { versionstamp: string };
      // The write went to the core, which acknowledged it only once the edge had applied it from the
      // feed: the edge's next eventual read fetches it anew.
      const next = await kv.get<number>(["w"], { consistency: "eventual" });
      assert.equal(next.versionstamp, versionstamp, `read-your-writes on write ${n}`);
      assert.equal(next.value, n);
      // And the read after that comes from the edge's memory.
      assert.equal((await kv.get<number>(["w"], { consistency: "eventual" })).versionstamp, versionstamp);
      let seen: unknown;
      do seen = (await reader.read()).value?.[0]?.value;
      while (seen !== n);
    }
    assert.ok(memoryHits() >= hits + N, "each second read was a cache hit");
  } finally {
    await reader.cancel();
    kv.close();
  }
});

test("the Deno KV suite under @deno/kv through an edge: every case as through the core, eventual reads included", { skip: haveDeno ? false : "no deno binary", timeout: 2 * DENO_RUN_TIMEOUT_MS }, async () => {
  // @deno/kv sends eventual reads to the edge and everything else to the core: a case that writes and
  // then reads eventually ("list consistency option") reads its own write through the edge.
  // The two runs wait more than they compute: side by side.
  const [viaCore, viaEdge] = await Promise.all([runDenoKvNpm(`${core.url}/kv-connect/suite-core-`, ADMIN), runDenoKvNpm(`${edge.url}/kv-connect/suite-edge-`, ADMIN)]);
  assert.ok(Object.keys(viaCore).length >= 100, "the suite ran");
  // A failure message may quote versionstamps, which differ between two stores' histories.
  const outcome = (text: string | undefined) => text?.replace(/"[0-9a-f]{20}"/g, '"<versionstamp>"');
  const differing = Object.keys(viaCore).filter((name) => outcome(viaCore[name]) !== outcome(viaEdge[name]));
  assert.deepEqual(
    differing.map((name) => ({ name, core: viaCore[name], edge: viaEdge[name] })),
    [],
    "the same outcome for every case",
  );
  assert.ok(cached.cache.stats.hits > 0 || cached.cache.stats.misses > 0, "eventual reads reached the edge's cache");
});
