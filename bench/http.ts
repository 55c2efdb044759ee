/**
 * `npm run bench:http`: GET and PUT over HTTP with 50 connections (autocannon), against the OpenKV server
 * (SQLite, fsync on commit) and a trivial node:http server started in the same run; PUT is also set
 * against Deno's own KV on a local file with 50 writers in flight. Prints req/s, p99 and ratios. Then the
 * cost of analytics on the request path: the same GET and PUT against a second OpenKV server started
 * with --no-analytics, the two measured in alternating turns so the machine's noise falls on both.
 *
 * Options: --seconds N (per measurement, default 5)
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import autocannon from "autocannon";
import { Analytics } from "../src/core/analytics/collector.ts";

const { values } = parseArgs({ options: { seconds: { type: "string", default: "5" } } });
const seconds = Number(values.seconds);
const root = join(import.meta.dirname, "..");
const dir = mkdtempSync(join(tmpdir(), "openkv-bench-http-"));
const TOKEN = "okv_bench_token";
const children: ChildProcess[] = [];

function start(cmd: string, args: string[], pattern: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "inherit"] });
    children.push(child);
    let out = "";
    child.stdout!.on("data", (c: Buffer) => {
      out += c.toString();
      const m = pattern.exec(out);
      if (m) resolve(m[1]!);
    });
    child.on("exit", (code) => reject(new Error(`${cmd} exited with ${code}: ${out}`)));
  });
}

interface Measured {
  rps: number;
  p99: number;
  errors: number;
}

async function load(url: string, method: "GET" | "PUT", auth: boolean, duration = seconds): Promise<Measured> {
  let n = 0;
  const result = await autocannon({
    url,
    connections: 50,
    duration,
    headers: { ...(auth ? { authorization: `Bearer ${TOKEN}` } : {}), "content-type": "application/json" },
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
  return { rps: result.requests.average, p99: result.latency.p99, errors: result.errors + result.non2xx };
}

try {
  const trivialPort = await start(process.execPath, [join(root, "bench/trivial-server.ts")], /listening (\d+)/);
  const openkvUrl = await start(join(root, "bin/openkv"), ["serve", "--port", "0", "--data", join(dir, "data"), "--admin-token", TOKEN], /listening on (http:\/\/\S+)/);
  await fetch(`${openkvUrl}/kv/hot`, {
    method: "PUT",
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ value: { user: "someone", score: 42 } }),
  });
  const trivial = `http://127.0.0.1:${trivialPort}`;
  process.stderr.write("bench: GET trivial…\n");
  const getBase = await load(`${trivial}/kv/hot`, "GET", false);
  process.stderr.write("bench: GET OpenKV…\n");
  const getOurs = await load(`${openkvUrl}/kv/hot`, "GET", true);
  process.stderr.write("bench: PUT trivial…\n");
  const putBase = await load(trivial, "PUT", false);
  process.stderr.write("bench: PUT OpenKV…\n");
  const putOurs = await load(openkvUrl, "PUT", true);
  process.stderr.write("bench: Deno KV set, 50 in flight…\n");
  const deno = spawnSync(join(root, "node_modules/.bin/deno"), ["run", "--unstable-kv", "-A", join(root, "bench/deno-set.deno.ts"), join(dir, "deno.sqlite"), String(seconds), "50"], { encoding: "utf8" });
  if (deno.status !== 0) throw new Error(deno.stderr);
  const denoSet = (JSON.parse(deno.stdout) as { opsPerSec: number }).opsPerSec;

  // Analytics on against off: two fresh servers, started and warmed alike, then measured in alternating turns.
  const pair: Record<"on" | "off", string> = { on: "", off: "" };
  for (const name of ["on", "off"] as const) {
    const flags = name === "off" ? ["--no-analytics"] : [];
    pair[name] = await start(join(root, "bin/openkv"), ["serve", "--port", "0", "--data", join(dir, `data-${name}`), "--admin-token", TOKEN, ...flags], /listening on (http:\/\/\S+)/);
    await fetch(`${pair[name]}/kv/hot`, { method: "PUT", headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" }, body: JSON.stringify({ value: { user: "someone", score: 42 } }) });
  }
  for (const name of ["on", "off"] as const) {
    process.stderr.write(`bench: warming analytics ${name}…\n`);
    await load(`${pair[name]}/kv/hot`, "GET", true, 2);
    await load(pair[name], "PUT", true, 2);
  }
  const [openkvOn, offUrl] = [pair.on, pair.off];
  const turns = { on: { get: 0, put: 0 }, off: { get: 0, put: 0 } };
  const ROUNDS = 4;
  for (let i = 0; i < ROUNDS; i++) {
    for (const [name, url] of (i % 2 === 0 ? [["on", openkvOn], ["off", offUrl]] : [["off", offUrl], ["on", openkvOn]]) as ["on" | "off", string][]) {
      process.stderr.write(`bench: analytics ${name}, round ${i + 1}/${ROUNDS}…\n`);
      turns[name].get += (await load(`${url}/kv/hot`, "GET", true)).rps / ROUNDS;
      turns[name].put += (await load(url, "PUT", true)).rps / ROUNDS;
    }
  }

  const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
  const errors = getOurs.errors + putOurs.errors;
  console.log(
    [
      "| workload (50 connections) | OpenKV req/s | OpenKV p99 ms | baseline | baseline req/s | baseline p99 ms | OpenKV ÷ baseline |",
      "|---|---:|---:|---|---:|---:|---:|",
      `| GET /kv/hot | ${fmt(getOurs.rps)} | ${getOurs.p99} | trivial node:http | ${fmt(getBase.rps)} | ${getBase.p99} | ${(getOurs.rps / getBase.rps).toFixed(2)}× |`,
      `| PUT /kv/… (durable) | ${fmt(putOurs.rps)} | ${putOurs.p99} | trivial node:http | ${fmt(putBase.rps)} | ${putBase.p99} | ${(putOurs.rps / putBase.rps).toFixed(2)}× |`,
      `| PUT /kv/… (durable) | ${fmt(putOurs.rps)} | ${putOurs.p99} | Deno KV set, local file, 50 in flight | ${fmt(denoSet)} | – | ${(putOurs.rps / denoSet).toFixed(2)}× |`,
    ].join("\n"),
  );
  console.log(
    [
      "",
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
  if (errors > 0) console.log(`\n${errors} OpenKV requests failed or were not 2xx.`);
} finally {
  for (const c of children) c.kill("SIGTERM");
  await new Promise((r) => setTimeout(r, 300));
  rmSync(dir, { recursive: true, force: true });
}
