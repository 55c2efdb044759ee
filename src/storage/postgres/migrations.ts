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
];
