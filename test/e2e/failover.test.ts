/**
 * Failover: two `openkv serve` nodes on a quorum cluster (a primary and two standbys, `ANY 1 (s1, s2)`),
 * writers through both, the primary killed with SIGKILL mid-load, the most advanced standby promoted.
 * Every acknowledged write is there afterwards; the nodes serve again by themselves within 5 s of the
 * promotion; writes that got "outcome unknown" are counted and reported — they may or may not have
 * applied, and are not losses.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startCluster, type PgCluster } from "../../scripts/pg-cluster.ts";
import { startChildServer, type ChildServer } from "./serve-child.ts";

const ADMIN = "okv_failover_admin_token_0123456789ab";
const auth = { authorization: `Bearer ${ADMIN}` };
let cluster: PgCluster;
let nodes: ChildServer[] = [];
const dir = mkdtempSync(join(tmpdir(), "openkv-failover-"));

before(async () => {
  cluster = await startCluster();
  const store = await cluster.createDatabase("failover");
  assert.match(store, /,/, "the nodes get every host in one URL");
  nodes = [await startChildServer({ dataDir: dir, store, adminToken: ADMIN })];
  nodes.push(await startChildServer({ dataDir: dir, store, adminToken: ADMIN }));
});

after(async () => {
  await Promise.all(nodes.map((n) => n.stop()));
  await cluster?.stop();
  rmSync(dir, { recursive: true, force: true });
});

type Outcome = "acked" | "unknown" | "failed";

async function put(node: ChildServer, key: string, value: number): Promise<{ outcome: Outcome; detail: string }> {
  try {
    const res = await fetch(`${node.url}/kv/${key}`, {
      method: "PUT",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ value }),
      signal: AbortSignal.timeout(30_000),
    });
    const body = await res.text();
    if (res.status === 200) return { outcome: "acked", detail: "" };
    if (/may or may not have been applied/.test(body)) return { outcome: "unknown", detail: body };
    return { outcome: "failed", detail: `${res.status} ${body}` };
  } catch (e) {
    // No answer at all: the client cannot know either.
    return { outcome: "unknown", detail: (e as Error).message };
  }
}

test("SIGKILL of the primary under load: no acknowledged write lost, nodes back within 5 s of the promotion", async (t) => {
  const acked = new Map<string, number>();
  const unknown: string[] = [];
  const failed: string[] = [];
  let stop = false;
  let seq = 0;
  let inFlight = 0;
  const writer = async (node: ChildServer, name: string) => {
    while (!stop) {
      const value = seq++;
      const key = `w.${name}.${value}`;
      inFlight++;
      const { outcome, detail } = await put(node, key, value);
      inFlight--;
      if (outcome === "acked") acked.set(key, value);
      else if (outcome === "unknown") unknown.push(`${key}: ${detail}`);
      else failed.push(`${key}: ${detail}`);
    }
  };
  // Four writers per node, so commits are in flight on both when the primary dies.
  const writers = nodes.flatMap((n, i) => [0, 1, 2, 3].map((j) => writer(n, `n${i}w${j}`)));
  while (acked.size < 200) await new Promise((r) => setTimeout(r, 20));

  const ackedBeforeKill = acked.size;
  const inFlightAtKill = inFlight;
  await cluster.kill(cluster.primary);
  // Until a standby is promoted, every node says its store is gone, so a load balancer routes away.
  for (const node of nodes) {
    const health = await fetch(`${node.url}/healthz`);
    assert.equal(health.status, 503);
    assert.deepEqual(await health.json(), { ok: false, error: "The store is unavailable" });
  }
  const next = await cluster.mostAdvancedStandby();
  await cluster.promote(next);
  const promotedAt = performance.now();

  // Each node must acknowledge a write again, by itself, soon after the promotion.
  const backAfter = await Promise.all(
    nodes.map(async (node, i) => {
      for (let attempt = 0; ; attempt++) {
        const { outcome } = await put(node, `probe.${i}.${attempt}`, attempt);
        if (outcome === "acked") return performance.now() - promotedAt;
        assert.ok(performance.now() - promotedAt < 30_000, `node ${i} did not come back`);
      }
    }),
  );
  const afterBack = acked.size;
  while (acked.size < afterBack + 100) await new Promise((r) => setTimeout(r, 20));
  stop = true;
  await Promise.all(writers);

  // Every acknowledged write is on the promoted standby, with the value acknowledged.
  const missing: string[] = [];
  for (const [key, value] of acked) {
    const res = await fetch(`${nodes[0]!.url}/kv/${key}`, { headers: auth });
    if (res.status !== 200) missing.push(`${key}: ${res.status}`);
    else assert.equal(((await res.json()) as { value: number }).value, value, key);
  }
  const report =
    `acknowledged ${acked.size} (${ackedBeforeKill} before the kill, ${inFlightAtKill} in flight at it), outcome unknown ${unknown.length}, ` +
    `refused ${failed.length}; back after ${backAfter.map((ms) => `${Math.round(ms)} ms`).join(" and ")}`;
  t.diagnostic(report);
  process.stderr.write(`failover: ${report}\n`);
  assert.deepEqual(missing, [], "every acknowledged write survived the failover");
  for (const ms of backAfter) assert.ok(ms < 5000, `a node served again ${Math.round(ms)} ms after the promotion (${report})`);
  // Writes refused outright must be ones that never reached a commit: the store says so, never a stack.
  const logs = nodes.map((n) => n.stderr()).join("\n");
  for (const f of failed) assert.match(f, /^[^:]+: 503 .*unavailable/, `${f}\n${logs.slice(0, 4000)}`);
  for (const n of nodes) assert.ok(n.alive(), "no node exited");
  for (const n of nodes) assert.equal((await fetch(`${n.url}/healthz`)).status, 200, "healthy again");
});
