/**
 * `npm run bench:commit-ab -- BEFORE AFTER`: a lone durable `Kv.set` and atomic sum through two checkouts
 * of OpenKV (each a directory holding src/, e.g. one made with `git worktree add` or `git archive | tar -x`)
 * loaded into this one process, next to raw node:sqlite's autocommit INSERT, in turns of 100 ms on files
 * in one directory (fsync on commit everywhere). The machine's noise falls on both trees alike, so a
 * change to the commit path is measured against its own baseline in one run, not against a table made on
 * another day at another load. Prints µs and CPU µs per commit and ops/s against raw.
 *
 * Options: --seconds N (turns of 100 ms per row, default 3); --dir PATH (where the files go, default the
 * OS temp dir; /dev/shm keeps the disk's noise out and leaves CPU)
 */
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { parseArgs } from "node:util";
import { serialize } from "node:v8";
import { machineLoad, perCallInTurns } from "./tools.ts";

const { values, positionals } = parseArgs({
  options: { seconds: { type: "string", default: "3" }, dir: { type: "string", default: tmpdir() } },
  allowPositionals: true,
});
if (positionals.length !== 2) {
  console.error("usage: npm run bench:commit-ab -- BEFORE_DIR AFTER_DIR [--seconds N] [--dir PATH]");
  process.exit(2);
}
const seconds = Number(values.seconds);
const trees = positionals.map((p) => resolve(p));
const dir = mkdtempSync(join(values.dir, "openkv-commit-ab-"));
const loadBefore = loadavg();

interface KvLike {
  set(key: unknown[], value: unknown): Promise<unknown>;
  atomic(): { sum(key: unknown[], n: bigint): { commit(): Promise<unknown> } };
  close(): void;
}

try {
  const [before, after] = (await Promise.all(
    trees.map(async (root, n) => ((await import(join(root, "src/index.ts"))) as { openKv(path: string): Promise<KvLike> }).openKv(join(dir, `tree-${n}.sqlite`))),
  )) as [KvLike, KvLike];
  const raw = new DatabaseSync(join(dir, "raw.sqlite"));
  raw.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; CREATE TABLE kv (k BLOB PRIMARY KEY, v BLOB NOT NULL, version INTEGER NOT NULL) WITHOUT ROWID");
  const insert = raw.prepare("INSERT OR REPLACE INTO kv (k, v, version) VALUES (?, ?, ?)");
  const value = { user: "someone", score: 42, tags: ["a", "b"], active: true };
  let i = 0;
  const rows: [string, () => unknown][] = [
    ["raw node:sqlite autocommit INSERT (value by node:v8)", () => insert.run(Buffer.from(`k${i++}`), serialize(value), i)],
    ["Kv.set, before", () => before.set(["k", i++], value)],
    ["Kv.set, after", () => after.set(["k", i++], value)],
    ["atomic sum, before", () => before.atomic().sum(["count"], 1n).commit()],
    ["atomic sum, after", () => after.atomic().sum(["count"], 1n).commit()],
  ];
  const per = await perCallInTurns(rows.map(([, step]) => step), seconds);
  const lines = ["| row | µs per commit | CPU µs per commit | ops/s ÷ raw |", "|---|---:|---:|---:|"];
  rows.forEach(([name], n) => lines.push(`| ${name} | ${per[n]!.us.toFixed(1)} | ${per[n]!.cpuUs.toFixed(1)} | ${(per[0]!.us / per[n]!.us).toFixed(2)}× |`));
  console.log(`before: ${trees[0]}\nafter: ${trees[1]}\nfiles in: ${values.dir}\n\n${lines.join("\n")}\n\n${machineLoad(loadBefore, loadavg())}`);
  before.close();
  after.close();
  raw.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
