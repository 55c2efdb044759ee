/**
 * Three `openkv serve` processes on one real PostgreSQL behave as one store: concurrent sums through all
 * three add up, compare-and-set has one winner, versionstamps are unique and follow commit order across
 * nodes, a watch on one node sees another's write, and a queue message enqueued on one is handled once
 * by listeners on the others. Clients are OpenKV's own KV Connect client (`openKv("http://…")`).
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openKv, type Kv } from "../../src/api/deno/index.ts";
import { compareBytes } from "../../src/core/keys.ts";
import { versionstampFromHex } from "../../src/core/versionstamp.ts";
import { PostgresBackend } from "../../src/storage/index.ts";
import { startPostgres, type PgCluster } from "../../scripts/pg-cluster.ts";
import { startChildServer, type ChildServer } from "./serve-child.ts";

const ADMIN = "okv_multi_node_admin_token_0123456789";
let store: string;
let postgres: PgCluster;
let nodes: ChildServer[] = [];
const dir = mkdtempSync(join(tmpdir(), "openkv-multi-node-"));

const connect = (node: ChildServer, ns = "default"): Promise<Kv> => openKv(`${node.url}/kv-connect/${ns}`, { token: ADMIN });

before(async () => {
  // A server of this file's own, stopped only after the nodes (a node that outlives its store logs errors).
  postgres = await startPostgres();
  store = await postgres.createDatabase("multi_node");
  // The first node creates the schema; the others start on it together.
  nodes = [await startChildServer({ dataDir: dir, store, adminToken: ADMIN })];
  nodes.push(...(await Promise.all([1, 2].map(() => startChildServer({ dataDir: dir, store, adminToken: ADMIN })))));
});

after(async () => {
  await Promise.all(nodes.map((n) => n.stop()));
  await postgres?.stop();
  for (const n of nodes) assert.doesNotMatch(n.stderr(), /Error|at .*\.ts:\d+/, "no node logged an internal error");
  rmSync(dir, { recursive: true, force: true });
});

test("3 × 200 concurrent sums through three nodes end at exactly 600", async () => {
  const kvs = await Promise.all(nodes.map((n) => connect(n)));
  try {
    await Promise.all(kvs.flatMap((kv) => Array.from({ length: 200 }, () => kv.atomic().sum(["hits"], 1n).commit())));
    for (const kv of kvs) assert.equal((await kv.get<{ value: bigint }>(["hits"])).value?.value, 600n, "every node reads the same total");
  } finally {
    for (const kv of kvs) kv.close();
  }
});

test("50 concurrent check-and-set attempts on one key through different nodes: exactly one wins", async () => {
  const kvs = await Promise.all(nodes.map((n) => connect(n)));
  try {
    const seed = await kvs[0]!.set(["cas"], "start");
    const attempts = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        kvs[i % 3]!.atomic().check({ key: ["cas"], versionstamp: seed.versionstamp }).set(["cas"], `winner ${i}`).commit(),
      ),
    );
    const winners = attempts.flatMap((r, i) => (r.ok ? [i] : []));
    assert.equal(winners.length, 1, `winners: ${winners.join(", ")}`);
    for (const kv of kvs) assert.equal((await kv.get(["cas"])).value, `winner ${winners[0]}`);
  } finally {
    for (const kv of kvs) kv.close();
  }
});

test("versionstamps from every node are unique and follow commit order, as the change feed records it", async () => {
  const kvs = await Promise.all(nodes.map((n) => connect(n)));
  const feed = new PostgresBackend(store);
  try {
    const before = (await feed.changes(new Uint8Array(10), 1)).latest;
    // Concurrent writes through all nodes, then a causal chain: each write starts after the last one's ack.
    const concurrent = await Promise.all(Array.from({ length: 90 }, (_, i) => kvs[i % 3]!.set(["vs", "c", i], i)));
    const chain: string[] = [];
    for (let i = 0; i < 30; i++) chain.push((await kvs[i % 3]!.set(["vs", "chain", i], i)).versionstamp);
    const all = [...concurrent.map((r) => r.versionstamp), ...chain];
    assert.equal(new Set(all).size, all.length, "no versionstamp issued twice");
    for (let i = 1; i < chain.length; i++) assert.ok(chain[i]! > chain[i - 1]!, "a write acknowledged before another began has the smaller versionstamp");
    assert.ok(concurrent.every((r) => r.versionstamp < chain[0]!));
    // The feed lists the commits in the order they committed: exactly our versionstamps, ascending.
    const page = await feed.changes(before, 1000);
    const recorded = page.changes.map((c) => Buffer.from(c.versionstamp).toString("hex"));
    assert.deepEqual(recorded, [...all].sort(), "the feed holds every write once, in versionstamp order");
    for (let i = 1; i < page.changes.length; i++) assert.ok(compareBytes(page.changes[i]!.versionstamp, page.changes[i - 1]!.versionstamp) > 0);
    assert.deepEqual(page.latest, versionstampFromHex(chain.at(-1)!));
  } finally {
    await feed.close();
    for (const kv of kvs) kv.close();
  }
});

test("a watch on node B sees a write made through node A", async () => {
  const a = await connect(nodes[0]!);
  const b = await connect(nodes[1]!);
  try {
    const reader = b.watch([["watched"]]).getReader();
    assert.equal((await reader.read()).value?.[0].value, null);
    await a.set(["watched"], "from A");
    // The stream may first repeat the current state; it must reach A's value.
    for (;;) {
      const { value } = await reader.read();
      if (value?.[0].value === "from A") break;
    }
    await reader.cancel();
  } finally {
    a.close();
    b.close();
  }
});

test("a queue message enqueued on A is handled once, by one of the listeners on B and C", async () => {
  const a = await connect(nodes[0]!);
  const b = await connect(nodes[1]!);
  const c = await connect(nodes[2]!);
  const handled: string[] = [];
  let done!: () => void;
  const all = new Promise<void>((resolve) => (done = resolve));
  try {
    for (const [name, kv] of [["B", b], ["C", c]] as const) {
      void kv.listenQueue(async (msg) => {
        handled.push(`${name}:${msg as string}`);
        if (handled.length === 20) done();
      });
    }
    for (let i = 0; i < 20; i++) await a.enqueue(`job ${i}`);
    await all;
    // Twenty handlings and twenty distinct jobs: none was handled twice (a duplicate would have filled
    // the twenty before every job came).
    const jobs = handled.map((h) => h.slice(2)).sort();
    assert.deepEqual(jobs, Array.from({ length: 20 }, (_, i) => `job ${i}`).sort(), "each job handled exactly once across the nodes");
    assert.ok(handled.some((h) => h.startsWith("B")) || handled.some((h) => h.startsWith("C")));
    // And every message is acknowledged: the queue in the store empties.
    const backend = new PostgresBackend(store);
    try {
      const ns = (await backend.getNamespaceByTitle("default"))!;
      for (let i = 0; (await backend.listMessages(ns.id, 0, 1)).length > 0; i++) {
        assert.ok(i < 500, "the queue did not empty");
        await new Promise((r) => setTimeout(r, 10));
      }
    } finally {
      await backend.close();
    }
  } finally {
    a.close();
    b.close();
    c.close();
  }
});
