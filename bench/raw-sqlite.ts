/**
 * The floor: the same workload as bench/workload.ts done with plain node:sqlite statements on a WAL file
 * with synchronous=FULL (the durability OpenKV defaults to), values V8-serialized like Deno's and
 * deserialized on read with node:v8 (any KV must hand back a value, not bytes).
 */
import { DatabaseSync } from "node:sqlite";
import { deserialize, serialize } from "node:v8";
import type { Steps } from "./workload.ts";

/**
 * The same rows as steps (workload.ts `Steps`), seeded, so that raw node:sqlite takes turns with the other
 * contenders instead of running after them at whatever load the machine then has.
 */
export function rawSqliteSteps(path: string): { steps: Steps; close(): void } {
  const db = new DatabaseSync(path);
  db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;");
  db.exec("CREATE TABLE kv (k BLOB PRIMARY KEY, v BLOB NOT NULL, version INTEGER NOT NULL) WITHOUT ROWID");
  const put = db.prepare("INSERT OR REPLACE INTO kv (k, v, version) VALUES (?, ?, ?)");
  const get = db.prepare("SELECT v, version FROM kv WHERE k = ?");
  const scan = db.prepare("SELECT k, v, version FROM kv WHERE k >= ? AND k < ? ORDER BY k LIMIT 1000");
  const value = serialize({ user: "someone", score: 42, tags: ["a", "b"], active: true });
  const key = (prefix: string, i: number) => Buffer.from(`${prefix}\u0000${String(i).padStart(8, "0")}`);
  let version = 0;
  db.exec("BEGIN");
  for (let i = 0; i < 1000; i++) put.run(key("list", i), value, ++version);
  for (let i = 0; i < 1000; i++) put.run(key("get", i), value, ++version);
  db.exec("COMMIT");
  const counterKey = Buffer.from("counter");
  // Async like every other contender's step: the caller awaits each one.
  const steps: Steps = {
    get: async (i) => {
      const row = get.get(key("get", i % 1000));
      return row && deserialize(row.v as Uint8Array) ? 1 : 0;
    },
    "set (1 in flight)": async (i) => (put.run(key("set1", i), value, ++version), 1),
    "set (100 in flight)": async (i) => {
      db.exec("BEGIN");
      for (let j = 0; j < 100; j++) put.run(key("set100", i * 100 + j), value, ++version);
      db.exec("COMMIT");
      return 100;
    },
    "list 1,000 entries": async () => {
      const rows = scan.all(Buffer.from("list\u0000"), Buffer.from("list\u0001"));
      for (const row of rows) deserialize(row.v as Uint8Array);
      return rows.length === 1000 ? 1 : 0;
    },
    "atomic sum": async () => {
      db.exec("BEGIN IMMEDIATE");
      const row = get.get(counterKey);
      const n = row ? (row.v as Uint8Array) : new Uint8Array(8);
      const next = new Uint8Array(8);
      new DataView(next.buffer).setBigUint64(0, new DataView(n.buffer, n.byteOffset, 8).getBigUint64(0, true) + 1n, true);
      put.run(counterKey, next, ++version);
      db.exec("COMMIT");
      return 1;
    },
  };
  return { steps, close: () => db.close() };
}
