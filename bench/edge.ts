/**
 * `npm run bench:edge`: a core (SQLite) and two edges, each a real `openkv serve` child process on 127.0.0.1.
 *
 * (a) write → visible: a writer sets a hot key on the core (Cloudflare REST v4 PUT) every `--spacing` ms,
 *     `--writes` times; one reader per edge polls the key back-to-back (REST v4 GET: eventual, served from
 *     the edge's cache). Reported: p50 / p99 / max of (first time an edge answered the new value) − (the
 *     core's acknowledgement of the write), per edge. 0 when the edge showed it before the ack arrived.
 * (b) hot GET: autocannon, 50 connections, on REST v4 GET of the hot key, against edge 1 and against the
 *     core in the same run; the ratio edge ÷ core.
 * (c) Deno's own client (node_modules/.bin/deno): sequential `kv.get` latency with the edge's KV Connect
 *     URL and with the core's, in the same run (Deno sends every call to the strong endpoint, the core).
 * (a)–(c) run with the core's write fence off (`--edge-fence-ms 0`), so (a) measures the feed itself.
 * (d) the write fence: a second core with the fence on (the default, 200 ms) and two edges; the same
 *     writer and readers for `--fence-writes` writes: the PUT's latency against (a)'s (fence off, same
 *     run), and how long after the acknowledgement the edges showed the write (0: already there).
 * (e) with `--postgres`: a core on PostgreSQL (started here, fsync on) and one edge: hot GET on each.
 * (f) cache tiers: autocannon cycling REST v4 GETs over 1,000 keys (100-byte values) against the core,
 *     edge 1 (64 MiB of memory: every key in memory) and edge 3 (`--cache-bytes 32768 --cache-file
 *     --no-response-cache`: memory for about 130 of them, so a cycle misses memory on every read and each
 *     answer comes up from the file, moving another entry down) — file tier vs memory vs core, in the
 *     same run.
 *
 * Options: --writes N (default 1000), --spacing MS (default 7), --seconds N (per autocannon run, default 5),
 * --deno-gets N (default 500; 0 skips (c)), --fence-writes N (default 300; 0 skips (d)), --postgres,
 * --no-tiers (skips (f)). PROF=DIR writes a CPU profile of edge 3.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import autocannon from "autocannon";
import { startChildServer, type ChildServer, type ChildServerOptions } from "../test/e2e/serve-child.ts";
import { startPostgres, type PgCluster } from "../scripts/pg-cluster.ts";

const { values } = parseArgs({
  options: {
    writes: { type: "string", default: "1000" },
    spacing: { type: "string", default: "7" },
    seconds: { type: "string", default: "5" },
    "deno-gets": { type: "string", default: "500" },
    "fence-writes": { type: "string", default: "300" },
    postgres: { type: "boolean", default: false },
    "no-tiers": { type: "boolean", default: false },
  },
});
const WRITES = Number(values.writes);
const SPACING = Number(values.spacing);
const SECONDS = Number(values.seconds);
const DENO_GETS = Number(values["deno-gets"]);
const FENCE_WRITES = Number(values["fence-writes"]);
const TOKEN = "okv_bench_edge_admin_token_0123456789";
const ACCOUNT = "0123456789abcdef0123456789abcdef";
const root = join(import.meta.dirname, "..");
const dir = mkdtempSync(join(tmpdir(), "openkv-bench-edge-"));
const servers: ChildServer[] = [];
const auth = { authorization: `Bearer ${TOKEN}` };
const load0 = loadavg();

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

const fmt = (ms: number) => ms.toFixed(1);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let pg: PgCluster | null = null;

/** A core and `edgeCount` edges following it, each a child process; the core's `default` namespace id. */
async function startNodes(core: Partial<ChildServerOptions>, edgeCount: number) {
  const c = await startChildServer({ dataDir: join(dir, `core-${servers.length}`), adminToken: TOKEN, accountId: ACCOUNT, durability: "fsync", ...core });
  servers.push(c);
  const edges: ChildServer[] = [];
  for (let i = 0; i < edgeCount; i++) {
    edges.push(await startChildServer({ dataDir: "", adminToken: "", edgeOf: { url: c.url, token: TOKEN } }));
    servers.push(edges[i]!);
  }
  const list = (await (await fetch(`${c.url}/client/v4/accounts/${ACCOUNT}/storage/kv/namespaces`, { headers: auth })).json()) as { result: { id: string; title: string }[] };
  const ns = list.result.find((n) => n.title === "default")!.id;
  const valueUrl = (server: ChildServer) => `${server.url}/client/v4/accounts/${ACCOUNT}/storage/kv/namespaces/${ns}/values/hot`;
  return { core: c, edges, valueUrl, ns };
}

type Nodes = Awaited<ReturnType<typeof startNodes>>;

/**
 * A writer on the core sets the hot key to 1…writes, one every SPACING ms; a reader per edge polls it.
 * Returns each PUT's latency and, per edge, how long after the acknowledgement it first showed each write.
 */
async function visibility({ core, edges, valueUrl }: Nodes, writes: number) {
  const put = async (value: string) => {
    const res = await fetch(valueUrl(core), { method: "PUT", headers: { ...auth, "content-type": "text/plain" }, body: value });
    if (res.status !== 200) throw new Error(`PUT answered ${res.status}: ${await res.text()}`);
    await res.arrayBuffer();
  };
  await put("0");
  const acked: number[] = [];
  const putMs: number[] = [];
  const seen = edges.map(() => new Map<number, number>());
  let writing = true;
  const polls = edges.map((edge, i) =>
    (async () => {
      let n = 0;
      while (writing) {
        const res = await fetch(valueUrl(edge), { headers: auth });
        const at = performance.now();
        const text = await res.text();
        if (res.status !== 200) throw new Error(`edge GET answered ${res.status}: ${text}`);
        const v = Number(text);
        if (v > n) {
          // Values only grow: a jump past several writes saw each of them at this moment.
          for (let k = n + 1; k <= v; k++) seen[i]!.set(k, at);
          n = v;
        } else if (v < n) throw new Error(`edge ${i + 1} went back in time: ${v} after ${n}`);
      }
    })(),
  );
  for (let n = 1; n <= writes; n++) {
    const started = performance.now();
    await put(String(n));
    acked[n] = performance.now();
    putMs.push(acked[n]! - started);
    const rest = SPACING - (acked[n]! - started);
    if (rest > 0) await sleep(rest);
  }
  // Let the readers see the last write, then stop them.
  const deadline = performance.now() + 5000;
  while (seen.some((m) => !m.has(writes)) && performance.now() < deadline) await sleep(10);
  writing = false;
  await Promise.all(polls);
  const lagsByEdge = seen.map((m) => {
    const lags: number[] = [];
    let missing = 0;
    for (let n = 1; n <= writes; n++) {
      const at = m.get(n);
      if (at === undefined) missing++;
      else lags.push(Math.max(0, at - acked[n]!));
    }
    return { ...stats(lags), missing };
  });
  return { put: stats(putMs), edges: lagsByEdge };
}

function stats(values: number[]) {
  const sorted = [...values].sort((a, b) => a - b);
  return { p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), max: sorted[sorted.length - 1]! };
}

interface Measured {
  rps: number;
  p99: number;
  errors: number;
}

const measured = (r: autocannon.Result): Measured => ({ rps: r.requests.average, p99: r.latency.p99, errors: r.errors + r.non2xx });
const measure = async (url: string): Promise<Measured> => measured(await autocannon({ url, connections: 50, duration: SECONDS, headers: auth }));

const r = (n: number) => Math.round(n).toLocaleString("en-US");
const hotGetTable = (coreName: string, onCore: Measured, onEdge: Measured) =>
  [
    "| hot GET, REST v4 value (50 connections) | req/s | p99 ms | errors |",
    "|---|---:|---:|---:|",
    `| core (${coreName}) — baseline | ${r(onCore.rps)} | ${onCore.p99} | ${onCore.errors} |`,
    `| edge 1 (cache) | ${r(onEdge.rps)} | ${onEdge.p99} | ${onEdge.errors} |`,
    `| **edge ÷ core** | **${(onEdge.rps / onCore.rps).toFixed(2)}×** | | |`,
  ].join("\n");

try {
  const out: string[] = [];
  // (a)–(c): the fence off, so (a) is the feed's own delay.
  const a = await startNodes({ args: ["--edge-fence-ms", "0"] }, 2);
  process.stderr.write(`bench: ${WRITES} writes on the core, one every ${SPACING} ms, polled on two edges…\n`);
  const feed = await visibility(a, WRITES);
  out.push(
    [
      `| write → visible on an edge, fence off (${WRITES} writes, one per ${SPACING} ms) | p50 ms | p99 ms | max ms | never seen |`,
      "|---|---:|---:|---:|---:|",
      ...feed.edges.map((v, i) => `| edge ${i + 1} | ${fmt(v.p50)} | ${fmt(v.p99)} | ${fmt(v.max)} | ${v.missing} |`),
    ].join("\n"),
  );

  process.stderr.write("bench: hot GET on the core…\n");
  const onCore = await measure(a.valueUrl(a.core));
  process.stderr.write("bench: hot GET on edge 1…\n");
  const onEdge = await measure(a.valueUrl(a.edges[0]!));
  out.push(hotGetTable("SQLite", onCore, onEdge));

  const denoBin = join(root, "node_modules/.bin/deno");
  if (DENO_GETS > 0 && existsSync(denoBin)) {
    const run = (url: string) => {
      process.stderr.write(`bench: Deno kv.get ×${DENO_GETS} via ${url}…\n`);
      const res = spawnSync(denoBin, ["run", "--unstable-kv", "-A", join(root, "bench/deno-get.deno.ts"), `${url}/kv-connect/default`, String(DENO_GETS)], {
        encoding: "utf8",
        env: { ...process.env, DENO_KV_ACCESS_TOKEN: TOKEN },
      });
      if (res.status !== 0) throw new Error(res.stderr);
      return JSON.parse(res.stdout) as { p50: number; p99: number };
    };
    const deno = { core: run(a.core.url), edge: run(a.edges[0]!.url) };
    out.push(
      [
        `| Deno's own client, sequential kv.get ×${DENO_GETS} | p50 ms | p99 ms |`,
        "|---|---:|---:|",
        `| openKv(core URL) — baseline | ${fmt(deno.core.p50)} | ${fmt(deno.core.p99)} |`,
        `| openKv(edge URL) | ${fmt(deno.edge.p50)} | ${fmt(deno.edge.p99)} |`,
        `| edge ÷ core (p50) | ${(deno.edge.p50 / deno.core.p50).toFixed(2)}× | |`,
      ].join("\n"),
    );
  }

  // (f) cache tiers: the same 1,000 keys cycled against the core, memory (edge 1) and the file (edge 3)
  if (!values["no-tiers"]) {
    const TIER_KEYS = 1000;
    const tierEdge = await startChildServer({
      dataDir: "",
      adminToken: "",
      edgeOf: { url: a.core.url, token: TOKEN },
      // No response cache here: it would keep all 1,000 answers in front of the tiers this row measures.
      args: ["--cache-bytes", "32768", "--cache-file", join(dir, "edge-3-cache.sqlite"), "--no-response-cache"],
      ...(process.env.PROF ? { nodeArgs: ["--cpu-prof", "--cpu-prof-dir=" + process.env.PROF] } : {}),
    });
    servers.push(tierEdge);
    const path = (i: number) => `/client/v4/accounts/${ACCOUNT}/storage/kv/namespaces/${a.ns}/values/tier-${i}`;
    process.stderr.write(`bench: ${TIER_KEYS} keys for the tier comparison…\n`);
    for (let i = 0; i < TIER_KEYS; i++) {
      const res = await fetch(a.core.url + path(i), { method: "PUT", headers: { ...auth, "content-type": "text/plain" }, body: String(i).padEnd(100, "v") });
      if (res.status !== 200) throw new Error(`PUT answered ${res.status}`);
      await res.arrayBuffer();
    }
    const requests = Array.from({ length: TIER_KEYS }, (_, i) => ({ method: "GET" as const, path: path(i) }));
    const cycle = async (server: ChildServer): Promise<Measured> => {
      // Fill first, so the run measures hits.
      for (let i = 0; i < TIER_KEYS; i++) await (await fetch(server.url + path(i), { headers: auth })).arrayBuffer();
      // Each connection starts at a different place in the cycle, so they do not read one key together.
      let started = 0;
      const res = await autocannon({
        url: server.url,
        connections: 50,
        duration: SECONDS,
        headers: auth,
        requests,
        setupClient: (client) => {
          const offset = (started++ * 20) % TIER_KEYS;
          client.setRequests([...requests.slice(offset), ...requests.slice(0, offset)]);
        },
      });
      return measured(res);
    };
    const hitsOnFile = async () => {
      const text = await (await fetch(`${tierEdge.url}/metrics`, { headers: auth })).text();
      return Number(/^openkv_edge_cache_hits\{tier="file"\} (\d+)$/m.exec(text)?.[1] ?? 0);
    };
    process.stderr.write("bench: 1,000 keys cycled on the core…\n");
    const onCoreTier = await cycle(a.core);
    process.stderr.write("bench: 1,000 keys cycled on edge 1 (memory)…\n");
    const onMemory = await cycle(a.edges[0]!);
    process.stderr.write("bench: 1,000 keys cycled on edge 3 (file)…\n");
    const before = await hitsOnFile();
    const onFile = await cycle(tierEdge);
    const fileHits = (await hitsOnFile()) - before;
    out.push(
      [
        "| 1,000 keys cycled, REST v4 value GET (50 connections) | req/s | p99 ms | errors | ÷ core |",
        "|---|---:|---:|---:|---:|",
        `| core (SQLite) — baseline | ${r(onCoreTier.rps)} | ${onCoreTier.p99} | ${onCoreTier.errors} | 1.00× |`,
        `| edge 1: every key in memory | ${r(onMemory.rps)} | ${onMemory.p99} | ${onMemory.errors} | ${(onMemory.rps / onCoreTier.rps).toFixed(2)}× |`,
        `| edge 3: memory for ~130 keys, every answer from the file (${r(fileHits)} file hits) | ${r(onFile.rps)} | ${onFile.p99} | ${onFile.errors} | ${(onFile.rps / onCoreTier.rps).toFixed(2)}× |`,
      ].join("\n"),
    );
  }

  // (d) the write fence on: what a write pays for read-your-writes on every edge.
  if (FENCE_WRITES > 0) {
    const d = await startNodes({}, 2);
    process.stderr.write(`bench: ${FENCE_WRITES} writes on a core with the write fence on…\n`);
    const fenced = await visibility(d, FENCE_WRITES);
    out.push(
      [
        `| the write fence (${FENCE_WRITES} writes on the core, two edges) | PUT p50 ms | PUT p99 ms | edge 1 shows it, p99 ms after the ack | edge 2 |`,
        "|---|---:|---:|---:|---:|",
        `| fence off — baseline (the writes of (a)) | ${fmt(feed.put.p50)} | ${fmt(feed.put.p99)} | ${fmt(feed.edges[0]!.p99)} | ${fmt(feed.edges[1]!.p99)} |`,
        `| fence on (200 ms) | ${fmt(fenced.put.p50)} | ${fmt(fenced.put.p99)} | ${fmt(fenced.edges[0]!.p99)} | ${fmt(fenced.edges[1]!.p99)} |`,
        `| on ÷ off (PUT p50) | ${(fenced.put.p50 / feed.put.p50).toFixed(2)}× | | | |`,
      ].join("\n"),
    );
  }

  // (e) a core on PostgreSQL: a read on the core costs a round trip to the database.
  if (values.postgres) {
    process.stderr.write("bench: starting PostgreSQL…\n");
    pg = await startPostgres({ fsync: true, onProgress: (m: string) => process.stderr.write(`bench: postgres: ${m}\n`) });
    const e = await startNodes({ store: await pg.createDatabase("bench_edge") }, 1);
    const put = await fetch(e.valueUrl(e.core), { method: "PUT", headers: auth, body: "hot" });
    if (put.status !== 200) throw new Error(`PUT answered ${put.status}`);
    process.stderr.write("bench: hot GET on the PostgreSQL core…\n");
    const pgCore = await measure(e.valueUrl(e.core));
    process.stderr.write("bench: hot GET on its edge…\n");
    const pgEdge = await measure(e.valueUrl(e.edges[0]!));
    out.push(hotGetTable("PostgreSQL", pgCore, pgEdge));
  }

  const load1 = loadavg();
  console.log(`\nMachine load average (1/5/15 min) before: ${load0.map((l) => l.toFixed(2)).join(" ")}, after: ${load1.map((l) => l.toFixed(2)).join(" ")}\n`);
  console.log(out.join("\n\n"));
} finally {
  await Promise.all(servers.reverse().map((s) => s.stop()));
  await pg?.stop();
  rmSync(dir, { recursive: true, force: true });
}
