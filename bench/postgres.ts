/**
 * `npm run bench:postgres`: the core workload (get, set with 1 and 100 in flight, list 1,000, atomic sum)
 * through OpenKV on PostgreSQL, next to raw `pg` statements doing the same work on the same server and
 * OpenKV on a SQLite file, in one run, printed as ops/s and ratios. The PostgreSQL server is started by
 * the harness (scripts/pg-cluster.ts) with fsync and synchronous_commit on, so every set is durable on
 * every column; `--cluster` runs it on a primary with two quorum standbys instead (ANY 1).
 *
 * Raw `pg` is what a careful hand-written app would do: one table (key bytea primary key, value bytea),
 * values through node:v8, a pool of 10 connections, one statement per operation (autocommit: each set
 * is its own durable commit), `INSERT … ON CONFLICT DO UPDATE` for sets and `UPDATE … SET n = n + 1` for
 * the sum.
 *
 * Options: --seconds N (per row and store, default 1.5), --cluster
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { deserialize, serialize } from "node:v8";
import pg from "pg";
import { openKv } from "../src/index.ts";
import { startCluster, startPostgres } from "../scripts/pg-cluster.ts";
import { compareInTurns, ROWS, type KvLike } from "./workload.ts";

const { values: flags } = parseArgs({ options: { seconds: { type: "string", default: "1.5" }, cluster: { type: "boolean", default: false } } });
const SECONDS = Number(flags.seconds);

/** The same workload as raw statements, shaped like KvLike so workload.ts drives it unchanged. */
async function rawPg(url: string): Promise<KvLike & { close(): Promise<void> }> {
  const pool = new pg.Pool({ connectionString: url, max: 10 });
  await pool.query("CREATE TABLE raw_kv (key bytea PRIMARY KEY, value bytea NOT NULL)");
  await pool.query("CREATE TABLE raw_counter (key bytea PRIMARY KEY, n int8 NOT NULL)");
  const enc = (key: unknown[]) => Buffer.from(JSON.stringify(key));
  return {
    async get(key) {
      const r = await pool.query({ name: "get", text: "SELECT value FROM raw_kv WHERE key = $1", values: [enc(key)] });
      return { value: r.rows.length ? deserialize(r.rows[0].value) : null };
    },
    async set(key, value) {
      await pool.query({
        name: "set",
        text: "INSERT INTO raw_kv (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        values: [enc(key), serialize(value)],
      });
    },
    async *list(selector, options) {
      // The prefix as a key range, like OpenKV's [prefix, prefix+1) scan.
      const p = JSON.stringify(selector.prefix).slice(0, -1);
      const r = await pool.query({
        name: "list",
        text: "SELECT key, value FROM raw_kv WHERE key >= $1 AND key < $2 ORDER BY key LIMIT $3",
        values: [Buffer.from(p + ","), Buffer.from(p + "-"), options?.batchSize ?? 1000],
      });
      for (const row of r.rows) yield { key: row.key, value: deserialize(row.value) };
    },
    atomic() {
      return {
        sum: (key: unknown[], n: bigint) => ({
          commit: () =>
            pool.query({
              name: "sum",
              text: "INSERT INTO raw_counter (key, n) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET n = raw_counter.n + excluded.n",
              values: [enc(key), n.toString()],
            }),
        }),
      };
    },
    close: () => pool.end(),
  };
}

function table(rates: Record<string, Record<string, number>>, names: readonly string[], baseline: string): string {
  const others = names.filter((n) => n !== baseline);
  const lines = [
    `| operation | ${names.map((n) => `${n} (ops/s)`).join(" | ")} | ${others.map((n) => `${n} ÷ ${baseline}`).join(" | ")} |`,
    `|---|${names.map(() => "---:").join("|")}|${others.map(() => "---:").join("|")}|`,
  ];
  for (const row of ROWS) {
    const ops = rates[row]!;
    lines.push(
      `| ${row} | ${names.map((n) => Math.round(ops[n]!).toLocaleString("en-US")).join(" | ")} | ${others.map((n) => `${(ops[n]! / ops[baseline]!).toFixed(2)}×`).join(" | ")} |`,
    );
  }
  return lines.join("\n");
}

const cluster = flags.cluster ? await startCluster() : await startPostgres({ fsync: true });
const dir = mkdtempSync(join(tmpdir(), "openkv-bench-pg-"));
try {
  // The raw driver takes one host (node-postgres reads no multi-host URL): the primary's.
  await cluster.createDatabase("bench_raw");
  const rawUrl = cluster.primary.url.replace(/\/[^/]*$/, "/bench_raw");
  const okvUrl = await cluster.createDatabase("bench_openkv");
  console.log(`PostgreSQL ${flags.cluster ? "primary + 2 quorum standbys" : "single server"}, fsync on; ${SECONDS} s per row.\n`);

  const stores = {
    "raw pg": await rawPg(rawUrl),
    "OpenKV on PostgreSQL": (await openKv(okvUrl)) as unknown as KvLike,
    "OpenKV on SQLite": (await openKv(join(dir, "bench.sqlite"))) as unknown as KvLike,
  };
  // In turns of 100 ms: the shared machine's noise falls on every column alike.
  const rates = await compareInTurns(stores, SECONDS);
  await stores["raw pg"].close();
  (stores["OpenKV on PostgreSQL"] as unknown as { close(): void }).close();
  (stores["OpenKV on SQLite"] as unknown as { close(): void }).close();
  console.log(table(rates, Object.keys(stores), "raw pg"));
  const pgRates = Object.fromEntries(ROWS.map((r) => [r, rates[r]!["OpenKV on PostgreSQL"]]));
  const s1 = pgRates["set (1 in flight)"]!;
  const s100 = pgRates["set (100 in flight)"]!;
  console.log(`\nGroup commit on PostgreSQL: set (100 in flight) = ${(s100 / s1).toFixed(1)}× set (1 in flight) (goal ≥ 10×).`);
} finally {
  await cluster.stop();
  rmSync(dir, { recursive: true, force: true });
}
