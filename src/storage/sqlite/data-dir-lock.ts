/**
 * Who is using a data directory: servers hold a shared lock on `server.lock` for as long as they run;
 * `openkv restore`, which swaps the store file underneath, needs it exclusively. A server keeps state
 * about the store in memory (namespaces, versionstamps, queue timers, watchers) that a swapped file
 * would silently contradict, so the two must not overlap.
 *
 * The lock is SQLite's own locking on an empty database file: the operating system drops it when the
 * holder dies, even by kill -9, so a crashed server never leaves a lock behind that someone must delete.
 * CLI commands that go through the engine (kv, import, backup) need no lock: SQLite's WAL already lets
 * them share the store with a server.
 */
import { DatabaseSync } from "node:sqlite";

export interface HeldLock {
  release(): void;
}

function isBusy(e: unknown): boolean {
  return typeof e === "object" && e !== null && (e as { errcode?: unknown }).errcode === 5;
}

function tryLock(path: string, begin: (db: DatabaseSync) => void): HeldLock | null {
  const db = new DatabaseSync(path, { timeout: 0 });
  try {
    // Nothing is ever written: a journal in memory leaves no -journal file beside the lock.
    db.exec("PRAGMA journal_mode = MEMORY");
    begin(db);
  } catch (e) {
    db.close();
    if (isBusy(e)) return null;
    throw e;
  }
  let held = true;
  return {
    release() {
      if (!held) return;
      held = false;
      db.exec("ROLLBACK");
      db.close();
    },
  };
}

/** A server's hold on its data directory; null while a restore has it. Several servers may hold it. */
export function holdShared(path: string): HeldLock | null {
  return tryLock(path, (db) => {
    // A read transaction keeps SQLite's SHARED lock until it ends.
    db.exec("BEGIN");
    db.prepare("SELECT count(*) FROM sqlite_schema").get();
  });
}

/** The whole data directory, for a restore; null while a server (or another restore) uses it. */
export function holdExclusive(path: string): HeldLock | null {
  return tryLock(path, (db) => db.exec("BEGIN EXCLUSIVE"));
}
