import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { defineBackendSuite } from "./conformance/backend.case.ts";
import { MemoryBackend, SqliteBackend } from "../src/storage/index.ts";
import { MIGRATIONS } from "../src/storage/sqlite/migrations.ts";

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

test("sqlite: on-disk shape is WAL with the recorded schema version", async () => {
  const path = join(dir, "shape.sqlite");
  const b = new SqliteBackend(path);
  await b.close();
  const db = new DatabaseSync(path);
  assert.equal(db.prepare("PRAGMA journal_mode").get()!.journal_mode, "wal");
  assert.equal(db.prepare("SELECT value FROM meta WHERE name = 'schema_version'").get()!.value, MIGRATIONS.length);
  const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all().map((r) => r.name);
  assert.deepEqual(tables, ["entries", "meta", "namespaces", "queue", "sqlite_sequence"]);
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
