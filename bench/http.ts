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

async function load(url: string, method: "GET" | "PUT", auth: boolean): Promise<Measured> {
  let n = 0;
  const result = await autocannon({
    url,
    connections: 50,
    duration: seconds,
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

  // Analytics on (the server above) against off, in alternating turns.
  const offUrl = await start(join(root, "bin/openkv"), ["serve", "--port", "0", "--data", join(dir, "data-off"), "--admin-token", TOKEN, "--no-analytics"], /listening on (http:\/\/\S+)/);
  await fetch(`${offUrl}/kv/hot`, { method: "PUT", headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" }, body: JSON.stringify({ value: { user: "someone", score: 42 } }) });
  const turns = { on: { get: 0, put: 0 }, off: { get: 0, put: 0 } };
  const ROUNDS = 3;
  for (let i = 0; i < ROUNDS; i++) {
    for (const [name, url] of (i % 2 === 0 ? [["on", openkvUrl], ["off", offUrl]] : [["off", offUrl], ["on", openkvUrl]]) as ["on" | "off", string][]) {
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
  if (errors > 0) console.log(`\n${errors} OpenKV requests failed or were not 2xx.`);
} finally {
  for (const c of children) c.kill("SIGTERM");
  await new Promise((r) => setTimeout(r, 300));
  rmSync(dir, { recursive: true, force: true });
}
