/**
 * `npm run bench`: the core workload through our `Kv` on a SQLite file, next to Deno's own KV on a file
 * (the real deno binary, same workload code, same durability), `@deno/kv`'s native store (denokv's Rust
 * SQLite backend loaded into this Node process through N-API, on a file) and plain node:sqlite
 * statements, all in one run on this machine. Prints ops/s and the ratios.
 *
 * Our `Kv`, `@deno/kv` and raw node:sqlite live in the same process, so they take turns of 100 ms per
 * row (workload.ts `stepsInTurns`): whatever else the machine does falls on all alike (raw node:sqlite
 * once ran after the others, and its ratios moved with the load). Every store fsyncs each commit (WAL,
 * synchronous=FULL; see the README for the strace counts).
 *
 * A second table measures encryption at rest: the same workload on a plain store, an encrypted one,
 * and an encrypted one that decrypts every read, taking turns of 100 ms so that the machine's noise
 * falls on all three alike.
 *
 * Options: --seconds N (per row, default 1.5); --encryption-only (just the second table)
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { parseArgs } from "node:util";
import { openKv as openDenoKvNapi } from "@deno/kv";
import { Engine } from "../src/core/engine.ts";
import { encodeKey } from "../src/core/keys.ts";
import { openBackend } from "../src/storage/index.ts";
import { openKv } from "../src/index.ts";
import { rawSqliteSteps } from "./raw-sqlite.ts";
import { machineLoad } from "./tools.ts";
import { compareInTurns, stepsInTurns, workloadSteps, type KvLike, type Result, type Steps } from "./workload.ts";

const { values } = parseArgs({ options: { seconds: { type: "string", default: "1.5" }, "encryption-only": { type: "boolean", default: false } } });
const seconds = Number(values.seconds);
const dir = mkdtempSync(join(tmpdir(), "openkv-bench-"));
const deno = join(import.meta.dirname, "../node_modules/.bin/deno");
const fmt = (n: number) => Math.round(n).toLocaleString("en-US");

function runDeno(): Result[] {
  process.stderr.write("bench: Deno KV (deno binary, SQLite file)…\n");
  const r = spawnSync(deno, ["run", "--unstable-kv", "-A", join(import.meta.dirname, "deno-kv.deno.ts"), join(dir, "deno.sqlite"), String(seconds)], {
    encoding: "utf8",
    timeout: 300_000,
  });
  if (r.status !== 0) throw new Error(`deno failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Result[];
}

/** `@deno/kv` on a local file: its N-API SQLite backend, in this process (no server, no child). */
async function openNapiKv(path: string): Promise<KvLike & { close(): void }> {
  const kv = await openDenoKvNapi(path);
  await kv.set(["opened"], true);
  // A path that silently fell back to the in-memory or remote store would leave no file behind.
  if (statSync(path).size === 0) throw new Error(`@deno/kv did not write ${path}`);
  return kv as unknown as KvLike & { close(): void };
}

async function runComparison(): Promise<void> {
  const denoResults = runDeno();
  process.stderr.write("bench: OpenKV Kv, @deno/kv (napi) and raw node:sqlite, SQLite files, fsync on commit, in turns…\n");
  const kv = await openKv(join(dir, "openkv.sqlite"));
  const napi = await openNapiKv(join(dir, "deno-napi.sqlite"));
  const value = { user: "someone", score: 42, tags: ["a", "b"], active: true };
  for (const store of [kv as unknown as KvLike, napi]) {
    for (let i = 0; i < 1000; i++) await store.set(["list", i], value);
    for (let i = 0; i < 1000; i++) await store.set(["get", i], value);
  }
  const raw = rawSqliteSteps(join(dir, "raw.sqlite"));
  const rates = await stepsInTurns({ ours: workloadSteps(kv as unknown as KvLike), napi: workloadSteps(napi), raw: raw.steps }, seconds);
  const floor = await listFloor(kv as unknown as KvLike, join(dir, "openkv.sqlite"));
  kv.close();
  napi.close();
  raw.close();

  const lines = [
    `| workload | OpenKV ops/s | Deno KV ops/s | @deno/kv (napi) ops/s | raw node:sqlite ops/s | OpenKV ÷ Deno | OpenKV ÷ @deno/kv | OpenKV ÷ raw |`,
    `|---|---:|---:|---:|---:|---:|---:|---:|`,
  ];
  denoResults.forEach((d, i) => {
    const o = rates[d.name]!.ours;
    const n = rates[d.name]!.napi;
    const r = rates[d.name]!.raw;
    const x = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
    lines.push(`| ${d.name} | ${fmt(o)} | ${fmt(d.opsPerSec)} | ${fmt(n)} | ${fmt(r)} | ${x(o, d.opsPerSec)} | ${x(o, n)} | ${x(o, r)} |`);
  });
  console.log(lines.join("\n") + "\n");
  const denoList = denoResults.find((d) => d.name === "list 1,000 entries")!.opsPerSec;
  const vsDeno = (n: number) => `${fmt(n)}/s (${(n / denoList).toFixed(2)}× Deno KV's whole list)`;
  console.log(
    [
      `The list's floor, in turns on the same file (node:sqlite, 1,000 rows, nothing decoded):`,
      `- SQLite walking the rows (count(*) over the scan): ${vsDeno(floor.walk)};`,
      `- the scan OpenKV runs for it, the page as one blob and the rows without one (two statements, one snapshot): ${vsDeno(floor.page)};`,
      `- the same rows as one blob each (OpenKV's scan for short pages): ${vsDeno(floor.scan)};`,
      `- OpenKV's whole list: ${vsDeno(floor.list)}.\n`,
    ].join("\n"),
  );
}

/**
 * What bounds the list row: the SQLite statements the store runs for it (written out as in
 * src/storage/sqlite/sqlite-backend.ts: the page as one blob plus the rows without one; and one blob
 * per row, as short scans run), SQLite's own walk over the same rows (`count(*)`), alone on the same
 * file, in turns of 100 ms with `kv.list`.
 */
async function listFloor(kv: KvLike, path: string): Promise<{ list: number; scan: number; page: number; walk: number }> {
  const db = new DatabaseSync(path, { readOnly: true });
  const from = "FROM entries WHERE ns = ?1 AND key >= ?2 AND key < ?3 AND (expires_at IS NULL OR expires_at > ?4) ORDER BY key LIMIT ?5";
  const scan = db.prepare(
    `SELECT CAST(key || coalesce(value, X'') AS BLOB) AS kv, length(key) AS kl, CASE WHEN blob_id IS NULL THEN NULL ELSE (SELECT data FROM blobs WHERE id = blob_id) END AS big,
       encoding, versionstamp, expires_at, metadata ${from}`,
  );
  scan.setReturnArrays(true);
  const pageBlob = db.prepare(`SELECT CAST(group_concat(key || coalesce(value, X''), '') AS BLOB) AS page FROM (SELECT key, value ${from})`);
  const pageRows = db.prepare(`SELECT length(key), length(value), encoding, versionstamp, expires_at, metadata, blob_id ${from}`);
  pageRows.setReturnArrays(true);
  const walk = db.prepare(`SELECT count(*) AS n FROM (SELECT key ${from})`);
  const ns = db.prepare("SELECT seq FROM namespaces").get()!.seq as number;
  const start = encodeKey(["list"]);
  const end = Uint8Array.of(...start, 0xff);
  const list = workloadSteps(kv)["list 1,000 entries"];
  const scanStep = async () => (scan.all(ns, start, end, Date.now(), 1000).length === 1000 ? 1 : 0);
  const pageStep = async () => {
    db.exec("BEGIN");
    const now = Date.now();
    const ok = (pageBlob.get(ns, start, end, now, 1000)!.page as Uint8Array).byteLength > 0 && pageRows.all(ns, start, end, now, 1000).length === 1000;
    db.exec("COMMIT");
    return ok ? 1 : 0;
  };
  const walkStep = async () => (walk.get(ns, start, end, Date.now(), 1000)!.n === 1000 ? 1 : 0);
  const steps = { list: { "list 1,000 entries": list }, scan: { "list 1,000 entries": scanStep }, page: { "list 1,000 entries": pageStep }, walk: { "list 1,000 entries": walkStep } };
  const rates = await stepsInTurns(steps as unknown as Record<"list" | "scan" | "page" | "walk", Steps>, seconds, ["list 1,000 entries"]);
  db.close();
  return rates["list 1,000 entries"]!;
}

const loadBefore = loadavg();
try {
  if (!values["encryption-only"]) await runComparison();
  // Encryption at rest: a plain store, an encrypted one, and an encrypted one with its decrypted-entry
  // cache off (every get and every listed entry decrypted), each workload run on all three in turns of
  // 100 ms, many times over: whatever else the machine does falls on all three alike.
  process.stderr.write("bench: encryption at rest (plain, encrypted, encrypted without cache, in turns)…\n");
  const encryptionKey = randomBytes(32);
  const coldEngine = await Engine.open(openBackend(join(dir, "cold.sqlite")), { encryptionKey, decryptedCacheBytes: 0 });
  const stores = {
    plain: await openKv(join(dir, "plain.sqlite")),
    sealed: await openKv(join(dir, "sealed.sqlite"), { encryptionKey }),
    cold: await openKv(undefined, { engine: coldEngine }),
  };
  const rates = await compareInTurns(stores as unknown as Record<keyof typeof stores, KvLike>, seconds * 3);
  for (const kv of Object.values(stores)) kv.close();
  await coldEngine.close();
  const enc = [`| workload | OpenKV ops/s | encrypted ops/s | encrypted ÷ plain | encrypted, no cache ops/s | ÷ plain |`, `|---|---:|---:|---:|---:|---:|`];
  for (const [name, r] of Object.entries(rates)) {
    enc.push(`| ${name} | ${fmt(r.plain)} | ${fmt(r.sealed)} | ${(r.sealed / r.plain).toFixed(2)}× | ${fmt(r.cold)} | ${(r.cold / r.plain).toFixed(2)}× |`);
  }
  console.log(enc.join("\n"));
  console.log(`\n${machineLoad(loadBefore, loadavg())}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
