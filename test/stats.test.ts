/**
 * The key and byte counters of every store (memory, SQLite, PostgreSQL) against a full scan, after every
 * path that changes entries: lone writes (PostgreSQL's one-statement form), group commits (its
 * one-statement batch), writes that read (two trips), values over 64 KiB (written as statements of their
 * own), dead-lettered queue messages, expiry purges, sealing in place and key rotation, a dump loaded into
 * a fresh store, a namespace deleted and created again under the same id, change-feed pruning, a seeded
 * random mix of all of these, and — PostgreSQL only — two nodes writing the same keys at once.
 *
 * After each step both `namespaceStats(id)` and `analytics.allNamespaceStats()` must equal the scan for
 * every namespace of the store (at least two, so a change counted against the wrong one shows). The scan
 * reads the raw rows at time 0: expired entries not yet purged count, and sealed bytes count as stored.
 * On PostgreSQL each test also asserts which write paths it drove (statements seen on the writer), so a
 * change of routing cannot leave a path untested unnoticed.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { entryBytes, type NamespaceStats } from "../src/core/analytics/types.ts";
import { u64Bytes } from "../src/core/atomic.ts";
import type { Backend, DumpRecord } from "../src/core/backend.ts";
import { ManualClock } from "../src/core/clock.ts";
import { Engine } from "../src/core/engine.ts";
import { KvError } from "../src/core/errors.ts";
import { encodeKey, type KvKey } from "../src/core/keys.ts";
import { rotateKeys } from "../src/core/rotation.ts";
import type { AtomicWrite, CommitResult, Mutation, StoredValue } from "../src/core/types.ts";
import { serializeV8 } from "../src/core/v8.ts";
import { MemoryBackend, PostgresBackend, SqliteBackend } from "../src/storage/index.ts";
import { freshStoreUrl } from "./fixtures/postgres.ts";

interface Store {
  readonly name: string;
  /** A fresh, empty store. */
  fresh(): Promise<Backend>;
}

// SQLite in files: a dump reads through a connection of its own, which ":memory:" cannot share.
const dir = mkdtempSync(join(tmpdir(), "openkv-stats-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

const STORES: Store[] = [
  { name: "memory", fresh: async () => new MemoryBackend() },
  { name: "SQLite", fresh: async () => new SqliteBackend(join(dir, `${files++}.sqlite`)) },
  { name: "PostgreSQL", fresh: async () => new PostgresBackend(await freshStoreUrl()) },
];

/** No background purge during a test: it purges when told (`engine.purgeExpired()`). */
const NO_TIMER = { purgeIntervalMs: 3_600_000 };
const ALL = { start: new Uint8Array(0), end: Uint8Array.of(0xff), limit: 1_000_000 };
const ZERO: NamespaceStats = { keyCount: 0, byteCount: 0 };
/** Above PostgreSQL's BIG_VALUE_BYTES (64 KiB): written as a statement of its own. */
const BIG = 70_000;

const k = (...parts: KvKey) => encodeKey(parts);
const bytes = (n: number, fill = 1): StoredValue => ({ encoding: "bytes", data: new Uint8Array(n).fill(fill) });
const u64 = (n: bigint): StoredValue => ({ encoding: "le64", data: u64Bytes(n) });
const v8 = (v: unknown): StoredValue => ({ encoding: "v8", data: serializeV8(v) });
const set = (key: Uint8Array, value: StoredValue, extra: { metadata?: string; expiresAt?: number } = {}): Mutation => ({ type: "set", key, value, ...extra });
const del = (key: Uint8Array): Mutation => ({ type: "delete", key });
const sum = (key: Uint8Array, value: StoredValue): Mutation => ({ type: "sum", key, value });
const write = (mutations: Mutation[], extra: Partial<AtomicWrite> = {}): AtomicWrite => ({ checks: [], mutations, enqueues: [], ...extra });

function ok(r: CommitResult): Uint8Array {
  assert.ok(r.ok, "the write committed");
  return r.versionstamp;
}

/** Key and byte counts by a full scan of the raw rows, expired ones not yet purged included (read at time 0). */
async function scan(b: Backend, nsId: string): Promise<NamespaceStats> {
  const [rows] = await b.read(nsId, [ALL], 0);
  return { keyCount: rows!.length, byteCount: rows!.reduce((n, e) => n + entryBytes(e), 0) };
}

/**
 * Both counters of every namespace of the store equal a full scan, and no deleted namespace is reported.
 * Every store lists a namespace from its creation on, written to or not (PostgreSQL since migration 3).
 */
async function expectCounters(b: Backend, step: string): Promise<void> {
  const namespaces = await b.listNamespaces();
  assert.ok(namespaces.length >= 2, `${step}: at least two namespaces`);
  const all = await b.analytics!.allNamespaceStats();
  assert.deepEqual([...all.keys()].filter((id) => !namespaces.some((n) => n.id === id)), [], `${step}: allNamespaceStats lists only existing namespaces`);
  for (const ns of namespaces) {
    const want = await scan(b, ns.id);
    assert.deepEqual(await b.namespaceStats(ns.id), want, `${step}: namespaceStats of "${ns.title}" equals the scan`);
    assert.deepEqual(all.get(ns.id), want, `${step}: allNamespaceStats of "${ns.title}" equals the scan`);
  }
}

type PgPath = "one-write" | "one-trip" | "two-trips" | "big-value";

/**
 * The PostgreSQL write path a statement sent to the writer belongs to (src/storage/postgres/postgres-backend.ts):
 * `oneWriteStatement`, `oneTripStatement`, the two-trip transaction (it opens with BEGIN and the counter
 * lock), a value over 64 KiB written alone inside it. Rename here if those statements are renamed.
 */
function pgPath(query: unknown): PgPath | null {
  const name = typeof query === "string" ? query : ((query as { name?: string }).name ?? "");
  if (name.startsWith("okv_one_write_")) return "one-write";
  if (name.startsWith("okv_one_trip_")) return "one-trip";
  if (name.startsWith("BEGIN")) return "two-trips";
  if (name === "okv_put_one") return "big-value";
  return null;
}

/**
 * What a PostgreSQL node's writer was sent, by path, and how many one-statement tries wrote nothing (their
 * snapshot was stale, or a summed key held something other than a KvU64): those batches go again in two trips.
 */
class PathLog {
  readonly sent = new Map<PgPath, number>();
  declined = 0;

  /** Asserts the paths sent since the last call (by count; `undefined` count: at least once) and forgets them. */
  expect(step: string, paths: Partial<Record<PgPath, number | undefined>>, exact = true): void {
    const seen = Object.fromEntries(this.sent);
    for (const [path, n] of Object.entries(paths)) {
      if (n === undefined) assert.ok((seen[path] ?? 0) > 0, `${step}: PostgreSQL took the ${path} path (${JSON.stringify(seen)})`);
      else assert.equal(seen[path] ?? 0, n, `${step}: ${path} statements on PostgreSQL (${JSON.stringify(seen)})`);
    }
    if (exact) assert.deepEqual(Object.keys(seen).sort(), Object.keys(paths).sort(), `${step}: no other write path on PostgreSQL`);
    this.sent.clear();
  }
}

/** Records the statements the PostgreSQL group-commit writer is sent from now on; null on other stores. */
async function watchPaths(b: Backend): Promise<PathLog | null> {
  if (!(b instanceof PostgresBackend)) return null;
  const { writer } = await b.connector.primary();
  const log = new PathLog();
  const query = writer.query.bind(writer) as (...a: unknown[]) => unknown;
  (writer as unknown as { query: (...a: unknown[]) => unknown }).query = (...a) => {
    const path = pgPath(a[0]);
    if (path) log.sent.set(path, (log.sent.get(path) ?? 0) + 1);
    const p = query(...a);
    if (path === "one-write" || path === "one-trip") {
      // A one-statement try that wrote nothing returns no row.
      void (p as Promise<{ rows: unknown[] }>).then((r) => void (r.rows.length === 0 && log.declined++), () => {});
    }
    return p;
  };
  return log;
}

/** An engine on a fresh store, on a manual clock, with namespaces "a" and "b". */
async function setup(store: Store) {
  const clock = new ManualClock();
  const backend = await store.fresh();
  const engine = await Engine.open(backend, { clock, ...NO_TIMER });
  const a = (await engine.ensureNamespace("a")).id;
  const b = (await engine.ensureNamespace("b")).id;
  const paths = await watchPaths(backend);
  return { clock, backend, engine, a, b, paths };
}

/** Settles an atomic write that may fail on its own (a sum onto the wrong type): only that KvError is expected. */
async function attempt(p: Promise<CommitResult>): Promise<CommitResult | KvError> {
  try {
    return await p;
  } catch (e) {
    if (e instanceof KvError && e.code === "invalid_mutation") return e;
    throw e;
  }
}

/** A tiny seeded PRNG (mulberry32): the random sequence is the same on every run and every store. */
function prng(seed: number): { next(): number; int(n: number): number; pick<T>(xs: readonly T[]): T } {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  return { next, int, pick: (xs) => xs[int(xs.length)]! };
}

const METADATA = ['{"città":"Zürich ✓ 日本"}', '{"é":1}', '{"plain":"ascii only"}', '{"emoji":"🙂🙂"}', "{}"];

async function dumpOf(b: Backend): Promise<DumpRecord[]> {
  const records: DumpRecord[] = [];
  for await (const r of b.dump()) records.push(r);
  return records;
}

async function* replay(records: readonly DumpRecord[]): AsyncIterable<DumpRecord> {
  yield* records;
}

for (const store of STORES) {
  const { name } = store;

  test(`${name}: lone writes of one key — new, overwrite, UTF-8 metadata, expiry, KvU64 sums (absent, existing, over an expired non-KvU64), deletes`, async () => {
    const { engine, backend, clock, a, b, paths } = await setup(store);
    try {
      const lone = async (ns: string, m: Mutation, step: string) => {
        ok(await engine.atomic(ns, write([m])));
        await expectCounters(backend, step);
      };
      await lone(a, set(k("k"), bytes(10)), "a new key");
      await lone(b, set(k("k"), bytes(20)), "the same key in the other namespace");
      await lone(a, set(k("k"), bytes(300)), "an overwrite, larger");
      await lone(a, set(k("k"), bytes(3)), "an overwrite, smaller");
      assert.notEqual(Buffer.byteLength(METADATA[0]!), METADATA[0]!.length);
      await lone(a, set(k("m"), v8("x"), { metadata: METADATA[0]! }), "non-ASCII metadata");
      await lone(b, set(k("m"), v8("y"), { metadata: METADATA[3]! }), "non-ASCII metadata in the other namespace");
      await lone(a, set(k("m"), v8("x"), { metadata: METADATA[1]! }), "metadata replaced by a shorter one");
      await lone(a, set(k("m"), v8("x")), "metadata dropped");
      await lone(a, set(k("e"), bytes(50), { expiresAt: clock.now() + 1000 }), "a set with expiry");
      await lone(a, sum(k("n"), u64(5n)), "a KvU64 sum on an absent key");
      await lone(a, sum(k("n"), u64(7n)), "a KvU64 sum on a KvU64");
      assert.deepEqual((await engine.get(a, k("n")))!.data, u64Bytes(12n));
      await lone(b, set(k("x"), v8("a string, not a KvU64"), { metadata: METADATA[0]!, expiresAt: clock.now() + 1000 }), "a non-KvU64 with expiry and metadata");
      clock.advance(2000);
      await expectCounters(backend, "expired entries count until purged");
      await lone(b, sum(k("x"), u64(9n)), "a KvU64 sum over an expired non-KvU64 replaces it");
      const x = (await engine.get(b, k("x")))!;
      assert.deepEqual([x.encoding, x.data, x.metadata, x.expiresAt], ["le64", u64Bytes(9n), null, null], "the sum took the operand");
      await lone(a, del(k("k")), "a delete of an existing key");
      await lone(a, del(k("k")), "a delete of an absent key");
      await lone(b, del(k("e")), "a delete of a key only the other namespace has");
      assert.equal((await scan(backend, a)).keyCount, 3, "e (expired), m and n are left in a");
      paths?.expect("lone writes", { "one-write": 16 });
      assert.equal(paths?.declined ?? 0, 0);
    } finally {
      await engine.close();
    }
  });

  test(`${name}: group commits of 100 atomic writes in flight at once, across two namespaces, several on the same keys`, async () => {
    const { engine, backend, a, b, paths } = await setup(store);
    try {
      // Sets and deletes collide on ten keys per namespace; each sum key appears once per batch (what
      // PostgreSQL's one-statement batch takes) and holds a KvU64 from the first group on.
      const group = (round: number) =>
        Array.from({ length: 100 }, (_, i) => {
          const ns = i % 3 === 0 ? b : a;
          const key = k("s", i % 10);
          switch (i % 4) {
            case 0:
              return engine.atomic(ns, write([set(key, bytes(10 + i + round), i % 8 === 0 ? { metadata: METADATA[i % METADATA.length]! } : {})]));
            case 1:
              return engine.atomic(ns, write([del(key)]));
            case 2:
              return engine.atomic(ns, write([sum(k("u", i), u64(BigInt(i + round)))]));
            default:
              return engine.atomic(ns, write([set(key, bytes(i * 3 + round)), del(k("s", (i + 1) % 10)), set(k("t", i % 7), bytes(i))]));
          }
        });
      for (const round of [0, 1]) {
        for (const r of await Promise.all(group(round))) ok(r);
        await expectCounters(backend, `group ${round}`);
        paths?.expect(`group ${round}`, { "one-trip": 1 });
      }
      assert.deepEqual((await engine.get(a, k("u", 2)))!.data, u64Bytes(2n + 3n), "the second group added to the first one's sums");
      // Deletes of keys that exist, with sums and sets in flight beside them.
      const before = [await scan(backend, a), await scan(backend, b)];
      const deletes = [a, b].flatMap((ns, n) =>
        Array.from({ length: 17 }, (_, j) => engine.atomic(ns, write(j < 10 ? [del(k("s", j))] : j < 14 ? [del(k("t", j - 10)), set(k("w", j), bytes(j))] : [sum(k("u", j * 4 + 2 - n), u64(1n))]))),
      );
      for (const r of await Promise.all(deletes)) ok(r);
      const after = [await scan(backend, a), await scan(backend, b)];
      assert.ok(after[0]!.keyCount < before[0]!.keyCount && after[1]!.keyCount < before[1]!.keyCount, "existing keys were deleted in both namespaces");
      await expectCounters(backend, "a group deleting existing keys");
      paths?.expect("a group deleting existing keys", { "one-trip": 1 });
      // Sums on the same key in one batch, among sets and deletes of it: the two-trip batch.
      // Per namespace: sum, sum, sum, set (bytes), delete, and again.
      const same = Array.from({ length: 100 }, (_, i) =>
        engine.atomic(i < 50 ? a : b, write([i % 5 === 4 ? del(k("c")) : i % 5 === 3 ? set(k("c"), bytes(i)) : sum(k("c"), u64(1n))])),
      );
      for (const r of await Promise.all(same)) ok(r);
      await expectCounters(backend, "a group summing, setting and deleting one key");
      paths?.expect("a group summing one key", { "two-trips": 1 });
    } finally {
      await engine.close();
    }
  });

  test(`${name}: writes that read — checks, min/max, V8-number sums; a sum onto a live non-KvU64 fails and changes nothing`, async () => {
    const { engine, backend, a, b, paths } = await setup(store);
    try {
      const vs = ok(await engine.atomic(a, write([set(k("c"), bytes(40))], { checks: [{ key: k("c"), versionstamp: null }] })));
      await expectCounters(backend, "a check that passed");
      const failed = await engine.atomic(a, write([set(k("c"), bytes(4000)), set(k("d"), bytes(1))], { checks: [{ key: k("c"), versionstamp: null }] }));
      assert.deepEqual(failed, { ok: false, failedChecks: [0] });
      await expectCounters(backend, "a check that failed");
      ok(await engine.atomic(a, write([set(k("c"), bytes(41), { metadata: METADATA[0]! })], { checks: [{ key: k("c"), versionstamp: vs }] })));
      const bc = ok(await engine.atomic(b, write([set(k("c"), bytes(7))], { checks: [{ key: k("c"), versionstamp: null }] })));
      await expectCounters(backend, "checked overwrites");
      ok(await engine.atomic(b, write([del(k("c")), set(k("d"), bytes(70))], { checks: [{ key: k("c"), versionstamp: bc }] })));
      await expectCounters(backend, "a checked delete");
      ok(await engine.atomic(a, write([{ type: "min", key: k("n"), value: u64(30n) }])));
      ok(await engine.atomic(a, write([{ type: "max", key: k("n"), value: u64(50n) }])));
      ok(await engine.atomic(b, write([{ type: "min", key: k("n"), value: u64(2n) }, { type: "max", key: k("o"), value: u64(9n) }])));
      await expectCounters(backend, "min and max");
      ok(await engine.atomic(a, write([sum(k("f"), v8(1.5))])));
      ok(await engine.atomic(a, write([sum(k("f"), v8(2))])));
      ok(await engine.atomic(b, write([sum(k("g"), v8(10n)), sum(k("g"), v8(5n))])));
      await expectCounters(backend, "V8-number sums");
      ok(await engine.atomic(b, write([set(k("s"), v8("not a number"), { metadata: METADATA[2]! })])));
      const before = [await scan(backend, a), await scan(backend, b)];
      // A lone write's checks are made in its one statement, the failed one's too; min/max and V8 sums read.
      paths?.expect("checks (one statement each), min/max, V8 sums (two trips); the string (one statement)", { "one-write": 4, "one-trip": 2, "two-trips": 6 });
      // A bad sum fails its own write alone: the write beside it in the same batch commits.
      const [bad, good] = await Promise.all([
        attempt(engine.atomic(b, write([set(k("beside"), bytes(5)), sum(k("s"), u64(1n))]))),
        engine.atomic(a, write([set(k("good"), bytes(5))])),
      ]);
      const badLone = await attempt(engine.atomic(b, write([sum(k("s"), u64(1n))])));
      assert.ok(bad instanceof KvError && badLone instanceof KvError, "both sums onto a string failed");
      ok(good);
      assert.equal(await engine.get(b, k("beside")), null, "nothing of the failed write was applied");
      const good1 = { keyCount: before[0]!.keyCount + 1, byteCount: before[0]!.byteCount + k("good").byteLength + 5 };
      assert.deepEqual([await scan(backend, a), await scan(backend, b)], [good1, before[1]], "only the good write changed anything");
      await expectCounters(backend, "failed sums");
      // The one-statement try found the string and wrote nothing; the batch went again in two trips (and
      // the lone sum after it straight away).
      paths?.expect("failing sums", { "one-trip": 1, "two-trips": 2 });
      assert.equal(paths?.declined ?? 1, 1);
    } finally {
      await engine.close();
    }
  });

  test(`${name}: values over 64 KiB alone, in one atomic with small writes and a delete, overwritten by small ones and back`, async () => {
    const { engine, backend, a, b, paths } = await setup(store);
    try {
      ok(await engine.atomic(a, write([set(k("big"), bytes(BIG, 2), { metadata: METADATA[0]! })])));
      ok(await engine.atomic(b, write([set(k("gone"), bytes(30))])));
      await expectCounters(backend, "a big value alone");
      paths?.expect("a big value alone", { "one-write": 2 });
      ok(await engine.atomic(b, write([set(k("big"), bytes(BIG + 5000, 3)), set(k("small"), bytes(12)), set(k("big2"), bytes(BIG * 2)), del(k("gone"))])));
      await expectCounters(backend, "big values in one atomic with small writes and a delete");
      paths?.expect("big values with small writes", { "two-trips": 1, "big-value": 2 });
      ok(await engine.atomic(a, write([set(k("big"), bytes(5))])));
      await expectCounters(backend, "a big value overwritten by a small one");
      ok(await engine.atomic(a, write([set(k("big"), bytes(BIG + 1, 4), { metadata: METADATA[3]! })])));
      await expectCounters(backend, "and back");
      ok(await engine.atomic(b, write([set(k("big2"), bytes(BIG + 2))])));
      await expectCounters(backend, "a big value overwritten by another big one");
      const both = await Promise.all([
        engine.atomic(a, write([set(k("big"), bytes(3))])),
        engine.atomic(b, write([set(k("big"), bytes(BIG * 3))])),
        engine.atomic(b, write([del(k("big2"))])),
        engine.atomic(a, write([set(k("x"), bytes(BIG))])),
      ]);
      both.forEach(ok);
      await expectCounters(backend, "a group mixing big and small writes");
      ok(await engine.atomic(b, write([del(k("big"))])));
      await expectCounters(backend, "a big value deleted");
    } finally {
      await engine.close();
    }
  });

  test(`${name}: a dead-lettered queue message writes its keysIfUndelivered`, async () => {
    const { engine, backend, clock, a, b } = await setup(store);
    const done: Promise<void>[] = [];
    try {
      ok(await engine.atomic(a, write([set(k("dead", 1), bytes(2000), { metadata: METADATA[0]! })])));
      const payloads = [serializeV8({ order: 1, note: "for a" }), serializeV8("b's payload")];
      ok(await engine.atomic(a, write([], { enqueues: [{ payload: payloads[0]!, readyAt: clock.now() + 10, keysIfUndelivered: [k("dead", 1), k("dead", 2)], backoffSchedule: [] }] })));
      ok(await engine.atomic(b, write([set(k("live"), bytes(3))], { enqueues: [{ payload: payloads[1]!, readyAt: clock.now() + 10, keysIfUndelivered: [k("dead", 1)], backoffSchedule: [] }] })));
      await expectCounters(backend, "enqueued");
      for (const ns of [a, b]) {
        done.push(
          engine.listenQueue(ns, () => {
            throw new Error("the handler fails: out of retries at once");
          }),
        );
      }
      clock.advance(10);
      // Delivery runs on the listeners' own schedule (on PostgreSQL a claim is a query of its own): tick
      // until both messages are gone, within a bound.
      const deadline = Date.now() + 10_000;
      do {
        await engine.tick();
        assert.ok(Date.now() < deadline, "the messages were not dead-lettered within 10 s");
      } while ((await backend.nextMessageAt(a)) !== null || (await backend.nextMessageAt(b)) !== null);
      for (const [ns, key, payload] of [[a, k("dead", 1), payloads[0]], [a, k("dead", 2), payloads[0]], [b, k("dead", 1), payloads[1]]] as const) {
        const e = await engine.get(ns, key);
        assert.deepEqual([e?.encoding, e?.data, e?.metadata], ["v8", payload, null], "dead-lettered");
      }
      assert.deepEqual([await backend.nextMessageAt(a), await backend.nextMessageAt(b)], [null, null], "the messages are gone");
      await expectCounters(backend, "dead-lettered (one key overwritten, two new)");
    } finally {
      await engine.close();
      await Promise.all(done);
    }
  });

  test(`${name}: an expiry purge`, async () => {
    const { engine, backend, clock, a, b } = await setup(store);
    try {
      const at = clock.now();
      ok(await engine.atomic(a, write([set(k("e", 1), bytes(10), { expiresAt: at + 100, metadata: METADATA[0]! }), set(k("e", 2), bytes(BIG), { expiresAt: at + 200 }), set(k("keep"), bytes(7))])));
      ok(await engine.atomic(b, write([set(k("e", 1), bytes(20), { expiresAt: at + 100 }), set(k("e", 3), bytes(30), { expiresAt: at + 300 })])));
      ok(await engine.atomic(b, write([sum(k("n"), u64(1n))])));
      clock.advance(150);
      await expectCounters(backend, "expired, not yet purged");
      await engine.purgeExpired();
      assert.deepEqual([(await scan(backend, a)).keyCount, (await scan(backend, b)).keyCount], [2, 2], "the first expiries purged");
      await expectCounters(backend, "a purge of some");
      clock.advance(1000);
      await engine.purgeExpired();
      assert.deepEqual([(await scan(backend, a)).keyCount, (await scan(backend, b)).keyCount], [1, 1]);
      await expectCounters(backend, "a purge of the rest");
      ok(await engine.atomic(a, write([set(k("e", 1), bytes(11))])));
      await expectCounters(backend, "a write after the purge");
    } finally {
      await engine.close();
    }
  });

  test(`${name}: sealing a plaintext store in place, then a key rotation (values and metadata re-sealed, sizes change)`, async () => {
    const clock = new ManualClock();
    const backend = await store.fresh();
    const plain = await Engine.open(backend, { clock, ...NO_TIMER });
    let engine: Engine | null = null;
    try {
      const a = (await plain.ensureNamespace("a")).id;
      const b = (await plain.ensureNamespace("b")).id;
      ok(await plain.atomic(a, write([
        set(k("m"), v8("value"), { metadata: METADATA[0]! }),
        set(k("big"), bytes(BIG)),
        set(k("exp"), v8("expires"), { expiresAt: clock.now() + 10, metadata: METADATA[1]! }),
        sum(k("n"), u64(3n)),
      ])));
      ok(await plain.atomic(b, write([set(k("m"), v8("other"), { metadata: METADATA[3]! })])));
      clock.advance(100); // "exp" is expired, not purged: it is re-sealed like the others
      await expectCounters(backend, "plaintext");

      engine = await Engine.open(backend, { clock, ...NO_TIMER, encryptionKey: randomBytes(32) });
      ok(await engine.atomic(a, write([set(k("sealed"), v8("new"), { metadata: METADATA[2]! })])));
      ok(await engine.atomic(a, write([sum(k("n"), u64(1n))])));
      ok(await engine.atomic(b, write([set(k("m2"), bytes(9)), del(k("m"))])));
      await expectCounters(backend, "new writes sealed");
      const unsealed = await backend.namespaceStats(a);

      const first = await rotateKeys(engine);
      assert.ok(first.finished && first.sealedInPlace === 3, `m, big and exp sealed in place (${first.sealedInPlace})`);
      await expectCounters(backend, "after sealing in place");
      const sealed = await backend.namespaceStats(a);
      assert.ok(sealed.byteCount > unsealed.byteCount + 3 * 16, `sealing in place grew the bytes (${unsealed.byteCount} → ${sealed.byteCount})`);

      const second = await rotateKeys(engine);
      assert.ok(second.finished && second.resealed >= 6 && second.sealedInPlace === 0, `every row re-sealed under the next data key (${second.resealed})`);
      await expectCounters(backend, "after a rotation to a new data key");

      ok(await engine.atomic(a, write([set(k("m"), v8("after"), { metadata: METADATA[4]! }), sum(k("n"), u64(1n)), del(k("big"))])));
      await engine.purgeExpired();
      await expectCounters(backend, "writes and a purge after the rotations");
    } finally {
      await engine?.close();
      await plain.close();
    }
  });

  test(`${name}: a dump loaded into a fresh store (restore, migrate)`, async () => {
    const { engine, backend, clock, a, b } = await setup(store);
    const copy = await store.fresh();
    let loaded: Engine | null = null;
    try {
      ok(await engine.atomic(a, write([
        set(k("m"), v8("x"), { metadata: METADATA[0]! }),
        set(k("big"), bytes(BIG)),
        set(k("exp"), bytes(5), { expiresAt: clock.now() + 10 }),
        sum(k("n"), u64(1n)),
      ], { enqueues: [{ payload: serializeV8("queued"), readyAt: clock.now() + 60_000, keysIfUndelivered: [k("dead")] }] })));
      // More entries than a dump page (1000).
      for (const from of [0, 600]) {
        ok(await engine.atomic(b, write(Array.from({ length: 600 }, (_, i) => set(k("many", from + i), bytes(i % 50), i % 7 ? {} : { metadata: METADATA[i % 5]! })))));
      }
      await engine.createNamespace("empty");
      clock.advance(100);
      await expectCounters(backend, "the source");
      await copy.load(replay(await dumpOf(backend)));
      await expectCounters(copy, "the loaded copy");
      for (const ns of await backend.listNamespaces()) assert.deepEqual(await copy.namespaceStats(ns.id), await backend.namespaceStats(ns.id), `"${ns.title}" as in the source`);
      loaded = await Engine.open(copy, { clock, ...NO_TIMER });
      ok(await loaded.atomic(a, write([set(k("m"), v8("y")), sum(k("n"), u64(1n)), del(k("big"))])));
      ok(await loaded.atomic(b, write([del(k("many", 3))])));
      await loaded.purgeExpired();
      await expectCounters(copy, "writes and a purge on the loaded copy");
    } finally {
      await loaded?.close();
      await copy.close();
      await engine.close();
    }
  });

  test(`${name}: a namespace deleted, then created again with the same id, starts from zero`, async () => {
    const { engine, backend, a, b } = await setup(store);
    try {
      ok(await engine.atomic(a, write([set(k("x"), bytes(100), { metadata: METADATA[0]! }), set(k("big"), bytes(BIG)), sum(k("n"), u64(1n))])));
      ok(await engine.atomic(b, write([set(k("x"), bytes(10))])));
      await expectCounters(backend, "before");
      await engine.deleteNamespace(a);
      assert.deepEqual(await backend.namespaceStats(a), ZERO);
      assert.equal((await backend.analytics!.allNamespaceStats()).has(a), false, "a deleted namespace is not reported");
      await engine.createNamespace("a again", a);
      assert.deepEqual(await backend.namespaceStats(a), ZERO);
      assert.deepEqual((await backend.analytics!.allNamespaceStats()).get(a), ZERO);
      await expectCounters(backend, "created again");
      ok(await engine.atomic(a, write([set(k("x"), bytes(7))])));
      await expectCounters(backend, "a lone write to the new one");
      ok(await engine.atomic(a, write([set(k("y"), bytes(8)), set(k("x"), bytes(9), { metadata: METADATA[3]! })])));
      ok(await engine.atomic(a, write([sum(k("n"), u64(1n))])));
      assert.deepEqual((await engine.get(a, k("n")))!.data, u64Bytes(1n), "the old sum is gone");
      await expectCounters(backend, "more writes to the new one");
    } finally {
      await engine.close();
    }
  });

  test(`${name}: pruning the change feed between writes leaves the counters alone`, async () => {
    const { engine, backend, clock, a, b } = await setup(store);
    try {
      for (let i = 0; i < 5; i++) {
        // Each write deletes the key written two steps before, in the same namespace.
        ok(await engine.atomic(i % 2 ? a : b, write([set(k("p", i), bytes(10 * i), { metadata: METADATA[i]! }), del(k("p", i - 2))])));
        const stats = [await backend.namespaceStats(a), await backend.namespaceStats(b)];
        assert.ok((await backend.pruneChanges(clock.now() + 3_600_000, 0)) > 0, "the feed was pruned");
        assert.deepEqual([await backend.namespaceStats(a), await backend.namespaceStats(b)], stats);
        await expectCounters(backend, `pruned after write ${i}`);
      }
    } finally {
      await engine.close();
    }
  });

  test(`${name}: a seeded random sequence of 300 operations of every kind, lone and concurrent, over two namespaces and 30 keys`, async () => {
    const { engine: first, backend, clock, a, b } = await setup(store);
    let engine = first;
    const engines = [first];
    const rng = prng(20261130);
    const nsIds = [a, b];
    const key = () => k("r", rng.int(30));
    const small = () => bytes(rng.int(400), rng.int(256));
    const extra = () => ({
      ...(rng.next() < 0.3 ? { metadata: rng.pick(METADATA) } : {}),
      ...(rng.next() < 0.2 ? { expiresAt: clock.now() + 1 + rng.int(3000) } : {}),
    });
    const stamps: Uint8Array[] = [];
    const ran = new Map<string, number>();
    const count = (kind: string) => ran.set(kind, (ran.get(kind) ?? 0) + 1);

    /** One atomic write of a random kind (not awaited: groups run several at once). */
    const oneWrite = (): Promise<unknown> => {
      const ns = rng.pick(nsIds);
      const r = rng.next();
      const commit = (w: AtomicWrite, kind: string) => {
        count(kind);
        return attempt(engine.atomic(ns, w)).then((res) => void (!(res instanceof KvError) && res.ok && stamps.push(res.versionstamp)));
      };
      if (r < 0.3) return commit(write([set(key(), small(), extra())]), "set");
      if (r < 0.33) return commit(write([set(key(), bytes(BIG + rng.int(20_000)), extra())]), "big set");
      if (r < 0.48) return commit(write([del(key())]), "delete");
      if (r < 0.6) return commit(write([sum(key(), u64(BigInt(rng.int(1000))))]), "KvU64 sum");
      if (r < 0.65) return commit(write([sum(key(), v8(rng.int(10)))]), "V8 sum");
      if (r < 0.7) return commit(write([{ type: rng.next() < 0.5 ? "min" : "max", key: key(), value: u64(BigInt(rng.int(1000))) }]), "min/max");
      if (r < 0.77) {
        const versionstamp = rng.next() < 0.3 || stamps.length === 0 ? null : rng.pick(stamps);
        return commit(write([set(key(), small(), extra())], { checks: [{ key: key(), versionstamp }] }), "checked set");
      }
      if (r < 0.8) return commit(write([{ type: "setSuffixVersionstampedKey", key: k("log"), value: small() }]), "versionstamped key");
      if (r < 0.85) {
        const keysIfUndelivered = Array.from({ length: 1 + rng.int(2) }, key);
        return commit(write([], { enqueues: [{ payload: serializeV8({ n: rng.int(1e6) }), readyAt: clock.now(), keysIfUndelivered, backoffSchedule: [] }] }), "enqueue");
      }
      const ms = Array.from({ length: 2 + rng.int(4) }, (): Mutation => {
        const x = rng.next();
        return x < 0.5 ? set(key(), rng.next() < 0.1 ? bytes(BIG) : small(), extra()) : x < 0.8 ? del(key()) : sum(key(), u64(1n));
      });
      return commit(write(ms), "several mutations");
    };

    /** Dead-letters every ready message as the queue listener does: its keysIfUndelivered written, the message consumed, in one commit. */
    const deadLetter = async () => {
      count("dead-letter");
      for (const ns of nsIds) {
        for (const m of await backend.claimMessages(ns, clock.now(), 100, 60_000)) {
          const payload = m.sealed ? await engine.openPayload(ns, m) : m.payload;
          await attempt(engine.atomic(ns, write(m.keysIfUndelivered.map((key) => set(key, { encoding: "v8", data: payload }))), m.id));
        }
      }
    };

    try {
      for (let op = 1; op <= 300; op++) {
        const r = rng.next();
        if (op === 150) {
          // The store becomes encrypted: new writes sealed, the old rows sealed in place.
          count("encrypt and rotate");
          engine = await Engine.open(backend, { clock, ...NO_TIMER, encryptionKey: randomBytes(32) });
          engines.push(engine);
          assert.ok((await rotateKeys(engine)).finished);
        } else if (r < 0.55) {
          await oneWrite();
        } else if (r < 0.75) {
          count("group");
          await Promise.all(Array.from({ length: 2 + rng.int(15) }, oneWrite));
        } else if (r < 0.82) {
          await deadLetter();
        } else if (r < 0.9) {
          count("purge");
          clock.advance(rng.int(2000));
          await engine.purgeExpired();
        } else if (r < 0.95) {
          count("prune feed");
          await backend.pruneChanges(clock.now() + 3_600_000, rng.int(3));
        } else if (r < 0.97) {
          count("namespace deleted and created again");
          const id = rng.pick(nsIds);
          await engine.deleteNamespace(id);
          await engine.createNamespace(`again ${op}`, id);
        } else if (engine !== first) {
          count("rotate");
          assert.ok((await rotateKeys(engine)).finished);
        } else {
          await oneWrite();
        }
        if (op % 30 === 0) await expectCounters(backend, `after operation ${op}`);
        if (op === 240) {
          count("load");
          const copy = await store.fresh();
          try {
            await copy.load(replay(await dumpOf(backend)));
            await expectCounters(copy, `a copy loaded after operation ${op}`);
          } finally {
            await copy.close();
          }
        }
      }
      const kinds = ["set", "big set", "delete", "KvU64 sum", "V8 sum", "min/max", "checked set", "versionstamped key", "enqueue", "several mutations",
        "group", "dead-letter", "purge", "prune feed", "namespace deleted and created again", "encrypt and rotate", "rotate", "load"];
      assert.deepEqual(kinds.filter((kind) => !ran.has(kind)), [], `every kind ran (${JSON.stringify(Object.fromEntries(ran))})`);
      assert.ok((await scan(backend, a)).keyCount + (await scan(backend, b)).keyCount > 10, "the sequence leaves entries behind");
    } finally {
      for (const e of engines.reverse()) await e.close();
    }
  });
}

test("PostgreSQL: two nodes writing lone sets, sums and deletes to the same keys at once; one-statement tries that meet the other's commit go again in two trips", async () => {
  const url = await freshStoreUrl();
  const clock = new ManualClock();
  const n1 = await Engine.open(new PostgresBackend(url), { clock, ...NO_TIMER });
  const n2 = await Engine.open(new PostgresBackend(url), { clock, ...NO_TIMER });
  try {
    const a = (await n1.ensureNamespace("a")).id;
    const b = (await n2.ensureNamespace("b")).id;
    const logs = [(await watchPaths(n1.backend))!, (await watchPaths(n2.backend))!];
    const rng = prng(12);
    const node = async (e: Engine) => {
      for (let i = 0; i < 80; i++) {
        const ns = rng.next() < 0.8 ? a : b;
        const r = rng.next();
        // Sums on keys n0–n1 only (they hold KvU64s or nothing), sets and deletes on k0–k2 and n0–n1: few
        // keys, so deletes mostly find something to delete.
        const m =
          r < 0.4 ? set(k("k", rng.int(3)), bytes(rng.int(300)), rng.next() < 0.3 ? { metadata: rng.pick(METADATA) } : {})
          : r < 0.7 ? sum(k("n", rng.int(2)), u64(1n))
          : del(rng.next() < 0.7 ? k("k", rng.int(3)) : k("n", rng.int(2)));
        ok(await e.atomic(ns, write([m])));
      }
    };
    // Each round both nodes write at once; a collision is all but certain, but bounded all the same.
    for (let round = 0; round < 20 && logs[0]!.declined + logs[1]!.declined === 0; round++) {
      await Promise.all([node(n1), node(n2)]);
      await expectCounters(n1.backend, `round ${round}, read through node 1`);
    }
    assert.ok(logs[0]!.declined + logs[1]!.declined > 0, "a one-statement commit found the other node's commit in its way");
    assert.ok(logs.some((l) => (l.sent.get("two-trips") ?? 0) > 0), "and went again in two trips");
    assert.ok(logs.every((l) => (l.sent.get("one-write") ?? 0) > 0), "both nodes wrote in one statement");
    await expectCounters(n1.backend, "read through node 1");
    await expectCounters(n2.backend, "read through node 2");
  } finally {
    await n1.close();
    await n2.close();
  }
});
