/**
 * An edge node (`startServer({ edgeOf })`, what `openkv serve --edge-of` runs) in front of a real core on
 * SQLite, both on 127.0.0.1 and a free port. The edge acts on the core with a read-write token of its
 * own (not the admin token); clients present their own tokens, which the edge checks against the core.
 *
 * - The Workers KV suite through the edge (remote KVNamespace client) observes exactly what the embedded
 *   binding observes — which test/e2e/workers-remote.test.ts shows the core's own routes observe too;
 * - the Deno KV suite passes over KV Connect through the edge, watch and queues included, as it does
 *   against the core (test/e2e/kv-connect-remote.test.ts);
 * - then writes crossing edge and core, watch, scoped and revoked tokens, and /healthz with the core
 *   stopped and back.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openNamespace } from "../../src/api/workers/index.ts";
import { AtomicOperation, KvU64, openKv } from "../../src/api/deno/index.ts";
import { encodeKey } from "../../src/core/keys.ts";
import { serializeV8 } from "../../src/core/v8.ts";
import { startServer, type RunningServer } from "../../src/server/server.ts";
import { CoreBackend } from "../../src/client/core-backend.ts";
import { defineWorkersKvSuite, WORKERS_KV_CASES, type WorkersKvFactory } from "../conformance/workers-kv.case.ts";
import { defineDenoKvSuite, type KvLike } from "../conformance/deno-kv.case.ts";
import { mismatches, recorder, type Observations } from "../conformance/observations.ts";
import { ADMIN, auth } from "./harness.ts";

const dir = mkdtempSync(join(tmpdir(), "openkv-edge-"));
const coreConfig = {
  host: "127.0.0.1",
  dataDir: dir,
  adminToken: ADMIN,
  accountId: "0123456789abcdef0123456789abcdef",
  durability: "process" as const,
  log: () => {},
};
let core: RunningServer = await startServer({ ...coreConfig, port: 0 });
const edgeToken = (await core.tokens.create({ name: "edge", namespaces: null, permission: "write" }, Date.now())).token;
const edge = await startServer({ host: "127.0.0.1", port: 0, dataDir: null, edgeOf: { url: core.url, token: edgeToken }, log: () => {} });
after(async () => {
  await edge.close();
  await core.close();
  rmSync(dir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------------
// The suites

const observed = { embedded: new Map(), edge: new Map() } satisfies Record<string, Observations>;
let nextCase = 0;
const embedded: WorkersKvFactory = async () => {
  const kv = await openNamespace(":memory:");
  return { kv, close: () => kv.close() };
};
const throughEdge: WorkersKvFactory = async () => {
  const kv = await openNamespace(edge.url, { token: ADMIN, namespace: `edge-case-${nextCase++}` });
  return { kv, close: () => kv.close() };
};
defineWorkersKvSuite("embedded", embedded, { observe: recorder(observed.embedded), concurrency: 8 });
defineWorkersKvSuite("through an edge", throughEdge, { observe: recorder(observed.edge), concurrency: 8 });

test("edge: every Workers KV observation is identical to the embedded binding's (and so to the core's)", () => {
  const names = WORKERS_KV_CASES.map((c) => c.name);
  assert.deepEqual(mismatches(names, { label: "embedded", observed: observed.embedded }, { label: "edge", observed: observed.edge }, {}), []);
});

let nextDeno = 0;
defineDenoKvSuite(
  { test: (name, fn) => test(`edge, Deno KV: ${name}`, fn) },
  {
    open: async () => (await openKv(`${edge.url}/kv-connect/edge-deno-${nextDeno++}`, { token: ADMIN, onQueueHandlerError: () => {} })) as unknown as KvLike,
    KvU64,
    AtomicOperation,
  },
);

// ---------------------------------------------------------------------------------------------------
// Edge and core are one store

test("a write through the edge reads back through the core, and the other way round", async () => {
  await core.engine.ensureNamespace("crossing");
  const put = await fetch(`${edge.url}/ns/crossing/kv/from.edge`, { method: "PUT", headers: auth(), body: JSON.stringify({ value: { v: 1 } }) });
  assert.equal(put.status, 200);
  const onCore = await fetch(`${core.url}/ns/crossing/kv/from.edge`, { headers: auth() });
  assert.equal(onCore.status, 200);
  assert.deepEqual(((await onCore.json()) as { value: unknown }).value, { v: 1 });
  assert.equal(onCore.headers.get("etag"), put.headers.get("etag"));

  const viaCore = await openKv(`${core.url}/kv-connect/crossing`, { token: ADMIN });
  const viaEdge = await openKv(`${edge.url}/kv-connect/crossing`, { token: ADMIN });
  const written = await viaCore.set(["from", "core"], { n: 2 });
  const read = await viaEdge.get(["from", "core"]);
  assert.deepEqual([read.value, read.versionstamp], [{ n: 2 }, written.versionstamp]);
  // An atomic check on the edge sees the core's versionstamp.
  const cas = await viaEdge.atomic().check({ key: ["from", "core"], versionstamp: written.versionstamp }).set(["from", "core"], 3).commit();
  assert.equal(cas.ok, true);
  assert.equal((await viaCore.get(["from", "core"])).value, 3);
  // Errors come back as the core's, code and exact message.
  const missing = await fetch(`${edge.url}/client/v4/accounts/${core.accountId}/storage/kv/namespaces/${"f".repeat(32)}/values/k`, { headers: auth() });
  const direct = await fetch(`${core.url}/client/v4/accounts/${core.accountId}/storage/kv/namespaces/${"f".repeat(32)}/values/k`, { headers: auth() });
  assert.equal(missing.status, direct.status);
  assert.deepEqual(await missing.json(), await direct.json());
  await Promise.all([viaCore.close(), viaEdge.close()]);
});

test("a watch on the edge sees a write made on the core", async () => {
  const viaEdge = await openKv(`${edge.url}/kv-connect/watched`, { token: ADMIN });
  const watch = viaEdge.watch([["w"]]).getReader();
  assert.equal((await watch.read()).value![0].versionstamp, null);
  const ns = await core.engine.ensureNamespace("watched");
  const started = performance.now();
  const r = await core.engine.atomic(ns.id, { checks: [], mutations: [{ type: "set", key: encodeKey(["w"]), value: { encoding: "v8", data: serializeV8("hi") } }], enqueues: [] });
  assert.ok(r.ok);
  const seen = (await watch.read()).value![0];
  assert.deepEqual([seen.value, seen.versionstamp], ["hi", Buffer.from(r.versionstamp).toString("hex")]);
  // The doorbell, not the 250 ms poll: well under it even on a loaded machine.
  assert.ok(performance.now() - started < 1000, `the watch fired after ${Math.round(performance.now() - started)} ms`);
  await watch.cancel();
  await viaEdge.close();
});

// ---------------------------------------------------------------------------------------------------
// Tokens are the core's

async function createToken(body: object): Promise<{ token: string; id: string }> {
  const res = await fetch(`${core.url}/admin/tokens`, { method: "POST", headers: { ...auth(), "content-type": "application/json" }, body: JSON.stringify(body) });
  assert.equal(res.status, 201);
  return (await res.json()) as { token: string; id: string };
}

test("a token limited to one namespace is refused for another on the edge", async () => {
  await core.engine.ensureNamespace("mine");
  await core.engine.ensureNamespace("theirs");
  const { token } = await createToken({ name: "scoped", namespaces: ["mine"], permission: "write" });
  const ok = await fetch(`${edge.url}/ns/mine/kv/k`, { method: "PUT", headers: auth(token), body: '{"value":1}' });
  assert.equal(ok.status, 200);
  const refused = await fetch(`${edge.url}/ns/theirs/kv/k`, { method: "PUT", headers: auth(token), body: '{"value":1}' });
  assert.equal(refused.status, 403);
  assert.equal((await fetch(`${edge.url}/ns/theirs/kv/k`, { headers: auth(token) })).status, 403);
  // Listing namespaces through the edge shows it only its own.
  const list = await fetch(`${edge.url}/client/v4/accounts/${core.accountId}/storage/kv/namespaces?per_page=100`, { headers: auth(token) });
  const titles = ((await list.json()) as { result: { title: string }[] }).result.map((n) => n.title);
  assert.deepEqual(titles, ["mine"]);
  // The edge has no token administration of its own.
  assert.equal((await fetch(`${edge.url}/admin/tokens`, { method: "POST", headers: auth(), body: "{}" })).status, 400);
});

test("a token revoked on the core stops working on the edge within a second", async () => {
  const { token, id } = await createToken({ name: "soon-gone", permission: "read" });
  assert.equal((await fetch(`${edge.url}/ns/default/kv/k`, { headers: auth(token) })).status, 404);
  assert.equal((await fetch(`${core.url}/admin/tokens/${id}`, { method: "DELETE", headers: auth() })).status, 200);
  const revoked = performance.now();
  let status = 0;
  while (performance.now() - revoked < 3000) {
    status = (await fetch(`${edge.url}/ns/default/kv/k`, { headers: auth(token) })).status;
    if (status === 401) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const took = performance.now() - revoked;
  assert.equal(status, 401);
  assert.ok(took < 1500, `still accepted ${Math.round(took)} ms after the revocation`);
});

test("the core's edge RPC checks the edge's own token: a scoped edge sees, reads and follows only its namespaces", async () => {
  const mine = await core.engine.ensureNamespace("rpc-mine");
  const theirs = await core.engine.ensureNamespace("rpc-theirs");
  const { token } = await createToken({ name: "scoped-edge", namespaces: ["rpc-mine"], permission: "write" });
  const scoped = new CoreBackend(core.url, token);
  const before = (await scoped.changes(new Uint8Array(10), 1)).latest;
  const set = (ns: string, key: string) =>
    core.engine.atomic(ns, { checks: [], mutations: [{ type: "set", key: encodeKey([key]), value: { encoding: "v8", data: serializeV8(key) } }], enqueues: [] });
  await set(theirs.id, "secret-key");
  await set(mine.id, "my-key");
  assert.deepEqual((await scoped.listNamespaces()).map((n) => n.title), ["rpc-mine"]);
  assert.equal(await scoped.getNamespace(theirs.id), null);
  // Refused by the core, it is a KvError the edge answers with 403 and a message for the operator, not a 500.
  const forbidden = {
    name: "KvError",
    code: "forbidden",
    message: "The core refused this edge's token for that (This token may not use this namespace): start the edge with a token that allows what its clients do.",
  };
  await assert.rejects(scoped.read(theirs.id, [{ start: new Uint8Array(), end: Uint8Array.of(0xff), limit: 10 }], 0), forbidden);
  await assert.rejects(scoped.deleteNamespace(mine.id), { name: "KvError", code: "forbidden" });
  const feed = await scoped.changes(before, 100);
  // The other namespace's write keeps its place in the order, without its namespace or keys.
  assert.deepEqual(
    feed.changes.map((c) => [c.namespaceId, c.keys?.map((k) => Buffer.from(k).toString("latin1"))]),
    [["", []], [mine.id, [Buffer.from(encodeKey(["my-key"])).toString("latin1")]]],
  );
  await scoped.close();
});

// ---------------------------------------------------------------------------------------------------
// Health follows the core (last: it stops the core)

test("/healthz on the edge: 503 while the core is stopped, 200 again once it is back", async () => {
  const health = async () => {
    const res = await fetch(`${edge.url}/healthz`);
    return { status: res.status, body: await res.json() };
  };
  assert.deepEqual(await health(), { status: 200, body: { ok: true } });
  const port = core.port;
  await core.close();
  assert.deepEqual(await health(), { status: 503, body: { ok: false, error: "The core is unavailable" } });
  const res = await fetch(`${edge.url}/ns/default/kv/k`, { headers: auth() });
  assert.equal(res.status, 503);
  core = await startServer({ ...coreConfig, port });
  assert.deepEqual(await health(), { status: 200, body: { ok: true } });
  assert.equal((await fetch(`${edge.url}/ns/crossing/kv/from.edge`, { headers: auth() })).status, 200);
});
