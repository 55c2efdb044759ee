/** Picks a backend from a path: ":memory:" → memory, anything else → a SQLite file. */
import type { Backend } from "../core/backend.ts";
import { MemoryBackend } from "./memory/memory-backend.ts";
import { SqliteBackend, type Durability } from "./sqlite/sqlite-backend.ts";

export { MemoryBackend, SqliteBackend, type Durability };
export { holdExclusive, holdShared, type HeldLock } from "./sqlite/data-dir-lock.ts";

export interface BackendOptions {
  durability?: Durability;
}

export function openBackend(path: string, options: BackendOptions = {}): Backend {
  if (path === ":memory:") return new MemoryBackend();
  const file = path.startsWith("sqlite:") ? path.slice("sqlite:".length) : path.startsWith("file:") ? new URL(path).pathname : path;
  return new SqliteBackend(file, options.durability ? { durability: options.durability } : {});
}
