/**
 * kill -9 of a real `openkv serve` process while 40 clients write durably through `/kv`, the Cloudflare
 * REST API v4 and KV Connect (our remote client); then `PRAGMA integrity_check` on the data file, a
 * restart on the same directory, and every acknowledged write read back with its value through the API
 * that wrote it. Writes in flight at the kill may or may not be there; acknowledged ones must.
 * (test/crash.test.ts does the same for an in-process writer on the engine.)
 *
 * CI runs CRASH_ROUNDS (default 3) rounds; `npm run test:crash` runs 20.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { openKv } from "../../src/api/deno/index.ts";
import { startChildServer, type ChildServer } from "./serve-child.ts";

const ROUNDS = Number(process.env.CRASH_ROUNDS ?? 3);
const ADMIN = "okv_crash_admin_token_0123456789abcd";
const ACCOUNT = "0123456789abcdef0123456789abcdef";
const WRITERS = { kv: 16, cf: 16, kvConnect: 8 } as const;
type Api = keyof typeof WRITERS;
const auth = { authorization: `Bearer ${ADMIN}` };

/** What each API stores for write number `n` of round `r`: a key and a value that can only be that write's. */
const expected = {
  kv: (r: number, n: number) => ({ path: `crash.r${r}.kv.${n}`, value: { n, round: r, pad: "k".repeat(1000) } }),
  cf: (r: number, n: number) => ({ name: `crash-r${r}-cf-${n}`, value: `cf ${r} ${n} ${"c".repeat(2000)}` }),
  kvConnect: (r: number, n: number) => ({ key: ["crash", r, "kvc", n], value: { n, round: r, bytes: new Uint8Array(512).fill(n & 0xff) } }),
};

interface RoundResult {
  acked: Record<Api, number[]>;
}

/** Writes through every API until `killAfter` writes are acknowledged, then kill -9s the server mid-stream. */
async function writeAndKill(server: ChildServer, nsId: string, round: number, killAfter: number): Promise<RoundResult> {
  const acked: Record<Api, number[]> = { kv: [], cf: [], kvConnect: [] };
  let next = 0;
  let killed = false;
  let total = 0;
  let kill!: () => void;
  const killedNow = new Promise<void>((resolve) => (kill = resolve));
  const ack = (api: Api, n: number) => {
    if (killed) return;
    acked[api].push(n);
    if (++total >= killAfter) {
      killed = true;
      server.child.kill("SIGKILL");
      kill();
    }
  };
  const loop = async (api: Api, write: (n: number) => Promise<boolean>) => {
    while (!killed) {
      const n = next++;
      try {
        if (await write(n)) ack(api, n);
      } catch {
        // The server died under this write: it may or may not have been committed.
        return;
      }
    }
  };
  const kvc = await openKv(`${server.url}/kv-connect/default`, { token: ADMIN });
  const writers = [
    ...Array.from({ length: WRITERS.kv }, () =>
      loop("kv", async (n) => {
        const { path, value } = expected.kv(round, n);
        const r = await fetch(`${server.url}/kv/${path}`, { method: "PUT", headers: { ...auth, "content-type": "application/json" }, body: JSON.stringify({ value }) });
        await r.arrayBuffer();
        return r.status === 200;
      }),
    ),
    ...Array.from({ length: WRITERS.cf }, () =>
      loop("cf", async (n) => {
        const { name, value } = expected.cf(round, n);
        const r = await fetch(`${server.url}/client/v4/accounts/${ACCOUNT}/storage/kv/namespaces/${nsId}/values/${name}`, { method: "PUT", headers: { ...auth, "content-type": "text/plain" }, body: value });
        await r.arrayBuffer();
        return r.status === 200;
      }),
    ),
    ...Array.from({ length: WRITERS.kvConnect }, () =>
      loop("kvConnect", async (n) => {
        const { key, value } = expected.kvConnect(round, n);
        return (await kvc.set(key, value)).ok;
      }),
    ),
  ];
  await killedNow;
  await server.exited;
  // The KV Connect client retries a failed call with backoff: its writers end on their own, unacknowledged.
  void Promise.allSettled(writers).then(() => kvc.close());
  for (const api of Object.keys(acked) as Api[]) assert.ok(acked[api].length > 0, `${api} writes were acknowledged before the kill`);
  return { acked };
}

/** Every acknowledged write, read back through the API that wrote it; returns the ones missing or wrong. */
async function lost(server: ChildServer, nsId: string, round: number, acked: Record<Api, number[]>): Promise<Record<Api, number[]>> {
  const missing: Record<Api, number[]> = { kv: [], cf: [], kvConnect: [] };

  const stored = new Map<string, unknown>();
  let cursor: string | null = null;
  do {
    const r = await fetch(`${server.url}/kv/crash.r${round}.kv?list=true&limit=1000${cursor ? `&cursor=${cursor}` : ""}`, { headers: auth });
    assert.equal(r.status, 200);
    const page = (await r.json()) as { entries: { path: string; value: unknown }[]; cursor: string | null };
    for (const e of page.entries) stored.set(e.path, e.value);
    cursor = page.cursor;
  } while (cursor);
  for (const n of acked.kv) {
    const { path, value } = expected.kv(round, n);
    if (!stored.has(path) || JSON.stringify(stored.get(path)) !== JSON.stringify(value)) missing.kv.push(n);
  }

  for (let i = 0; i < acked.cf.length; i += 100) {
    const batch = acked.cf.slice(i, i + 100);
    const r = await fetch(`${server.url}/client/v4/accounts/${ACCOUNT}/storage/kv/namespaces/${nsId}/bulk/get`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ keys: batch.map((n) => expected.cf(round, n).name) }),
    });
    assert.equal(r.status, 200);
    const values = ((await r.json()) as { result: { values: Record<string, string | null> } }).result.values;
    for (const n of batch) {
      const { name, value } = expected.cf(round, n);
      if (values[name] !== value) missing.cf.push(n);
    }
  }

  const kv = await openKv(`${server.url}/kv-connect/default`, { token: ADMIN });
  try {
    const found = new Map<number, unknown>();
    for await (const e of kv.list({ prefix: ["crash", round, "kvc"] })) found.set(e.key[3] as number, e.value);
    for (const n of acked.kvConnect) {
      const { value } = expected.kvConnect(round, n);
      const got = found.get(n) as typeof value | undefined;
      if (!got || got.n !== n || got.round !== round || !(got.bytes instanceof Uint8Array) || got.bytes.length !== 512 || got.bytes[0] !== (n & 0xff)) missing.kvConnect.push(n);
    }
  } finally {
    await kv.close();
  }
  return missing;
}

test(`kill -9 of openkv serve under durable writes on /kv, REST v4 and KV Connect, ${ROUNDS} rounds: no acknowledged write lost`, { timeout: 60_000 + ROUNDS * 30_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "openkv-crash-server-"));
  let server = await startChildServer({ dataDir: dir, adminToken: ADMIN, accountId: ACCOUNT });
  t.after(async () => {
    await server.kill();
    rmSync(dir, { recursive: true, force: true });
  });
  const nsId = ((await (await fetch(`${server.url}/client/v4/accounts/${ACCOUNT}/storage/kv/namespaces`, { headers: auth })).json()) as { result: { id: string; title: string }[] }).result.find((n) => n.title === "default")!.id;
  const totals = { acked: 0, lost: 0 };
  for (let round = 0; round < ROUNDS; round++) {
    // A different moment in the stream each round.
    const { acked } = await writeAndKill(server, nsId, round, 300 + ((round * 397) % 900));

    const db = new DatabaseSync(join(dir, "openkv.sqlite"));
    const integrity = (db.prepare("PRAGMA integrity_check").all() as { integrity_check: string }[]).map((row) => row.integrity_check);
    db.close();
    assert.deepEqual(integrity, ["ok"], `round ${round}: integrity_check`);

    server = await startChildServer({ dataDir: dir, adminToken: ADMIN, accountId: ACCOUNT });
    const missing = await lost(server, nsId, round, acked);
    const ackedCount = acked.kv.length + acked.cf.length + acked.kvConnect.length;
    const lostCount = missing.kv.length + missing.cf.length + missing.kvConnect.length;
    totals.acked += ackedCount;
    totals.lost += lostCount;
    t.diagnostic(`round ${round + 1}: acknowledged ${ackedCount} (/kv ${acked.kv.length}, REST v4 ${acked.cf.length}, KV Connect ${acked.kvConnect.length}), lost ${lostCount}, integrity ok`);
    assert.deepEqual(missing, { kv: [], cf: [], kvConnect: [] }, `round ${round}: acknowledged writes missing after the restart`);
  }
  t.diagnostic(`crash-server: ${ROUNDS} rounds of kill -9 under ${WRITERS.kv + WRITERS.cf + WRITERS.kvConnect} writers: ${totals.acked} writes acknowledged, ${totals.lost} lost, integrity_check ok every round`);
});
