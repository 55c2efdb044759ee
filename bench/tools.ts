/**
 * What the benches share: the machine's load (the machine is shared, so every table says how busy it
 * was), outside tools found on PATH or skipped with the Debian package that provides them, CPU pinning
 * with taskset, Redis and its redis-benchmark, wrk, and per-operation latency percentiles.
 *
 * Outside tools print text; the parsers here turn it into numbers (test/bench-tools.test.ts runs them on
 * the real binaries when present).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { createServer } from "node:net";
import { availableParallelism, loadavg } from "node:os";
import { delimiter, join } from "node:path";
import { createHistogram } from "node:perf_hooks";

/**
 * Starts `cmd` (its stdout piped, stderr inherited) and resolves with the first capture of `pattern` in
 * what it prints — its URL or port — and the child; rejects if it exits first. The child is added to
 * `children` at once, so the caller stops it whether or not it ever printed.
 */
export function startChild(cmd: string, args: readonly string[], pattern: RegExp, children: ChildProcess[]): Promise<{ match: string; child: ChildProcess }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "inherit"] });
    children.push(child);
    let out = "";
    child.stdout!.on("data", (c: Buffer) => {
      out += c.toString();
      const m = pattern.exec(out);
      if (m) resolve({ match: m[1]!, child });
    });
    child.on("exit", (code) => reject(new Error(`${cmd} exited with ${code}: ${out}`)));
  });
}

/**
 * Runs each step over and over in turns of 100 ms, `seconds` of turns per step, so that the machine's
 * noise falls on every step alike. Per step: µs per call (wall) and CPU µs per call (this process's user
 * + system time, steadier than wall on a shared machine).
 */
export async function perCallInTurns(steps: readonly (() => unknown)[], seconds: number): Promise<{ us: number; cpuUs: number }[]> {
  const wall = steps.map(() => 0);
  const cpu = steps.map(() => 0);
  const ops = steps.map(() => 0);
  for (let turn = 0; turn < seconds * 10; turn++) {
    for (const [n, step] of steps.entries()) {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      while (performance.now() - t0 < 100) {
        await step();
        ops[n]!++;
      }
      wall[n]! += performance.now() - t0;
      const c = process.cpuUsage(c0);
      cpu[n]! += (c.user + c.system) / 1000;
    }
  }
  return steps.map((_, n) => ({ us: (wall[n]! * 1000) / ops[n]!, cpuUs: (cpu[n]! * 1000) / ops[n]! }));
}

/** One line for under a table: the 1/5/15-minute load averages before and after, against the core count. */
export function machineLoad(before: readonly number[], after: readonly number[] = loadavg()): string {
  const f = (l: readonly number[]) => l.map((n) => n.toFixed(2)).join(" ");
  return `Machine load average (1/5/15 min) before: ${f(before)}, after: ${f(after)}; ${availableParallelism()} CPUs.`;
}

/** The path of `name` on PATH (or /usr/bin, /usr/sbin), or null. */
export function findTool(name: string): string | null {
  const dirs = [...(process.env.PATH ?? "").split(delimiter).filter(Boolean), "/usr/bin", "/usr/sbin"];
  for (const dir of dirs) {
    const path = join(dir, name);
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // not here
    }
  }
  return null;
}

/** What a bench prints instead of the rows a missing tool would have made. */
export function missingTool(name: string, debianPackage: string): string {
  return `${name} is not installed: its rows are skipped (Debian: apt-get install ${debianPackage}).`;
}

/** `[cmd, args]` run on the given CPUs (taskset) when `cpus` is set. */
export function onCpus(cpus: string | undefined, cmd: string, args: readonly string[]): [string, string[]] {
  return cpus === undefined ? [cmd, [...args]] : ["taskset", ["-c", cpus, cmd, ...args]];
}

/** Moves every thread of a running process to the given CPUs ("0", "0,1"). */
export function setAffinity(pid: number, cpus: string): void {
  const r = spawnSync("taskset", ["-a", "-p", "-c", cpus, String(pid)], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`taskset -a -p -c ${cpus} ${pid} failed: ${r.stderr}`);
}

/** A TCP port free on 127.0.0.1 right now (for servers that cannot bind port 0 themselves, like Redis). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: readonly string[], env?: NodeJS.ProcessEnv): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], env: env ?? process.env });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** Requests per second and latency, whichever tool measured it. */
export interface LoadResult {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  /** Socket errors and non-2xx answers (0 where the tool does not count them). */
  errors: number;
}

/** One short run of a load generator. */
export interface Round extends LoadResult {
  requests: number;
  seconds: number;
}

/**
 * Several short runs of the same measurement as one: requests per second over all of them, and the
 * median run's p50 and p99 (one round hit by a neighbour's burst does not decide the latency columns).
 */
export function combineRounds(rounds: readonly Round[]): Round {
  if (rounds.length === 0) throw new Error("no rounds to combine");
  const requests = rounds.reduce((n, r) => n + r.requests, 0);
  const seconds = rounds.reduce((n, r) => n + r.seconds, 0);
  const median = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    const mid = s.length >> 1;
    return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  };
  return {
    requests,
    seconds,
    rps: requests / seconds,
    p50Ms: median(rounds.map((r) => r.p50Ms)),
    p99Ms: median(rounds.map((r) => r.p99Ms)),
    errors: rounds.reduce((n, r) => n + r.errors, 0),
  };
}

export interface RedisServer {
  port: number;
  pid: number;
  stop(): Promise<void>;
}

/**
 * Starts `redis-server` on 127.0.0.1 and a free port. `durable`: the append-only file with
 * `appendfsync always` (fsync before the reply) in `dir`; otherwise no persistence at all.
 */
export async function startRedis(bin: string, options: { dir: string; durable: boolean; cpus?: string }): Promise<RedisServer> {
  const persistence = options.durable ? ["--appendonly", "yes", "--appendfsync", "always", "--save", ""] : ["--appendonly", "no", "--save", ""];
  let lastError = "";
  // The port is free when chosen but may be taken before Redis binds it: try a few.
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const [cmd, args] = onCpus(options.cpus, bin, ["--bind", "127.0.0.1", "--port", String(port), "--dir", options.dir, ...persistence]);
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    const exited = new Promise<void>((r) => child.once("exit", () => r()));
    const ready = await new Promise<boolean>((resolve) => {
      let out = "";
      const onData = (c: Buffer) => {
        out += c.toString();
        if (out.includes("Ready to accept connections")) resolve(true);
      };
      child.stdout.on("data", onData);
      child.stderr.on("data", onData);
      child.once("exit", () => {
        lastError = out;
        resolve(false);
      });
    });
    if (!ready) continue;
    return {
      port,
      pid: child.pid!,
      stop: async () => {
        child.kill("SIGTERM");
        await exited;
      },
    };
  }
  throw new Error(`redis-server did not start: ${lastError}`);
}

/** redis-benchmark's `--csv` output: one row per test, latencies in ms (rates only: no request counts). */
export function parseRedisCsv(csv: string): Map<string, LoadResult> {
  const rows = csv
    .trim()
    .split("\n")
    .map((line) => [...line.matchAll(/"([^"]*)"/g)].map((m) => m[1]!));
  const header = rows.shift();
  if (!header || header[0] !== "test") throw new Error(`not redis-benchmark CSV: ${csv.slice(0, 200)}`);
  const col = (name: string) => {
    const i = header.indexOf(name);
    if (i < 0) throw new Error(`redis-benchmark CSV has no ${name} column`);
    return i;
  };
  const [rps, p50, p99] = [col("rps"), col("p50_latency_ms"), col("p99_latency_ms")];
  return new Map(rows.map((r) => [r[0]!, { rps: Number(r[rps]), p50Ms: Number(r[p50]), p99Ms: Number(r[p99]), errors: 0 }]));
}

export interface RedisBenchmarkOptions {
  port: number;
  test: "GET" | "SET";
  clients: number;
  requests: number;
  /** Value size in bytes (-d). */
  dataSize: number;
  /** A new random key per request out of this many (-r); without it every request uses one key. */
  keyspace?: number;
  cpus?: string;
}

export async function redisBenchmark(bin: string, o: RedisBenchmarkOptions): Promise<Round> {
  const args = ["-h", "127.0.0.1", "-p", String(o.port), "-c", String(o.clients), "-n", String(o.requests), "-d", String(o.dataSize), "-t", o.test.toLowerCase(), "--csv"];
  if (o.keyspace !== undefined) args.push("-r", String(o.keyspace));
  const [cmd, full] = onCpus(o.cpus, bin, args);
  const r = await run(cmd, full);
  if (r.code !== 0) throw new Error(`redis-benchmark failed (${r.code}): ${r.stderr}`);
  const row = parseRedisCsv(r.stdout).get(o.test);
  if (!row) throw new Error(`redis-benchmark printed no ${o.test} row: ${r.stdout}`);
  return { ...row, requests: o.requests, seconds: o.requests / row.rps };
}

/** The line bench/wrk-report.lua writes after wrk's own report. */
export function parseWrkReport(stdout: string): Round {
  const line = stdout.split("\n").find((l) => l.startsWith("WRK_JSON "));
  if (!line) throw new Error(`wrk printed no report line: ${stdout.slice(0, 500)}`);
  const j = JSON.parse(line.slice("WRK_JSON ".length)) as { requests: number; duration_us: number; socket_errors: number; non2xx: number; p50_us: number; p99_us: number };
  return { requests: j.requests, seconds: j.duration_us / 1e6, rps: j.requests / (j.duration_us / 1e6), p50Ms: j.p50_us / 1000, p99Ms: j.p99_us / 1000, errors: j.socket_errors + j.non2xx };
}

export interface WrkOptions {
  url: string;
  seconds: number;
  connections: number;
  threads: number;
  headers?: Readonly<Record<string, string>>;
  /** PUT a new key per request: the URL path prefix the key number is appended to (e.g. "/kv/bench.w"). */
  putPrefix?: string;
  cpus?: string;
}

export async function runWrk(bin: string, o: WrkOptions): Promise<Round> {
  const args = ["-t", String(o.threads), "-c", String(o.connections), "-d", `${o.seconds}s`, "-s", join(import.meta.dirname, "wrk-report.lua")];
  for (const [name, value] of Object.entries(o.headers ?? {})) args.push("-H", `${name}: ${value}`);
  args.push(o.url);
  const [cmd, full] = onCpus(o.cpus, bin, args);
  const r = await run(cmd, full, { ...process.env, WRK_PUT_PREFIX: o.putPrefix ?? "" });
  if (r.code !== 0) throw new Error(`wrk failed (${r.code}): ${r.stderr}`);
  return parseWrkReport(r.stdout);
}

const STRIDES = [611_953, 746_773, 882_377];
const strideFor = new Map<number, number>();

/**
 * The `k`-th of `length` positions in a scattered order: a bijection of [0, length) that walks it with a
 * large prime stride (coprime to `length`), so consecutive `k` land far apart. Exact up to 10 billion.
 */
export function scatter(k: number, length: number): number {
  let stride = strideFor.get(length);
  if (stride === undefined) {
    const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
    stride = STRIDES.find((s) => gcd(s, length) === 1);
    if (stride === undefined) throw new Error(`no stride coprime to ${length}`);
    strideFor.set(length, stride);
  }
  return (k * stride) % length;
}

export interface Latency {
  count: number;
  p50Ms: number;
  p99Ms: number;
}

/**
 * Runs `op` `count` times, one at a time, and returns the median and 99th percentile of its duration
 * (Node's HDR histogram: 3 significant digits). `now` is injectable for tests.
 */
export async function timeEach(count: number, op: (i: number) => unknown, now: () => bigint = process.hrtime.bigint): Promise<Latency> {
  const h = createHistogram();
  for (let i = 0; i < count; i++) {
    const t0 = now();
    await op(i);
    h.record(Math.max(1, Number(now() - t0)));
  }
  return { count, p50Ms: h.percentile(50) / 1e6, p99Ms: h.percentile(99) / 1e6 };
}
