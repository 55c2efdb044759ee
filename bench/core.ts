/**
 * `npm run bench`: the core workload through our `Kv` on a SQLite file, next to Deno's own KV on a file
 * (the real deno binary, same workload code, same durability) and plain node:sqlite statements, all in
 * one run on this machine. Prints ops/s and the ratios.
 *
 * A second table measures encryption at rest: the same workload on a store opened with a key, against
 * the plain store, run alternately twice each (best of two per row) so that the machine's noise falls
 * on both sides alike.
 *
 * Options: --seconds N (per row, default 1.5)
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
import { runWorkload, type KvLike, type Result } from "./workload.ts";

const { values } = parseArgs({ options: { seconds: { type: "string", default: "1.5" } } });
const seconds = Number(values.seconds);
const dir = mkdtempSync(join(tmpdir(), "openkv-bench-"));
const deno = join(import.meta.dirname, "../node_modules/.bin/deno");

function runDeno(): Result[] {
  process.stderr.write("bench: Deno KV (deno binary, SQLite file)…\n");
  const r = spawnSync(deno, ["run", "--unstable-kv", "-A", join(import.meta.dirname, "deno-kv.deno.ts"), join(dir, "deno.sqlite"), String(seconds)], {
    encoding: "utf8",
    timeout: 300_000,
  });
  if (r.status !== 0) throw new Error(`deno failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Result[];
}

try {
  const denoResults = runDeno();
  process.stderr.write("bench: OpenKV Kv (SQLite file, fsync on commit)…\n");
  const kv = await openKv(join(dir, "openkv.sqlite"));
  const ours = await runWorkload(kv as unknown as KvLike, seconds);
  kv.close();
  process.stderr.write("bench: raw node:sqlite…\n");
  const raw = await runRawSqlite(join(dir, "raw.sqlite"), seconds);

  const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
  const lines = [
    `| workload | OpenKV ops/s | Deno KV ops/s | raw node:sqlite ops/s | OpenKV ÷ Deno | OpenKV ÷ raw |`,
    `|---|---:|---:|---:|---:|---:|`,
  ];
  ours.forEach((o, i) => {
    const d = denoResults[i]!;
    const r = raw[i]!;
    lines.push(`| ${o.name} | ${fmt(o.opsPerSec)} | ${fmt(d.opsPerSec)} | ${fmt(r.opsPerSec)} | ${(o.opsPerSec / d.opsPerSec).toFixed(2)}× | ${(o.opsPerSec / r.opsPerSec).toFixed(2)}× |`);
  });
  console.log(lines.join("\n"));

  // Encryption at rest: the plain store, an encrypted one, and an encrypted one whose decrypted-entry
  // cache is off (every get and every listed entry decrypted), run in turn, twice, best of two per row.
  const encryptionKey = randomBytes(32);
  const variants = {
    plain: { label: "OpenKV Kv plain", open: (n: number) => openKv(join(dir, `plain-${n}.sqlite`)) },
    sealed: { label: "OpenKV Kv encrypted at rest", open: (n: number) => openKv(join(dir, `sealed-${n}.sqlite`), { encryptionKey }) },
    cold: {
      label: "OpenKV Kv encrypted, decrypting every read",
      open: async (n: number) => {
        const engine = await Engine.open(openBackend(join(dir, `cold-${n}.sqlite`)), { encryptionKey, decryptedCacheBytes: 0 });
        const kv = await openKv(undefined, { engine });
        const closeKv = kv.close.bind(kv);
        return Object.assign(kv, { close: () => (closeKv(), void engine.close()) });
      },
    },
  };
  const runs: Record<keyof typeof variants, Result[][]> = { plain: [ours], sealed: [], cold: [] };
  for (let round = 0; round < 2; round++) {
    for (const name of ["sealed", "cold", "plain"] as const) {
      if (name === "plain" && round === 0) continue; // the first table's run is round one
      process.stderr.write(`bench: ${variants[name].label} (round ${round + 1} of 2)…\n`);
      const kv = await variants[name].open(round);
      runs[name].push(await runWorkload(kv as unknown as KvLike, seconds));
      kv.close();
    }
  }
  const best = (list: Result[][]) => list[0]!.map((_, i) => Math.max(...list.map((run) => run[i]!.opsPerSec)));
  const [plain, sealed, cold] = [best(runs.plain), best(runs.sealed), best(runs.cold)];
  const enc = [`| workload | OpenKV ops/s | encrypted ops/s | encrypted ÷ plain | encrypted, no cache ops/s | ÷ plain |`, `|---|---:|---:|---:|---:|---:|`];
  ours.forEach((o, i) =>
    enc.push(`| ${o.name} | ${fmt(plain[i]!)} | ${fmt(sealed[i]!)} | ${(sealed[i]! / plain[i]!).toFixed(2)}× | ${fmt(cold[i]!)} | ${(cold[i]! / plain[i]!).toFixed(2)}× |`),
  );
  console.log("\n" + enc.join("\n"));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
