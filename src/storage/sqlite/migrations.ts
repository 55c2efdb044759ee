/** Ordered schema migrations; `meta.schema_version` records how many have run. Never edit one that shipped. */

/**
 * Values longer than this live in `blobs`, not in the `entries` row. `entries` is a WITHOUT ROWID table:
 * its rows are the key B-tree itself, so an inline multi-MiB value sits in every page split and key
 * comparison near it (a 10,000-pair bulk write next to a few 25 MiB values took a minute). 512 bytes keeps
 * a row well inside one page's local payload, so small values — most Deno values — still cost one lookup.
 */
export const INLINE_VALUE_BYTES = 512;

/** The latest instant a JS Date holds; a migration spells its numbers out, so it never changes once shipped. */
const MAX_TIMESTAMP_MS = 8_640_000_000_000_000;

/**
 * A 10-byte `counter ‖ 0000` versionstamp blob as its counter, in SQL: the 16 hex digits of its first 8
 * bytes, each times its place value (SQLite has no blob-to-integer cast). Written out once, so it never
 * changes once shipped.
 */
const COUNTER_OF_VERSIONSTAMP = Array.from(
  { length: 16 },
  (_, i) => `(instr('0123456789ABCDEF', substr(hex(versionstamp), ${i + 1}, 1)) - 1) * ${(16n ** BigInt(15 - i)).toString()}`,
).join(" + ");

export const MIGRATIONS: readonly string[] = [
  `CREATE TABLE meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
   INSERT INTO meta (name, value) VALUES ('versionstamp', 0);
   CREATE TABLE namespaces (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     id TEXT NOT NULL UNIQUE,
     title TEXT NOT NULL UNIQUE,
     created_at INTEGER NOT NULL
   );
   CREATE TABLE entries (
     ns INTEGER NOT NULL,
     key BLOB NOT NULL,
     value BLOB NOT NULL,
     encoding INTEGER NOT NULL,
     versionstamp BLOB NOT NULL,
     expires_at INTEGER,
     metadata TEXT,
     PRIMARY KEY (ns, key)
   ) WITHOUT ROWID;
   CREATE INDEX entries_expiry ON entries (expires_at) WHERE expires_at IS NOT NULL;
   CREATE TABLE queue (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     ns INTEGER NOT NULL,
     payload BLOB NOT NULL,
     ready_at INTEGER NOT NULL,
     attempts INTEGER NOT NULL DEFAULT 0,
     leased_until INTEGER NOT NULL DEFAULT 0,
     keys_if_undelivered TEXT NOT NULL,
     backoff_schedule TEXT
   );
   CREATE INDEX queue_ready ON queue (ns, ready_at);`,
  // 2: values over INLINE_VALUE_BYTES move to a rowid table (and times that a JS number cannot hold, which
  // earlier versions let in and node:sqlite then refused to read, are clamped to the latest JS date); triggers free a blob whenever its row goes
  // (delete, namespace delete, purge, overwrite), so no write path can leak one. Rows are renumbered in
  // key order with the same window in both statements, so each big value finds its blob id.
  `CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB NOT NULL);
   CREATE TABLE entries_v2 (
     ns INTEGER NOT NULL,
     key BLOB NOT NULL,
     encoding INTEGER NOT NULL,
     versionstamp BLOB NOT NULL,
     expires_at INTEGER,
     metadata TEXT,
     value BLOB,
     blob_id INTEGER,
     PRIMARY KEY (ns, key)
   ) WITHOUT ROWID;
   INSERT INTO blobs (id, data)
     SELECT row_number() OVER (ORDER BY ns, key), value FROM entries WHERE length(value) > ${INLINE_VALUE_BYTES};
   INSERT INTO entries_v2 (ns, key, encoding, versionstamp, expires_at, metadata, value, blob_id)
     SELECT ns, key, encoding, versionstamp, expires_at, metadata, NULL, row_number() OVER (ORDER BY ns, key)
     FROM entries WHERE length(value) > ${INLINE_VALUE_BYTES};
   INSERT INTO entries_v2 (ns, key, encoding, versionstamp, expires_at, metadata, value, blob_id)
     SELECT ns, key, encoding, versionstamp, expires_at, metadata, value, NULL
     FROM entries WHERE length(value) <= ${INLINE_VALUE_BYTES};
   DROP TABLE entries;
   ALTER TABLE entries_v2 RENAME TO entries;
   CREATE INDEX entries_expiry ON entries (expires_at) WHERE expires_at IS NOT NULL;
   CREATE TRIGGER entries_free_blob_on_delete AFTER DELETE ON entries WHEN old.blob_id IS NOT NULL
   BEGIN DELETE FROM blobs WHERE id = old.blob_id; END;
   CREATE TRIGGER entries_free_blob_on_update AFTER UPDATE OF blob_id ON entries
   WHEN old.blob_id IS NOT NULL AND old.blob_id IS NOT new.blob_id
   BEGIN DELETE FROM blobs WHERE id = old.blob_id; END;
   UPDATE entries SET expires_at = ${MAX_TIMESTAMP_MS} WHERE expires_at > ${MAX_TIMESTAMP_MS};
   UPDATE entries SET expires_at = 1 WHERE expires_at < 1;
   UPDATE queue SET ready_at = ${MAX_TIMESTAMP_MS} WHERE ready_at > ${MAX_TIMESTAMP_MS};`,
  // 3: encryption at rest: store-level settings (the keyring), and which queue payloads are sealed. Sealed
  // entries need no column: bit 0x10 of entries.encoding marks them.
  `CREATE TABLE settings (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
   ALTER TABLE queue ADD COLUMN sealed INTEGER NOT NULL DEFAULT 0;`,
  // 4: the change feed (src/core/changes.ts): one row per committed write, in its transaction — the
  // versionstamp counter, the namespace id, the keys packed (NULL: the namespace was deleted).
  `CREATE TABLE changes (vs INTEGER PRIMARY KEY, ns TEXT NOT NULL, keys BLOB, at INTEGER NOT NULL);
   INSERT INTO meta (name, value) VALUES ('changes_pruned_through', (SELECT value FROM meta WHERE name = 'versionstamp'));`,
  // 5: analytics (src/core/analytics/). Each entry records its size (key + value as stored + metadata
  // bytes), and triggers keep every namespace's key and byte counts in `ns_stats` inside the write's own
  // transaction, whatever writes (commit, purge, reseal, load, namespace deletion) — so reading them never
  // scans. The backfill is the one full scan. Then per-minute operation aggregates (rows add up; a store
  // shared by several processes gets rows from each) and hourly storage samples holding the hour's maximum.
  `ALTER TABLE entries ADD COLUMN size INTEGER NOT NULL DEFAULT 0;
   UPDATE entries SET size = length(key) + coalesce(length(CAST(metadata AS BLOB)), 0)
     + CASE WHEN blob_id IS NULL THEN length(value) ELSE (SELECT length(data) FROM blobs WHERE id = blob_id) END;
   CREATE TABLE ns_stats (ns INTEGER PRIMARY KEY, keys INTEGER NOT NULL, bytes INTEGER NOT NULL);
   INSERT INTO ns_stats (ns, keys, bytes)
     SELECT n.seq, (SELECT count(*) FROM entries WHERE ns = n.seq), (SELECT coalesce(sum(size), 0) FROM entries WHERE ns = n.seq) FROM namespaces n;
   CREATE TRIGGER ns_stats_create AFTER INSERT ON namespaces BEGIN INSERT OR REPLACE INTO ns_stats (ns, keys, bytes) VALUES (new.seq, 0, 0); END;
   CREATE TRIGGER ns_stats_drop AFTER DELETE ON namespaces BEGIN DELETE FROM ns_stats WHERE ns = old.seq; END;
   CREATE TRIGGER entries_stats_insert AFTER INSERT ON entries
   BEGIN UPDATE ns_stats SET keys = keys + 1, bytes = bytes + new.size WHERE ns = new.ns; END;
   CREATE TRIGGER entries_stats_update AFTER UPDATE OF size ON entries WHEN old.size <> new.size
   BEGIN UPDATE ns_stats SET bytes = bytes + new.size - old.size WHERE ns = new.ns; END;
   CREATE TRIGGER entries_stats_delete AFTER DELETE ON entries
   BEGIN UPDATE ns_stats SET keys = keys - 1, bytes = bytes - old.size WHERE ns = old.ns; END;
   CREATE TABLE analytics_ops (
     minute INTEGER NOT NULL, ns TEXT NOT NULL, action TEXT NOT NULL, result TEXT NOT NULL, status INTEGER NOT NULL,
     requests INTEGER NOT NULL, count INTEGER NOT NULL, bytes INTEGER NOT NULL, min_latency REAL NOT NULL, max_latency REAL NOT NULL,
     min_bytes INTEGER NOT NULL, max_bytes INTEGER NOT NULL, sketch TEXT NOT NULL
   );
   CREATE INDEX analytics_ops_minute ON analytics_ops (minute);
   CREATE TABLE analytics_storage (hour INTEGER NOT NULL, ns TEXT NOT NULL, keys INTEGER NOT NULL, bytes INTEGER NOT NULL, PRIMARY KEY (hour, ns)) WITHOUT ROWID;`,
  // 6: an entry's versionstamp is its commit counter, an INTEGER, whenever it is `counter ‖ 0000` with
  // the counter below 2^53 (every versionstamp this store's commits make); only others (imported with an
  // index) stay 10-byte blobs. A list of 1,000 entries then gets 1,000 blobs fewer out of SQLite (bench:
  // README). The column keeps its name and BLOB declaration (no affinity: each row keeps the type it was
  // written with), so no table rebuild and no trigger fires: size is not touched.
  // From this version on, commits no longer update meta.versionstamp: the commit counter is the newest
  // change feed row, meta.versionstamp only a floor (for a pruned-empty feed, or a load). An older OpenKV
  // would take that floor for the counter, so the schema number going up is what keeps it out.
  `UPDATE entries SET versionstamp = ${COUNTER_OF_VERSIONSTAMP}
   WHERE typeof(versionstamp) = 'blob' AND length(versionstamp) = 10 AND substr(versionstamp, 9, 2) = X'0000'
     AND substr(versionstamp, 1, 2) < X'0020';`,
];
