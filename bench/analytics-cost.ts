/**
 * `npm run bench:analytics`: what analytics cost on the request path. Two OpenKV servers (SQLite, fsync
 * on commit), started and warmed alike, one with --no-analytics; hot GET and durable PUT with 50
 * connections (autocannon) against each, the two measured in alternating turns so the shared machine's
 * noise falls on both. Then record() alone, in this process, against the time one request takes.
 *
 * Options: --seconds N (per measurement, default 5); --rounds N (default 4)
 */
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import autocannon from "autocannon";
import { Analytics } from "../src/core/analytics/collector.ts";
import { machineLoad, startChild } from "./tools.ts";

const { values } = parseArgs({ options: { seconds: { type: "string", default: "5" }, rounds: { type: "string", default: "4" } } });
const seconds = Number(values.seconds);
const ROUNDS = Number(values.rounds);
const root = join(import.meta.dirname, "..");
const dir = mkdtempSync(join(tmpdir(), "openkv-bench-analytics-"));
const TOKEN = "okv_bench_token";
const children: ChildProcess[] = [];
const load0 = loadavg();

const start = async (cmd: string, args: string[], pattern: RegExp) => (await startChild(cmd, args, pattern, children)).match;

async function load(url: string, method: "GET" | "PUT", duration = seconds): Promise<number> {
  let n = 0;
  const result = await autocannon({
    url,
    connections: 50,
    duration,
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    requests: [
      method === "GET"
        ? { method: "GET" }
        : {
            method: "PUT",
            setupRequest: (req: autocannon.Request) => ({
              ...req,
              path: `/kv/bench.k${n++}`,
              body: JSON.stringify({ value: { user: "someone", score: 42, tags: ["a", "b"], active: true } }),
            }),
          },
    ],
  });
  if (result.errors + result.non2xx > 0) throw new Error(`${result.errors + result.non2xx} requests to ${url} failed`);
  return result.requests.average;
}

try {
  const pair: Record<"on" | "off", string> = { on: "", off: "" };
  for (const name of ["on", "off"] as const) {
    const flags = name === "off" ? ["--no-analytics"] : [];
    pair[name] = await start(join(root, "bin/openkv"), ["serve", "--port", "0", "--data", join(dir, `data-${name}`), "--admin-token", TOKEN, ...flags], /listening on (http:\/\/\S+)/);
    await fetch(`${pair[name]}/kv/hot`, { method: "PUT", headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" }, body: JSON.stringify({ value: { user: "someone", score: 42 } }) });
  }
  for (const name of ["on", "off"] as const) {
    process.stderr.write(`bench: warming analytics ${name}…\n`);
    await load(`${pair[name]}/kv/hot`, "GET", 2);
    await load(pair[name], "PUT", 2);
  }
  const turns = { on: { get: 0, put: 0 }, off: { get: 0, put: 0 } };
  for (let i = 0; i < ROUNDS; i++) {
    for (const name of (i % 2 === 0 ? ["on", "off"] : ["off", "on"]) as ("on" | "off")[]) {
      process.stderr.write(`bench: analytics ${name}, round ${i + 1}/${ROUNDS}…\n`);
      turns[name].get += (await load(`${pair[name]}/kv/hot`, "GET")) / ROUNDS;
      turns[name].put += (await load(pair[name], "PUT")) / ROUNDS;
    }
  }
  const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
  console.log(`\n${machineLoad(load0)}\n`);
  console.log(
    [
      "| workload (50 connections) | analytics on req/s | analytics off req/s | on ÷ off |",
      "|---|---:|---:|---:|",
      `| GET /kv/hot | ${fmt(turns.on.get)} | ${fmt(turns.off.get)} | ${(turns.on.get / turns.off.get).toFixed(3)}× |`,
      `| PUT /kv/… (durable) | ${fmt(turns.on.put)} | ${fmt(turns.off.put)} | ${(turns.on.put / turns.off.put).toFixed(3)}× |`,
    ].join("\n"),
  );
  // The same cost without the network's noise: record() alone, in this process, against the time one
  // request takes on the off server (1 / its req/s: what a fully busy server spends per request).
  const analytics = new Analytics(null, { clock: { now: () => Date.now() } });
  const N = 1_000_000;
  const ns = "0123456789abcdef0123456789abcdef";
  for (let i = 0; i < N / 10; i++) analytics.record(ns, "read", "cold_read", 200, 1, 40, 0.3 + (i % 100) / 10);
  const t0 = performance.now();
  for (let i = 0; i < N; i++) analytics.record(ns, "read", "cold_read", 200, 1, 40, 0.3 + (i % 100) / 10);
  const recordNs = ((performance.now() - t0) * 1e6) / N;
  const perRequestNs = 1e9 / Math.max(turns.off.get, turns.off.put);
  console.log(`\nrecord() costs ${recordNs.toFixed(0)} ns per request: ${((100 * recordNs) / perRequestNs).toFixed(2)}% of a request at the off server's best rate.`);
  await analytics.close();
} finally {
  for (const c of children) c.kill("SIGTERM");
  await new Promise((r) => setTimeout(r, 300));
  rmSync(dir, { recursive: true, force: true });
}
