import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { defineBackendSuite } from "./conformance/backend.case.ts";
import { MemoryBackend, PostgresBackend, SqliteBackend } from "../src/storage/index.ts";
import { freshStoreUrl } from "./fixtures/postgres.ts";
import { INLINE_VALUE_BYTES, MIGRATIONS } from "../src/storage/sqlite/migrations.ts";
import { encodeKey } from "../src/core/keys.ts";
import type { AtomicWrite, Entry, StoredValue } from "../src/core/types.ts";

const dir = mkdtempSync(join(tmpdir(), "openkv-storage-"));
test.after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

defineBackendSuite("memory", { open: async () => new MemoryBackend() });

defineBackendSuite("sqlite", {
  open: async () => new SqliteBackend(join(dir, `db-${n++}.sqlite`)),
  reopen: async (b) => {
    const path = (b as SqliteBackend).path;
    await b.close();
    return new SqliteBackend(path);
  },
});

// A real PostgreSQL started for this file; each case a schema of its own.
const pgUrls = new WeakMap<object, string>();
defineBackendSuite("postgres", {
  open: async () => {
    const url = await freshStoreUrl();
    const b = new PostgresBackend(url);
    pgUrls.set(b, url);
    return b;
  },
  reopen: async (b) => {
    const url = pgUrls.get(b)!;
    await b.close();
    return new PostgresBackend(url);
  },
});

test("sqlite: on-disk shape is WAL with the recorded schema version", async () => {
  const path = join(dir, "shape.sqlite");
  const b = new SqliteBackend(path);
  await b.close();
  const db = new DatabaseSync(path);
  assert.equal(db.prepare("PRAGMA journal_mode").get()!.journal_mode, "wal");
  assert.equal(db.prepare("SELECT value FROM meta WHERE name = 'schema_version'").get()!.value, MIGRATIONS.length);
  const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all().map((r) => r.name);
  assert.deepEqual(tables, ["analytics_ops", "analytics_storage", "blobs", "changes", "entries", "meta", "namespaces", "ns_stats", "queue", "settings", "sqlite_sequence"]);
  db.close();
});

test("sqlite: a store from a newer OpenKV is refused with what to do", async () => {
  const path = join(dir, "newer.sqlite");
  await new SqliteBackend(path).close();
  const db = new DatabaseSync(path);
  db.prepare("UPDATE meta SET value = 99 WHERE name = 'schema_version'").run();
  db.close();
  assert.throws(() => new SqliteBackend(path), {
    message: `${path} was written by a newer OpenKV (schema 99, this one knows ${MIGRATIONS.length}); upgrade OpenKV to open it`,
  });
});

test("sqlite: durability fsync (the default) syncs every commit; process syncs at checkpoints only", async () => {
  const durable = new SqliteBackend(join(dir, "durable.sqlite"));
  assert.deepEqual(durable.settings(), { journalMode: "wal", synchronous: "full" });
  await durable.close();
  const relaxed = new SqliteBackend(join(dir, "relaxed.sqlite"), { durability: "process" });
  assert.deepEqual(relaxed.settings(), { journalMode: "wal", synchronous: "normal" });
  await relaxed.close();
});

// ---- big values (migration 2): they live outside the key B-tree ----

const bytes = (n: number, fill: number): StoredValue => ({ encoding: "bytes", data: new Uint8Array(n).fill(fill) });
const setWrite = (key: string, value: StoredValue): AtomicWrite => ({
  checks: [],
  mutations: [{ type: "set", key: encodeKey([key]), value }],
  enqueues: [],
});
const NS = "0123456789abcdef0123456789abcdef";
const BIG = 25 * 1024 * 1024;

function tableBytes(path: string): { entries: number; blobs: number; blobRows: number; maxInline: number } {
  const db = new DatabaseSync(path);
  try {
    const size = (name: string) => (db.prepare("SELECT coalesce(sum(pgsize), 0) AS n FROM dbstat WHERE name = ?").get(name)!.n as number);
    return {
      entries: size("entries"),
      blobs: size("blobs"),
      blobRows: db.prepare("SELECT count(*) AS n FROM blobs").get()!.n as number,
      maxInline: (db.prepare("SELECT coalesce(max(length(value)), 0) AS n FROM entries").get()!.n as number),
    };
  } finally {
    db.close();
  }
}

test("sqlite: values over the inline limit live in blobs; the key B-tree stays small next to 25 MiB values", async () => {
  const path = join(dir, "big.sqlite");
  const b = new SqliteBackend(path);
  await b.createNamespace({ id: NS, title: "big", createdAt: 0 });
  for (let i = 0; i < 4; i++) await b.commit([{ namespaceId: NS, write: setWrite(`big-${i}`, bytes(BIG, i + 1)) }], 0);
  await b.commit([{ namespaceId: NS, write: setWrite("edge", bytes(INLINE_VALUE_BYTES, 7)) }], 0);
  await b.commit([{ namespaceId: NS, write: setWrite("over", bytes(INLINE_VALUE_BYTES + 1, 8)) }], 0);
  // 10,000 small writes in one group commit, each in its own savepoint: the case that used to take a minute.
  const batch = Array.from({ length: 10_000 }, (_, i) => ({ namespaceId: NS, write: setWrite(`big-${i % 4}-${String(i).padStart(5, "0")}`, bytes(16, 9)) }));
  const results = await b.commit(batch, 0);
  assert.ok(results.every((r) => !(r instanceof Error) && r.result.ok));
  await b.close();

  const shape = tableBytes(path);
  // The work of a write is bounded by the key B-tree, and that tree holds no big value: 10,006 rows of at
  // most 512-byte values fit in a few MiB, while the four big values alone are 100 MiB.
  assert.ok(shape.entries < 2 * 1024 * 1024, `entries B-tree is ${shape.entries} bytes`);
  assert.ok(shape.blobs > 4 * BIG, `blobs hold the big values (${shape.blobs} bytes)`);
  assert.equal(shape.blobRows, 5, "four 25 MiB values and the 513-byte one");
  assert.equal(shape.maxInline, INLINE_VALUE_BYTES, "a value of exactly the limit stays inline");

  const again = new SqliteBackend(path);
  const [[big0], [edge], [over]] = await again.read(
    NS,
    ["big-0", "edge", "over"].map((k) => ({ start: encodeKey([k]), end: Uint8Array.from([...encodeKey([k]), 0]), limit: 1 })),
    0,
  );
  assert.equal(big0!.data.byteLength, BIG);
  assert.equal(big0!.data[BIG - 1], 1);
  assert.deepEqual(edge!.data, bytes(INLINE_VALUE_BYTES, 7).data);
  assert.deepEqual(over!.data, bytes(INLINE_VALUE_BYTES + 1, 8).data);
  // A key-only listing over the big values returns their keys without their bytes.
  const [keys] = await again.read(NS, [{ start: encodeKey(["big-0"]), end: encodeKey(["big-1"]), limit: 10, keysOnly: true }], 0);
  assert.equal(keys![0]!.data.byteLength, 0);
  await again.close();
});

test("sqlite: a blob is freed whenever its row goes — overwrite, delete, expiry purge, namespace delete", async () => {
  const path = join(dir, "blob-gc.sqlite");
  const b = new SqliteBackend(path);
  await b.createNamespace({ id: NS, title: "gc", createdAt: 0 });
  const big = bytes(4096, 1);
  for (const key of ["overwritten", "shrunk", "deleted", "expiring", "kept"]) await b.commit([{ namespaceId: NS, write: setWrite(key, big) }], 0);
  const blobRows = () => {
    const db = new DatabaseSync(path);
    try {
      return db.prepare("SELECT count(*) AS n FROM blobs").get()!.n as number;
    } finally {
      db.close();
    }
  };
  assert.equal(blobRows(), 5);
  await b.commit([{ namespaceId: NS, write: setWrite("overwritten", bytes(8192, 2)) }], 0);
  await b.commit([{ namespaceId: NS, write: setWrite("shrunk", bytes(4, 2)) }], 0);
  await b.commit([{ namespaceId: NS, write: { checks: [], mutations: [{ type: "delete", key: encodeKey(["deleted"]) }], enqueues: [] } }], 0);
  await b.commit(
    [{ namespaceId: NS, write: { checks: [], mutations: [{ type: "set", key: encodeKey(["expiring"]), value: big, expiresAt: 10 }], enqueues: [] } }],
    0,
  );
  assert.equal(blobRows(), 3, "overwritten (new blob), expiring, kept");
  assert.equal((await b.purgeExpired(20, 100)).length, 1);
  assert.equal(blobRows(), 2);
  await b.deleteNamespace(NS);
  assert.equal(blobRows(), 0);
  await b.close();
});

test("sqlite: a reseal that moves a value across the inline limit frees the blob it replaces, and keeps the row's versionstamp", async () => {
  const path = join(dir, "reseal-blobs.sqlite");
  const b = new SqliteBackend(path);
  await b.createNamespace({ id: NS, title: "rs", createdAt: 0 });
  await b.commit([{ namespaceId: NS, write: setWrite("small", bytes(INLINE_VALUE_BYTES - 10, 1)) }, { namespaceId: NS, write: setWrite("big", bytes(4096, 2)) }], 0);
  const count = () => {
    const db = new DatabaseSync(path);
    try {
      return db.prepare("SELECT count(*) AS n FROM blobs").get()!.n as number;
    } finally {
      db.close();
    }
  };
  assert.equal(count(), 1);
  const [[big, small]] = await b.read(NS, [{ start: new Uint8Array([0]), end: new Uint8Array([0xff]), limit: 10 }], 0);
  const applied = await b.reseal(NS, [
    { key: small!.key, versionstamp: small!.versionstamp, data: bytes(INLINE_VALUE_BYTES + 23, 3).data, metadata: null, sealed: true },
    { key: big!.key, versionstamp: big!.versionstamp, data: bytes(40, 4).data, metadata: null, sealed: true },
  ]);
  assert.deepEqual(applied, [true, true]);
  assert.equal(count(), 1, "small grew into a blob; big's blob was freed");
  const [[big2, small2]] = await b.read(NS, [{ start: new Uint8Array([0]), end: new Uint8Array([0xff]), limit: 10 }], 0);
  assert.deepEqual([big2!.data, small2!.data.length, big2!.versionstamp, small2!.versionstamp], [bytes(40, 4).data, INLINE_VALUE_BYTES + 23, big!.versionstamp, small!.versionstamp]);
  await b.close();
});

test("sqlite: a schema-1 store upgrades in place; every value, small or big, reads back the same", async () => {
  const path = join(dir, "v1.sqlite");
  const db = new DatabaseSync(path);
  db.exec(MIGRATIONS[0]!);
  db.prepare("INSERT INTO meta (name, value) VALUES ('schema_version', 1)").run();
  db.prepare("INSERT INTO namespaces (id, title, created_at) VALUES (?, 'old', 0)").run(NS);
  const seq = db.prepare("SELECT seq FROM namespaces").get()!.seq as number;
  const rows = [
    { key: "a", size: 10, fill: 1, exp: null, meta: null },
    { key: "b", size: 100_000, fill: 2, exp: 9_999_999_999_999, meta: '{"m":1}' },
    { key: "c", size: INLINE_VALUE_BYTES + 1, fill: 3, exp: null, meta: null },
    { key: "d", size: INLINE_VALUE_BYTES, fill: 4, exp: null, meta: '"x"' },
  ];
  const put = db.prepare("INSERT INTO entries (ns, key, value, encoding, versionstamp, expires_at, metadata) VALUES (?, ?, ?, 3, ?, ?, ?)");
  rows.forEach((r, i) => put.run(seq, encodeKey([r.key]), bytes(r.size, r.fill).data, new Uint8Array(10).fill(i + 1), r.exp, r.meta));
  // An expiry no JS number holds (KV Connect's expire_at_ms = 2^62, once accepted): node:sqlite refuses
  // to read such an integer at all, so every read meeting the row failed until the migration clamped it.
  put.run(seq, encodeKey(["z"]), bytes(1, 5).data, new Uint8Array(10).fill(9), 2n ** 62n, null);
  db.close();

  const b = new SqliteBackend(path);
  const [all] = await b.read(NS, [{ start: new Uint8Array([0]), end: new Uint8Array([0xff]), limit: 10 }], 0);
  assert.equal(all!.pop()!.expiresAt, 8_640_000_000_000_000);
  assert.deepEqual(
    all!.map((e) => ({ size: e.data.byteLength, fill: e.data[0], vs: e.versionstamp[0], exp: e.expiresAt, meta: e.metadata })),
    rows.map((r, i) => ({ size: r.size, fill: r.fill, vs: i + 1, exp: r.exp, meta: r.meta })),
  );
  await b.close();
  const shape = tableBytes(path);
  assert.equal(shape.blobRows, 2);
  assert.equal(shape.maxInline, INLINE_VALUE_BYTES);
});

test("sqlite: a commit sees what another connection changed since this one's last commit: the counter, a deleted namespace, a setting", async () => {
  // The backend keeps the commit counter, namespace seqs and settings between commits (CommitCache);
  // another connection's commit (another process, as far as SQLite can tell) must make it read them again.
  const path = join(dir, "two-connections.sqlite");
  const a = new SqliteBackend(path);
  const b = new SqliteBackend(path);
  const nsA = { id: "a".repeat(32), title: "a", createdAt: 1 };
  const nsB = { id: "b".repeat(32), title: "b", createdAt: 1 };
  await a.createNamespace(nsA);
  await a.createNamespace(nsB);
  const seen: (string | null)[] = [];
  // A sealer that seals nothing and records the keyring setting each commit hands it.
  const sealer = {
    encrypted: true,
    sync: (setting: (name: string) => string | null) => void seen.push(setting("keyring")),
    sealEntry: <T>(_: string, e: T) => e,
    openEntry: <T>(_: string, e: T) => e,
    sealMessage: <T>(_: string, m: T) => m,
  };
  const set = async (on: SqliteBackend, nsId: string, key: string) => {
    const write: AtomicWrite = { checks: [], mutations: [{ type: "set", key: encodeKey([key]), value: { encoding: "bytes", data: Uint8Array.of(1) } }], enqueues: [] };
    const [r] = await on.commit([{ namespaceId: nsId, write, sealer }], 1);
    if (!r || !("result" in r)) throw r;
    assert.ok(r.result.ok);
    return Buffer.from(r.result.versionstamp).toString("hex");
  };
  const stamps: string[] = [];
  for (let i = 0; i < 20; i++) stamps.push(await set(i % 3 === 0 ? b : a, nsA.id, `k${i}`));
  assert.deepEqual([...stamps].sort(), stamps, "versionstamps rise across both connections");
  assert.equal(new Set(stamps).size, stamps.length, "no two commits share one");

  assert.equal(await b.putSetting("keyring", "rotated", null), true);
  seen.length = 0;
  await set(a, nsA.id, "after-setting");
  assert.deepEqual(seen, ["rotated"], "the setting as the other connection left it");
  assert.equal(await a.putSetting("keyring", "mine", "rotated"), true);
  seen.length = 0;
  await set(a, nsA.id, "after-own-setting");
  assert.deepEqual(seen, ["mine"], "and as this connection left it");

  await set(a, nsB.id, "warm");
  assert.equal(await b.deleteNamespace(nsB.id), true);
  const [refused] = await a.commit([{ namespaceId: nsB.id, write: { checks: [], mutations: [{ type: "set", key: encodeKey(["x"]), value: { encoding: "bytes", data: Uint8Array.of(1) } }], enqueues: [] } }], 1);
  assert.ok(refused instanceof Error && "code" in refused && refused.code === "namespace_not_found", "a namespace another connection deleted is gone");
  // Created again under the same title: a new id and seq; writes to the old id still find nothing.
  await b.createNamespace({ ...nsB, id: "c".repeat(32) });
  const [again] = await a.commit([{ namespaceId: nsB.id, write: { checks: [], mutations: [], enqueues: [] } }], 1);
  assert.ok(again instanceof Error && "code" in again && again.code === "namespace_not_found");
  await set(a, "c".repeat(32), "new");
  assert.equal((await b.namespaceStats("c".repeat(32))).keyCount, 1);
  await a.close();
  await b.close();
});

test("sqlite: migration 6 stores plain versionstamps as their counter and keeps the others as bytes; reads, counters and reseal are unchanged", async () => {
  const path = join(dir, "v5.sqlite");
  const db = new DatabaseSync(path);
  for (const m of MIGRATIONS.slice(0, 5)) db.exec(m);
  db.exec("INSERT INTO meta (name, value) VALUES ('schema_version', 5)");
  db.prepare("INSERT INTO namespaces (id, title, created_at) VALUES (?, 'old', 0)").run(NS);
  const vs = (hex: string) => Uint8Array.from(Buffer.from(hex, "hex"));
  const rows: [string, Uint8Array, "integer" | "blob"][] = [
    ["a", vs("00000000000000000000"), "integer"],
    ["b", vs("00000000000000010000"), "integer"],
    ["c", vs("000000ab12cd34ef0000"), "integer"],
    ["d", vs("001fffffffffffff0000"), "integer"], // 2^53 - 1: the largest counter a JS number holds exactly
    ["e", vs("00200000000000000000"), "blob"], // 2^53
    ["f", vs("00000000000000050007"), "blob"], // an index within the commit (imported)
    ["g", vs("ff000000000000000000"), "blob"],
  ];
  const put = db.prepare("INSERT INTO entries (ns, key, encoding, versionstamp, value, blob_id, size) VALUES (1, ?, 3, ?, ?, ?, ?)");
  db.prepare("INSERT INTO blobs (id, data) VALUES (1, ?)").run(new Uint8Array(INLINE_VALUE_BYTES + 1).fill(7));
  for (const [k, v] of rows) {
    const big = k === "c";
    put.run(encodeKey([k]), v, big ? null : Uint8Array.of(1, 2), big ? 1 : null, encodeKey([k]).byteLength + (big ? INLINE_VALUE_BYTES + 1 : 2));
  }
  const stats = db.prepare("SELECT keys, bytes FROM ns_stats").get();
  // Schema 5 kept the counter in meta (its feed here pruned empty): commits carry on from it.
  db.exec("UPDATE meta SET value = 41 WHERE name IN ('versionstamp', 'changes_pruned_through')");
  db.close();

  const b = new SqliteBackend(path);
  const all = async () => (await b.read(NS, [{ start: new Uint8Array([0]), end: new Uint8Array([0xff]), limit: 10 }], 0))[0]!;
  assert.deepEqual(
    (await all()).map((e) => [e.versionstamp, e.data.byteLength]),
    rows.map(([k, v]) => [v, k === "c" ? INLINE_VALUE_BYTES + 1 : 2]),
  );
  // A point read takes its own statement.
  assert.deepEqual((await b.read(NS, [{ start: encodeKey(["d"]), end: Uint8Array.of(...encodeKey(["d"]), 0), limit: 1 }], 0))[0]![0]!.versionstamp, rows[3]![1]);
  // Reseal matches an entry by its versionstamp: both forms still match (and each shrinks a value by a byte).
  assert.deepEqual(
    await b.reseal(NS, [
      { key: encodeKey(["b"]), versionstamp: rows[1]![1], data: Uint8Array.of(9), metadata: null, sealed: false },
      { key: encodeKey(["f"]), versionstamp: rows[5]![1], data: Uint8Array.of(9), metadata: null, sealed: false },
      { key: encodeKey(["a"]), versionstamp: rows[1]![1], data: Uint8Array.of(9), metadata: null, sealed: false },
    ]),
    [true, true, false],
  );
  // New commits store their counter too.
  const results = await b.commit([{ namespaceId: NS, write: { checks: [], mutations: [{ key: encodeKey(["new"]), type: "set", value: { encoding: "bytes", data: Uint8Array.of(1) } }], enqueues: [] } }], 0);
  await b.close();
  const after = new DatabaseSync(path);
  const types = after.prepare("SELECT key, typeof(versionstamp) AS t FROM entries ORDER BY key").all();
  assert.deepEqual(
    types.map((r) => r.t),
    [...rows.map(([, , t]) => t), "integer"],
  );
  assert.deepEqual({ ...after.prepare("SELECT keys, bytes FROM ns_stats").get() }, { ...stats, keys: (stats!.keys as number) + 1, bytes: (stats!.bytes as number) - 2 + encodeKey(["new"]).byteLength + 1 });
  after.close();
  assert.ok(!(results[0] instanceof Error) && results[0]!.result.ok);
  assert.deepEqual(results[0]!.result.versionstamp, vs("000000000000002a0000"), "the next commit after counter 41");
});

test("sqlite: a scan hands back exact keys and values whatever their bytes (NULs, invalid UTF-8, empty, big), each its own", async () => {
  const b = new SqliteBackend(join(dir, "bytes.sqlite"));
  await b.createNamespace({ id: NS, title: "bytes", createdAt: 0 });
  const values = [new Uint8Array(0), Uint8Array.of(0), Uint8Array.of(0xff, 0xfe, 0xc3, 0x00, 0x80), new Uint8Array(INLINE_VALUE_BYTES + 5).fill(0xc0), Uint8Array.of(0x41)];
  const keys = values.map((_, i) => Uint8Array.of(0x01, 0x00, 0xff, i, 0xc3, 0x00));
  const results = await b.commit([{ namespaceId: NS, write: { checks: [], mutations: values.map((data, i) => ({ type: "set" as const, key: keys[i]!, value: { encoding: "bytes" as const, data } })), enqueues: [] } }], 0);
  assert.ok(!(results[0] instanceof Error) && results[0]!.result.ok);
  for (const reverse of [false, true]) {
    const [got] = await b.read(NS, [{ start: Uint8Array.of(0x01), end: Uint8Array.of(0x02), limit: 10, reverse }], 0);
    const order = reverse ? [...keys.keys()].reverse() : [...keys.keys()];
    assert.deepEqual(got!.map((e) => [e.key, e.data]), order.map((i) => [keys[i], values[i]]));
    // Writing into one entry's value leaves its key (and every other entry) as it was.
    for (const e of got!) e.data.fill(0x55);
    assert.deepEqual(got!.map((e) => e.key), order.map((i) => keys[i]));
  }
  await b.close();
});

test("sqlite: a long scan (the page as one blob) answers exactly what the memory store does: every kind of row, both ways, any range", async () => {
  const sqlite = new SqliteBackend(join(dir, "pages.sqlite"));
  const memory = new MemoryBackend();
  const info = { id: NS, title: "pages", createdAt: 0 };
  await sqlite.createNamespace(info);
  await memory.createNamespace(info);
  let seed = 7;
  const random = (below: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % below);
  const bytes = (n: number) => Uint8Array.from({ length: n }, () => random(256));
  const NOW = 1_000_000;
  // 400 keys in batches of 20; a quarter big (in `blobs`), some empty or with NULs, some with metadata,
  // some expiring before NOW and some after, in three encodings.
  for (let batch = 0; batch < 20; batch++) {
    const mutations = Array.from({ length: 20 }, (_, j) => {
      const i = batch * 20 + j;
      const kind = random(8);
      const data = kind === 0 ? new Uint8Array(INLINE_VALUE_BYTES + 1 + random(100)) : kind === 1 ? new Uint8Array(0) : bytes(1 + random(40));
      return {
        type: "set" as const,
        key: Uint8Array.of(0x01, random(3), 0x00, i >> 8, i & 0xff, ...bytes(random(4))),
        value: { encoding: (["bytes", "v8", "bytes"] as const)[random(3)], data } as StoredValue,
        expiresAt: kind === 2 ? NOW - 1 : kind === 3 ? NOW + 1000 : null,
        metadata: kind === 4 ? JSON.stringify({ note: "métadonnée", i }) : null,
      };
    });
    const write: AtomicWrite = { checks: [], mutations, enqueues: [] };
    for (const b of [sqlite, memory]) {
      const [r] = await b.commit([{ namespaceId: NS, write }], 0);
      assert.ok(!(r instanceof Error) && r!.result.ok);
    }
  }
  const ranges = [
    [Uint8Array.of(0x01), Uint8Array.of(0x02)],
    [Uint8Array.of(0x01, 0x01), Uint8Array.of(0x01, 0x02)],
    [Uint8Array.of(0x01, 0x00, 0x00, 0x00, 0x40), Uint8Array.of(0x01, 0x02, 0x00, 0x01, 0x20)],
    [Uint8Array.of(0x05), Uint8Array.of(0x06)],
  ];
  const strip = (entries: Entry[]) => entries.map(({ sealed, ...e }) => ({ ...e, sealed: sealed === true, key: [...e.key], data: [...e.data], versionstamp: [...e.versionstamp] }));
  let checked = 0;
  const pageScans = sqlite.pageScans;
  for (const [start, end] of ranges) {
    for (const limit of [64, 100, 1000]) {
      for (const reverse of [false, true]) {
        for (const now of [0, NOW]) {
          const range = { start: start!, end: end!, limit, reverse };
          const [got] = await sqlite.read(NS, [range], now);
          const [want] = await memory.read(NS, [range], now);
          assert.deepEqual(strip(got!), strip(want!), JSON.stringify({ start: [...start!], end: [...end!], limit, reverse, now }));
          checked += got!.length;
        }
      }
    }
  }
  assert.ok(checked > 3000, `compared ${checked} entries`);
  assert.equal(sqlite.pageScans - pageScans, ranges.length * 3 * 2 * 2, "every read was answered as one page");
  await sqlite.close();
});
