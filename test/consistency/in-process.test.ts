/**
 * The checker against real engines in one process: a core engine on a real SQLite file and two edges —
 * each the real CachedBackend over that store, with an engine on top — and six clients (two per edge, two
 * on the core). Everything runs on one ManualClock, and the edges read the feed only when the workload
 * says so (their poll timer is set an hour out; SQLite has no doorbell), and a fetch from the store
 * yields a seeded number of turns on its way back, so fills and writes interleave — the same way on every
 * run of a seed.
 *
 * The correct cache passes; a cache that skips invalidation, and one that inserts spoilt fills, fail
 * with witnesses. Once more with the spill file in play: memory for one entry, so the edges answer
 * mostly from their cache files — and a file that skips invalidation is caught too.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Backend } from "../../src/core/backend.ts";
import { ManualClock } from "../../src/core/clock.ts";
import { Engine } from "../../src/core/engine.ts";
import { bytesToHex, decodeKey, encodeKey, hexToBytes } from "../../src/core/keys.ts";
import { deserializeV8, serializeV8 } from "../../src/core/v8.ts";
import { SqliteBackend } from "../../src/storage/sqlite/sqlite-backend.ts";
import { CachedBackend } from "../../src/client/cached-backend.ts";
import { checkHistory, describe, type Violation } from "./checker.ts";
import { runWorkload, seeded, type KvClient } from "./workload.ts";

const dir = mkdtempSync(join(tmpdir(), "openkv-consistency-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const KEYS = ["a", "b", "c"];
const MAX_AGE_MS = 50;
const ZERO = new Uint8Array(10);

/** The store as an edge sees it: reads come back after a few turns of the event loop; closing is a no-op. */
function behindTheWire(store: Backend, random: () => number): Backend {
  return new Proxy(store, {
    get(target, prop) {
      if (prop === "read") {
        return async (...args: Parameters<Backend["read"]>) => {
          const rows = await target.read(...args);
          for (let n = Math.floor(random() * 4); n > 0; n--) await new Promise((r) => setImmediate(r));
          return rows;
        };
      }
      if (prop === "close") return async () => {};
      const value = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

function engineClient(engine: Engine, namespaceId: string): KvClient {
  const set = (key: string, value: string) => ({ type: "set" as const, key: encodeKey([key]), value: { encoding: "v8" as const, data: serializeV8(value) } });
  return {
    async read(key, consistency) {
      const options = consistency === "eventual" ? { consistency, maxAgeMs: MAX_AGE_MS } : undefined;
      const e = await engine.get(namespaceId, encodeKey([key]), options);
      return e ? { value: deserializeV8(e.data) as string, versionstamp: bytesToHex(e.versionstamp) } : { value: null, versionstamp: null };
    },
    async write(key, value) {
      const r = await engine.atomic(namespaceId, { checks: [], mutations: [set(key, value)], enqueues: [] });
      if (!r.ok) throw new Error("a write without checks was refused");
      return bytesToHex(r.versionstamp);
    },
    async cas(key, expected, value) {
      const check = { key: encodeKey([key]), versionstamp: expected === null ? null : hexToBytes(expected) };
      const r = await engine.atomic(namespaceId, { checks: [check], mutations: [set(key, value)], enqueues: [] });
      return r.ok ? bytesToHex(r.versionstamp) : null;
    },
  };
}

type Breakage = (cache: CachedBackend["cache"]) => void;

/** Memory for about one entry of this workload: the rest of each edge's cache is its file. */
const TINY_MEMORY = 150;

async function run(
  name: string,
  seed: number,
  breakage?: Breakage,
  options: { withFile?: boolean } = {},
): Promise<{ violations: Violation[]; ops: number; hits: number; fileHits: number }> {
  const clock = new ManualClock();
  const store = new SqliteBackend(join(dir, `${name}.sqlite`), { durability: "process" });
  const core = await Engine.open(store, { clock });
  const ns = await core.ensureNamespace("default");
  const wire = seeded(seed);
  const edges = await Promise.all(
    [0, 1].map(async (i) => {
      const cached = await CachedBackend.open(behindTheWire(store, wire), {
        clock,
        feedPollMs: 3_600_000,
        ...(options.withFile ? { maxBytes: TINY_MEMORY, cacheFile: { path: join(dir, `${name}-edge-${i}.cache`), coreId: "core" } } : {}),
      });
      breakage?.(cached.cache);
      return { cached, engine: await Engine.open(cached, { clock }) };
    }),
  );
  const on = (engine: Engine) => engineClient(engine, ns.id);
  const clients = [
    { name: "a1", client: on(edges[0]!.engine) },
    { name: "a2", client: on(edges[0]!.engine) },
    { name: "b1", client: on(edges[1]!.engine) },
    { name: "b2", client: on(edges[1]!.engine) },
    { name: "c1", client: on(core) },
    { name: "c2", client: on(core) },
  ];
  const history = await runWorkload(clients, {
    seed,
    keys: KEYS,
    opsPerClient: 250,
    now: () => clock.now(),
    maxAgeMs: MAX_AGE_MS,
    between: async (random) => {
      clock.advance(Math.floor(random() * 6));
      // The feed reaches an edge now and then, not after every write: the caches are behind in between.
      const dice = random();
      if (dice < 0.15) await edges[dice < 0.075 ? 0 : 1]!.cached.caughtUp();
      else await new Promise((r) => setImmediate(r));
    },
  });

  const final = new Map<string, { value: string; versionstamp: string } | null>();
  for (const key of KEYS) {
    const e = await core.get(ns.id, encodeKey([key]));
    final.set(key, e ? { value: deserializeV8(e.data) as string, versionstamp: bytesToHex(e.versionstamp) } : null);
  }
  const page = await store.changes(ZERO, 100_000);
  const feed = page.changes
    .filter((c) => c.namespaceId === ns.id && c.keys)
    .flatMap((c) => c.keys!.map((k) => ({ key: String(decodeKey(k)[0]), versionstamp: bytesToHex(c.versionstamp) })));
  const hits = edges.reduce((n, e) => n + e.cached.cache.stats.hits, 0);
  const fileHits = edges.reduce((n, e) => n + e.cached.cache.stats.fileHits, 0);
  for (const e of edges) await e.engine.close();
  await core.close();
  return { violations: checkHistory({ history, final, feed }), ops: history.length, hits, fileHits };
}

const rules = (vs: readonly Violation[]) => [...new Set(vs.map((v) => v.rule))].sort();

test("the real cache: six clients, two edges and the core — no violation", async () => {
  const r = await run("correct", 1);
  assert.equal(r.ops, 6 * 250);
  assert.ok(r.hits > 100, `the edges answered from their caches (${r.hits} hits), so the caches were exercised`);
  assert.deepEqual(r.violations, [], describe(r.violations));
});

test("a cache that skips invalidation is caught: stale strong reads, reads back in time, stale eventual reads", async () => {
  const r = await run("no-invalidation", 1, (cache) => {
    cache.invalidate = () => {};
  });
  assert.deepEqual(rules(r.violations), ["linearizable", "monotonic", "staleness"], describe(r.violations.slice(0, 5)));
  // A readable witness: the stale read first, then the newer write it missed.
  const v = r.violations.find((x) => x.rule === "linearizable" && x.message.startsWith("a strong read"))!;
  assert.equal(v.ops[0]!.kind, "read");
  assert.match(describe([v]), /^linearizable: a strong read of [abc] returned an older write .*\n {4}#\d+ \w+ \[\d+, \d+\] read\(strong\)/);
});

test("a cache that inserts spoilt fills is caught", async () => {
  const r = await run("spoilt-fills", 1, (cache) => {
    const finish = cache.finishFill.bind(cache);
    cache.finishFill = (fill, key, entry) => {
      fill.spoilt = false;
      return finish(fill, key, entry);
    };
  });
  assert.ok(r.violations.length > 0, "no violation found");
  assert.ok(rules(r.violations).every((rule) => ["linearizable", "monotonic", "staleness"].includes(rule)), describe(r.violations.slice(0, 5)));
});

// Found by this checker, not yet fixed (src/client/read-cache.ts is outside this change): ReadCache.finishFill
// replaces whatever the key holds, so a fill that read the core before a write, and finishes after a later
// fill inserted that write but before the feed told of it, puts the older answer back. A client's next
// eventual read on that edge then goes back in time (staleness stays within the bound; strong reads are
// unaffected, since the read-index waits for the feed, whose invalidation spoils or removes it). These seeds
// show it; the fix is to keep the entry with the higher versionstamp (and drop both when one is "not found").
test("the real cache on seeds where fills finish out of order: eventual reads stay monotonic", async () => {
  for (const seed of [12, 13, 25, 26, 27]) {
    const r = await run(`out-of-order-${seed}`, seed);
    assert.deepEqual(r.violations, [], `seed ${seed}:\n${describe(r.violations)}`);
  }
});

test("the real cache with its file tier (memory for one entry): no violation", async () => {
  const r = await run("with-file", 1, undefined, { withFile: true });
  assert.equal(r.ops, 6 * 250);
  assert.ok(r.fileHits > 20, `the edges answered from their files (${r.fileHits} of ${r.hits} hits), so the file tier was exercised`);
  assert.deepEqual(r.violations, [], describe(r.violations));
});

test("a file tier that skips invalidation is caught", async () => {
  const r = await run(
    "file-no-invalidation",
    1,
    (cache) => {
      cache.spill!.remove = () => {};
      cache.spill!.removeOlder = () => {};
    },
    { withFile: true },
  );
  assert.ok(r.violations.length > 0, "no violation found");
  assert.ok(rules(r.violations).includes("linearizable"), describe(r.violations.slice(0, 5)));
});
