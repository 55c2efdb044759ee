/**
 * The edge's cache file between real servers: a core on SQLite (in this process, so the test can prune
 * its feed) and an edge as an `openkv serve --edge-of … --cache-bytes 2000 --cache-file …` child process
 * — memory for about six entries, so most of the twenty keys live in the file. What the edge reads from
 * the core is counted on the core's /metrics (`openkv_edge_rpc_total{op="read"}`), what it serves from
 * the file on the edge's (`openkv_edge_cache_hits{tier="file"}`). Then the edge is stopped (SIGTERM),
 * killed (SIGKILL) and restarted on the same file, with writes on the core while it is down, and finally
 * started after the core's feed was pruned past it, and against another core.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startServer, type RunningServer } from "../../src/server/server.ts";
import { ADMIN, auth } from "./harness.ts";
import { startChildServer, type ChildServer } from "./serve-child.ts";

const ACCOUNT = "0123456789abcdef0123456789abcdef";
const dir = mkdtempSync(join(tmpdir(), "openkv-edge-spill-"));
const cacheFile = join(dir, "edge-cache.sqlite");
const core: RunningServer = await startServer({ host: "127.0.0.1", port: 0, dataDir: join(dir, "core"), adminToken: ADMIN, accountId: ACCOUNT, durability: "process", log: () => {} });
const edgeToken = (await core.tokens.create({ name: "edge", namespaces: null, permission: "write" }, Date.now())).token;
const ns = (await core.engine.ensureNamespace("default")).id;
let edge: ChildServer | null = null;
after(async () => {
  await edge?.kill();
  await core.close();
  rmSync(dir, { recursive: true, force: true });
});

// Without the response cache: these tests are about the tiers under it (memory, then the file), which
// kept whole answers would hide.
const startEdge = async (of: RunningServer = core, token = edgeToken) =>
  (edge = await startChildServer({ dataDir: "", adminToken: ADMIN, edgeOf: { url: of.url, token }, args: ["--cache-bytes", "2000", "--cache-file", cacheFile, "--no-response-cache"] }));

const KEYS = Array.from({ length: 20 }, (_, i) => `k${String(i).padStart(2, "0")}`);
const initial = (key: string) => `${key}:`.padEnd(200, "v");
const valueUrl = (url: string, key: string) => `${url}/client/v4/accounts/${ACCOUNT}/storage/kv/namespaces/${ns}/values/${key}`;
const put = async (key: string, value: string) => {
  const res = await fetch(valueUrl(core.url, key), { method: "PUT", headers: { ...auth(), "content-type": "text/plain" }, body: value });
  assert.equal(res.status, 200, await res.text());
};
const get = async (key: string): Promise<string | null> => {
  const res = await fetch(valueUrl(edge!.url, key), { headers: auth() });
  if (res.status === 404) return (await res.body?.cancel(), null);
  assert.equal(res.status, 200);
  return res.text();
};
const metric = async (url: string, pattern: RegExp): Promise<number> => {
  const text = await (await fetch(`${url}/metrics`, { headers: auth() })).text();
  return [...text.matchAll(pattern)].reduce((n, m) => n + Number(m[1]), 0);
};
/** Point reads the core has answered for edges. */
const coreReads = () => metric(core.url, /^openkv_edge_rpc_total\{op="read"\} (\d+)$/gm);
const fileHits = () => metric(edge!.url, /^openkv_edge_cache_hits\{tier="file"\} (\d+)$/gm);
/** Runs `reads` and says how many point reads the core answered meanwhile. */
async function coreReadsDuring(reads: () => Promise<void>): Promise<number> {
  const before = await coreReads();
  await reads();
  return (await coreReads()) - before;
}
async function within(ms: number, probe: () => Promise<boolean>): Promise<void> {
  const deadline = performance.now() + ms;
  while (performance.now() < deadline) {
    if (await probe()) return;
    await new Promise((r) => setImmediate(r));
  }
  assert.fail(`not within ${ms} ms`);
}
const expected = new Map(KEYS.map((k) => [k, initial(k)]));
const readAll = async (keys = KEYS) => {
  for (const k of keys) assert.equal(await get(k), expected.get(k), k);
};

test("memory too small for the keys: the file answers, the core is not asked; a write on the core drops the file's entry", async () => {
  for (const k of KEYS) await put(k, initial(k));
  await startEdge();
  assert.equal(await coreReadsDuring(() => readAll()), KEYS.length, "first reads fill the cache from the core");
  const hits = await fileHits();
  assert.equal(await coreReadsDuring(() => readAll()), 0, "every key answered by the edge");
  // Memory holds about six of the twenty entries: the rest came up from the file.
  assert.ok((await fileHits()) - hits >= KEYS.length - 7, `file hits ${(await fileHits()) - hits}`);

  // k03 sits in the file now (the last keys read are in memory). A write on the core must reach it.
  expected.set("k03", "changed on the core");
  await put("k03", "changed on the core");
  await within(5000, async () => (await get("k03")) === "changed on the core");
});

test("a clean restart keeps the whole cache; a write made while the edge was down is not served stale", async () => {
  await edge!.stop();
  expected.set("k05", "written while the edge was down");
  await put("k05", "written while the edge was down");
  await startEdge();
  assert.match(edge!.stderr(), /Cache file .*edge-cache\.sqlite: resumed the core's feed from [0-9a-f]{20}; 1 changes applied, 19 of 20 entries kept\./);
  assert.equal(await coreReadsDuring(() => readAll(KEYS.filter((k) => k !== "k05"))), 0, "19 keys served from the file after the restart");
  assert.equal(await coreReadsDuring(() => readAll(["k05"])), 1, "the key written while down is read from the core");
});

test("after a kill -9 the file's entries are kept, memory's are not, and a write made meanwhile is not served stale", async () => {
  await edge!.kill();
  expected.set("k07", "written while the edge was dead");
  await put("k07", "written while the edge was dead");
  await startEdge();
  assert.match(edge!.stderr(), /resumed the core's feed from [0-9a-f]{20}; 1 changes applied/);
  const reads = await coreReadsDuring(() => readAll());
  // What memory held at the kill (about six entries) and k07 come from the core; the rest from the file.
  assert.ok(reads >= 1 && reads <= 8, `${reads} reads from the core`);
});

test("a restart after the core's feed was pruned past the file's position clears the file", async () => {
  await edge!.stop();
  expected.set("k09", "written before the prune");
  await put("k09", "written before the prune");
  assert.ok((await core.engine.backend.pruneChanges(Number.MAX_SAFE_INTEGER, 0)) > 0);
  await startEdge();
  assert.match(edge!.stderr(), /the core's feed no longer reaches back to the file's position [0-9a-f]{20} \(pruned past it while this edge was down\): cleared\./);
  assert.equal(await coreReadsDuring(() => readAll()), KEYS.length, "nothing served from the old file");
});

test("the file of one core is cleared when the edge starts against another", async () => {
  await edge!.stop();
  const otherDir = join(dir, "other-core");
  const other = await startServer({ host: "127.0.0.1", port: 0, dataDir: otherDir, adminToken: ADMIN, accountId: ACCOUNT, durability: "process", log: () => {} });
  try {
    const token = (await other.tokens.create({ name: "edge", namespaces: null, permission: "write" }, Date.now())).token;
    await startEdge(other, token);
    assert.match(edge!.stderr(), /Cache file .* holds entries of another core \(store [0-9a-f]{32}, not [0-9a-f]{32}\): cleared\./);
    await edge!.stop();
  } finally {
    await other.close();
  }
});
