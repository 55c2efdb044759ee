/**
 * The edge cache over a real in-memory store standing in for the core. The cache follows the store's
 * feed only when told (`caughtUp`; the poll timer is set far out and the memory store has no doorbell),
 * so every interleaving below is deterministic; time is a ManualClock.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Backend } from "../core/backend.ts";
import { ManualClock } from "../core/clock.ts";
import { Engine } from "../core/engine.ts";
import { bytesToHex, encodeKey } from "../core/keys.ts";
import { deserializeV8, serializeV8 } from "../core/v8.ts";
import type { Entry, ReadOptions, ReadRange } from "../core/types.ts";
import { MemoryBackend } from "../storage/memory/memory-backend.ts";
import { CachedBackend, FEED_DEGRADED } from "./cached-backend.ts";

const EVENTUAL: ReadOptions = { consistency: "eventual" };

function point(key: Uint8Array): ReadRange[] {
  const end = new Uint8Array(key.length + 1);
  end.set(key);
  return [{ start: key, end, limit: 1 }];
}

/** The store as the cache sees it: its reads can be held after they have read, and its feed cut. */
class Interposed {
  readonly store: MemoryBackend;
  reads = 0;
  cut = false;
  /** When set, a read resolves `readDone` once it has its rows, then waits for `release`. */
  hold: { readDone: () => void; release: Promise<void> } | null = null;
  readonly backend: Backend;

  constructor(store: MemoryBackend) {
    this.store = store;
    this.backend = new Proxy(store, {
      get: (target, prop) => {
        if (prop === "read") {
          return async (...args: Parameters<Backend["read"]>) => {
            this.reads++;
            const rows = await (target as Backend).read(...args);
            const hold = this.hold;
            if (hold) {
              this.hold = null;
              hold.readDone();
              await hold.release;
            }
            return rows;
          };
        }
        if (prop === "changes") {
          return (...args: Parameters<Backend["changes"]>) => (this.cut ? Promise.reject(new Error("feed cut")) : target.changes(...args));
        }
        // Closing the cache must not close the store the "core" engine still uses.
        if (prop === "close") return async () => {};
        const value = Reflect.get(target, prop, target);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
  }
}

/** A core: a memory store with an engine on a ManualClock, and the store as an edge sees it. */
async function coreStore() {
  const clock = new ManualClock();
  const store = new MemoryBackend();
  const core = await Engine.open(store, { clock });
  const ns = await core.ensureNamespace("default");
  return { clock, store, core, ns, via: new Interposed(store) };
}

async function setup(options: { maxBytes?: number } = {}) {
  const base = await coreStore();
  const { clock, core, ns, via } = base;
  const cached = await CachedBackend.open(via.backend, { clock, feedPollMs: 3_600_000, ...options });
  const edge = await Engine.open(cached, { clock });
  const write = async (engine: Engine, key: string, value: unknown) => {
    const r = await engine.atomic(ns.id, { checks: [], mutations: [{ type: "set", key: encodeKey([key]), value: { encoding: "v8", data: serializeV8(value) } }], enqueues: [] });
    assert.ok(r.ok);
    return r.versionstamp;
  };
  const read = async (key: string, options?: ReadOptions): Promise<unknown> => {
    const [rows] = await cached.read(ns.id, point(encodeKey([key])), clock.now(), options);
    const e: Entry | undefined = rows![0];
    return e ? deserializeV8(e.data) : null;
  };
  return {
    ...base,
    cached,
    edge,
    write,
    read,
    async close() {
      await edge.close();
      await core.close();
    },
  };
}

test("a fill that was out while its key changed is not inserted (the fill race)", async () => {
  const t = await setup();
  await t.write(t.core, "k", "old");
  // An eventual read misses and fetches "old"; the fetch's answer is held on its way back.
  let readDone!: () => void;
  const fetched = new Promise<void>((r) => (readDone = r));
  let release!: () => void;
  t.via.hold = { readDone, release: new Promise((r) => (release = r)) };
  const racing = t.read("k", EVENTUAL);
  await fetched;
  // Meanwhile the core writes "new" and the edge applies the feed's invalidation of k.
  await t.write(t.core, "k", "new");
  await t.cached.caughtUp();
  release();
  assert.equal(await racing, "old"); // concurrent with the write: either answer is allowed
  assert.equal(t.cached.cache.stats.spoiltFills, 1);
  // Without the fill guard, "old" would now sit in the cache until k's next write.
  const reads = t.via.reads;
  assert.equal(await t.read("k", EVENTUAL), "new");
  assert.equal(t.via.reads, reads + 1, "the key was fetched again, not served from the cache");
  assert.equal(await t.read("k", EVENTUAL), "new");
  assert.equal(t.via.reads, reads + 1, "then cached");
  await t.close();
});

test("eventual reads are served from memory, negative ones too, until the feed says the key changed", async () => {
  const t = await setup();
  await t.write(t.core, "a", 1);
  assert.equal(await t.read("a", EVENTUAL), 1);
  assert.equal(await t.read("missing", EVENTUAL), null);
  const reads = t.via.reads;
  assert.equal(await t.read("a", EVENTUAL), 1);
  assert.equal(await t.read("missing", EVENTUAL), null);
  assert.equal(t.via.reads, reads, "both answered from memory");

  await t.write(t.core, "a", 2);
  await t.write(t.core, "missing", "here");
  // Not yet applied: an eventual read may still see the old value; a strong one may not.
  assert.equal(await t.read("a", EVENTUAL), 1);
  assert.equal(await t.read("a"), 2);
  await t.cached.caughtUp();
  assert.equal(await t.read("a", EVENTUAL), 2);
  assert.equal(await t.read("missing", EVENTUAL), "here");
  await t.close();
});

test("the feed's news of a write the cache already holds (fetched after it) keeps the entry", async () => {
  const t = await setup();
  await t.write(t.core, "fresh", 1);
  assert.equal(await t.read("fresh", EVENTUAL), 1); // fetched before the feed told of the write
  await t.cached.caughtUp();
  const reads = t.via.reads;
  assert.equal(await t.read("fresh", EVENTUAL), 1);
  assert.equal(t.via.reads, reads);
  await t.close();
});

test("a strong read comes from memory only once the cache has applied the core's latest write", async () => {
  const t = await setup();
  await t.write(t.core, "s", "v1");
  await t.cached.caughtUp();
  assert.equal(await t.read("s"), "v1");
  let reads = t.via.reads;
  assert.equal(await t.read("s"), "v1");
  assert.equal(t.via.reads, reads, "current: served from memory");
  // A write to another key moves the core's latest past what the cache applied: back to the core.
  await t.write(t.core, "other", 1);
  reads = t.via.reads;
  assert.equal(await t.read("s"), "v1");
  assert.equal(t.via.reads, reads + 1);
  await t.cached.caughtUp();
  reads = t.via.reads;
  assert.equal(await t.read("s"), "v1");
  assert.equal(t.via.reads, reads);
  await t.close();
});

test("a write through the edge is visible to the edge's next read at once (read-your-writes)", async () => {
  const t = await setup();
  assert.equal(await t.read("mine", EVENTUAL), null); // cached as not found
  const vs = await t.write(t.edge, "mine", "written");
  // No feed read in between: the commit itself forgot the key.
  const [rows] = await t.cached.read(t.ns.id, point(encodeKey(["mine"])), t.clock.now(), EVENTUAL);
  assert.deepEqual(rows![0]!.versionstamp, vs);
  await t.close();
});

test("a deleted namespace is forgotten whole; a feed gap (pruned past the edge) empties the cache", async () => {
  const t = await setup();
  await t.write(t.core, "x", 1);
  await t.cached.caughtUp();
  await t.read("x", EVENTUAL);
  await t.read("y", EVENTUAL);
  assert.equal(t.cached.cache.size, 2);
  const other = await t.core.ensureNamespace("other");
  await t.core.deleteNamespace(other.id);
  await t.cached.caughtUp();
  assert.equal(t.cached.cache.size, 2, "another namespace's deletion drops nothing here");
  await t.core.deleteNamespace(t.ns.id);
  await t.cached.caughtUp();
  assert.equal(t.cached.cache.size, 0);

  const ns = await t.core.ensureNamespace("again");
  const r = (key: string) => t.cached.read(ns.id, point(encodeKey([key])), t.clock.now(), EVENTUAL);
  await r("p");
  await r("q");
  assert.equal(t.cached.cache.size, 2);
  await t.core.atomic(ns.id, { checks: [], mutations: [{ type: "delete", key: encodeKey(["z"]) }], enqueues: [] });
  await t.store.pruneChanges(Number.MAX_SAFE_INTEGER, 0);
  await t.cached.caughtUp();
  assert.equal(t.cached.cache.size, 0);
  await t.close();
});

test("with the feed cut, nothing older than the bound is served; the node says it is degraded; it catches up", async () => {
  const t = await setup();
  await t.write(t.core, "k", "before");
  assert.equal(await t.read("k", EVENTUAL), "before");
  assert.equal(t.cached.degraded(), null);
  t.via.cut = true;
  await t.write(t.core, "k", "during"); // the edge cannot learn of it
  await t.cached.caughtUp();
  t.clock.advance(30_000);
  assert.equal(await t.read("k", { consistency: "eventual", maxAgeMs: 30_000 }), "before", "exactly at the bound: still served");
  assert.equal(t.cached.degraded(), FEED_DEGRADED);
  t.clock.advance(1);
  const reads = t.via.reads;
  assert.equal(await t.read("k", { consistency: "eventual", maxAgeMs: 30_000 }), "during", "past it: fetched");
  assert.equal(t.via.reads, reads + 1);
  // A fresh fetch is current as of its own time: served again for the next 60 s (the default bound).
  t.clock.advance(59_000);
  assert.equal(await t.read("k", EVENTUAL), "during");
  assert.equal(t.via.reads, reads + 1);
  t.clock.advance(1_001);
  await t.read("k", EVENTUAL);
  assert.equal(t.via.reads, reads + 2);

  // The feed comes back: the edge reads what it missed, in order, and is current again.
  await t.write(t.core, "k", "after");
  t.via.cut = false;
  await t.cached.caughtUp();
  assert.equal(t.cached.degraded(), null);
  assert.equal(await t.read("k", EVENTUAL), "after");
  await t.close();
});

test("the cache holds at most maxBytes, evicting the least recently used", async () => {
  const t = await setup({ maxBytes: 1_500 });
  const big = "x".repeat(300);
  for (const k of ["a", "b", "c", "d"]) await t.write(t.core, k, big);
  await t.cached.caughtUp();
  for (const k of ["a", "b", "c"]) await t.read(k, EVENTUAL);
  assert.ok(t.cached.cache.bytes <= 1_500);
  await t.read("a", EVENTUAL); // a is now the most recently used
  const before = t.cached.cache.stats.evictions;
  for (const k of ["d", "e", "f"]) await t.read(k, EVENTUAL);
  assert.ok(t.cached.cache.stats.evictions > before);
  assert.ok(t.cached.cache.bytes <= 1_500);
  const reads = t.via.reads;
  await t.read("a", EVENTUAL);
  await t.read("b", EVENTUAL);
  assert.equal(t.via.reads, reads + 1, "a stayed (recently used), b was evicted");
  await t.close();
});

test("reads the cache does not answer go to the core: lists, several keys, keys only", async () => {
  const t = await setup();
  await t.write(t.core, "l1", 1);
  const reads = t.via.reads;
  const k = encodeKey(["l1"]);
  await t.cached.read(t.ns.id, [{ start: new Uint8Array(), end: Uint8Array.of(0xff), limit: 10 }], t.clock.now(), EVENTUAL);
  await t.cached.read(t.ns.id, [...point(k), ...point(encodeKey(["l2"]))], t.clock.now(), EVENTUAL);
  await t.cached.read(t.ns.id, [{ ...point(k)[0]!, keysOnly: true }], t.clock.now(), EVENTUAL);
  assert.equal(t.via.reads, reads + 3);
  assert.equal(t.cached.cache.size, 0);
  await t.close();
});

test("@deno/kv's get — the first entry from k, limit 1 — is answered from memory only when k exists", async () => {
  const t = await setup();
  await t.write(t.core, "b", "bee");
  await t.write(t.core, "c", "sea");
  const from = (key: string): ReadRange[] => [{ start: encodeKey([key]), end: Uint8Array.of(0xff), limit: 1 }];
  const first = async (key: string) => {
    const [rows] = await t.cached.read(t.ns.id, from(key), t.clock.now(), EVENTUAL);
    return rows!.map((e) => deserializeV8(e.data));
  };
  assert.deepEqual(await first("b"), ["bee"]);
  let reads = t.via.reads;
  assert.deepEqual(await first("b"), ["bee"]);
  assert.equal(t.via.reads, reads, "k exists: its cached entry is the first entry from k");
  // "a" is absent: the answer is the next key, which the cache does not hold; the core answers, every
  // time, but what it said about "a" itself is kept for point reads.
  assert.deepEqual(await first("a"), ["bee"]);
  assert.deepEqual(await first("a"), ["bee"]);
  assert.equal(t.via.reads, reads + 2);
  reads = t.via.reads;
  assert.equal(await t.read("a", EVENTUAL), null);
  assert.equal(t.via.reads, reads, "absence learnt from the range read");
  // Invalidated like any cached key.
  await t.write(t.core, "b", "bee2");
  await t.cached.caughtUp();
  assert.deepEqual(await first("b"), ["bee2"]);
  // Reverse, or more than one entry: the core answers.
  reads = t.via.reads;
  await t.cached.read(t.ns.id, [{ ...from("b")[0]!, reverse: true }], t.clock.now(), EVENTUAL);
  await t.cached.read(t.ns.id, [{ ...from("b")[0]!, limit: 2 }], t.clock.now(), EVENTUAL);
  assert.equal(t.via.reads, reads + 2);
  await t.close();
});

// ---- with a cache file: the second tier and restarts ----

const spillDir = mkdtempSync(join(tmpdir(), "openkv-cached-spill-"));
after(() => rmSync(spillDir, { recursive: true, force: true }));
let spillFiles = 0;

const KEYS = ["k0", "k1", "k2", "k3", "k4", "k5"];

/** A core store, and edges over it that can be closed and opened again on one cache file. */
async function withFile(options: { maxBytes?: number } = {}) {
  const base = await coreStore();
  const { clock, core, ns, via } = base;
  const path = join(spillDir, `edge-${++spillFiles}.sqlite`);
  const lines: string[] = [];
  const open = (coreId = "core-1") =>
    CachedBackend.open(via.backend, { clock, feedPollMs: 3_600_000, maxBytes: options.maxBytes ?? 700, cacheFile: { path, coreId }, log: (l) => lines.push(l) });
  let cached = await open();
  const write = async (key: string, value: unknown) => {
    const r = await core.atomic(ns.id, { checks: [], mutations: [{ type: "set", key: encodeKey([key]), value: { encoding: "v8", data: serializeV8(value) } }], enqueues: [] });
    assert.ok(r.ok);
  };
  const read = async (key: string, options: ReadOptions | undefined = EVENTUAL): Promise<unknown> => {
    const [rows] = await cached.read(ns.id, point(encodeKey([key])), clock.now(), options);
    return rows![0] ? deserializeV8(rows![0].data) : null;
  };
  /** Reads `key` and says whether the core was asked. */
  const fromCore = async (key: string, options?: ReadOptions): Promise<[unknown, boolean]> => {
    const before = via.reads;
    const value = await read(key, options);
    return [value, via.reads > before];
  };
  /** Writes every key of KEYS on the core and reads each through the edge once. */
  const prime = async (value: (key: string) => string = (k) => `${k}-v1`) => {
    for (const k of KEYS) await write(k, value(k));
    await cached.caughtUp();
    for (const k of KEYS) await read(k);
  };
  return {
    ...base,
    path,
    lines,
    write,
    read,
    fromCore,
    prime,
    get cached() {
      return cached;
    },
    async restart(coreId?: string) {
      await cached.close();
      lines.length = 0;
      cached = await open(coreId);
    },
    async close() {
      await cached.close();
      await core.close();
    },
  };
}


test("tiny memory: evicted entries are served from the file without a core read; a write on the core drops the file's entry", async () => {
  const t = await withFile();
  await t.prime((k) => `${k}-v1`.padEnd(100, "."));
  assert.equal(t.cached.cache.tierOf(t.ns.id, encodeKey(["k0"])), "file");
  // Every key again, oldest first: each is a memory miss answered by the file.
  for (const k of KEYS) assert.deepEqual(await t.fromCore(k), [`${k}-v1`.padEnd(100, "."), false]);
  for (const k of KEYS) assert.deepEqual(await t.fromCore(k, undefined), [`${k}-v1`.padEnd(100, "."), false], "strong reads too: the edge is current");
  assert.ok(t.cached.cache.snapshotStats().file!.hits >= KEYS.length);

  await t.write("k0", "k0-v2");
  await t.cached.caughtUp();
  assert.equal(t.cached.cache.tierOf(t.ns.id, encodeKey(["k0"])), null, "invalidated in the file");
  assert.deepEqual(await t.fromCore("k0"), ["k0-v2", true]);
  await t.close();
});

test("a restart keeps the cache: entries served from the file without core reads; a write made while the edge was down is not served", async () => {
  const t = await withFile();
  await t.prime();
  await t.read("absent");

  const position = bytesToHex(t.cached.applied);
  await t.cached.close();
  // While the edge is down: k1 changes, absent appears, k2 is deleted.
  await t.write("k1", "k1-v2");
  await t.write("absent", "here now");
  await t.core.atomic(t.ns.id, { checks: [], mutations: [{ type: "delete", key: encodeKey(["k2"]) }], enqueues: [] });
  await t.restart();
  assert.deepEqual(t.lines, [
    `Cache file ${t.path}: resumed the core's feed from ${position}; 3 changes applied, 4 of 7 entries kept.`,
  ]);
  assert.deepEqual(await t.fromCore("k1"), ["k1-v2", true]);
  assert.deepEqual(await t.fromCore("absent"), ["here now", true]);
  assert.deepEqual(await t.fromCore("k2"), [null, true]);
  for (const k of ["k0", "k3", "k4", "k5"]) assert.deepEqual(await t.fromCore(k), [`${k}-v1`, false]);
  // Caught up at open: strong reads come from the cache too.
  assert.deepEqual(await t.fromCore("k3", undefined), ["k3-v1", false]);
  assert.equal(t.cached.degraded(), null);
  await t.close();
});

test("a restart after the feed was pruned past the file's position, against a core whose feed ends before it, or against another core: the file is cleared", async () => {
  const t = await withFile();
  await t.prime();

  await t.cached.close();
  await t.write("k1", "k1-v2");
  await t.store.pruneChanges(Number.MAX_SAFE_INTEGER, 0);
  await t.restart();
  assert.equal(t.lines.length, 1);
  assert.match(t.lines[0]!, /^Cache file .*: the core's feed no longer reaches back to the file's position [0-9a-f]{20} \(pruned past it while this edge was down\): cleared\.$/);
  assert.equal(t.cached.cache.spill!.stats.entries, 0);
  for (const k of KEYS) assert.equal((await t.fromCore(k))[1], true);
  assert.equal(await t.read("k1"), "k1-v2");

  // The same file against a fresh store under the same id (a store whose feed is behind the file's).
  await t.cached.close();
  const fresh = new MemoryBackend();
  const lines: string[] = [];
  const other = await CachedBackend.open(fresh, { clock: t.clock, feedPollMs: 3_600_000, maxBytes: 700, cacheFile: { path: t.path, coreId: "core-1" }, log: (l) => lines.push(l) });
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, /^Cache file .*: the core's feed ends at 0{20}, before the file's position [0-9a-f]{20} \(a restored or replaced store\): cleared\.$/);
  assert.equal(other.cache.spill!.stats.entries, 0);
  await other.close();

  await t.restart("core-1");
  for (const k of KEYS) await t.read(k);
  await t.restart("core-2");
  assert.deepEqual(t.lines, [`Cache file ${t.path} holds entries of another core (store core-1, not core-2): cleared.`]);
  assert.equal(t.cached.cache.spill!.stats.entries, 0);
  await t.close();
});
