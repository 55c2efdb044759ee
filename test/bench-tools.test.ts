/**
 * bench/tools.ts: the parsers and helpers the benches' figures rest on. The outside tools (redis-server,
 * redis-benchmark, wrk) run for real when installed; without them those tests are skipped, as the benches
 * skip their rows.
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { combineRounds, findTool, machineLoad, missingTool, parseRedisCsv, parseWrkReport, redisBenchmark, runWrk, scatter, startRedis, timeEach } from "../bench/tools.ts";

test("combineRounds: requests over total time, the median round's latencies, errors summed", () => {
  const r = combineRounds([
    { requests: 1000, seconds: 1, rps: 1000, p50Ms: 2, p99Ms: 10, errors: 1 },
    { requests: 3000, seconds: 1, rps: 3000, p50Ms: 1, p99Ms: 50, errors: 0 },
    { requests: 2000, seconds: 2, rps: 1000, p50Ms: 3, p99Ms: 20, errors: 2 },
  ]);
  assert.deepEqual(r, { requests: 6000, seconds: 4, rps: 1500, p50Ms: 2, p99Ms: 20, errors: 3 });
  assert.equal(combineRounds([{ requests: 1, seconds: 1, rps: 1, p50Ms: 1, p99Ms: 4, errors: 0 }, { requests: 1, seconds: 1, rps: 1, p50Ms: 3, p99Ms: 8, errors: 0 }]).p99Ms, 6);
  assert.throws(() => combineRounds([]), /no rounds/);
});

test("scatter is a permutation of [0, length) that does not ascend", () => {
  // 611,953 × 2 is a multiple of the first stride: scatter must pick another.
  for (const length of [10_000, 990_000, 611_953 * 2]) {
    const seen = new Uint8Array(length);
    let ascending = 0;
    for (let k = 0; k < length; k++) {
      const n = scatter(k, length);
      assert.ok(Number.isInteger(n) && n >= 0 && n < length, `scatter(${k}, ${length}) = ${n}`);
      assert.equal(seen[n], 0, `scatter hit ${n} twice for length ${length}`);
      seen[n] = 1;
      if (k > 0 && n === scatter(k - 1, length) + 1) ascending++;
    }
    assert.equal(ascending, 0);
  }
});

test("timeEach: median and 99th percentile of each operation's duration", async () => {
  // A fake clock: operation i takes (i + 1) ms.
  let t = 0n;
  let calls = 0;
  const now = () => {
    calls++;
    return t;
  };
  const r = await timeEach(100, (i) => void (t += BigInt(i + 1) * 1_000_000n), now);
  assert.equal(calls, 200);
  assert.equal(r.count, 100);
  assert.ok(Math.abs(r.p50Ms - 50) <= 0.1, `p50 ${r.p50Ms}`);
  assert.ok(Math.abs(r.p99Ms - 99) <= 0.1, `p99 ${r.p99Ms}`);
});

test("parseRedisCsv reads redis-benchmark's --csv rows", () => {
  const csv = [
    '"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"',
    '"SET","23696.68","1.409","0.080","0.743","4.511","8.535","22.703"',
    '"GET","24783.15","1.285","0.168","0.703","4.463","7.271","9.383"',
  ].join("\n");
  const rows = parseRedisCsv(csv);
  assert.deepEqual(rows.get("SET"), { rps: 23696.68, p50Ms: 0.743, p99Ms: 8.535, errors: 0 });
  assert.deepEqual(rows.get("GET"), { rps: 24783.15, p50Ms: 0.703, p99Ms: 7.271, errors: 0 });
  assert.throws(() => parseRedisCsv("SET: 1000 requests per second"), /not redis-benchmark CSV/);
});

test("parseWrkReport reads the line bench/wrk-report.lua writes", () => {
  const out = "Running 1s test @ http://127.0.0.1:1/\n  1 threads and 50 connections\nRequests/sec: 4000.00\nWRK_JSON {\"requests\":4000,\"duration_us\":2000000,\"socket_errors\":1,\"non2xx\":2,\"p50_us\":1500,\"p99_us\":12000}\n";
  assert.deepEqual(parseWrkReport(out), { requests: 4000, seconds: 2, rps: 2000, p50Ms: 1.5, p99Ms: 12, errors: 3 });
  assert.throws(() => parseWrkReport("Requests/sec: 4000.00\n"), /no report line/);
});

test("findTool, missingTool and machineLoad", () => {
  assert.match(findTool("sh") ?? "", /\/sh$/);
  assert.equal(findTool("openkv-no-such-tool"), null);
  assert.equal(missingTool("wrk", "wrk"), "wrk is not installed: its rows are skipped (Debian: apt-get install wrk).");
  assert.match(machineLoad([1, 2.5, 3], [0.5, 0, 10]), /^Machine load average \(1\/5\/15 min\) before: 1\.00 2\.50 3\.00, after: 0\.50 0\.00 10\.00; \d+ CPUs\.$/);
});

const redisServer = findTool("redis-server");
const redisBench = findTool("redis-benchmark");
test("startRedis and redisBenchmark, for real", { skip: !redisServer || !redisBench ? "redis-server or redis-benchmark is not installed" : false }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "openkv-bench-tools-"));
  try {
    for (const durable of [false, true]) {
      const d = join(dir, durable ? "durable" : "volatile");
      mkdirSync(d);
      const redis = await startRedis(redisServer!, { dir: d, durable });
      try {
        const set = await redisBenchmark(redisBench!, { port: redis.port, test: "SET", clients: 5, requests: 500, dataSize: 60, keyspace: 1000 });
        assert.equal(set.requests, 500);
        assert.ok(set.rps > 0 && set.seconds > 0 && set.p99Ms >= set.p50Ms, JSON.stringify(set));
        const get = await redisBenchmark(redisBench!, { port: redis.port, test: "GET", clients: 5, requests: 500, dataSize: 60 });
        assert.equal(get.requests, 500);
      } finally {
        await redis.stop();
      }
    }
    // Only the durable server wrote an append-only file.
    assert.equal(existsSync(join(dir, "durable", "appendonlydir")), true);
    assert.deepEqual(readdirSync(join(dir, "volatile")), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const wrk = findTool("wrk");
test("runWrk GETs, and PUTs a new key per request with the bench's body, for real", { skip: wrk ? false : "wrk is not installed" }, async () => {
  const seen: { method: string; url: string; body: string; auth: string }[] = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      if (seen.length < 10) seen.push({ method: req.method!, url: req.url!, body, auth: req.headers.authorization ?? "" });
      res.writeHead(req.url === "/missing" ? 404 : 200).end("ok");
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  try {
    const get = await runWrk(wrk!, { url: `http://127.0.0.1:${port}/kv/hot`, seconds: 1, connections: 2, threads: 1, headers: { authorization: "Bearer t" } });
    assert.ok(get.requests > 0 && get.errors === 0, JSON.stringify(get));
    assert.deepEqual(seen[0], { method: "GET", url: "/kv/hot", body: "", auth: "Bearer t" });
    seen.length = 0;
    const put = await runWrk(wrk!, { url: `http://127.0.0.1:${port}`, seconds: 1, connections: 1, threads: 1, putPrefix: "/kv/bench.x" });
    assert.ok(put.requests > 0 && put.errors === 0, JSON.stringify(put));
    // A new key each request (wrk may build one request ahead that it never sends: numbers need not start at 1).
    const first = Number(/^\/kv\/bench\.x(\d+)$/.exec(seen[0]!.url)?.[1]);
    assert.deepEqual(
      seen.slice(0, 3).map((s) => [s.method, s.url, JSON.parse(s.body)]),
      [0, 1, 2].map((n) => ["PUT", `/kv/bench.x${first + n}`, { value: { user: "someone", score: 42, tags: ["a", "b"], active: true } }]),
    );
    const missing = await runWrk(wrk!, { url: `http://127.0.0.1:${port}/missing`, seconds: 1, connections: 1, threads: 1 });
    assert.equal(missing.errors, missing.requests);
  } finally {
    server.close();
  }
});
