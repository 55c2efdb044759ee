/**
 * `npm run bench:postgres-commit`: where a lone durable write's time goes on PostgreSQL. One writer, one
 * write at a time (what `set (1 in flight)` measures), from the raw driver's single autocommitted INSERT
 * to the shapes of OpenKV's commit, each step on its own pipelined connection (`pipeline: true`, as
 * OpenKV's writer), all taking turns of 100 ms so the machine's noise falls on all alike; OpenKV's own
 * writes take the same turns. Each line adds one thing to the line named in its "added" column:
 *
 *   1. INSERT … ON CONFLICT, autocommit — the raw-driver baseline (1 round trip, 1 statement)
 *   2. + the counter's update (its row lock: versionstamps in commit order), the change-feed row and the
 *      NOTIFY doorbell as CTEs of the same statement — the shape of OpenKV's write that reads nothing
 *   3. the same statement on OpenKV's own tables, + the key and byte counters' change on the feed row
 *      (the key's old row read in the statement, as OpenKV's lone write keeps them)
 *   4. OpenKV `set` (the whole path: Kv API, validation, group commit, the snapshot check, the above)
 *   5. two round trips, the shape of a write that reads (min, max, a V8 sum, checks in a batch; vs line 2): BEGIN, the counter's lock and the
 *      batch's read; then the write, feed row, counter update, NOTIFY and COMMIT
 *   6. OpenKV `set` with a check (the whole path: a lone write's checks are made in its one statement;
 *      vs 4)
 *
 * Options: --seconds N (turns of 100 ms per line, default 3)
 */
import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import { serialize } from "node:v8";
import pg from "pg";
import { openKv } from "../src/index.ts";
import { startPostgres } from "../scripts/pg-cluster.ts";

const { values: flags } = parseArgs({ options: { seconds: { type: "string", default: "3" } } });
const SECONDS = Number(flags.seconds);
const load0 = loadavg();

const cluster = await startPostgres({ fsync: true, onProgress: (m) => process.stderr.write(`bench: postgres: ${m}\n`) });
try {
  const url = await cluster.createDatabase("bench_commit");
  const setup = new pg.Client({ connectionString: url });
  await setup.connect();
  await setup.query(`
    CREATE TABLE meta (name text PRIMARY KEY, value int8 NOT NULL);
    INSERT INTO meta VALUES ('versionstamp', 0);
    CREATE TABLE namespaces (seq int8 PRIMARY KEY, id text UNIQUE NOT NULL);
    INSERT INTO namespaces VALUES (1, 'ns');
    CREATE TABLE entries (ns int8 NOT NULL, key bytea NOT NULL, value bytea NOT NULL, versionstamp bytea NOT NULL, PRIMARY KEY (ns, key));
    CREATE TABLE changes (vs int8 PRIMARY KEY, ns text NOT NULL, keys bytea NOT NULL, at int8 NOT NULL);`);
  await setup.end();

  const value = serialize({ user: "someone", score: 42, tags: ["a", "b"], active: true });
  const key = (i: number) => Buffer.from(`["set",${i}]`);
  const vs = (n: number) => {
    const b = Buffer.alloc(10);
    b.writeBigUInt64BE(BigInt(n));
    return b;
  };
  const client = async () => {
    const c = new pg.Client({ connectionString: url, pipeline: true } as ConstructorParameters<typeof pg.Client>[0]);
    await c.connect();
    return c;
  };
  const upsert = "INSERT INTO entries (ns, key, value, versionstamp) VALUES ($1, $2, $3, $4) ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value, versionstamp = excluded.versionstamp";
  const lock = "BEGIN; SELECT value FROM meta WHERE name = 'versionstamp' FOR UPDATE";
  const read = "SELECT seq FROM namespaces WHERE id = $1";
  const fullWrite = `WITH up AS (${upsert} RETURNING 1),
      feed AS (INSERT INTO changes (vs, ns, keys, at) VALUES ($5, 'ns', $2, $6) RETURNING 1),
      ctr AS (UPDATE meta SET value = $5 WHERE name = 'versionstamp' RETURNING 1)
    SELECT pg_notify('bench', $5::text)`;
  // One statement: the counter first (every other part uses its value), as OpenKV's write that reads nothing.
  const oneStatement = (meta: string, nsCol: string, counters = false) => `WITH ${
    counters ? "old AS (SELECT octet_length(key) + octet_length(value) + coalesce(octet_length(metadata), 0) AS size FROM entries WHERE ns = $1 AND key = $2), " : ""
  }ctr AS (UPDATE ${meta} SET value = value + 1 WHERE name = 'versionstamp' RETURNING value),
      up AS (INSERT INTO entries (ns, key, value, ${nsCol}versionstamp) SELECT $1, $2, $3, ${nsCol ? "1, " : ""}int8send(ctr.value) || '\\x0000'::bytea FROM ctr
        ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value, versionstamp = excluded.versionstamp RETURNING 1),
      feed AS (INSERT INTO changes (vs, ns, keys, at${counters ? ", dkeys, dbytes" : ""}) SELECT ctr.value, 'ns', $2, $4${
        counters ? ", CASE WHEN old.size IS NULL THEN 1 ELSE 0 END, octet_length($2) + octet_length($3) - coalesce(old.size, 0) FROM ctr LEFT JOIN old ON true" : " FROM ctr"
      } RETURNING 1)
    SELECT pg_notify('bench', value::text) FROM ctr`;

  type Step = { name: string; base: number; one: (i: number) => Promise<unknown> };
  const c1 = await client();
  const c2 = await client();
  const c5 = await client();
  // OpenKV's own tables, in a database of their own.
  const okvUrl = await cluster.createDatabase("bench_commit_openkv");
  const kv = await openKv(okvUrl);
  await kv.set(["first"], 1);
  const c3 = new pg.Client({ connectionString: okvUrl, pipeline: true } as ConstructorParameters<typeof pg.Client>[0]);
  await c3.connect();
  const seq = (await c3.query("SELECT seq FROM namespaces")).rows[0].seq as number;
  const v = { user: "someone", score: 42, tags: ["a", "b"], active: true };
  const steps: Step[] = [
    { name: "1. INSERT, autocommit (raw driver)", base: -1, one: (i) => c1.query({ name: "a", text: upsert, values: [1, key(i), value, vs(i)] }) },
    {
      name: "2. + counter, feed row, NOTIFY in the same statement",
      base: 0,
      one: (i) => c2.query({ name: "b", text: oneStatement("meta", ""), values: [1, key(i), value, Date.now()] }),
    },
    {
      name: "3. the same on OpenKV's tables, + the counters' change on the feed row",
      base: 1,
      one: (i) => c3.query({ name: "c", text: oneStatement("openkv_meta", "encoding, ", true), values: [seq, key(i), value, Date.now()] }),
    },
    { name: "4. OpenKV set (the whole path)", base: 2, one: (i) => kv.set(["set", i], v) },
    {
      name: "5. two trips, as a write that reads (vs 2)",
      base: 1,
      one: async (i) => {
        const locked = c5.query(lock) as unknown as Promise<pg.QueryResult[]>;
        const r = c5.query({ name: "r", text: read, values: ["ns"] });
        const [answers] = await Promise.all([locked, r]);
        const counter = Number(answers[1]!.rows[0].value) + 1;
        await Promise.all([c5.query({ name: "f", text: fullWrite, values: [1, key(i), value, vs(counter), counter, Date.now()] }), c5.query("COMMIT")]);
      },
    },
    { name: "6. OpenKV set with a check (the whole path)", base: 3, one: (i) => kv.atomic().check({ key: ["absent"], versionstamp: null }).set(["set", i], v).commit() },
  ];

  for (const s of steps) for (let i = 0; i < 200; i++) await s.one(i); // warm up: plans prepared, pages cached
  const ops = steps.map(() => 0);
  const time = steps.map(() => 0);
  let i = 1000;
  for (let turn = 0; turn < SECONDS * 10; turn++) {
    for (const [n, s] of steps.entries()) {
      const start = performance.now();
      while (performance.now() - start < 100) {
        await s.one(i++ % 5000);
        ops[n]!++;
      }
      time[n]! += performance.now() - start;
    }
  }
  const load1 = loadavg();
  console.log(`\nMachine load average (1/5/15 min) before: ${load0.map((l) => l.toFixed(2)).join(" ")}, after: ${load1.map((l) => l.toFixed(2)).join(" ")}\n`);
  const us = steps.map((_, n) => (time[n]! * 1000) / ops[n]!);
  console.log("| one durable write at a time, PostgreSQL 15 (fsync on) | µs per write | writes/s | added by this step | ÷ line 1 (speed) |");
  console.log("|---|---:|---:|---:|---:|");
  steps.forEach((s, n) => {
    const b = s.base;
    const added = b < 0 ? "—" : `${us[n]! - us[b]! >= 0 ? "+" : ""}${Math.round(us[n]! - us[b]!)} µs (vs ${b + 1})`;
    console.log(`| ${s.name} | ${Math.round(us[n]!)} | ${Math.round(1e6 / us[n]!).toLocaleString("en-US")} | ${added} | ${(us[0]! / us[n]!).toFixed(2)}× |`);
  });
  kv.close();
  for (const c of [c1, c2, c3, c5]) await c.end();
} finally {
  await cluster.stop();
}
