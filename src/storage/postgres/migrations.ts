/**
 * Ordered schema migrations for the PostgreSQL store; `openkv_meta.schema_version` records how many have
 * run. Never edit one that shipped. They run under an advisory lock, so nodes starting together migrate
 * once.
 *
 * Layout notes: keys are `bytea`, which PostgreSQL compares bytewise — the order of Deno keys — so the
 * primary key (ns, key) serves every `[start, end)` scan, forward or backward, with no collation. Values
 * are TOASTed out of line by PostgreSQL itself once they pass ~2 kB, so big values stay out of the key
 * B-tree's way without a table of our own. `openkv_meta.versionstamp` is the commit counter every write
 * transaction locks first: commits are serialized on it, so versionstamps follow commit order across
 * every node.
 */
export const MIGRATIONS: readonly string[] = [
  `CREATE TABLE openkv_meta (name text PRIMARY KEY, value int8 NOT NULL);
   INSERT INTO openkv_meta (name, value) VALUES ('versionstamp', 0), ('changes_pruned_through', 0);
   CREATE TABLE namespaces (
     seq bigserial PRIMARY KEY,
     id text NOT NULL UNIQUE,
     title text NOT NULL UNIQUE,
     created_at int8 NOT NULL
   );
   CREATE TABLE entries (
     ns int8 NOT NULL,
     key bytea NOT NULL,
     value bytea NOT NULL,
     encoding int2 NOT NULL,
     versionstamp bytea NOT NULL,
     expires_at int8,
     metadata text,
     PRIMARY KEY (ns, key)
   );
   CREATE INDEX entries_expiry ON entries (expires_at) WHERE expires_at IS NOT NULL;
   CREATE TABLE queue (
     id bigserial PRIMARY KEY,
     ns int8 NOT NULL,
     payload bytea NOT NULL,
     ready_at int8 NOT NULL,
     attempts int4 NOT NULL DEFAULT 0,
     leased_until int8 NOT NULL DEFAULT 0,
     keys_if_undelivered text NOT NULL,
     backoff_schedule text,
     sealed boolean NOT NULL DEFAULT false
   );
   CREATE INDEX queue_ready ON queue (ns, ready_at);
   CREATE TABLE settings (name text PRIMARY KEY, value text NOT NULL);
   -- The change feed: one row per committed write — its versionstamp counter, namespace and the keys it
   -- wrote or deleted (core's packKeys; NULL: the whole namespace went) — in the commit's own transaction, so the feed is
   -- gap-free in versionstamp order on the primary and on every standby.
   CREATE TABLE changes (
     vs int8 PRIMARY KEY,
     ns text NOT NULL,
     keys bytea,
     at int8 NOT NULL
   );`,
  // 2: analytics (src/core/analytics/). Statement-level triggers with transition tables keep every
  // namespace's key and byte counts in `ns_stats` inside the write's own transaction — one update per
  // namespace per statement, so a group commit of a hundred writes costs one (octet_length reads a
  // TOASTed value's size from its pointer, without fetching it). The backfill is the one full scan. Then
  // per-minute operation aggregates (every node appends its own; reads add them up) and hourly storage
  // samples holding the hour's maximum.
  `CREATE TABLE ns_stats (ns int8 PRIMARY KEY, keys int8 NOT NULL, bytes int8 NOT NULL);
   INSERT INTO ns_stats (ns, keys, bytes)
     SELECT n.seq, count(e.key), coalesce(sum(octet_length(e.key) + octet_length(e.value) + coalesce(octet_length(e.metadata), 0)), 0)
     FROM namespaces n LEFT JOIN entries e ON e.ns = n.seq GROUP BY n.seq;
   CREATE FUNCTION openkv_stats_insert() RETURNS trigger LANGUAGE plpgsql AS $$
   BEGIN
     INSERT INTO ns_stats (ns, keys, bytes) SELECT ns, count(*), sum(octet_length(key) + octet_length(value) + coalesce(octet_length(metadata), 0)) FROM new_rows GROUP BY ns
       ON CONFLICT (ns) DO UPDATE SET keys = ns_stats.keys + excluded.keys, bytes = ns_stats.bytes + excluded.bytes;
     RETURN NULL;
   END $$;
   CREATE FUNCTION openkv_stats_update() RETURNS trigger LANGUAGE plpgsql AS $$
   BEGIN
     UPDATE ns_stats s SET bytes = s.bytes + d.b
       FROM (SELECT ns, sum(b) AS b FROM (SELECT ns, octet_length(key) + octet_length(value) + coalesce(octet_length(metadata), 0) AS b FROM new_rows UNION ALL SELECT ns, -(octet_length(key) + octet_length(value) + coalesce(octet_length(metadata), 0)) FROM old_rows) x GROUP BY ns) d
       WHERE s.ns = d.ns;
     RETURN NULL;
   END $$;
   CREATE FUNCTION openkv_stats_delete() RETURNS trigger LANGUAGE plpgsql AS $$
   BEGIN
     UPDATE ns_stats s SET keys = s.keys - d.n, bytes = s.bytes - d.b
       FROM (SELECT ns, count(*) AS n, sum(octet_length(key) + octet_length(value) + coalesce(octet_length(metadata), 0)) AS b FROM old_rows GROUP BY ns) d
       WHERE s.ns = d.ns;
     RETURN NULL;
   END $$;
   CREATE TRIGGER entries_stats_insert AFTER INSERT ON entries REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION openkv_stats_insert();
   CREATE TRIGGER entries_stats_update AFTER UPDATE ON entries REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION openkv_stats_update();
   CREATE TRIGGER entries_stats_delete AFTER DELETE ON entries REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION openkv_stats_delete();
   CREATE TABLE analytics_ops (
     minute int8 NOT NULL, ns text NOT NULL, action text NOT NULL, result text NOT NULL, status int4 NOT NULL,
     requests int8 NOT NULL, count int8 NOT NULL, bytes int8 NOT NULL, min_latency float8 NOT NULL, max_latency float8 NOT NULL,
     min_bytes int8 NOT NULL, max_bytes int8 NOT NULL, sketch text NOT NULL
   );
   CREATE INDEX analytics_ops_minute ON analytics_ops (minute);
   CREATE TABLE analytics_storage (hour int8 NOT NULL, ns text NOT NULL, keys int8 NOT NULL, bytes int8 NOT NULL, PRIMARY KEY (hour, ns));`,
  // 3: the key and byte counts without triggers (issue 9: two plpgsql triggers per upsert cost a lone
  // write ~40 µs of server CPU). Every write path keeps them itself, in its own transaction: a lone write
  // of one key (the one-statement commit) records its change as `dkeys`/`dbytes` on its feed row, so it
  // touches no row of `ns_stats`; every other path adds to `ns_stats` directly. A namespace's counts are
  // its `ns_stats` row plus the deltas of feed rows after `stats_through`, which the feed's pruning folds
  // in (see PostgresBackend's stats section). A namespace gets its row when it is created.
  `ALTER TABLE changes ADD COLUMN dkeys int8 NOT NULL DEFAULT 0, ADD COLUMN dbytes int8 NOT NULL DEFAULT 0;
   DROP TRIGGER entries_stats_insert ON entries;
   DROP TRIGGER entries_stats_update ON entries;
   DROP TRIGGER entries_stats_delete ON entries;
   DROP FUNCTION openkv_stats_insert();
   DROP FUNCTION openkv_stats_update();
   DROP FUNCTION openkv_stats_delete();
   INSERT INTO ns_stats (ns, keys, bytes) SELECT seq, 0, 0 FROM namespaces ON CONFLICT (ns) DO NOTHING;
   INSERT INTO openkv_meta (name, value) SELECT 'stats_through', value FROM openkv_meta WHERE name = 'versionstamp';`,
];
