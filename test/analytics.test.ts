/**
 * Analytics kept by each store (memory, SQLite, PostgreSQL): flushed rows read back with their sketches,
 * storage samples keep the hour's largest figures, everything older than 31 days is dropped by the flush
 * timer's prune, and the key/byte counters follow every kind of change — commit, overwrite, delete,
 * purge of expired entries, namespace deletion — matching a full scan.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Analytics } from "../src/core/analytics/collector.ts";
import { entryBytes } from "../src/core/analytics/types.ts";
import { ManualClock } from "../src/core/clock.ts";
import { Engine } from "../src/core/engine.ts";
import { encodeKey } from "../src/core/keys.ts";
import type { Backend } from "../src/core/backend.ts";
import { MemoryBackend, openBackend, SqliteBackend } from "../src/storage/index.ts";
import { freshStoreUrl } from "./fixtures/postgres.ts";

const DAY = 86_400_000;
const stores: [string, () => Promise<Backend>][] = [
  ["memory", async () => new MemoryBackend()],
  ["SQLite", async () => new SqliteBackend(":memory:")],
  ["PostgreSQL", async () => openBackend(await freshStoreUrl())],
];

for (const [name, path] of stores) {
  test(`${name}: rows flush and read back, samples keep the maximum, 31 days kept then dropped`, async () => {
    const clock = new ManualClock(Date.UTC(2030, 0, 1));
    const engine = await Engine.open(await path(), { clock });
    try {
      const ns = await engine.ensureNamespace("a");
      const analytics = new Analytics(engine.backend.analytics!, { clock, flushMs: 3_600_000 });
      analytics.record(ns.id, "read", "cold_read", 200, 1, 10, 2);
      analytics.record(ns.id, "read", "cold_read", 200, 1, 30, 4);
      await analytics.flush();
      const [row] = await engine.backend.analytics!.readOperations(0, clock.now() + DAY);
      assert.deepEqual({ ...row, sketch: row!.sketch.count }, {
        minute: clock.now(), namespaceId: ns.id, actionType: "read", result: "cold_read", status: 200, requests: 2, count: 2,
        objectBytes: 40, minLatencyMs: 2, maxLatencyMs: 4, minObjectBytes: 10, maxObjectBytes: 30, sketch: 2,
      });
      await engine.atomic(ns.id, { checks: [], mutations: [{ type: "set", key: encodeKey(["k"]), value: { encoding: "bytes", data: new Uint8Array(100) } }], enqueues: [] });
      await analytics.flush();
      await engine.atomic(ns.id, { checks: [], mutations: [{ type: "delete", key: encodeKey(["k"]) }], enqueues: [] });
      await analytics.flush();
      // The hour keeps its largest figures, not the latest.
      const samples = await engine.backend.analytics!.readStorage(0, clock.now() + DAY);
      assert.deepEqual(samples.filter((s) => s.namespaceId === ns.id).map((s) => [s.keyCount, s.byteCount]), [[1, encodeKey(["k"]).byteLength + 100]]);

      clock.advance(32 * DAY);
      analytics.record(ns.id, "write", "uploaded", 200, 1, 1, 1);
      await analytics.flush();
      const left = await engine.backend.analytics!.readOperations(0, clock.now() + DAY);
      assert.deepEqual(left.map((r) => r.actionType), ["write"]);
      assert.deepEqual((await engine.backend.analytics!.readStorage(0, clock.now() + DAY)).filter((s) => s.hour < clock.now() - 31 * DAY), []);
      await analytics.close();
    } finally {
      await engine.close();
    }
  });

  test(`${name}: key and byte counters follow commits, overwrites, deletes, expiry purges and namespace deletion`, async () => {
    const clock = new ManualClock(Date.UTC(2030, 0, 1));
    const engine = await Engine.open(await path(), { clock, purgeIntervalMs: 3_600_000 });
    try {
      const ns = await engine.ensureNamespace("c");
      const scan = async () => {
        const [all] = await engine.read(ns.id, [{ start: new Uint8Array(0), end: new Uint8Array([0xff]), limit: 10_000 }]);
        return { keyCount: all!.length, byteCount: all!.reduce((n, e) => n + entryBytes(e), 0) };
      };
      const set = (k: string, size: number, extra: object = {}) => ({ type: "set" as const, key: encodeKey([k]), value: { encoding: "bytes" as const, data: new Uint8Array(size) }, ...extra });
      await engine.atomic(ns.id, { checks: [], mutations: [set("a", 10), set("b", 2000, { metadata: '{"é":1}' }), set("c", 5, { expiresAt: clock.now() + 1000 })], enqueues: [] });
      assert.deepEqual(await engine.namespaceStats(ns.id), await scan());
      await engine.atomic(ns.id, { checks: [], mutations: [set("a", 70_000), { type: "delete", key: encodeKey(["b"]) }], enqueues: [] });
      assert.deepEqual(await engine.namespaceStats(ns.id), await scan());
      clock.advance(2000);
      await engine.purgeExpired();
      assert.deepEqual(await engine.namespaceStats(ns.id), { keyCount: 1, byteCount: encodeKey(["a"]).byteLength + 70_000 });
      await engine.deleteNamespace(ns.id);
      assert.deepEqual(await engine.namespaceStats(ns.id), { keyCount: 0, byteCount: 0 });
    } finally {
      await engine.close();
    }
  });
}

test("SQLite: migration 5 backfills the counters of a store written before it (inline and blob values, UTF-8 metadata)", async () => {
  const { DatabaseSync } = await import("node:sqlite");
  const { mkdtempSync, rmSync } = await import("node:fs");
  const { join } = await import("node:path");
  const { tmpdir } = await import("node:os");
  const { MIGRATIONS } = await import("../src/storage/sqlite/migrations.ts");
  const dir = mkdtempSync(join(tmpdir(), "openkv-mig5-"));
  try {
    const file = join(dir, "old.sqlite");
    const old = new DatabaseSync(file);
    for (const m of MIGRATIONS.slice(0, 4)) old.exec(m);
    old.exec("INSERT INTO meta (name, value) VALUES ('schema_version', 4)");
    old.prepare("INSERT INTO namespaces (id, title, created_at) VALUES (?, 'old', 0)").run("a".repeat(32));
    old.prepare("INSERT INTO blobs (id, data) VALUES (1, ?)").run(new Uint8Array(1000));
    const put = old.prepare("INSERT INTO entries (ns, key, encoding, versionstamp, metadata, value, blob_id) VALUES (1, ?, 3, ?, ?, ?, ?)");
    put.run(encodeKey(["small"]), new Uint8Array(10), '{"ü":1}', new Uint8Array(7), null);
    put.run(encodeKey(["big"]), new Uint8Array(10), null, null, 1);
    old.close();
    const engine = await Engine.open(new SqliteBackend(file));
    try {
      const [all] = await engine.read("a".repeat(32), [{ start: new Uint8Array(0), end: new Uint8Array([0xff]), limit: 10 }]);
      const expected = { keyCount: 2, byteCount: all!.reduce((n, e) => n + entryBytes(e), 0) };
      assert.equal(expected.byteCount, encodeKey(["small"]).byteLength + 7 + Buffer.byteLength('{"ü":1}') + encodeKey(["big"]).byteLength + 1000);
      assert.deepEqual(await engine.namespaceStats("a".repeat(32)), expected);
    } finally {
      await engine.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
