/**
 * The floor: the same workload as bench/workload.ts done with plain node:sqlite statements on a WAL file
 * with synchronous=FULL (the durability OpenKV defaults to), values V8-serialized like Deno's and
 * deserialized on read with node:v8 (any KV must hand back a value, not bytes).
 */
import { DatabaseSync } from "node:sqlite";
import { deserialize, serialize } from "node:v8";
import { ROWS, type Result } from "./workload.ts";

async function measure(name: string, minSeconds: number, maxOps: number, step: (i: number) => number): Promise<Result> {
  const start = performance.now();
  let ops = 0;
  let i = 0;
  while (ops < maxOps && (performance.now() - start) / 1000 < minSeconds) {
    ops += step(i++);
    // Yield like an async API would, so the comparison is not skewed by a tight synchronous loop.
    if ((i & 63) === 0) await new Promise((r) => setImmediate(r));
  }
  const seconds = (performance.now() - start) / 1000;
  return { name, ops, seconds, opsPerSec: ops / seconds };
}

export async function runRawSqlite(path: string, seconds: number): Promise<Result[]> {
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
  const results: Result[] = [];
  results.push(
    await measure(ROWS[0], seconds, 2_000_000, (i) => {
      const row = get.get(key("get", i % 1000));
      if (!row || !deserialize(row.v as Uint8Array)) throw new Error("missing");
      return 1;
    }),
  );
  results.push(await measure(ROWS[1], seconds, 200_000, (i) => (put.run(key("set1", i), value, ++version), 1)));
  results.push(
    await measure(ROWS[2], seconds, 2_000_000, (i) => {
      db.exec("BEGIN");
      for (let j = 0; j < 100; j++) put.run(key("set100", i * 100 + j), value, ++version);
      db.exec("COMMIT");
      return 100;
    }),
  );
  results.push(
    await measure(ROWS[3], seconds, 100_000, () => {
      const rows = scan.all(Buffer.from("list\u0000"), Buffer.from("list\u0001"));
      for (const row of rows) deserialize(row.v as Uint8Array);
      if (rows.length !== 1000) throw new Error("short list");
      return 1;
    }),
  );
  const counterKey = Buffer.from("counter");
  results.push(
    await measure(ROWS[4], seconds, 200_000, () => {
      db.exec("BEGIN IMMEDIATE");
      const row = get.get(counterKey);
      const n = row ? (row.v as Uint8Array) : new Uint8Array(8);
      const next = new Uint8Array(8);
      new DataView(next.buffer).setBigUint64(0, new DataView(n.buffer, n.byteOffset, 8).getBigUint64(0, true) + 1n, true);
      put.run(counterKey, next, ++version);
      db.exec("COMMIT");
      return 1;
    }),
  );
  db.close();
  return results;
}
