/**
 * `npm run bench:big-values`: a 10,000-pair bulk write (one group commit, as REST v4 `bulk` issues it)
 * into a SQLite store that holds four 25 MiB values, against the same write into a store without them,
 * in one run. For scale, the same savepointed writes against the pre-migration-2 layout (values inline in
 * the WITHOUT ROWID key B-tree) in raw node:sqlite — fewer of them, since that layout is the slow one.
 *
 * Options: --pairs N (default 10000), --old-pairs N (default 300)
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { parseArgs } from "node:util";
import { Engine } from "../src/core/engine.ts";
import { encodeKey } from "../src/core/keys.ts";
import { SqliteBackend } from "../src/storage/index.ts";

const { values } = parseArgs({ options: { pairs: { type: "string", default: "10000" }, "old-pairs": { type: "string", default: "300" } } });
const pairs = Number(values.pairs);
const oldPairs = Number(values["old-pairs"]);
const BIG = 25 * 1024 * 1024;
const dir = mkdtempSync(join(tmpdir(), "openkv-bench-big-"));

async function bulkWrite(withBig: boolean): Promise<number> {
  const engine = new Engine(new SqliteBackend(join(dir, `${withBig ? "big" : "plain"}.sqlite`)));
  const ns = await engine.createNamespace("bench");
  if (withBig) {
    for (let i = 0; i < 4; i++) {
      await engine.atomic(ns.id, { checks: [], mutations: [{ type: "set", key: encodeKey([`big-${i}`]), value: { encoding: "bytes", data: new Uint8Array(BIG).fill(i) } }], enqueues: [] });
    }
  }
  const started = performance.now();
  await Promise.all(
    Array.from({ length: pairs }, (_, i) =>
      engine.atomic(ns.id, {
        checks: [],
        mutations: [{ type: "set", key: encodeKey([`big-${i % 4}-${i}`]), value: { encoding: "bytes", data: new Uint8Array(32).fill(7) } }],
        enqueues: [],
      }),
    ),
  );
  const seconds = (performance.now() - started) / 1000;
  await engine.close();
  return pairs / seconds;
}

/** The layout before migration 2, in plain node:sqlite: what the same writes cost there. */
function oldLayout(): number {
  const db = new DatabaseSync(join(dir, "old.sqlite"));
  db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL");
  db.exec("CREATE TABLE entries (ns INTEGER NOT NULL, key BLOB NOT NULL, value BLOB NOT NULL, PRIMARY KEY (ns, key)) WITHOUT ROWID");
  const put = db.prepare("INSERT OR REPLACE INTO entries (ns, key, value) VALUES (1, ?, ?)");
  for (let i = 0; i < 4; i++) put.run(encodeKey([`big-${i}`]), new Uint8Array(BIG).fill(i));
  const started = performance.now();
  db.exec("BEGIN IMMEDIATE");
  for (let i = 0; i < oldPairs; i++) {
    db.exec("SAVEPOINT w");
    put.run(encodeKey([`big-${i % 4}-${i}`]), new Uint8Array(32).fill(7));
    db.exec("RELEASE w");
  }
  db.exec("COMMIT");
  const seconds = (performance.now() - started) / 1000;
  db.close();
  return oldPairs / seconds;
}

try {
  process.stderr.write("bench: bulk write into an empty store…\n");
  const plain = await bulkWrite(false);
  process.stderr.write("bench: bulk write next to 4 × 25 MiB values…\n");
  const big = await bulkWrite(true);
  process.stderr.write("bench: the old inline layout (raw node:sqlite)…\n");
  const old = oldLayout();
  const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
  console.log(
    [
      "| bulk write (writes/s) | next to 4 × 25 MiB values | without them | ratio |",
      "|---|---:|---:|---:|",
      `| OpenKV SQLite, ${pairs.toLocaleString("en-US")} pairs, one group commit | ${fmt(big)} | ${fmt(plain)} | ${(big / plain).toFixed(2)}× |`,
      `| values inline in the key B-tree (old layout, raw node:sqlite, ${oldPairs} pairs) | ${fmt(old)} | – | ${(old / plain).toFixed(3)}× of OpenKV without |`,
    ].join("\n"),
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
