/**
 * `npm run bench:scale`: how reads hold up as a SQLite store grows. Loads entries through the public API
 * (`openKv(file)`, fsync on commit) the way an import would: atomic batches of `--batch` sets, committed
 * one after another (`--in-flight N` keeps N at once, which the engine's group commit folds into shared
 * transactions) — and at 10k, 1M and (with --10m) 10M entries stops to measure:
 * - point reads of random existing keys, one at a time: p50 / p99;
 * - lists of 100 and of 1,000 entries from a random existing key: p50 / p99;
 * - the same reads with plain node:sqlite on the same file (same table and key bytes, values decoded with
 *   node:v8): the baseline;
 * - the load rate, the file size per entry (database + WAL) and the process's peak RSS.
 *
 * Keys are ["u", n] for n in [0, entries); each stretch between two sizes is written in a scattered
 * order (not ascending), as keys chosen by users would arrive. Nothing per key is held in memory.
 *
 * Options: --entries N (default 1000000); --10m (= --entries 10000000); --reads N (point reads per size,
 * default 20000); --batch N (sets per atomic, default 1000); --in-flight N (atomics at once, default 1:
 * more costs more CPU per entry and more peak RSS for no faster load — README, bench:scale);
 * --dir D (where the file goes, default the OS temp dir; removed at the end)
 */
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { getCompileCacheDir } from "node:module";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { parseArgs } from "node:util";
import { deserialize } from "node:v8";
import { decodeKey, encodeKey } from "../src/core/keys.ts";
import { progressBar } from "../src/cli/progress.ts";
import { openKv } from "../src/index.ts";
import { machineLoad, scatter, timeEach, type Latency } from "./tools.ts";

const { values } = parseArgs({
  options: {
    entries: { type: "string", default: "1000000" },
    "10m": { type: "boolean", default: false },
    reads: { type: "string", default: "20000" },
    batch: { type: "string", default: "1000" },
    "in-flight": { type: "string", default: "1" },
    dir: { type: "string" },
  },
});
const ENTRIES = values["10m"] ? 10_000_000 : Number(values.entries);
const READS = Number(values.reads);
const BATCH = Number(values.batch);
const IN_FLIGHT = Number(values["in-flight"]);
const SIZES = [...new Set([10_000, 1_000_000, 10_000_000].filter((n) => n < ENTRIES).concat(ENTRIES))];
const LISTS = { 100: 500, 1000: 100 } as const;

const dir = mkdtempSync(join(values.dir ?? tmpdir(), "openkv-bench-scale-"));
const path = join(dir, "scale.sqlite");
const loadBefore = loadavg();
/** Node with this bench's modules loaded, before the store is opened: the floor under every RSS figure. */
const startRssMb = process.memoryUsage().rss / 2 ** 20;
const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
const value = (n: number) => ({ user: "someone", score: n, tags: ["a", "b"], active: true });
const random = (below: number) => Math.floor(Math.random() * below);
const mb = (kb: number) => kb / 1024;

interface Measured {
  entries: number;
  loadRate: number;
  /** Process CPU time (user + system) per entry loaded, that stretch: steadier than the rate on a shared machine. */
  loadCpuUs: number;
  bytesPerEntry: number;
  rssMb: number;
  /** RSS and the V8 heap right after OpenKV's reads: the heap in use is what the store holds. */
  readingRssMb: number;
  heapTotalMb: number;
  heapMb: number;
  get: Latency;
  rawGet: Latency;
  list: Record<keyof typeof LISTS, { ours: Latency; raw: Latency }>;
}

/** Writes keys [from, to) in scattered order, `IN_FLIGHT` atomics of `BATCH` sets at a time: entries/s and CPU µs per entry. */
async function load(kv: Awaited<ReturnType<typeof openKv>>, from: number, to: number): Promise<{ rate: number; cpuUs: number }> {
  const bar = progressBar(process.stderr, `Loading ${fmt(to)}`, to);
  bar.tick(from);
  const started = performance.now();
  const cpu = process.cpuUsage();
  let next = 0;
  const total = to - from;
  const worker = async () => {
    while (next < total) {
      const first = next;
      const end = Math.min(total, first + BATCH);
      next = end;
      const op = kv.atomic();
      for (let k = first; k < end; k++) {
        const n = from + scatter(k, total);
        op.set(["u", n], value(n));
      }
      const r = await op.commit();
      if (!r.ok) throw new Error("a batch failed its checks");
      bar.tick(end - first);
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  bar.done();
  const used = process.cpuUsage(cpu);
  return { rate: total / ((performance.now() - started) / 1000), cpuUs: (used.user + used.system) / total };
}

async function measure(kv: Awaited<ReturnType<typeof openKv>>, entries: number, loaded: { rate: number; cpuUs: number }): Promise<Measured> {
  process.stderr.write(`bench: ${fmt(entries)} entries: reads through OpenKV…\n`);
  const warm = Math.min(READS, 2000);
  const get = async () => {
    const r = await kv.get(["u", random(entries)]);
    if (r.value === null) throw new Error("a loaded key is missing");
  };
  await timeEach(warm, get);
  const ours = await timeEach(READS, get);
  const list = async (n: number) => {
    const start = random(entries - n + 1);
    let count = 0;
    for await (const _ of kv.list({ start: ["u", start], end: ["u", start + n] }, { batchSize: n })) count++;
    if (count !== n) throw new Error(`listed ${count} of ${n}`);
  };
  const ourLists = { 100: await timeEach(LISTS[100], () => list(100)), 1000: await timeEach(LISTS[1000], () => list(1000)) };
  // Peak RSS of the loading and OpenKV's reads, before the baseline's connection adds its own cache.
  const rssMb = mb(process.resourceUsage().maxRSS);
  const { rss, heapTotal, heapUsed } = process.memoryUsage();

  process.stderr.write(`bench: ${fmt(entries)} entries: the same reads with plain node:sqlite…\n`);
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    const ns = (db.prepare("SELECT seq FROM namespaces WHERE title = 'default'").get() as { seq: number }).seq;
    const point = db.prepare("SELECT value, versionstamp FROM entries WHERE ns = ? AND key = ?");
    const range = db.prepare("SELECT key, value, versionstamp FROM entries WHERE ns = ? AND key >= ? AND key < ? ORDER BY key LIMIT ?");
    const rawGet = () => {
      const row = point.get(ns, encodeKey(["u", random(entries)]));
      if (!row || deserialize(row.value as Uint8Array) === null) throw new Error("a loaded key is missing");
    };
    await timeEach(warm, rawGet);
    const raw = await timeEach(READS, rawGet);
    const rawList = (n: number) => {
      const start = random(entries - n + 1);
      const rows = range.all(ns, encodeKey(["u", start]), encodeKey(["u", start + n]), n);
      for (const row of rows) {
        decodeKey(row.key as Uint8Array);
        deserialize(row.value as Uint8Array);
      }
      if (rows.length !== n) throw new Error(`listed ${rows.length} of ${n}`);
    };
    const rawLists = { 100: await timeEach(LISTS[100], () => rawList(100)), 1000: await timeEach(LISTS[1000], () => rawList(1000)) };
    const size = (p: string) => {
      try {
        return statSync(p).size;
      } catch {
        return 0;
      }
    };
    return {
      entries,
      loadRate: loaded.rate,
      loadCpuUs: loaded.cpuUs,
      bytesPerEntry: (size(path) + size(`${path}-wal`)) / entries,
      rssMb,
      readingRssMb: rss / 2 ** 20,
      heapTotalMb: heapTotal / 2 ** 20,
      heapMb: heapUsed / 2 ** 20,
      get: ours,
      rawGet: raw,
      list: { 100: { ours: ourLists[100], raw: rawLists[100] }, 1000: { ours: ourLists[1000], raw: rawLists[1000] } },
    };
  } finally {
    db.close();
  }
}

try {
  const kv = await openKv(path);
  const results: Measured[] = [];
  const started = performance.now();
  let loaded = 0;
  try {
    for (const size of SIZES) {
      const stretch = await load(kv, loaded, size);
      loaded = size;
      results.push(await measure(kv, size, stretch));
    }
  } finally {
    kv.close();
  }
  const totalSeconds = (performance.now() - started) / 1000;

  const us = (l: Latency, q: "p50Ms" | "p99Ms") => (l[q] * 1000).toFixed(1);
  const ms = (l: Latency, q: "p50Ms" | "p99Ms") => l[q].toFixed(2);
  const x = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
  console.log(
    [
      "| entries | load rate entries/s (that stretch) | load CPU µs/entry | file bytes/entry | peak RSS MB (so far) | RSS MB while reading | V8 heap committed MB | V8 heap used MB |",
      "|---:|---:|---:|---:|---:|---:|---:|---:|",
      ...results.map(
        (r) =>
          `| ${fmt(r.entries)} | ${fmt(r.loadRate)} | ${r.loadCpuUs.toFixed(1)} | ${r.bytesPerEntry.toFixed(1)} | ${r.rssMb.toFixed(0)} | ${r.readingRssMb.toFixed(0)} | ${r.heapTotalMb.toFixed(0)} | ${r.heapMb.toFixed(0)} |`,
      ),
    ].join("\n"),
  );
  console.log(
    "\n" +
      [
        `| entries | get p50 µs | get p99 µs | raw get p50 µs | raw get p99 µs | OpenKV ÷ raw (p50 time) |`,
        "|---:|---:|---:|---:|---:|---:|",
        ...results.map((r) => `| ${fmt(r.entries)} | ${us(r.get, "p50Ms")} | ${us(r.get, "p99Ms")} | ${us(r.rawGet, "p50Ms")} | ${us(r.rawGet, "p99Ms")} | ${x(r.get.p50Ms, r.rawGet.p50Ms)} |`),
      ].join("\n"),
  );
  console.log(
    "\n" +
      [
        `| entries | list 100 p50 ms | p99 ms | raw p50 ms | OpenKV ÷ raw | list 1,000 p50 ms | p99 ms | raw p50 ms | OpenKV ÷ raw |`,
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ...results.map((r) => {
          const [a, b] = [r.list[100], r.list[1000]];
          return `| ${fmt(r.entries)} | ${ms(a.ours, "p50Ms")} | ${ms(a.ours, "p99Ms")} | ${ms(a.raw, "p50Ms")} | ${x(a.ours.p50Ms, a.raw.p50Ms)} | ${ms(b.ours, "p50Ms")} | ${ms(b.ours, "p99Ms")} | ${ms(b.raw, "p50Ms")} | ${x(b.ours.p50Ms, b.raw.p50Ms)} |`;
        }),
      ].join("\n"),
  );
  const first = results[0]!;
  const last = results[results.length - 1]!;
  const peak = Math.max(...results.map((r) => r.rssMb));
  console.log(
    `\n${fmt(last.entries)} entries loaded in ${totalSeconds.toFixed(0)} s (measuring included), ${BATCH} sets per atomic, ${IN_FLIGHT} in flight; ` +
      `${fmt(READS)} point reads, ${LISTS[100]} lists of 100 and ${LISTS[1000]} of 1,000 per size.`,
  );
  console.log(
    `Goal, point reads at ${fmt(last.entries)} no more than 1.5× slower than at ${fmt(first.entries)}: p50 ${x(last.get.p50Ms, first.get.p50Ms)}, p99 ${x(last.get.p99Ms, first.get.p99Ms)}` +
      ` (raw node:sqlite: p50 ${x(last.rawGet.p50Ms, first.rawGet.p50Ms)}).`,
  );
  console.log(
    `Goal, peak RSS under 200 MB at any size: ${peak.toFixed(0)} MB (Node's flags: ${process.execArgv.join(" ") || "none"}; ` +
      `compile cache: ${getCompileCacheDir() ?? "off"}; ${startRssMb.toFixed(0)} MB before the store was opened).`,
  );
  console.log(machineLoad(loadBefore));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
