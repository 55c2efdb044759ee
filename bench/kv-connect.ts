/**
 * `npm run bench:kv-connect`: the Deno KV workload (bench/workload.ts) run by the real deno binary
 * against OpenKV over KV Connect (HTTP/2 cleartext to a server on 127.0.0.1, SQLite file, fsync on
 * commit), next to the same script on Deno's own local KV (`Deno.openKv(file)`), in one run on this
 * machine. Prints ops/s and the ratio as a markdown table.
 *
 * Options: --seconds N (per row, default 1.5)
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { startServer } from "../src/server/server.ts";
import type { Result } from "./workload.ts";

const { values } = parseArgs({ options: { seconds: { type: "string", default: "1.5" } } });
const seconds = Number(values.seconds);
const dir = mkdtempSync(join(tmpdir(), "openkv-bench-kv-connect-"));
const deno = join(import.meta.dirname, "../node_modules/.bin/deno");
const script = join(import.meta.dirname, "deno-kv.deno.ts");
const TOKEN = "okv_bench_token_0123456789abcdef";

/** Async, not spawnSync: the server answering the deno child lives in this process. */
function runDeno(path: string, extraEnv: Record<string, string> = {}): Promise<Result[]> {
  return new Promise((resolve, reject) => {
    execFile(deno, ["run", "--unstable-kv", "-A", script, path, String(seconds)], { timeout: 600_000, env: { ...process.env, NO_COLOR: "1", ...extraEnv } }, (error, stdout, stderr) =>
      error ? reject(new Error(`deno failed: ${stderr}`)) : resolve(JSON.parse(stdout) as Result[]),
    );
  });
}

const server = await startServer({ host: "127.0.0.1", port: 0, dataDir: join(dir, "server"), adminToken: TOKEN, log: () => {} });
try {
  process.stderr.write("bench: Deno KV (deno binary, local SQLite file)…\n");
  const local = await runDeno(join(dir, "deno.sqlite"));
  process.stderr.write(`bench: deno binary → OpenKV over KV Connect (${server.url}, SQLite, fsync on commit)…\n`);
  const remote = await runDeno(`${server.url}/kv-connect/bench`, { DENO_KV_ACCESS_TOKEN: TOKEN });
  const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
  const lines = ["| workload (from deno) | OpenKV over KV Connect ops/s | Deno local file ops/s | KV Connect ÷ local |", "|---|---:|---:|---:|"];
  remote.forEach((r, i) => {
    const l = local[i]!;
    lines.push(`| ${r.name} | ${fmt(r.opsPerSec)} | ${fmt(l.opsPerSec)} | ${(r.opsPerSec / l.opsPerSec).toFixed(2)}× |`);
  });
  console.log(lines.join("\n"));
} finally {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
}
