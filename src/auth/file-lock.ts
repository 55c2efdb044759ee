/**
 * A lock between processes that changes a file: SQLite's own locking on an empty database file beside
 * it. The operating system drops such a lock when its holder dies (even by kill -9), so a crash never
 * leaves a stale lock for someone to delete, and SQLite also orders two connections in one process.
 *
 * @example
 * await withFileLock("/data/tokens.json.lock", () => rewrite("/data/tokens.json"));
 */
import { DatabaseSync } from "node:sqlite";
import { setTimeout as delay } from "node:timers/promises";

/** SQLITE_BUSY: another connection holds a conflicting lock. */
const SQLITE_BUSY = 5;

export function isBusy(e: unknown): boolean {
  return typeof e === "object" && e !== null && (e as { errcode?: unknown }).errcode === SQLITE_BUSY;
}

/**
 * Runs `fn` while holding the exclusive write lock on `path` (created when missing). Waits with short
 * pauses, never blocking the event loop, and fails after `timeoutMs` with a message naming the file.
 */
export async function withFileLock<T>(path: string, fn: () => T | Promise<T>, timeoutMs = 10_000): Promise<T> {
  const db = new DatabaseSync(path, { timeout: 0 });
  try {
    const deadline = performance.now() + timeoutMs;
    for (let pause = 2; ; pause = Math.min(pause * 2, 50)) {
      try {
        // A journal in memory: nothing is ever written, and no -journal file is left beside the lock.
        db.exec("PRAGMA journal_mode = MEMORY");
        db.exec("BEGIN IMMEDIATE");
        break;
      } catch (e) {
        if (!isBusy(e)) throw e;
        if (performance.now() > deadline) {
          throw new Error(`Timed out after ${timeoutMs} ms waiting for the lock ${path}: another process holds it.`, { cause: e });
        }
        await delay(pause);
      }
    }
    try {
      return await fn();
    } finally {
      db.exec("ROLLBACK");
    }
  } finally {
    db.close();
  }
}
