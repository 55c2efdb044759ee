/**
 * `npm run bench:postgres-commit`: where a lone durable write's time goes on PostgreSQL. One writer, one
 * write at a time (what `set (1 in flight)` measures), built up step by step from the raw driver's single
 * autocommitted INSERT to the shape of OpenKV's commit, each step on its own pipelined connection
 * (`pipeline: true`, as OpenKV's writer), all taking turns of 100 ms so the machine's noise falls on all
 * alike; then OpenKV's own `set` in the same turns. Each line adds one thing to the line above it:
 *
 *   1. INSERT … ON CONFLICT, autocommit — the raw-driver baseline (1 round trip, 1 statement)
 *   2. BEGIN; INSERT; COMMIT, pipelined — a transaction, still 1 round trip
 *   3. + the commit counter's row lock (SELECT … FOR UPDATE) first — versionstamps in commit order
 *   4. + the batch's read (namespace lookup) in the same trip
 *   5. + a second round trip: the write waits for the lock's answer (the versionstamp is computed in JS)
 *   6. + the change-feed row, the counter's update and the NOTIFY doorbell (OpenKV's write statement)
 *   7. OpenKV `set` (the whole path: Kv API, validation, group commit, the statements above)
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

  type Step = { name: string; one: (i: number) => Promise<unknown> };
  const c1 = await client();
  const c2 = await client();
  const c3 = await client();
  const c4 = await client();
  const c5 = await client();
  const c6 = await client();
  let counter = 0;
  const steps: Step[] = [
    { name: "1. INSERT, autocommit (raw driver)", one: (i) => c1.query({ name: "a", text: upsert, values: [1, key(i), value, vs(i)] }) },
    {
      name: "2. BEGIN; INSERT; COMMIT in one trip",
      one: (i) => Promise.all([c2.query("BEGIN"), c2.query({ name: "b", text: upsert, values: [1, key(i), value, vs(i)] }), c2.query("COMMIT")]),
    },
    {
      name: "3. + the counter's row lock first",
      one: (i) => Promise.all([c3.query(lock), c3.query({ name: "c", text: upsert, values: [1, key(i), value, vs(i)] }), c3.query("COMMIT")]),
    },
    {
      name: "4. + the batch's read, same trip",
      one: (i) =>
        Promise.all([c4.query(lock), c4.query({ name: "r", text: read, values: ["ns"] }), c4.query({ name: "d", text: upsert, values: [1, key(i), value, vs(i)] }), c4.query("COMMIT")]),
    },
    {
      name: "5. + a second trip: the write waits for the lock",
      one: async (i) => {
        const locked = c5.query(lock);
        const r = c5.query({ name: "r", text: read, values: ["ns"] });
        await Promise.all([locked, r]);
        await Promise.all([c5.query({ name: "e", text: upsert, values: [1, key(i), value, vs(i)] }), c5.query("COMMIT")]);
      },
    },
    {
      name: "6. + feed row, counter update, NOTIFY (OpenKV's statements)",
      one: async (i) => {
        const locked = c6.query(lock);
        const r = c6.query({ name: "r", text: read, values: ["ns"] });
        await Promise.all([locked, r]);
        counter++;
        await Promise.all([c6.query({ name: "f", text: fullWrite, values: [1, key(i), value, vs(counter), counter, Date.now()] }), c6.query("COMMIT")]);
      },
    },
  ];
  const kv = await openKv(await cluster.createDatabase("bench_commit_openkv"));
  const v = { user: "someone", score: 42, tags: ["a", "b"], active: true };
  steps.push({ name: "7. OpenKV set (the whole path)", one: (i) => kv.set(["set", i], v) });

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
    const added = n === 0 ? "—" : `${us[n]! - us[n - 1]! >= 0 ? "+" : ""}${Math.round(us[n]! - us[n - 1]!)} µs`;
    console.log(`| ${s.name} | ${Math.round(us[n]!)} | ${Math.round(1e6 / us[n]!).toLocaleString("en-US")} | ${added} | ${(us[0]! / us[n]!).toFixed(2)}× |`);
  });
  kv.close();
  for (const c of [c1, c2, c3, c4, c5, c6]) await c.end();
} finally {
  await cluster.stop();
}
