/**
 * `npm run bench:sqlite-commit`: where a lone durable write's time goes on the SQLite store, step by step
 * from raw node:sqlite's autocommit INSERT (bench/raw-sqlite.ts' floor) to `Kv.set`. Every step runs on
 * the same file, in turns of 100 ms (the machine's noise falls on all alike), with fsync on commit
 * (WAL, synchronous=FULL). Prints µs per commit and CPU µs per commit (this process's user + system time),
 * each against the raw autocommit INSERT.
 *
 * Steps 2-5 are the SQL our SQLite backend runs for one `set`, written out here so that each part can be
 * left out: the entries upsert (with the analytics triggers), the versionstamp counter, namespace and
 * encryption setting (kept in JS between commits while `PRAGMA data_version` stays put), and the change
 * feed row. Steps 6-8 are the real layers.
 *
 * Options: --seconds N (per step, default 2)
 */
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { parseArgs } from "node:util";
import { Engine } from "../src/core/engine.ts";
import { encodeKey } from "../src/core/keys.ts";
import { serializeV8 } from "../src/core/v8.ts";
import { SqliteBackend } from "../src/storage/index.ts";
import { openKv } from "../src/index.ts";
import { machineLoad, perCallInTurns } from "./tools.ts";

const { values } = parseArgs({ options: { seconds: { type: "string", default: "2" } } });
const seconds = Number(values.seconds);
const dir = mkdtempSync(join(tmpdir(), "openkv-commit-cost-"));
const loadBefore = loadavg();

try {
  const path = join(dir, "store.sqlite");
  const backend = new SqliteBackend(path);
  const engine = await Engine.open(backend);
  const kv = await openKv(undefined, { engine });
  const nsId = kv.namespace.id;
  const value = { user: "someone", score: 42, tags: ["a", "b"], active: true };
  const data = serializeV8(value);
  await kv.set(["warm"], value);

  // A second connection to the same file for the hand-written steps, as durable as the backend's.
  const db = new DatabaseSync(path);
  db.exec("PRAGMA busy_timeout = 10000; PRAGMA synchronous = FULL");
  db.exec("CREATE TABLE plain (k BLOB PRIMARY KEY, v BLOB NOT NULL, version INTEGER NOT NULL) WITHOUT ROWID");
  const p = (sql: string) => db.prepare(sql);
  const s = {
    plainPut: p("INSERT OR REPLACE INTO plain (k, v, version) VALUES (?, ?, ?)"),
    begin: p("BEGIN IMMEDIATE"),
    commit: p("COMMIT"),
    // The counter is the newest change feed row, or meta's floor (src/storage/sqlite/sqlite-backend.ts).
    counterGet: p("SELECT max(coalesce((SELECT max(vs) FROM changes), 0), (SELECT value FROM meta WHERE name = 'versionstamp')) AS value"),
    // The counter, namespace seq and settings are kept between commits while data_version stays put.
    dataVersion: p("PRAGMA data_version"),
    put: p(
      `INSERT INTO entries (ns, key, value, blob_id, encoding, versionstamp, expires_at, metadata, size) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value, blob_id = excluded.blob_id, encoding = excluded.encoding,
         versionstamp = excluded.versionstamp, expires_at = excluded.expires_at, metadata = excluded.metadata, size = excluded.size`,
    ),
    feed: p("INSERT INTO changes (vs, ns, keys, at) VALUES (?, ?, ?, ?)"),
  };
  const ns = db.prepare("SELECT seq FROM namespaces WHERE id = ?").get(nsId)!.seq as number;
  let i = 0;
  const key = () => encodeKey(["k", i++]);
  /** Steps 4 and 5: the SQL of one commit, with or without its change feed row. */
  let dataVersion = -1;
  let counter = 0;
  const sqlCommit = (feed: boolean) => () => {
    s.begin.run();
    const dv = s.dataVersion.get()!.data_version as number;
    // Another connection (the layers' steps) committed since: read the counter again, as the backend does.
    if (dv !== dataVersion) counter = s.counterGet.get()!.value as number;
    dataVersion = dv;
    const c = ++counter;
    const k = key();
    s.put.run(ns, k, data, null, 1, BigInt(c), null, null, 60);
    if (feed) s.feed.run(c, nsId, k, Date.now());
    s.commit.run();
  };
  const steps: [string, () => unknown][] = [
    ["1. raw node:sqlite: autocommit INSERT OR REPLACE (the bench's floor)", () => s.plainPut.run(key(), data, i)],
    ["2. + explicit BEGIN IMMEDIATE … COMMIT", () => {
      s.begin.run();
      s.plainPut.run(key(), data, i);
      s.commit.run();
    }],
    ["3. the entries upsert instead (analytics triggers)", () => {
      s.begin.run();
      s.put.run(ns, key(), data, null, 1, BigInt(1e12 + i), null, null, 60);
      s.commit.run();
    }],
    ["4. + the counter, namespace and setting (data_version, else cached)", sqlCommit(false)],
    ["5. + change feed row: the SQL of one OpenKV commit", sqlCommit(true)],
    ["6. SqliteBackend.commit (the same SQL, from an AtomicWrite)", () =>
      backend.commit([{ namespaceId: nsId, write: { checks: [], mutations: [{ type: "set", key: key(), value: { encoding: "v8", data }, expiresAt: null }], enqueues: [] }, sealer: engine.keyring }], Date.now())],
    ["7. Engine.atomic (validation, group commit turn)", () =>
      engine.atomic(nsId, { checks: [], mutations: [{ type: "set", key: key(), value: { encoding: "v8", data }, expiresAt: null }], enqueues: [] })],
    ["8. Kv.set (Deno's checks, V8 serialization)", () => kv.set(["k", i++], value)],
  ];

  const per = await perCallInTurns(steps.map(([, step]) => step), seconds);
  const lines = ["| step | µs per commit | ÷ step 1 | CPU µs per commit | ÷ step 1 |", "|---|---:|---:|---:|---:|"];
  steps.forEach(([name], n) => {
    const { us, cpuUs } = per[n]!;
    lines.push(`| ${name} | ${us.toFixed(1)} | ${(us / per[0]!.us).toFixed(2)}× | ${cpuUs.toFixed(1)} | ${(cpuUs / per[0]!.cpuUs).toFixed(2)}× |`);
  });
  console.log(lines.join("\n"));
  console.log(`\n${machineLoad(loadBefore, loadavg())}`);
  db.close();
  kv.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
