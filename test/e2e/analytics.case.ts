/**
 * The GraphQL Analytics API end to end, run on every store (memory, SQLite, PostgreSQL): the seed's four
 * example queries from Cloudflare's KV docs, sent verbatim through the real `cloudflare` SDK and through
 * plain fetch, answer exactly the operations this file performed; latency quantiles are checked against
 * latencies injected through a scripted clock; figures survive a restart.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import Cloudflare from "cloudflare";
import { ManualClock, type Clock } from "../../src/core/clock.ts";
import { entryBytes } from "../../src/core/analytics/types.ts";
import { ADMIN, startTestServer } from "./harness.ts";
import type { RunningServer, ServerConfig } from "../../src/server/server.ts";

/** The seed's queries (Cloudflare's "Metrics and analytics" page), verbatim. */
export const SEED_OPERATIONS = `query KvOperationsSample(
  $accountTag: string!
  $namespaceId: string
  $start: Date
  $end: Date
) {
  viewer {
    accounts(filter: { accountTag: $accountTag }) {
      kvOperationsAdaptiveGroups(
        filter: { namespaceId: $namespaceId, date_geq: $start, date_leq: $end }
        limit: 10000
        orderBy: [date_DESC]
      ) {
        sum {
          requests
        }
        dimensions {
          date
          actionType
        }
      }
    }
  }
}`;

export const SEED_LATENCY = `query KvOperationsSample2(
  $accountTag: string!
  $namespaceId: string
  $start: Date
  $end: Date
) {
  viewer {
    accounts(filter: { accountTag: $accountTag }) {
      kvOperationsAdaptiveGroups(
        filter: {
          namespaceId: $namespaceId
          date_geq: $start
          date_leq: $end
          actionType: "read"
        }
        limit: 10000
      ) {
        sum {
          requests
        }
        dimensions {
          actionType
        }
        quantiles {
          latencyMsP25
          latencyMsP50
          latencyMsP75
          latencyMsP90
          latencyMsP99
          latencyMsP999
        }
      }
    }
  }
}`;

export const SEED_ACCOUNT = `query KvOperationsAllSample($accountTag: string!, $start: Date, $end: Date) {
  viewer {
    accounts(filter: { accountTag: $accountTag }) {
      kvOperationsAdaptiveGroups(
        filter: { date_geq: $start, date_leq: $end }
        limit: 10000
      ) {
        sum {
          requests
        }
        dimensions {
          actionType
        }
      }
    }
  }
}`;

export const SEED_STORAGE = `query Viewer(
  $accountTag: string!
  $namespaceId: string
  $start: Date
  $end: Date
) {
  viewer {
    accounts(filter: { accountTag: $accountTag }) {
      kvStorageAdaptiveGroups(
        filter: { date_geq: $start, date_leq: $end, namespaceId: $namespaceId }
        limit: 10000
        orderBy: [date_DESC]
      ) {
        max {
          keyCount
          byteCount
        }
        dimensions {
          date
        }
      }
    }
  }
}`;

/**
 * A latency clock whose answers the test scripts: a counted request reads it once when it starts and
 * once when it ends (src/server/app.ts), so requests made one at a time take exactly the latencies given.
 */
export class ScriptedLatency implements Clock {
  #t = 1000;
  #ending = false;
  #next: () => number;
  readonly used: number[] = [];
  constructor(next: () => number) {
    this.#next = next;
  }
  now(): number {
    if (this.#ending) {
      const l = this.#next();
      this.used.push(l);
      this.#t += l;
    }
    this.#ending = !this.#ending;
    return this.#t;
  }
}

/** Deterministic latencies spread over four decades (0.05 ms … 500 ms), log-uniform. */
export function seededLatencies(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return 0.05 * 10 ** ((x / 2 ** 32) * 4);
  };
}

function exactQuantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(q * (sorted.length - 1))]!;
}

export const DAY1 = Date.UTC(2030, 0, 15, 10, 0);
export const isoDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);

export interface StoreUnderTest {
  name: string;
  /** Server config for the store; the same config again reopens the same data (null: cannot restart). */
  config(): Promise<Partial<ServerConfig> & { persistent?: boolean }>;
  restartable: boolean;
}

/** What the suite performs and expects, per date and actionType. */
type Tally = Map<string, number>;

export function analyticsSuite(store: StoreUnderTest): void {
  test(`${store.name}: the seed's four queries return the operations performed, latencies within 1%, storage figures, after a restart too`, async (t) => {
    const clock = new ManualClock(DAY1);
    const latency = new ScriptedLatency(seededLatencies(7));
    const base = await store.config();
    const start = async (extra: Partial<ServerConfig> = {}) =>
      startTestServer({ ...base, clock, analytics: { latencyClock: latency, flushMs: 3_600_000 }, ...extra });
    let server: RunningServer & { dir: string | null } = await start();
    const account_id = server.accountId;
    const cf = () => new Cloudflare({ baseURL: `${server.url}/client/v4`, apiToken: ADMIN, maxRetries: 0 });
    const ns = await cf().kv.namespaces.create({ account_id, title: "analytics-a" });
    const other = await cf().kv.namespaces.create({ account_id, title: "analytics-b" });
    const namespace_id = ns.id;

    const ops: Tally = new Map();
    const readLatencies: number[] = [];
    const did = (action: string, n = 1) => ops.set(`${isoDay(clock.now())}|${action}`, (ops.get(`${isoDay(clock.now())}|${action}`) ?? 0) + n);
    const op = async (action: string, n: number, fn: () => Promise<unknown>) => {
      const before = latency.used.length;
      await fn();
      assert.equal(latency.used.length, before + 1, "one counted request");
      if (action === "read") readLatencies.push(latency.used.at(-1)!);
      did(action, n);
    };

    // Day 1: writes, reads (found and missing), a list, a bulk write of 4 pairs, a delete.
    for (let i = 0; i < 5; i++) await op("write", 1, () => cf().kv.namespaces.values.update(`k${i}`, { account_id, namespace_id, value: `value ${i}`, metadata: { i } }));
    await op("write", 4, () => cf().kv.namespaces.bulkUpdate(namespace_id, { account_id, body: [0, 1, 2, 3].map((i) => ({ key: `bulk${i}`, value: "x".repeat(i * 10) })) }));
    for (let i = 0; i < 12; i++) await op("read", 1, async () => (await cf().kv.namespaces.values.get(`k${i % 5}`, { account_id, namespace_id })).text());
    await op("read", 1, () => assert.rejects(cf().kv.namespaces.values.get("missing", { account_id, namespace_id })));
    await op("list", 1, () => cf().kv.namespaces.keys.list(namespace_id, { account_id }));
    await op("delete", 1, () => cf().kv.namespaces.values.delete("k4", { account_id, namespace_id }));
    // The other namespace's operations count account-wide only.
    await cf().kv.namespaces.values.update("elsewhere", { account_id, namespace_id: other.id, value: "v" });
    const keysDay1 = 8;
    await server.analytics!.flush();

    // Day 2: more reads, through /kv too (the same store, another API), and a write.
    clock.advance(24 * 3600 * 1000);
    for (let i = 0; i < 9; i++) {
      await op("read", 1, async () => {
        const r = await fetch(`${server.url}/ns/${namespace_id}/kv/k${i % 4}`, { headers: { authorization: `Bearer ${ADMIN}` } });
        assert.equal(r.status, 200);
        await r.arrayBuffer();
      });
    }
    await op("write", 1, async () => {
      const r = await fetch(`${server.url}/ns/${namespace_id}/kv/day2`, { method: "PUT", headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" }, body: JSON.stringify({ value: "two" }) });
      assert.equal(r.status, 200);
      await r.arrayBuffer();
    });
    const keysDay2 = keysDay1 + 1;

    const variables = { accountTag: account_id, namespaceId: namespace_id, start: isoDay(DAY1), end: isoDay(clock.now()) };
    const viaSdk = async (query: string, vars: object = variables) => (await cf().post("/graphql", { body: { query, variables: vars } })) as { data: any; errors: unknown };
    const viaFetch = async (query: string, vars: object = variables) => {
      const r = await fetch(`${server.url}/client/v4/graphql`, { method: "POST", headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" }, body: JSON.stringify({ query, variables: vars }) });
      assert.equal(r.status, 200);
      return (await r.json()) as { data: any; errors: unknown };
    };

    const expectedByDay = [...ops].map(([k, n]) => ({ date: k.split("|")[0]!, actionType: k.split("|")[1]!, requests: n }));
    const checkAll = async (label: string) => {
      for (const send of [viaSdk, viaFetch]) {
        // 1. Operations per day and type, newest day first.
        const one = await send(SEED_OPERATIONS);
        assert.equal(one.errors, null);
        const groups = one.data.viewer.accounts[0].kvOperationsAdaptiveGroups as { sum: { requests: number }; dimensions: { date: string; actionType: string } }[];
        assert.deepEqual(
          groups.map((g) => ({ date: g.dimensions.date, actionType: g.dimensions.actionType, requests: g.sum.requests })),
          [...expectedByDay].sort((a, b) => (a.date === b.date ? (a.actionType < b.actionType ? -1 : 1) : a.date < b.date ? 1 : -1)),
          label,
        );
        // 2. Read latency quantiles against the latencies injected.
        const two = await send(SEED_LATENCY);
        assert.equal(two.errors, null);
        const [reads] = two.data.viewer.accounts[0].kvOperationsAdaptiveGroups;
        assert.equal(reads.sum.requests, readLatencies.length);
        assert.equal(reads.dimensions.actionType, "read");
        for (const [name, q] of Object.entries({ latencyMsP25: 0.25, latencyMsP50: 0.5, latencyMsP75: 0.75, latencyMsP90: 0.9, latencyMsP99: 0.99, latencyMsP999: 0.999 })) {
          const want = exactQuantile(readLatencies, q);
          assert.ok(Math.abs(reads.quantiles[name] - want) <= 0.01 * want, `${label} ${name}: ${reads.quantiles[name]} vs exact ${want}`);
        }
        // 3. Account-wide by actionType: this namespace's plus the other's one write.
        const three = await send(SEED_ACCOUNT);
        const totals = new Map<string, number>();
        for (const e of expectedByDay) totals.set(e.actionType, (totals.get(e.actionType) ?? 0) + e.requests);
        totals.set("write", totals.get("write")! + 1);
        assert.deepEqual(
          Object.fromEntries((three.data.viewer.accounts[0].kvOperationsAdaptiveGroups as any[]).map((g) => [g.dimensions.actionType, g.sum.requests])),
          Object.fromEntries(totals),
        );
        // 4. Storage per day, newest first: the day's largest figures.
        const four = await send(SEED_STORAGE);
        const stored = four.data.viewer.accounts[0].kvStorageAdaptiveGroups as { max: { keyCount: number; byteCount: number }; dimensions: { date: string } }[];
        assert.deepEqual(stored.map((s) => [s.dimensions.date, s.max.keyCount]), [
          [isoDay(clock.now()), keysDay2],
          [isoDay(DAY1), keysDay1],
        ]);
        // byteCount is what the entries hold: the counters kept in the write transactions equal a full scan.
        const [all] = await server.engine.read(namespace_id, [{ start: new Uint8Array(0), end: new Uint8Array([0xff]), limit: 1000 }]);
        assert.equal(all!.length, keysDay2);
        const scanned = all!.reduce((n, e) => n + entryBytes(e), 0);
        assert.equal(stored[0]!.max.byteCount, scanned);
        assert.deepEqual(await server.engine.namespaceStats(namespace_id), { keyCount: keysDay2, byteCount: scanned });
      }
    };
    await checkAll("before restart");

    // The docs' own variable names ($date_geq…) leave $start/$end unset: the filter fields drop out.
    const docsVars = await viaFetch(SEED_ACCOUNT, { accountTag: account_id, namespaceId: namespace_id, date_geq: isoDay(DAY1), date_leq: isoDay(clock.now()) });
    assert.equal(docsVars.errors, null);

    if (store.restartable) {
      await t.test("analytics survive a restart", async () => {
        await server.close();
        server = await start();
        await checkAll("after restart");
      });
    }
  });
}
