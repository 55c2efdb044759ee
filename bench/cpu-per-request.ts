/**
 * `npm run bench:cpu`: the server's CPU time per request (its own `process.cpuUsage()`, user + system,
 * read over IPC before and after a fixed number of requests), for one hot key read through each API:
 * - `GET /kv/hot` (REST, HTTP/1.1, autocannon, 50 connections);
 * - `GET /client/v4/…/values/hot` (Cloudflare REST v4, HTTP/1.1, autocannon, 50 connections);
 * - KV Connect `snapshot_read` of the same key over HTTP/2 cleartext (node:http2, 50 streams in flight on
 *   one session, as Deno's client multiplexes), and over HTTP/1.1 (autocannon, 50 connections);
 * - a durable `PUT /kv/…` of a new key per request (autocannon, 50 connections: group commit shares fsyncs).
 * and, as the floor under those, trivial servers on the same load (bench/cpu-trivial-server.ts): node:http
 * answering a GET and a POST or PUT with a fixed body, node:http2's compatibility API (what our listener
 * uses) answering a POST.
 * Servers are child processes (bench/cpu-server.ts); the load generators' CPU is not counted. Each
 * row is measured in `--rounds` turns, taking turns with the others; the median round is shown, and the
 * ratio against `/kv` GET: at or under 1× a KV Connect read costs the server no more than a REST read.
 *
 * Options: --requests N (per row and round, default 20000), --rounds N (default 5), --no-response-cache
 * (the OpenKV server reads the store for every request)
 */
import { fork, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:http2";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import autocannon from "autocannon";
import { encodeKey } from "../src/core/keys.ts";
import { databaseIdOf } from "../src/wire/kv-connect/metadata.ts";
import { encodeSnapshotRead } from "../src/wire/kv-connect/wire.ts";
import { machineLoad } from "./tools.ts";

const { values } = parseArgs({
  options: { requests: { type: "string", default: "20000" }, rounds: { type: "string", default: "5" }, "no-response-cache": { type: "boolean", default: false } },
});
const REQUESTS = Number(values.requests);
const ROUNDS = Number(values.rounds);
const CONNECTIONS = 50;
const TOKEN = "okv_bench_token_0123456789abcdef";
const loadBefore = loadavg();
const dir = mkdtempSync(join(tmpdir(), "openkv-bench-cpu-"));
const serverArgs = [join(dir, "data"), TOKEN, ...(values["no-response-cache"] ? ["--no-response-cache"] : [])];
const child = fork(join(import.meta.dirname, "cpu-server.ts"), serverArgs, { stdio: ["ignore", "inherit", "inherit", "ipc"] });
const trivial = fork(join(import.meta.dirname, "cpu-trivial-server.ts"), [], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
const nextMessage = <T>(from: ChildProcess) => new Promise<T>((resolve) => from.once("message", (m) => resolve(m as T)));
const cpuMicros = async (of: ChildProcess) => {
  const reply = nextMessage<{ cpu: NodeJS.CpuUsage }>(of);
  of.send("cpu");
  const { cpu } = await reply;
  return cpu.user + cpu.system;
};

try {
  const { url } = await nextMessage<{ url: string }>(child);
  const floor = await nextMessage<{ http1: string; http2: string }>(trivial);
  const auth = { authorization: `Bearer ${TOKEN}` };
  const put = await fetch(`${url}/kv/hot`, { method: "PUT", headers: auth, body: JSON.stringify({ value: { user: "someone", score: 42 } }) });
  if (put.status !== 200) throw new Error(`PUT answered ${put.status}`);
  const account = ((await (await fetch(`${url}/client/v4/accounts`, { headers: auth })).json()) as { result: { id: string }[] }).result[0]!.id;
  const nsList = (await (await fetch(`${url}/client/v4/accounts/${account}/storage/kv/namespaces`, { headers: auth })).json()) as { result: { id: string; title: string }[] };
  const ns = nsList.result.find((n) => n.title === "default")!.id;
  await fetch(`${url}/client/v4/accounts/${account}/storage/kv/namespaces/${ns}/values/v4hot`, { method: "PUT", headers: auth, body: "hello, world" });
  const key = encodeKey(["hot"]);
  const end = new Uint8Array(key.length + 1);
  end.set(key);
  const readBody = Buffer.from(encodeSnapshotRead([{ start: key, end, limit: 1 }]));
  const kvcPath = `/kv-connect/${ns}/snapshot_read`;
  const kvcHeaders = { ...auth, "content-type": "application/x-protobuf", "x-denokv-version": "3", "x-denokv-database-id": databaseIdOf(ns) };

  const viaAutocannon = async (path: string, method: "GET" | "POST", headers: Record<string, string>, body?: Buffer, base = url) => {
    const r = await autocannon({ url: `${base}${path}`, connections: CONNECTIONS, amount: REQUESTS, method, headers, ...(body ? { body } : {}) });
    if (r.non2xx + r.errors > 0) throw new Error(`${path}: ${r.non2xx} non-2xx, ${r.errors} errors`);
  };
  /** A durable PUT of a new key per request (`/kv/put.<n>`), the JSON body bench:http's PUT sends. */
  let putCounter = 0;
  const putBody = JSON.stringify({ value: { user: "someone", score: 42, tags: ["a", "b"], active: true } });
  const viaAutocannonPut = async (base = url) => {
    const r = await autocannon({
      url: base,
      connections: CONNECTIONS,
      amount: REQUESTS,
      headers: { ...auth, "content-type": "application/json" },
      requests: [{ method: "PUT", setupRequest: (req: autocannon.Request) => ({ ...req, path: `/kv/put.${putCounter++}`, body: putBody }) }],
    });
    if (r.non2xx + r.errors > 0) throw new Error(`PUT: ${r.non2xx} non-2xx, ${r.errors} errors`);
  };
  const viaHttp2 = async (base = url) => {
    const session = connect(base);
    let sent = 0;
    const one = (): Promise<void> =>
      new Promise((resolve, reject) => {
        const s = session.request({ ":method": "POST", ":path": kvcPath, ...kvcHeaders });
        s.on("response", (h) => (h[":status"] === 200 ? undefined : reject(new Error(`KV Connect answered ${h[":status"]}`))));
        s.on("data", () => {});
        s.on("end", resolve);
        s.on("error", reject);
        s.end(readBody);
      });
    const worker = async () => {
      while (sent < REQUESTS) {
        sent++;
        await one();
      }
    };
    await Promise.all(Array.from({ length: CONNECTIONS }, worker));
    session.close();
  };
  const rows: [string, () => Promise<void>, ChildProcess][] = [
    ["GET /kv/hot (HTTP/1.1)", () => viaAutocannon("/kv/hot", "GET", auth), child],
    ["GET /client/v4/…/values/:key (HTTP/1.1)", () => viaAutocannon(`/client/v4/accounts/${account}/storage/kv/namespaces/${ns}/values/v4hot`, "GET", auth), child],
    ["KV Connect snapshot_read (h2c)", () => viaHttp2(), child],
    ["KV Connect snapshot_read (HTTP/1.1)", () => viaAutocannon(kvcPath, "POST", kvcHeaders, readBody), child],
    ["PUT /kv/… (durable, a new key each; HTTP/1.1)", () => viaAutocannonPut(), child],
    ["floor: trivial node:http GET", () => viaAutocannon("/kv/hot", "GET", auth, undefined, floor.http1), trivial],
    ["floor: trivial node:http PUT (the same body)", () => viaAutocannonPut(floor.http1), trivial],
    ["floor: trivial node:http POST (the same body)", () => viaAutocannon(kvcPath, "POST", kvcHeaders, readBody, floor.http1), trivial],
    ["floor: trivial node:http2 POST (h2c, compatibility API)", () => viaHttp2(floor.http2), trivial],
  ];
  // Warm-up: one round each, not counted.
  for (const [, run] of rows) await run();
  const samples = new Map<string, number[]>(rows.map(([n]) => [n, []]));
  for (let i = 0; i < ROUNDS; i++) {
    process.stderr.write(`bench: round ${i + 1}/${ROUNDS}…\n`);
    for (const [name, run, server] of rows) {
      const before = await cpuMicros(server);
      await run();
      samples.get(name)!.push(((await cpuMicros(server)) - before) / REQUESTS);
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const base = median(samples.get(rows[0]![0])!);
  console.log("| request (50 in flight) | server CPU µs per request (median round) | rounds min–max µs | ÷ GET /kv |");
  console.log("|---|---:|---:|---:|");
  for (const [name] of rows) {
    const s = samples.get(name)!;
    console.log(`| ${name} | ${median(s).toFixed(1)} | ${Math.min(...s).toFixed(1)}–${Math.max(...s).toFixed(1)} | ${(median(s) / base).toFixed(2)}× |`);
  }
  console.log(
    `\n${ROUNDS} rounds of ${REQUESTS.toLocaleString("en-US")} requests per row, in turns, after one warm-up round each; OpenKV's response cache ${values["no-response-cache"] ? "off" : "on"}.`,
  );
  console.log(`\n${machineLoad(loadBefore)}`);
} finally {
  for (const c of [child, trivial]) {
    c.send("stop");
    await new Promise((r) => c.once("exit", r));
  }
  rmSync(dir, { recursive: true, force: true });
}
