/**
 * `npm run bench`: the core workload through our `Kv` on a SQLite file, next to Deno's own KV on a file
 * (the real deno binary, same workload code, same durability) and plain node:sqlite statements, all in
 * one run on this machine. Prints ops/s and the ratios.
 *
 * A second table measures encryption at rest: the same workload on a plain store, an encrypted one,
 * and an encrypted one that decrypts every read, taking turns of 100 ms so that the machine's noise
 * falls on all three alike.
 *
 * Options: --seconds N (per row, default 1.5); --encryption-only (just the second table)
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Engine } from "../src/core/engine.ts";
import { openBackend } from "../src/storage/index.ts";
import { openKv } from "../src/index.ts";
import { runRawSqlite } from "./raw-sqlite.ts";
import { compareInTurns, runWorkload, type KvLike, type Result } from "./workload.ts";

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

async function runComparison(): Promise<void> {
  const denoResults = runDeno();
  process.stderr.write("bench: OpenKV Kv (SQLite file, fsync on commit)…\n");
  const kv = await openKv(join(dir, "openkv.sqlite"));
  const ours = await runWorkload(kv as unknown as KvLike, seconds);
  kv.close();
  process.stderr.write("bench: raw node:sqlite…\n");
  const raw = await runRawSqlite(join(dir, "raw.sqlite"), seconds);

  const lines = [
    `| workload | OpenKV ops/s | Deno KV ops/s | raw node:sqlite ops/s | OpenKV ÷ Deno | OpenKV ÷ raw |`,
    `|---|---:|---:|---:|---:|---:|`,
  ];
  ours.forEach((o, i) => {
    const d = denoResults[i]!;
    const r = raw[i]!;
    lines.push(`| ${o.name} | ${fmt(o.opsPerSec)} | ${fmt(d.opsPerSec)} | ${fmt(r.opsPerSec)} | ${(o.opsPerSec / d.opsPerSec).toFixed(2)}× | ${(o.opsPerSec / r.opsPerSec).toFixed(2)}× |`);
  });
  console.log(lines.join("\n") + "\n");
}

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
} finally {
  rmSync(dir, { recursive: true, force: true });
}
