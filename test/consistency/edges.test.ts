/**
 * The checker against real servers: a core on SQLite and two edges in front of it (`edgeOf`, what
 * `openkv serve --edge-of` runs), all on 127.0.0.1 and free ports, each edge with its cache and its feed
 * follower (the doorbell long-poll). Eight clients — two per edge, two on the core, and two that write
 * through one node and read through another — run a seeded random workload over HTTP for a bounded
 * number of operations and time:
 *
 * - strong reads: `/kv` GET (value and versionstamp);
 * - eventual reads: the Cloudflare REST API v4 value GET (what Workers reads are: eventual, bound = the
 *   default cacheTtl, 60 s; the value only — the checker maps it to its write);
 * - writes: `/kv` PUT (the versionstamp from its answer); check-and-set: `/kv` PUT with `If-Match` or
 *   `If-None-Match: *` (412 = refused).
 *
 * Then the history is checked: the final state read from the core and the core's change feed against
 * every acknowledged write, strong reads per key, each client's reads, eventual reads against 60 s (a run
 * of seconds cannot exceed that bound: in-process.test.ts shows that rule failing on a small bound).
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bytesToHex, decodeKey } from "../../src/core/keys.ts";
import { startServer } from "../../src/server/server.ts";
import type { CachedBackend } from "../../src/client/cached-backend.ts";
import { ADMIN, auth } from "../e2e/harness.ts";
import { checkHistory, describe } from "./checker.ts";
import { runWorkload, type KvClient } from "./workload.ts";

const ACCOUNT = "0123456789abcdef0123456789abcdef";
const KEYS = ["x", "y", "z"];
const dir = mkdtempSync(join(tmpdir(), "openkv-consistency-edges-"));
// The write fence gets all the time a loaded machine may need: roaming clients below rely on it.
const core = await startServer({ host: "127.0.0.1", port: 0, dataDir: dir, adminToken: ADMIN, accountId: ACCOUNT, durability: "process", edgeFenceMs: 30_000, log: () => {} });
const edgeToken = (await core.tokens.create({ name: "edge", namespaces: null, permission: "write" }, Date.now())).token;
const edges = [
  await startServer({ host: "127.0.0.1", port: 0, dataDir: null, edgeOf: { url: core.url, token: edgeToken }, log: () => {} }),
  await startServer({ host: "127.0.0.1", port: 0, dataDir: null, edgeOf: { url: core.url, token: edgeToken }, log: () => {} }),
];
const ns = (await core.engine.ensureNamespace("default")).id;
after(async () => {
  for (const e of edges) await e.close();
  await core.close();
  rmSync(dir, { recursive: true, force: true });
});

async function expect(res: Response, ...statuses: number[]): Promise<Response> {
  if (!statuses.includes(res.status)) throw new Error(`${res.status} ${await res.text()}`);
  return res;
}

function httpClient(node: { url: string }): KvClient {
  const put = async (key: string, value: string, headers: Record<string, string>) => {
    const res = await expect(await fetch(`${node.url}/kv/${key}`, { method: "PUT", headers: { ...auth(), ...headers }, body: JSON.stringify({ value }) }), 200, 412);
    if (res.status === 412) {
      await res.body?.cancel();
      return null;
    }
    return ((await res.json()) as { versionstamp: string }).versionstamp;
  };
  return {
    async read(key, consistency) {
      if (consistency === "strong") {
        const res = await expect(await fetch(`${node.url}/kv/${key}`, { headers: auth() }), 200, 404);
        if (res.status === 404) return (await res.body?.cancel(), { value: null, versionstamp: null });
        const body = (await res.json()) as { value: string; versionstamp: string };
        return { value: body.value, versionstamp: body.versionstamp };
      }
      const url = `${node.url}/client/v4/accounts/${ACCOUNT}/storage/kv/namespaces/${ns}/values/${key}`;
      const res = await expect(await fetch(url, { headers: auth() }), 200, 404);
      if (res.status === 404) return (await res.body?.cancel(), { value: null, versionstamp: null });
      return { value: await res.text(), versionstamp: null };
    },
    async write(key, value) {
      const vs = await put(key, value, {});
      if (vs === null) throw new Error("a write without a condition was refused");
      return vs;
    },
    cas: (key, expected, value) => put(key, value, expected === null ? { "if-none-match": "*" } : { "if-match": `"${expected}"` }),
  };
}

test("eight clients through two edges and the core over HTTP: the history holds every rule", async () => {
  const [a, b] = edges.map(httpClient);
  const c = httpClient(core);
  const history = await runWorkload(
    [
      { name: "a1", client: a! },
      { name: "a2", client: a! },
      { name: "b1", client: b! },
      { name: "b2", client: b! },
      { name: "c1", client: c },
      { name: "c2", client: c },
      // Roaming clients write through one node and read through another: the core's write fence is
      // what keeps their reads from going back before their own writes ("monotonic" counts them).
      { name: "r1", client: { read: b!.read, write: a!.write, cas: a!.cas } },
      { name: "r2", client: { read: a!.read, write: c.write, cas: c.cas } },
    ],
    // The edges' clocks are the system clock: the history is timed on it too. 150 operations per client
    // take 3–4 s on a quiet machine; the deadline only bounds a very busy one.
    { seed: 42, keys: KEYS, opsPerClient: 150, deadlineMs: 30_000, now: Date.now, maxAgeMs: 60_000 },
  );
  assert.deepEqual(history.filter((op) => op.ok === null || (op.kind === "read" && op.ok === false)).map((op) => op.error), [], "every call answered");
  assert.ok(history.length >= 300, `a run too short to mean much: ${history.length} operations in 30 s`);

  const final = new Map<string, { value: string; versionstamp: string } | null>();
  for (const key of KEYS) {
    const res = await fetch(`${core.url}/kv/${key}`, { headers: auth() });
    final.set(key, res.status === 404 ? null : ((await res.json()) as { value: string; versionstamp: string }));
  }
  const page = await core.engine.backend.changes(new Uint8Array(10), 100_000);
  const feed = page.changes
    .filter((ch) => ch.namespaceId === ns && ch.keys)
    .flatMap((ch) => ch.keys!.map((k) => ({ key: String(decodeKey(k)[0]), versionstamp: bytesToHex(ch.versionstamp) })));
  const violations = checkHistory({ history, final, feed });
  assert.deepEqual(violations, [], describe(violations.slice(0, 10)));

  // The run meant something: the edges answered reads from their caches, and CAS both won and lost.
  const hits = edges.reduce((n, e) => n + (e.engine.backend as CachedBackend).cache.stats.hits, 0);
  assert.ok(hits > 0, "no read was answered from an edge's cache");
  assert.ok(history.some((op) => op.kind === "cas" && op.ok === true) && history.some((op) => op.kind === "cas" && op.ok === false));
});
