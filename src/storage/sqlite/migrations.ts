/** Ordered schema migrations; `meta.schema_version` records how many have run. Never edit one that shipped. */
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
];
