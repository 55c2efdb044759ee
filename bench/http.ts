/**
 * `npm run bench:http`: hot GET and durable PUT over HTTP with 50 connections against the OpenKV server
 * (SQLite, fsync on commit), next to, in the same run:
 * - a trivial node:http server (bench/trivial-server.ts): the least Node's HTTP stack can do;
 * - Redis (Debian's redis-server, started here on a free port), driven by redis-benchmark with 50 clients:
 *   GET of one hot key, and SET of new keys both with no persistence and with `appendfsync always`
 *   (fsync before the reply, as our durable PUT);
 * - Deno's own KV on a local file with 50 writers in flight (the deno binary), for PUT;
 * - for PUT under wrk, the same OpenKV server with the opt-in `--durability process` (no fsync per commit):
 *   the durable PUT's ratio against it is what the fsync costs at the HTTP level.
 *
 * Load generators: wrk (Debian's, one thread) is the primary one; autocannon (in this process, unpinned)
 * the second opinion. `--pin loadgen` places wrk and redis-benchmark on CPU 1; `--pin both` also moves
 * the server under load to CPU 0 for the run (redis-server is placed like our server). Unpinned by
 * default: on this shared 2-core machine (load average above 10) pinning made every server slower,
 * the trivial one most (README, "Benchmarks").
 *
 * Every measurement is split into `--rounds` short runs, and the contenders take turns round by round,
 * so that the machine's other work (it is shared) falls on all of them alike.
 *
 * A missing wrk, redis-server or redis-benchmark skips its rows and says which Debian package to install.
 *
 * Options: --seconds N (per contender and workload, default 10); --rounds N (default 5);
 * --redis-requests N (per contender in all, default 100000: redis-benchmark's default);
 * --pin both|loadgen|none (default none)
 */
import { spawnSync, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import autocannon from "autocannon";
import { combineRounds, findTool, startChild, machineLoad, missingTool, redisBenchmark, runWrk, setAffinity, startRedis, type Round } from "./tools.ts";

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "10" },
    rounds: { type: "string", default: "5" },
    "redis-requests": { type: "string", default: "100000" },
    pin: { type: "string", default: "none" },
  },
});
const ROUNDS = Number(values.rounds);
/** wrk takes whole seconds. */
const RUN_SECONDS = Math.max(1, Math.round(Number(values.seconds) / ROUNDS));
const REDIS_REQUESTS = Math.ceil(Number(values["redis-requests"]) / ROUNDS);
if (!["both", "loadgen", "none"].includes(values.pin)) throw new Error(`--pin must be both, loadgen or none, not ${values.pin}`);
const root = join(import.meta.dirname, "..");
const dir = mkdtempSync(join(tmpdir(), "openkv-bench-http-"));
const TOKEN = "okv_bench_token";
const CONNECTIONS = 50;
/** The bench's PUT value, as JSON; Redis SETs a value of the same length. */
const VALUE = { user: "someone", score: 42, tags: ["a", "b"], active: true };
const children: ChildProcess[] = [];
const stops: (() => Promise<void>)[] = [];
const notes: string[] = [];
const loadBefore = loadavg();

const canPin = findTool("taskset") !== null && availableParallelism() >= 2;
if (values.pin !== "none" && !canPin) notes.push(findTool("taskset") ? "One CPU only: nothing pinned." : missingTool("taskset", "util-linux"));
const LOADGEN_CPU = canPin && values.pin !== "none" ? "1" : undefined;
const SERVER_CPU = canPin && values.pin === "both" ? "0" : undefined;
const ALL_CPUS = `0-${availableParallelism() - 1}`;
const pinning = SERVER_CPU ? "load generator on CPU 1, server on CPU 0" : LOADGEN_CPU ? "load generator on CPU 1" : "unpinned";

const start = (cmd: string, args: string[], pattern: RegExp) => startChild(cmd, args, pattern, children);

const headers = (auth: boolean) => ({ ...(auth ? { authorization: `Bearer ${TOKEN}` } : {}), "content-type": "application/json" });

let putCounter = 0;
async function autocannonRun(url: string, method: "GET" | "PUT", auth: boolean): Promise<Round> {
  const result = await autocannon({
    url,
    connections: CONNECTIONS,
    duration: RUN_SECONDS,
    headers: headers(auth),
    requests: [
      method === "GET"
        ? { method: "GET" }
        : {
            method: "PUT",
            setupRequest: (req: autocannon.Request) => ({ ...req, path: `/kv/bench.k${putCounter++}`, body: JSON.stringify({ value: VALUE }) }),
          },
    ],
  });
  return {
    requests: result.requests.total,
    seconds: result.duration,
    rps: result.requests.total / result.duration,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    errors: result.errors + result.non2xx,
  };
}

let wrkRun = 0;
/** wrk on the load generator's CPU; with `--pin both` the server's process is on CPU 0 for the run. */
async function wrkOnce(wrk: string, server: ChildProcess, url: string, method: "GET" | "PUT", auth: boolean): Promise<Round> {
  if (SERVER_CPU) setAffinity(server.pid!, SERVER_CPU);
  try {
    return await runWrk(wrk, {
      url,
      seconds: RUN_SECONDS,
      connections: CONNECTIONS,
      threads: 1,
      headers: headers(auth),
      ...(method === "PUT" ? { putPrefix: `/kv/bench.w${wrkRun++}.` } : {}),
      ...(LOADGEN_CPU ? { cpus: LOADGEN_CPU } : {}),
    });
  } finally {
    if (SERVER_CPU) setAffinity(server.pid!, ALL_CPUS);
  }
}

let denoRun = 0;
function denoSetOnce(): Round {
  const file = join(dir, `deno-${denoRun++}.sqlite`);
  const r = spawnSync(join(root, "node_modules/.bin/deno"), ["run", "--unstable-kv", "-A", join(root, "bench/deno-set.deno.ts"), file, String(RUN_SECONDS), String(CONNECTIONS)], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(r.stderr);
  const j = JSON.parse(r.stdout) as { ops: number; seconds: number };
  return { requests: j.ops, seconds: j.seconds, rps: j.ops / j.seconds, p50Ms: NaN, p99Ms: NaN, errors: 0 };
}

/** Each group's contenders take turns, round by round; returns each contender's rounds combined. */
async function inTurns(label: string, contenders: Record<string, () => Promise<Round> | Round>): Promise<Record<string, Round>> {
  const rounds: Record<string, Round[]> = Object.fromEntries(Object.keys(contenders).map((n) => [n, []]));
  for (let i = 0; i < ROUNDS; i++) {
    process.stderr.write(`bench: ${label}, round ${i + 1}/${ROUNDS}…\n`);
    for (const [name, run] of Object.entries(contenders)) rounds[name]!.push(await run());
  }
  return Object.fromEntries(Object.entries(rounds).map(([n, r]) => [n, combineRounds(r)]));
}

interface Row {
  workload: string;
  generator: string;
  ours: Round;
  baseline: string;
  base: Round;
}

try {
  const trivial = await start(process.execPath, [join(root, "bench/trivial-server.ts")], /listening (\d+)/);
  const openkv = await start(join(root, "bin/openkv"), ["serve", "--port", "0", "--data", join(dir, "data"), "--admin-token", TOKEN], /listening on (http:\/\/\S+)/);
  const openkvUrl = openkv.match;
  // The same server with the opt-in `--durability process` (SQLite syncs at checkpoints only: a write
  // survives the process dying, not a power cut), PUT in turns with the durable one: what the fsync costs.
  const fast = await start(join(root, "bin/openkv"), ["serve", "--port", "0", "--data", join(dir, "data-process"), "--admin-token", TOKEN, "--durability", "process"], /listening on (http:\/\/\S+)/);
  const trivialUrl = `http://127.0.0.1:${trivial.match}`;
  const put = await fetch(`${openkvUrl}/kv/hot`, { method: "PUT", headers: headers(true), body: JSON.stringify({ value: { user: "someone", score: 42 } }) });
  if (put.status !== 200) throw new Error(`PUT /kv/hot answered ${put.status}: ${await put.text()}`);
  const rows: Row[] = [];

  const wrk = findTool("wrk");
  if (!wrk) notes.push(missingTool("wrk", "wrk"));
  const redisServer = findTool("redis-server");
  const redisBench = findTool("redis-benchmark");
  if (!redisServer) notes.push(missingTool("redis-server", "redis-server"));
  else if (!redisBench) notes.push(missingTool("redis-benchmark", "redis-tools"));
  const redis = redisServer && redisBench ? { server: redisServer, bench: redisBench } : null;

  // Two Redis servers side by side (an idle one costs nothing): one without persistence, one that
  // fsyncs its append-only file before every reply.
  const dataSize = JSON.stringify(VALUE).length;
  const redisGet: Record<string, () => Promise<Round>> = {};
  const redisSet: Record<string, () => Promise<Round>> = {};
  if (redis) {
    const servers = [];
    for (const durable of [false, true]) {
      const d = join(dir, durable ? "redis-durable" : "redis-volatile");
      mkdirSync(d);
      const s = await startRedis(redis.server, { dir: d, durable, ...(SERVER_CPU ? { cpus: SERVER_CPU } : {}) });
      stops.push(s.stop);
      servers.push(s);
    }
    const [volatile, durable] = servers as [(typeof servers)[0], (typeof servers)[0]];
    const bench = (port: number, test: "GET" | "SET", keyspace?: number) =>
      redisBenchmark(redis.bench, {
        port,
        test,
        clients: CONNECTIONS,
        requests: REDIS_REQUESTS,
        dataSize,
        ...(keyspace ? { keyspace } : {}),
        ...(LOADGEN_CPU ? { cpus: LOADGEN_CPU } : {}),
      });
    // Without -r every request uses the one key "key:__rand_int__": one SET first, then GETs of that hot key.
    await redisBenchmark(redis.bench, { port: volatile.port, test: "SET", clients: 1, requests: 1, dataSize });
    redisGet["Redis GET, one hot key"] = () => bench(volatile.port, "GET");
    redisSet["Redis SET, new keys, no persistence"] = () => bench(volatile.port, "SET", 100_000_000);
    redisSet["Redis SET, new keys, appendfsync always"] = () => bench(durable.port, "SET", 100_000_000);
  }

  // wrk: the primary numbers.
  let primary: { get: Round; put: Round; generator: string } | null = null;
  if (wrk) {
    const generator = `wrk, 1 thread (${pinning})`;
    const get = await inTurns("GET, wrk and redis-benchmark", {
      trivial: () => wrkOnce(wrk, trivial.child, `${trivialUrl}/kv/hot`, "GET", false),
      ours: () => wrkOnce(wrk, openkv.child, `${openkvUrl}/kv/hot`, "GET", true),
      ...redisGet,
    });
    const put = await inTurns("PUT, wrk and redis-benchmark", {
      trivial: () => wrkOnce(wrk, trivial.child, trivialUrl, "PUT", false),
      ours: () => wrkOnce(wrk, openkv.child, openkvUrl, "PUT", true),
      process: () => wrkOnce(wrk, fast.child, fast.match, "PUT", true),
      ...redisSet,
    });
    rows.push({ workload: "GET /kv/hot", generator, ours: get.ours!, baseline: "trivial node:http", base: get.trivial! });
    for (const name of Object.keys(redisGet)) rows.push({ workload: "GET /kv/hot", generator: `${generator}; redis-benchmark`, ours: get.ours!, baseline: name, base: get[name]! });
    rows.push({ workload: "PUT /kv/… (durable)", generator, ours: put.ours!, baseline: "trivial node:http", base: put.trivial! });
    for (const name of Object.keys(redisSet)) rows.push({ workload: "PUT /kv/… (durable)", generator: `${generator}; redis-benchmark`, ours: put.ours!, baseline: name, base: put[name]! });
    rows.push({ workload: "PUT /kv/… (durable)", generator, ours: put.ours!, baseline: "OpenKV with --durability process (no fsync per commit)", base: put.process! });
    primary = { get: get.ours!, put: put.ours!, generator };
  }

  // autocannon (in this process, unpinned): the second opinion, and the only one when wrk is missing.
  const ac = "autocannon (unpinned)";
  const acGet = await inTurns("GET, autocannon", {
    trivial: () => autocannonRun(`${trivialUrl}/kv/hot`, "GET", false),
    ours: () => autocannonRun(`${openkvUrl}/kv/hot`, "GET", true),
    ...(primary ? {} : redisGet),
  });
  const acPut = await inTurns("PUT, autocannon and Deno KV", {
    trivial: () => autocannonRun(trivialUrl, "PUT", false),
    ours: () => autocannonRun(openkvUrl, "PUT", true),
    deno: denoSetOnce,
    ...(primary ? {} : redisSet),
  });
  rows.push({ workload: "GET /kv/hot", generator: ac, ours: acGet.ours!, baseline: "trivial node:http", base: acGet.trivial! });
  rows.push({ workload: "PUT /kv/… (durable)", generator: ac, ours: acPut.ours!, baseline: "trivial node:http", base: acPut.trivial! });
  rows.push({ workload: "PUT /kv/… (durable)", generator: ac, ours: acPut.ours!, baseline: "Deno KV set, local file, 50 in flight", base: acPut.deno! });
  if (!primary) {
    for (const name of Object.keys(redisGet)) rows.push({ workload: "GET /kv/hot", generator: `${ac}; redis-benchmark`, ours: acGet.ours!, baseline: name, base: acGet[name]! });
    for (const name of Object.keys(redisSet)) rows.push({ workload: "PUT /kv/… (durable)", generator: `${ac}; redis-benchmark`, ours: acPut.ours!, baseline: name, base: acPut[name]! });
  }

  const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
  const ms = (n: number) => (Number.isNaN(n) ? "–" : String(+n.toFixed(2)));
  console.log(
    [
      `| workload (${CONNECTIONS} connections) | load generator | OpenKV req/s | OpenKV p99 ms | baseline | baseline req/s | baseline p99 ms | OpenKV ÷ baseline |`,
      "|---|---|---:|---:|---|---:|---:|---:|",
      ...rows.map(
        (r) => `| ${r.workload} | ${r.generator} | ${fmt(r.ours.rps)} | ${ms(r.ours.p99Ms)} | ${r.baseline} | ${fmt(r.base.rps)} | ${ms(r.base.p99Ms)} | ${(r.ours.rps / r.base.rps).toFixed(2)}× |`,
      ),
    ].join("\n"),
  );
  console.log(`\n${ROUNDS} rounds of ${RUN_SECONDS} s per contender (redis-benchmark: ${REDIS_REQUESTS.toLocaleString("en-US")} requests per round), in turns; p99 is the median round's.`);
  const errors = [...new Set(rows.map((r) => r.ours))].reduce((n, r) => n + r.errors, 0);
  if (errors > 0) console.log(`\n${errors} OpenKV requests failed or were not 2xx.`);
  for (const n of notes) console.log(`\n${n}`);
  console.log(`\n${machineLoad(loadBefore)}`);
} finally {
  for (const stop of stops) await stop().catch(() => {});
  for (const c of children) c.kill("SIGTERM");
  await Promise.all(children.map((c) => (c.exitCode === null && c.signalCode === null ? new Promise((r) => c.once("exit", r)) : null)));
  rmSync(dir, { recursive: true, force: true });
}
