/**
 * Our own remote Kv: `openKv("http://127.0.0.1:PORT/kv-connect/<ns>", { token })` passes the whole Deno KV
 * conformance suite — the same cases as the embedded store, watch and queues included (queues through
 * OpenKV's queue extension) — plus the remote-only behaviours below.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { AtomicOperation, KvU64, openKv } from "../../src/api/deno/index.ts";
import { defineDenoKvSuite, type KvLike } from "../conformance/deno-kv.case.ts";
import { ADMIN, auth, startTestServer } from "./harness.ts";

const server = await startTestServer({ kvConnect: { keepAliveMs: 100 } });
const quiet = { onQueueHandlerError: () => {} };
let n = 0;

describe("openKv(<KV Connect URL>)", () => {
  defineDenoKvSuite(
    { test: (name, fn) => test(name, fn) },
    { open: async () => (await openKv(`${server.url}/kv-connect/remote-case-${n++}`, { token: ADMIN, ...quiet })) as unknown as KvLike, KvU64, AtomicOperation },
  );
});

async function createToken(body: object): Promise<string> {
  const res = await fetch(`${server.url}/admin/tokens`, { method: "POST", headers: { ...auth(), "content-type": "application/json" }, body: JSON.stringify(body) });
  assert.equal(res.status, 201);
  return ((await res.json()) as { token: string }).token;
}

test("the token comes from the options, else DENO_KV_ACCESS_TOKEN / OPENKV_TOKEN; none is an error", async () => {
  const url = `${server.url}/kv-connect/remote-token`;
  await assert.rejects(openKv(url), /Missing access token/);
  process.env.OPENKV_TOKEN = ADMIN;
  try {
    const kv = await openKv(url);
    assert.equal(kv.namespace.title, "remote-token");
    await kv.close();
  } finally {
    delete process.env.OPENKV_TOKEN;
  }
  await assert.rejects(openKv(url, { token: "wrong" }), /Could not open Deno KV database: Failed to fetch metadata \(status=401\): Invalid API token/);
});

test("a read-only token reads and watches; its writes fail like Deno's 'Writes are disabled'", async () => {
  const writer = await openKv(`${server.url}/kv-connect/remote-ro`, { token: ADMIN });
  await writer.set(["k"], "v");
  const token = await createToken({ name: "ro", namespaces: ["remote-ro"], permission: "read" });
  const reader = await openKv(`${server.url}/kv-connect/remote-ro`, { token });
  assert.equal((await reader.get(["k"])).value, "v");
  const watch = reader.watch([["k"]]).getReader();
  assert.equal((await watch.read()).value![0].value, "v");
  await assert.rejects(reader.set(["k"], "w"), { name: "KvConnectError", message: "Writes are disabled for this database" });
  await watch.cancel();
  await Promise.all([reader.close(), writer.close()]);
});

test("the same namespace through two remote handles: writes, watches and queues cross", async () => {
  const a = await openKv(`${server.url}/kv-connect/remote-shared`, { token: ADMIN });
  const b = await openKv(`${server.url}/kv-connect/remote-shared`, { token: ADMIN, ...quiet });
  const watch = b.watch([["x"]]).getReader();
  await watch.read();
  const r = await a.set(["x"], 1);
  assert.deepEqual((await watch.read()).value, [{ key: ["x"], value: 1, versionstamp: r.versionstamp }]);
  let got!: (v: unknown) => void;
  const received = new Promise((resolve) => (got = resolve));
  const listener = b.listenQueue((m) => got(m));
  await a.enqueue({ job: 1 });
  assert.deepEqual(await received, { job: 1 });
  await watch.cancel();
  await Promise.all([a.close(), b.close()]);
  await listener;
});

test("a message whose remote listener disconnects mid-handler goes to another listener, not counted as a failure", async () => {
  const url = `${server.url}/kv-connect/remote-handoff`;
  const first = await openKv(url, { token: ADMIN, ...quiet });
  let started!: () => void;
  const inFlight = new Promise<void>((resolve) => (started = resolve));
  const l1 = first.listenQueue(() => {
    started();
    return new Promise(() => {}); // never finishes
  });
  await first.enqueue("job", { backoffSchedule: [], keysIfUndelivered: [["dead"]] });
  await inFlight;
  await first.close();
  await l1;
  const second = await openKv(url, { token: ADMIN, ...quiet });
  let got!: (v: unknown) => void;
  const received = new Promise((resolve) => (got = resolve));
  const l2 = second.listenQueue((m) => got(m));
  assert.equal(await received, "job");
  // With an empty backoff schedule a counted failure would have dead-lettered the message instead.
  assert.equal((await second.get(["dead"])).versionstamp, null);
  await second.close();
  await l2;
});
