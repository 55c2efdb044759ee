/** Picks a backend from a path: ":memory:" → memory, postgres:// → PostgreSQL, anything else → a SQLite file. */
import type { Backend } from "../core/backend.ts";
import { MemoryBackend } from "./memory/memory-backend.ts";
import { SqliteBackend, type Durability } from "./sqlite/sqlite-backend.ts";
import { PostgresBackend } from "./postgres/postgres-backend.ts";

export { MemoryBackend, SqliteBackend, PostgresBackend, type Durability };

/** True for a PostgreSQL store URL (`postgres://…` or `postgresql://…`, one host or several). */
export function isPostgresUrl(path: string): boolean {
  return /^postgres(ql)?:\/\//.test(path);
}
export { holdExclusive, holdShared, type HeldLock } from "./sqlite/data-dir-lock.ts";

export interface BackendOptions {
  durability?: Durability;
}

export function openBackend(path: string, options: BackendOptions = {}): Backend {
  if (path === ":memory:") return new MemoryBackend();
  if (isPostgresUrl(path)) return new PostgresBackend(path);
  const file = path.startsWith("sqlite:") ? path.slice("sqlite:".length) : path.startsWith("file:") ? new URL(path).pathname : path;
  return new SqliteBackend(file, options.durability ? { durability: options.durability } : {});
}
