/**
 * `npm run bench:postgres-cpu`: the CPU a lone durable write costs on PostgreSQL — OpenKV `set` and
 * `atomic sum` next to the raw driver's one autocommitted INSERT … ON CONFLICT (the same statements as
 * bench/postgres.ts) — on each side of the socket: this process (process.cpuUsage, user + system) and the
 * PostgreSQL backends serving its database (/proc/PID/stat), over N writes one at a time, in alternating
 * rounds. CPU, not wall time: it is what the shared machine's
 * noise disturbs least, and what a lone write spends on our side of the socket.
 *
 * Options: --writes N (per round and side, default 1000), --rounds N (default 3), --only "OpenKV set" (one
 * side, e.g. under `node --cpu-prof`)
 */
import { readFileSync } from "node:fs";
import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import { serialize } from "node:v8";
import pg from "pg";
import { openKv } from "../src/index.ts";
import { startPostgres } from "../scripts/pg-cluster.ts";

const { values: flags } = parseArgs({ options: { writes: { type: "string", default: "1000" }, rounds: { type: "string", default: "3" }, only: { type: "string" } } });
const N = Number(flags.writes);
const ROUNDS = Number(flags.rounds);
const load0 = loadavg();
const cluster = await startPostgres({ fsync: true });
try {
  const rawUrl = await cluster.createDatabase("cpu_raw");
  const pool = new pg.Pool({ connectionString: rawUrl, max: 10 });
  await pool.query("CREATE TABLE raw_kv (key bytea PRIMARY KEY, value bytea NOT NULL)");
  await pool.query("CREATE TABLE raw_counter (key bytea PRIMARY KEY, n int8 NOT NULL)");
  const kv = await openKv(await cluster.createDatabase("cpu_openkv"));
  const v = { user: "someone", score: 42, tags: ["a", "b"], active: true };
  const sides: Record<string, (i: number) => Promise<unknown>> = {
    "raw pg INSERT": (i) =>
      pool.query({
        name: "set",
        text: "INSERT INTO raw_kv (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        values: [Buffer.from(JSON.stringify(["set", i])), serialize(v)],
      }),
    "OpenKV set": (i) => kv.set(["set", i], v),
    "raw pg sum": () =>
      pool.query({
        name: "sum",
        text: "INSERT INTO raw_counter (key, n) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET n = raw_counter.n + excluded.n",
        values: [Buffer.from(JSON.stringify(["counter"])), "1"],
      }),
    "OpenKV atomic sum": () => kv.atomic().sum(["counter"], 1n).commit(),
  };
  if (flags.only !== undefined) for (const name of Object.keys(sides)) if (name !== flags.only) delete sides[name];
  // The server's side: CPU of the PostgreSQL backends serving each database (user + system, from /proc).
  const admin = new pg.Client({ connectionString: cluster.primary.url });
  await admin.connect();
  const ticks = 1e6 / 100; // µs per clock tick (USER_HZ = 100 on Linux)
  const serverCpu = async (db: string) => {
    const pids = (await admin.query("SELECT pid FROM pg_stat_activity WHERE datname = $1", [db])).rows.map((r) => r.pid as number);
    let sum = 0;
    for (const pid of pids) {
      try {
        const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
        sum += (Number(f[11]) + Number(f[12])) * ticks;
      } catch {
        // gone
      }
    }
    return sum;
  };
  const dbOf: Record<string, string> = { "raw pg INSERT": "cpu_raw", "OpenKV set": "cpu_openkv", "raw pg sum": "cpu_raw", "OpenKV atomic sum": "cpu_openkv" };
  const server: Record<string, number> = {};
  const cpu: Record<string, number> = {};
  const wall: Record<string, number> = {};
  for (const [name, one] of Object.entries(sides)) for (let i = 0; i < 300; i++) await one(i); // warm up
  for (let r = 0; r < ROUNDS; r++) {
    for (const [name, one] of Object.entries(sides)) {
      const s0 = await serverCpu(dbOf[name]!);
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      for (let i = 0; i < N; i++) await one(i % 5000);
      const c = process.cpuUsage(c0);
      server[name] = (server[name] ?? 0) + (await serverCpu(dbOf[name]!)) - s0;
      cpu[name] = (cpu[name] ?? 0) + c.user + c.system;
      wall[name] = (wall[name] ?? 0) + (performance.now() - t0) * 1000;
    }
  }
  console.log(`load average before ${load0.map((l) => l.toFixed(2)).join(" ")}, after ${loadavg().map((l) => l.toFixed(2)).join(" ")}`);
  console.log("| one write at a time | Node CPU µs per write | PostgreSQL backend CPU µs per write | wall µs per write |\n|---|---:|---:|---:|");
  for (const name of Object.keys(sides)) {
    const per = (x: Record<string, number>) => (x[name]! / (N * ROUNDS)).toFixed(0);
    console.log(`| ${name} | ${per(cpu)} | ${per(server)} | ${per(wall)} |`);
  }
  await admin.end();
  kv.close();
  await pool.end();
} finally {
  await cluster.stop();
}
