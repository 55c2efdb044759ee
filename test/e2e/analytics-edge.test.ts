/**
 * Analytics on an edge node: the edge counts what its clients do (a read its memory cache answers is a
 * `hot_read`, a miss that went to the core a `cold_read`), flushes the counts to its core through the
 * edge protocol, and the core's GraphQL API answers them; the edge's own GraphQL route says to ask the
 * core. The core counts nothing for the edge's RPC calls, so nothing is counted twice.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { startServer } from "../../src/server/server.ts";
import { ADMIN, auth } from "./harness.ts";

const ACCOUNT = "0123456789abcdef0123456789abcdef";
const core = await startServer({ host: "127.0.0.1", port: 0, dataDir: null, adminToken: ADMIN, accountId: ACCOUNT, log: () => {} });
const edgeToken = (await core.tokens.create({ name: "edge", namespaces: null, permission: "write" }, Date.now())).token;
const edge = await startServer({ host: "127.0.0.1", port: 0, dataDir: null, edgeOf: { url: core.url, token: edgeToken }, log: () => {} });
after(async () => {
  await edge.close();
  await core.close();
});

const query = `query($accountTag: string!) { viewer { accounts(filter: {accountTag: $accountTag}) {
  kvOperationsAdaptiveGroups(filter: {}, limit: 100) { sum { requests } dimensions { actionType result } } } } }`;
const ask = async (server: { url: string }) => {
  const r = await fetch(`${server.url}/client/v4/graphql`, { method: "POST", headers: { ...auth(), "content-type": "application/json" }, body: JSON.stringify({ query, variables: { accountTag: ACCOUNT } }) });
  return { status: r.status, body: (await r.json()) as { data: any; errors: any } };
};

test("an edge's reads reach the core's figures as hot and cold reads; the edge's writes count once", async () => {
  const ns = (await core.engine.ensureNamespace("default")).id;
  const url = `${edge.url}/client/v4/accounts/${ACCOUNT}/storage/kv/namespaces/${ns}/values/k`;
  assert.equal((await fetch(url, { method: "PUT", headers: { ...auth(), "content-type": "text/plain" }, body: "v" })).status, 200);
  for (let i = 0; i < 3; i++) {
    const r = await fetch(url, { headers: auth() });
    assert.equal(await r.text(), "v");
  }
  await edge.analytics!.flush();
  const { status, body } = await ask(core);
  assert.equal(status, 200);
  const got = Object.fromEntries((body.data.viewer.accounts[0].kvOperationsAdaptiveGroups as any[]).map((g) => [`${g.dimensions.actionType}/${g.dimensions.result}`, g.sum.requests]));
  // The first read after the write misses (the write made the edge forget the key); the others hit.
  assert.deepEqual(got, { "read/cold_read": 1, "read/hot_read": 2, "write/uploaded": 1 });
  assert.deepEqual(await edge.engine.namespaceStats(ns), { keyCount: 1, byteCount: (await core.engine.namespaceStats(ns)).byteCount });

  const onEdge = await ask(edge);
  assert.equal(onEdge.status, 400);
  assert.match(onEdge.body.errors[0].message, /^Reading analytics runs on the core/);
});
