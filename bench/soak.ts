/**
 * `npm run soak`: a real `openkv serve` (SQLite, fsync on commit) under mixed load for a long while —
 * /kv reads, writes and lists; REST v4 reads, writes, bulk writes, bulk reads and key lists; KV Connect
 * reads, writes and atomic sums through our remote client; and a 25 MiB value written and read back
 * every few seconds. Capacity is measured first (the same mix, 32 clients flat out); the soak then
 * offers half of it at a steady rate. It reports requests served, errors, the slowest request per kind
 * and the server's RSS (after a warm-up of the first fifth, and at the end), and fails (exit 1) past the
 * targets: RSS growth under 10%, 0 errors, no request slower than 1 s.
 *
 * Options: --minutes N (default 10), --capacity-seconds N (default 15), --rate N (requests/s; skips the
 * capacity measurement), --big-every-seconds N (default 15), --connections N (the clients, each with one
 * keep-alive connection, default 256), --trace FILE (a JSON line a second from this process and, in FILE.server,
 * from the server: latency, event-loop delay, connections, accept queue, WAL size), --cpu-prof DIR (a
 * CPU profile of the server).
 */
import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Worker } from "node:worker_threads";
import { setGlobalDispatcher } from "undici";
import { openKv, type Kv } from "../src/api/deno/index.ts";
import { startChildServer, type ChildServer } from "../test/e2e/serve-child.ts";
import type { BigReport, BigValuesData } from "./soak-big-values.ts";
import { fleetDispatcher } from "./soak-fleet.ts";

const { values: flags } = parseArgs({
  options: {
    minutes: { type: "string", default: "10" },
    "capacity-seconds": { type: "string", default: "15" },
    rate: { type: "string" },
    "big-every-seconds": { type: "string", default: "15" },
    connections: { type: "string", default: "256" },
    trace: { type: "string" },
    "cpu-prof": { type: "string" },
  },
});
const MINUTES = Number(flags.minutes);
const CAPACITY_SECONDS = Number(flags["capacity-seconds"]);
const BIG_EVERY_MS = Number(flags["big-every-seconds"]) * 1000;
const TARGETS = { rssGrowth: 0.1, errors: 0, slowestMs: 1000 } as const;
/** A run stops once this many seconds of the offered rate are waiting for an answer. */
const BEHIND_SECONDS = 10;

// The clients: a fixed fleet of warm keep-alive connections (./soak-fleet.ts), not one more connection
// for every request in flight.
setGlobalDispatcher(fleetDispatcher(Number(flags.connections)));

const ADMIN = "okv_soak_admin_token_0123456789abcdef";
const ACCOUNT = "0123456789abcdef0123456789abcdef";
/** Keys per API: writes overwrite within this range, so the store stops growing once it is full. */
const KEYS = 2000;
const BIG = 25 * 1024 * 1024;

const auth = { authorization: `Bearer ${ADMIN}` };
const json = { ...auth, "content-type": "application/json" };
const pad = "p".repeat(1000);

interface Env {
  server: ChildServer;
  kv: Kv;
  values: string;
}

type Op = (env: Env, i: number) => Promise<void>;

async function expectOk(r: Response, what: string): Promise<void> {
  const body = await r.arrayBuffer();
  if (r.status !== 200) throw new Error(`${what}: ${r.status} ${Buffer.from(body).toString("utf8").slice(0, 200)}`);
}

const k = (i: number) => i % KEYS;

/** The mix, with weights: reads outnumber writes, as in most stores' traffic. */
const MIX: { name: string; weight: number; run: Op }[] = [
  { name: "/kv GET", weight: 25, run: async (e, i) => expectOk(await fetch(`${e.server.url}/kv/soak.kv.${k(i * 7)}`, { headers: auth }), "/kv GET") },
  { name: "/kv PUT", weight: 12, run: async (e, i) => expectOk(await fetch(`${e.server.url}/kv/soak.kv.${k(i)}`, { method: "PUT", headers: json, body: JSON.stringify({ value: { i, pad } }) }), "/kv PUT") },
  { name: "/kv list", weight: 4, run: async (e) => expectOk(await fetch(`${e.server.url}/kv/soak.kv?list=true&limit=100`, { headers: auth }), "/kv list") },
  { name: "REST v4 GET", weight: 15, run: async (e, i) => expectOk(await fetch(`${e.values}/values/soak-cf-${k(i * 13)}`, { headers: auth }), "REST v4 GET") },
  { name: "REST v4 PUT", weight: 10, run: async (e, i) => expectOk(await fetch(`${e.values}/values/soak-cf-${k(i)}`, { method: "PUT", headers: { ...auth, "content-type": "text/plain" }, body: `${i} ${pad}` }), "REST v4 PUT") },
  {
    name: "REST v4 bulk write (50)",
    weight: 2,
    run: async (e, i) => {
      const pairs = Array.from({ length: 50 }, (_, j) => ({ key: `soak-cf-${k(i + j * 40)}`, value: `${i} ${j} ${pad}` }));
      await expectOk(await fetch(`${e.values}/bulk`, { method: "PUT", headers: json, body: JSON.stringify(pairs) }), "REST v4 bulk write");
    },
  },
  {
    name: "REST v4 bulk get (20)",
    weight: 3,
    run: async (e, i) => {
      const keys = Array.from({ length: 20 }, (_, j) => `soak-cf-${k(i + j * 97)}`);
      await expectOk(await fetch(`${e.values}/bulk/get`, { method: "POST", headers: json, body: JSON.stringify({ keys }) }), "REST v4 bulk get");
    },
  },
  { name: "REST v4 keys list", weight: 2, run: async (e) => expectOk(await fetch(`${e.values}/keys?prefix=soak-cf-1&limit=100`, { headers: auth }), "REST v4 keys") },
  {
    name: "KV Connect get",
    weight: 12,
    run: async (e, i) => {
      await e.kv.get(["soak", "kvc", k(i * 11)]);
    },
  },
  {
    name: "KV Connect set",
    weight: 10,
    run: async (e, i) => {
      if (!(await e.kv.set(["soak", "kvc", k(i)], { i, pad })).ok) throw new Error("KV Connect set was not committed");
    },
  },
  {
    name: "KV Connect atomic sum",
    weight: 5,
    run: async (e, i) => {
      if (!(await e.kv.atomic().sum(["soak", "counter", i % 10], 1n).commit()).ok) throw new Error("KV Connect sum was not committed");
    },
  },
];
const TOTAL_WEIGHT = MIX.reduce((a, m) => a + m.weight, 0);

function pick(i: number): (typeof MIX)[number] {
  // A fixed interleaving (golden-ratio steps), so two runs offer the same sequence.
  let x = ((i * 0.6180339887) % 1) * TOTAL_WEIGHT;
  for (const m of MIX) {
    if ((x -= m.weight) < 0) return m;
  }
  return MIX[0]!;
}

interface Stats {
  served: number;
  errors: number;
  firstErrors: string[];
  /** Since the last progress line: the slowest request and the errors. */
  window: { slowest: number; slowestName: string; errors: number };
  slowest: Map<string, number>;
  count: Map<string, number>;
}

function newStats(): Stats {
  return { served: 0, errors: 0, firstErrors: [], slowest: new Map(), count: new Map(), window: { slowest: 0, slowestName: "", errors: 0 } };
}

function record(stats: Stats, name: string, ms: number, error?: string): void {
  if (error === undefined) stats.served++;
  else {
    stats.errors++;
    stats.window.errors++;
    if (stats.firstErrors.length < 5) stats.firstErrors.push(`${name}: ${error}`);
  }
  if (ms > second.slowest) {
    second.slowest = ms;
    second.slowestName = name;
  }
  second.done++;
  if (ms > stats.window.slowest) stats.window = { ...stats.window, slowest: ms, slowestName: name };
  stats.count.set(name, (stats.count.get(name) ?? 0) + 1);
  if (ms > (stats.slowest.get(name) ?? 0)) stats.slowest.set(name, ms);
}

async function timed(stats: Stats, name: string, run: () => Promise<void>): Promise<void> {
  const started = performance.now();
  let error: string | undefined;
  try {
    await run();
  } catch (e) {
    const cause = e instanceof Error && e.cause instanceof Error ? ` (${(e.cause as NodeJS.ErrnoException).code ?? e.cause.message})` : "";
    error = `${e instanceof Error ? e.message : String(e)}${cause}`;
  }
  record(stats, name, performance.now() - started, error);
}

/**
 * The kernel's view of the server's port (Linux only, for --trace): connections open to it, the listen
 * socket's accept queue, and the machine-wide count of connections dropped because an
 * accept queue was full. A client that opens connections faster than a busy server accepts them loses
 * SYNs, and each lost SYN costs it a retransmission timeout (1 s, then 3 s, 7 s…).
 */
function tcpView(port: number): { conns: number; acceptQueue: number; listenOverflows: number } {
  const hex = port.toString(16).toUpperCase().padStart(4, "0");
  let conns = 0;
  let acceptQueue = -1;
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text = "";
    try {
      text = readFileSync(file, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 5 || !f[1]!.endsWith(`:${hex}`)) continue;
      if (f[3] === "01") conns++;
      // A listening socket's "rx_queue" is its accept queue.
      else if (f[3] === "0A") acceptQueue = parseInt(f[4]!.split(":")[1]!, 16);
    }
  }
  let listenOverflows = -1;
  try {
    const [head, values] = readFileSync("/proc/net/netstat", "utf8").split("\n");
    const i = head!.split(" ").indexOf("ListenOverflows");
    listenOverflows = Number(values!.split(" ")[i]);
  } catch {
    // not Linux
  }
  return { conns, acceptQueue, listenOverflows };
}

/** CPU seconds a process has used so far (Linux; NaN elsewhere): against wall time, the share of a core it got. */
function cpuSeconds(pid: number | "self"): number {
  try {
    // Fields 14 and 15 after the ")" that ends the command name: user and system time, in clock ticks (100 a second).
    const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(")").at(-1)!.trim().split(" ");
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return NaN;
  }
}

/**
 * The share of the last minute in which some task waited for a CPU (Linux pressure stall information;
 * null elsewhere). On a shared machine it says whether a slow minute was the server's doing.
 */
function cpuPressure(): number | null {
  try {
    const m = /^some avg10=[\d.]+ avg60=([\d.]+)/m.exec(readFileSync("/proc/pressure/cpu", "utf8"));
    return m ? Number(m[1]) / 100 : null;
  } catch {
    return null;
  }
}

const pct = (x: number | null) => (x === null ? "n/a" : `${Math.round(x * 100)}%`);

/** The current second of the trace: requests finished in it and the slowest of them. */
const second = { slowest: 0, slowestName: "", done: 0 };

function rssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) * 1024 : NaN;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
};
const mib = (b: number) => `${(b / 1024 / 1024).toFixed(1)} MiB`;

async function populate(env: Env): Promise<void> {
  for (let i = 0; i < KEYS; i += 100) {
    const pairs = Array.from({ length: 100 }, (_, j) => ({ key: `soak-cf-${i + j}`, value: `seed ${pad}` }));
    await expectOk(await fetch(`${env.values}/bulk`, { method: "PUT", headers: json, body: JSON.stringify(pairs) }), "seed REST v4");
  }
  const put = async (i: number) => {
    await expectOk(await fetch(`${env.server.url}/kv/soak.kv.${i}`, { method: "PUT", headers: json, body: JSON.stringify({ value: { i, pad } }) }), "seed /kv");
    await env.kv.set(["soak", "kvc", i], { i, pad });
  };
  for (let i = 0; i < KEYS; i += 50) await Promise.all(Array.from({ length: 50 }, (_, j) => put(i + j)));
}

/** The mix flat out with `clients` closed-loop clients for `seconds`: requests per second served. */
async function capacity(env: Env, seconds: number, clients = 32): Promise<number> {
  const stats = newStats();
  const until = performance.now() + seconds * 1000;
  let i = 0;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (performance.now() < until) {
        const n = i++;
        const op = pick(n);
        await timed(stats, op.name, () => op.run(env, n));
      }
    }),
  );
  if (stats.errors > 0) throw new Error(`errors while measuring capacity: ${stats.firstErrors.join("; ")}`);
  return stats.served / seconds;
}

/**
 * 25 MiB values, one written through REST v4 and then read back whole (each timed on its own), in a
 * worker thread (./soak-big-values.ts): this thread times every other request and must not be the one
 * that stalls.
 */
function startBigValues(env: Env): { run(n: number): Promise<BigReport>; stop(): Promise<number> } {
  const worker = new Worker(join(import.meta.dirname, "soak-big-values.ts"), { workerData: { values: env.values, token: ADMIN, bytes: BIG } satisfies BigValuesData });
  const waiting = new Map<number, (r: BigReport) => void>();
  worker.on("message", (r: BigReport) => {
    waiting.get(r.n)?.(r);
    waiting.delete(r.n);
  });
  worker.on("error", (e) => {
    for (const [n, done] of waiting) done({ n, put: { ms: 0, error: `the worker failed: ${e.message}` } });
    waiting.clear();
  });
  return {
    run: (n) =>
      new Promise((resolve) => {
        waiting.set(n, resolve);
        worker.postMessage(n);
      }),
    stop: () => worker.terminate(),
  };
}

async function main(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), "openkv-soak-"));
  const trace = flags.trace;
  if (trace) writeFileSync(trace, "");
  // The server's own view, always: the summary sets it beside what the clients measured.
  const probe = trace ? `${trace}.server` : `${dir}.probe.jsonl`;
  writeFileSync(probe, "");
  const server = await startChildServer({
    dataDir: dir,
    adminToken: ADMIN,
    accountId: ACCOUNT,
    // The server as bin/openkv runs it: the same young-generation cap and allocator setting.
    nodeArgs: [
      "--max-semi-space-size=16",
      "--import",
      join(import.meta.dirname, "soak-probe.ts"),
      ...(flags["cpu-prof"] ? ["--cpu-prof", "--cpu-prof-dir", flags["cpu-prof"]] : []),
    ],
    env: { OPENKV_SOAK_PROBE: probe, MALLOC_MMAP_THRESHOLD_: process.env.MALLOC_MMAP_THRESHOLD_ ?? "131072" },
  });
  const nsId = ((await (await fetch(`${server.url}/client/v4/accounts/${ACCOUNT}/storage/kv/namespaces`, { headers: auth })).json()) as { result: { id: string; title: string }[] }).result.find((n) => n.title === "default")!.id;
  const kv = await openKv(`${server.url}/kv-connect/default`, { token: ADMIN });
  const env: Env = { server, kv, values: `${server.url}/client/v4/accounts/${ACCOUNT}/storage/kv/namespaces/${nsId}` };
  try {
    process.stdout.write(`seeding ${KEYS} keys per API…\n`);
    await populate(env);
    let rate: number;
    if (flags.rate) rate = Number(flags.rate);
    else {
      process.stdout.write(`measuring capacity (${CAPACITY_SECONDS} s, 32 clients)…\n`);
      const full = await capacity(env, CAPACITY_SECONDS);
      rate = Math.max(1, Math.round(full / 2));
      process.stdout.write(`capacity ${Math.round(full)} req/s; soaking at ${rate} req/s for ${MINUTES} min\n`);
    }

    const stats = newStats();
    const rss: { at: number; bytes: number }[] = [];
    const loadAtStart = loadavg()[0]!;
    const behind: { at: number; pressure: number | null }[] = [];
    let lastCpu = { server: cpuSeconds(server.child.pid!), own: cpuSeconds("self") };
    const serverCpuAtStart = lastCpu.server;
    let pressureMax = cpuPressure();
    let loadMax = loadAtStart;
    const durationMs = MINUTES * 60_000;
    const started = performance.now();
    let issued = 0;
    let bigs = 0;
    const inFlight = new Set<Promise<void>>();
    let maxInFlight = 0;
    let windowInFlight = 0;
    const track = (work: Promise<void>) => {
      const p = work.finally(() => inFlight.delete(p));
      inFlight.add(p);
      maxInFlight = Math.max(maxInFlight, inFlight.size);
      windowInFlight = Math.max(windowInFlight, inFlight.size);
    };
    const launch = (name: string, run: () => Promise<void>) => track(timed(stats, name, run));
    const loop = monitorEventLoopDelay({ resolution: 10 });
    loop.enable();
    const big = startBigValues(env);
    let bigBusy = "";
    const fileSize = (f: string) => {
      try {
        return statSync(join(dir, f)).size;
      } catch {
        return 0;
      }
    };
    await new Promise<void>((resolve) => {
      let lastRss = -Infinity;
      let lastReport = started;
      const tick = setInterval(() => {
        const now = performance.now();
        const elapsed = now - started;
        if (elapsed >= durationMs) {
          clearInterval(tick);
          return resolve();
        }
        // Ten seconds of requests waiting: the server no longer serves what is offered. Going on would only
        // grow this process's queue (past a million objects it spends its time collecting them, and the
        // latencies measure the generator); stop and say so.
        if (inFlight.size > rate * BEHIND_SECONDS) {
          clearInterval(tick);
          behind.push({ at: elapsed, pressure: cpuPressure() });
          process.stdout.write(`  stopped at ${(elapsed / 60_000).toFixed(1)} min: ${inFlight.size.toLocaleString("en-US")} requests waiting, more than ${BEHIND_SECONDS} s of the offered rate\n`);
          return resolve();
        }
        // Open loop: requests go out on schedule whether or not earlier ones have finished.
        const due = Math.floor((rate * elapsed) / 1000);
        for (; issued < due; issued++) {
          const n = issued;
          const op = pick(n);
          launch(op.name, () => op.run(env, n));
        }
        if (elapsed >= (bigs + 1) * BIG_EVERY_MS) {
          const n = bigs++;
          bigBusy = `#${n}`;
          track(
            big.run(n).then((r) => {
              if (bigBusy === `#${n}`) bigBusy = "";
              record(stats, "25 MiB PUT", r.put.ms, r.put.error);
              if (r.get) record(stats, "25 MiB GET", r.get.ms, r.get.error);
              if (trace) appendFileSync(trace, JSON.stringify({ t: Date.now(), event: "25 MiB", n, putMs: Math.round(r.put.ms), getMs: r.get && Math.round(r.get.ms) }) + "\n");
            }),
          );
        }
        if (now - lastRss >= 1000) {
          lastRss = now;
          rss.push({ at: elapsed, bytes: rssBytes(server.child.pid!) });
          loadMax = Math.max(loadMax, loadavg()[0]!);
          const p = cpuPressure();
          if (p !== null) pressureMax = Math.max(pressureMax ?? 0, p);
          if (trace) {
            const serverCpu = cpuSeconds(server.child.pid!);
            const ownCpu = cpuSeconds("self");
            appendFileSync(
              trace,
              JSON.stringify({
                // Share of one core used in the last second, by the server and by this process.
                serverCpu: +(serverCpu - lastCpu.server).toFixed(2),
                clientCpu: +(ownCpu - lastCpu.own).toFixed(2),
                t: Date.now(),
                s: Math.round(elapsed / 1000),
                done: second.done,
                slowestMs: Math.round(second.slowest),
                slowestName: second.slowestName,
                inFlight: inFlight.size,
                lagMaxMs: Math.round(loop.max / 1e6),
                big: bigBusy,
                walMiB: +(fileSize("openkv.sqlite-wal") / 2 ** 20).toFixed(1),
                dbMiB: +(fileSize("openkv.sqlite") / 2 ** 20).toFixed(1),
                rssMiB: Math.round(rss.at(-1)!.bytes / 2 ** 20),
                heapMiB: Math.round(process.memoryUsage().heapUsed / 2 ** 20),
                load: +loadavg()[0]!.toFixed(2),
                ...tcpView(server.port),
              }) + "\n",
            );
            lastCpu = { server: serverCpu, own: ownCpu };
            loop.reset();
            second.slowest = 0;
            second.done = 0;
          }
        }
        if (now - lastReport >= 60_000) {
          lastReport = now;
          const w = stats.window;
          // The machine's load and the store's files, to tell a stall of ours from a busy neighbour.
          const size = fileSize;
          process.stdout.write(
            `  minute ${Math.round(elapsed / 60_000)}: ${stats.served.toLocaleString("en-US")} served, ${w.errors} errors, slowest ${Math.round(w.slowest)} ms (${w.slowestName}), ` +
              `at most ${windowInFlight} in flight, server RSS ${mib(rss.at(-1)!.bytes)}, database ${mib(size("openkv.sqlite"))} + WAL ${mib(size("openkv.sqlite-wal"))}, ` +
              `load average ${loadavg()[0]!.toFixed(1)}, CPU pressure ${pct(cpuPressure())}\n`,
          );
          stats.window = { slowest: 0, slowestName: "", errors: 0 };
          windowInFlight = 0;
        }
      }, 10);
    });
    await Promise.all(inFlight);
    await big.stop();

    // Growth is steady state against steady state. The first fifth warms up: SQLite's cache and the
    // allocator's pools for 25 MiB values fill (RSS then moves by ±50 MiB with each big value in flight,
    // with no growth of the JS heap or its buffers). So: the median RSS (one sample a second) over the
    // second fifth against the median over the last fifth.
    const fifth = Math.max(1, Math.floor(rss.length / 5));
    const initial = rss[0]!.bytes;
    const first = median(rss.slice(fifth, 2 * fifth).map((s) => s.bytes));
    const last = median(rss.slice(-fifth).map((s) => s.bytes));
    const peak = Math.max(...rss.map((s) => s.bytes));
    const growth = last / first - 1;
    const slowest = Math.max(...stats.slowest.values());
    const seconds = (performance.now() - started) / 1000;

    // Past the warm-up: the probe's lines for the soak itself.
    const seen = readFileSync(probe, "utf8")
      .split("\n")
      .filter((l) => l !== "")
      .map((l) => JSON.parse(l) as { lagMaxMs: number; slowestMs: number; slowestUrl: string })
      .slice(-Math.floor(seconds));
    const serverSlowest = seen.reduce((a, x) => (x.slowestMs > a.slowestMs ? x : a), { slowestMs: 0, slowestUrl: "" });
    const serverLag = Math.max(0, ...seen.map((x) => x.lagMaxMs));

    const rows = [...stats.count.entries()].sort((a, b) => b[1] - a[1]).map(([name, count]) => `| ${name} | ${count.toLocaleString("en-US")} | ${Math.round(stats.slowest.get(name)!)} |`);
    process.stdout.write(
      [
        ``,
        `soak: ${behind.length > 0 ? `${(behind[0]!.at / 60_000).toFixed(1)} of ${MINUTES}` : MINUTES} min at ${rate} req/s (half of capacity), ${bigs} × 25 MiB written and read back`,
        ``,
        `| request | served | slowest ms |`,
        `|---|---:|---:|`,
        ...rows,
        ``,
        `requests served: ${stats.served.toLocaleString("en-US")} (${Math.round(stats.served / seconds)} req/s), errors: ${stats.errors}, most in flight: ${maxInFlight}`,
        `slowest request: ${Math.round(slowest)} ms, as the clients measured it from launch to the last byte`,
        `the server's own view: slowest request ${serverSlowest.slowestMs} ms (${serverSlowest.slowestUrl}), event loop at most ${serverLag} ms late`,
        `the server used ${pct((cpuSeconds(server.child.pid!) - serverCpuAtStart) / seconds)} of one core on average`,
        `machine load average (2 cores, shared): ${loadAtStart.toFixed(1)} when the soak began, at most ${loadMax.toFixed(1)}, ${loadavg()[0]!.toFixed(1)} at the end; ` +
          `CPU pressure (the share of a minute some task waited for a CPU) at most ${pct(pressureMax)}`,
        `server RSS: ${mib(initial)} before the load, ${mib(first)} after warm-up (2nd fifth), ${mib(last)} at the end (last fifth): ${(growth * 100).toFixed(1)}% growth; peak ${mib(peak)}`,
        ...stats.firstErrors.map((e) => `error: ${e}`),
        ``,
      ].join("\n"),
    );
    const failed = [
      ...(growth >= TARGETS.rssGrowth ? [`RSS grew ${(growth * 100).toFixed(1)}% (target < ${TARGETS.rssGrowth * 100}%)`] : []),
      ...(stats.errors > TARGETS.errors ? [`${stats.errors} errors (target 0)`] : []),
      ...(slowest >= TARGETS.slowestMs ? [`slowest request ${Math.round(slowest)} ms (target < ${TARGETS.slowestMs} ms)`] : []),
    ];
    for (const b of behind) {
      failed.push(
        `fell ${BEHIND_SECONDS} s behind the offered ${rate} req/s at minute ${(b.at / 60_000).toFixed(1)} and stopped ` +
          `(CPU pressure ${pct(b.pressure)} then; the server's own view above tells an overloaded machine from a stall)`,
      );
    }
    if (!server.alive()) failed.push(`the server exited:\n${server.stderr()}`);
    if (/internal error/.test(server.stderr())) failed.push(`the server logged internal errors:\n${server.stderr()}`);
    process.stdout.write(failed.length === 0 ? "PASS: every target met\n" : `FAIL: ${failed.join("; ")}\n`);
    return failed.length === 0 ? 0 : 1;
  } finally {
    await kv.close();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
    if (!trace) rmSync(probe, { force: true });
  }
}

process.exitCode = await main();
