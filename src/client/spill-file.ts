/**
 * The second tier of an edge's read cache (src/client/read-cache.ts): a local SQLite file that takes the
 * entries the memory tier evicts, up to a size in bytes, least recently written out first — `openkv
 * serve --edge-of … --cache-file PATH`. A memory miss looks here before asking the core and copies what
 * it finds up to memory; the row stays, so when memory evicts that entry again, unchanged, nothing is
 * written (a working set cycling through the file costs reads only). Any change to a key removes it from
 * both tiers, so a copy here is never older than the one in memory.
 *
 * It also survives the process: the file records which core it caches (the core's store id) and the feed
 * position whose invalidations it has applied, so a restarted edge can resume the core's change feed from
 * there and keep what it holds (src/client/cached-backend.ts decides; this file only keeps the facts).
 *
 * - Synchronous (node:sqlite), like the memory tier: an invalidation, a spill and a lookup happen in one
 *   turn of the event loop, so the fill-race reasoning of ReadCache covers both tiers unchanged.
 * - Writes are grouped: the first change in a turn of the event loop opens a transaction, which commits
 *   on the next turn (`setImmediate`), so a burst of spills, promotions and invalidations costs one
 *   commit (a commit alone costs ~60 µs here, a row in an open transaction ~3 µs). Reads on the same
 *   connection see the open transaction.
 * - WAL with `synchronous = NORMAL`: no fsync per commit (only at checkpoints), and after a crash or a
 *   power cut the file is a prefix of its commits — an invalidation is never lost while a later feed
 *   position survives (both are in one transaction, or the invalidation in an earlier one). It is a
 *   cache: losing the tail only costs reads from the core.
 * - Entries over SPILL_MAX_ENTRY_BYTES are not written (they are dropped, as from memory alone): writing
 *   25 MiB to SQLite blocked the event loop for up to ~160 ms here, reading it back ~40 ms; 1 MiB costs
 *   a few ms at worst (a checkpoint included), a 100-byte entry a few µs.
 * - Exclusive: the file is locked while open, so two edges cannot share one.
 * - A file SQLite cannot read (not a database, corrupt) is replaced by an empty one, and said so in the log.
 * - The values are plaintext (the core opens sealed values before an edge sees them): the file is created
 *   readable by its owner only.
 */
import { closeSync, openSync, rmSync } from "node:fs";
import { DatabaseSync, type StatementSync } from "node:sqlite";
import type { Entry, ValueEncoding } from "../core/types.ts";

/** The largest entry (key, value, metadata) the file takes. */
export const SPILL_MAX_ENTRY_BYTES = 1024 * 1024;
/** `--cache-file-bytes` when not given: 1 GiB. */
export const DEFAULT_SPILL_BYTES = 1024 * 1024 * 1024;

const SCHEMA_VERSION = "1";

/** One entry as the file keeps it; `entry` null = the key did not exist. */
export interface SpilledRead {
  readonly namespaceId: string;
  readonly key: Uint8Array;
  readonly entry: Entry | null;
  readonly fetchedAt: number;
  readonly tag: Uint8Array;
  readonly bytes: number;
}

export interface SpillFileOptions {
  /** The most bytes of entries the file holds (as ReadCache counts them). Default 1 GiB. */
  maxBytes?: number;
  /** Where the file says what it did at open (cleared, and why). */
  log?: (line: string) => void;
}

export interface SpillStats {
  entries: number;
  bytes: number;
  /** Memory misses that found their entry in the file (moved back to memory). */
  hits: number;
  /** Entries written to the file (evicted from memory). */
  spilled: number;
  /** Entries the file evicted to stay within its bound. */
  evictions: number;
  /** Entries too large for the file, dropped instead. */
  tooLarge: number;
}

type Row = Record<string, unknown>;

/** The file cannot be used at all (locked by another process, or not creatable): the edge does not start. */
export class CacheFileError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "CacheFileError";
  }
}

export class SpillFile {
  readonly path: string;
  readonly maxBytes: number;
  readonly stats: SpillStats = { entries: 0, bytes: 0, hits: 0, spilled: 0, evictions: 0, tooLarge: 0 };
  readonly #log: (line: string) => void;
  #db: DatabaseSync;
  #s!: Record<string, StatementSync>;
  /** Recency counter: higher = used more recently. */
  #used = 0;
  /** A write transaction is open; it commits on the next turn of the event loop. */
  #open = false;
  /** Told when a grouped commit fails (the caller drops the file); without it the error is thrown. */
  onFail: ((e: unknown) => void) | null = null;

  private constructor(path: string, db: DatabaseSync, options: SpillFileOptions) {
    this.path = path;
    this.maxBytes = options.maxBytes ?? DEFAULT_SPILL_BYTES;
    this.#log = options.log ?? (() => {});
    this.#db = db;
  }

  /**
   * Opens (or creates) the file for the core whose store id is `coreId`. A file for another core, of
   * another schema, or one SQLite cannot read is emptied first, and the log says why. Throws only when
   * the file is locked by another process or cannot be created at all.
   */
  static open(path: string, coreId: string, options: SpillFileOptions = {}): SpillFile {
    const log = options.log ?? (() => {});
    // A file that fails to prepare is closed again: its handle would keep the exclusive lock.
    const attempt = () => {
      const s = new SpillFile(path, SpillFile.#connect(path), options);
      try {
        s.#prepare();
      } catch (e) {
        s.#db.close();
        throw e;
      }
      return s;
    };
    let spill: SpillFile;
    try {
      spill = attempt();
    } catch (e) {
      if (isLocked(e)) throw new CacheFileError(`The cache file ${path} is in use by another process: give each edge its own --cache-file.`, { cause: e });
      if ((e as { code?: unknown }).code === "ENOENT" || (e as { code?: unknown }).code === "EACCES") {
        throw new CacheFileError(`Cannot create the cache file ${path}: ${(e as Error).message}`, { cause: e });
      }
      log(`Cache file ${path} could not be read (${(e as Error).message}): starting it empty.`);
      try {
        for (const suffix of ["", "-wal", "-shm"]) rmSync(path + suffix, { force: true });
        spill = attempt();
      } catch (again) {
        throw new CacheFileError(`Cannot use the cache file ${path}: ${(again as Error).message}`, { cause: again });
      }
    }
    const held = spill.#meta("core");
    spill.#write();
    if (held !== null && held !== coreId) {
      log(`Cache file ${path} holds entries of another core (store ${held}, not ${coreId}): cleared.`);
      spill.clear();
    }
    spill.#setMeta("core", coreId);
    spill.commit();
    return spill;
  }

  static #connect(path: string): DatabaseSync {
    // Created for its owner only: it holds plaintext values.
    closeSync(openSync(path, "a", 0o600));
    const db = new DatabaseSync(path, { timeout: 0 });
    try {
      db.exec("PRAGMA locking_mode = EXCLUSIVE");
      db.exec("PRAGMA journal_mode = WAL");
      db.exec("PRAGMA synchronous = NORMAL");
      // Taking the write lock now holds it until close (exclusive mode): a second edge fails here.
      db.exec("BEGIN IMMEDIATE");
      db.exec("COMMIT");
    } catch (e) {
      db.close();
      throw e;
    }
    return db;
  }

  #prepare(): void {
    const db = this.#db;
    db.exec(`
      CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS entries (
        id INTEGER PRIMARY KEY,
        ns TEXT NOT NULL,
        key BLOB NOT NULL,
        found INTEGER NOT NULL,
        encoding TEXT,
        data BLOB,
        versionstamp BLOB,
        expires_at INTEGER,
        metadata TEXT,
        fetched_at REAL NOT NULL,
        tag BLOB NOT NULL,
        bytes INTEGER NOT NULL,
        used INTEGER NOT NULL
      );
      CREATE UNIQUE INDEX IF NOT EXISTS entries_key ON entries (ns, key);
      CREATE INDEX IF NOT EXISTS entries_used ON entries (used);
    `);
    const version = db.prepare("SELECT value FROM meta WHERE name = 'schema'").get()?.value as string | undefined;
    if (version !== undefined && version !== SCHEMA_VERSION) throw new Error(`schema ${version}, this edge writes ${SCHEMA_VERSION}`);
    db.prepare("INSERT OR REPLACE INTO meta (name, value) VALUES ('schema', ?)").run(SCHEMA_VERSION);
    this.#s = {
      metaGet: db.prepare("SELECT value FROM meta WHERE name = ?"),
      metaSet: db.prepare("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)"),
      metaDel: db.prepare("DELETE FROM meta WHERE name = ?"),
      get: db.prepare("SELECT * FROM entries WHERE ns = ? AND key = ?"),
      peek: db.prepare("SELECT found, versionstamp FROM entries WHERE ns = ? AND key = ?"),
      put: db.prepare(
        "INSERT OR REPLACE INTO entries (ns, key, found, encoding, data, versionstamp, expires_at, metadata, fetched_at, tag, bytes, used) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
      ),
      bytesOf: db.prepare("SELECT bytes FROM entries WHERE ns = ? AND key = ?"),
      del: db.prepare("DELETE FROM entries WHERE ns = ? AND key = ? RETURNING bytes"),
      delOlder: db.prepare("DELETE FROM entries WHERE ns = ? AND key = ? AND (found = 0 OR versionstamp < ?) RETURNING bytes"),
      delNs: db.prepare("DELETE FROM entries WHERE ns = ?"),
      oldest: db.prepare("SELECT id, bytes FROM entries ORDER BY used LIMIT 64"),
      delId: db.prepare("DELETE FROM entries WHERE id = ?"),
      totals: db.prepare("SELECT count(*) AS n, coalesce(sum(bytes), 0) AS bytes, coalesce(max(used), 0) AS used FROM entries"),
    };
    const t = this.#s.totals!.get()!;
    this.stats.entries = Number(t.n);
    this.stats.bytes = Number(t.bytes);
    this.#used = Number(t.used);
  }

  #meta(name: string): string | null {
    return (this.#s.metaGet!.get(name)?.value as string | undefined) ?? null;
  }

  #setMeta(name: string, value: string): void {
    this.#s.metaSet!.run(name, value);
  }

  /** The feed position (a 10-byte versionstamp) whose invalidations the file reflects, or null: none recorded. */
  get applied(): Uint8Array | null {
    const hex = this.#meta("applied");
    return hex === null ? null : Uint8Array.from(Buffer.from(hex, "hex"));
  }

  /** Records that every invalidation up to `versionstamp` has been applied to the file. */
  setApplied(versionstamp: Uint8Array): void {
    this.#write();
    this.#setMeta("applied", Buffer.from(versionstamp).toString("hex"));
  }

  /** Opens the grouped write transaction unless one is open. */
  #write(): void {
    if (this.#open) return;
    this.#db.exec("BEGIN");
    this.#open = true;
    setImmediate(() => {
      try {
        this.commit();
      } catch (e) {
        if (!this.onFail) throw e;
        this.onFail(e);
      }
    });
  }

  /** Commits what is pending now (it would commit on the next turn anyway). */
  commit(): void {
    if (!this.#open || !this.#db.isOpen) return;
    this.#open = false;
    this.#db.exec("COMMIT");
  }

  /**
   * A key's entry, or undefined when the file has none. A read writes nothing: the row keeps its place in
   * the file's order, which is the order entries were written here.
   */
  find(namespaceId: string, key: Uint8Array): SpilledRead | undefined {
    const row = this.#s.get!.get(namespaceId, key);
    if (!row) return undefined;
    this.stats.hits++;
    return readOf(row, namespaceId, key);
  }

  /** What the file holds for a key, without the value: whether it exists and at which versionstamp. */
  peek(namespaceId: string, key: Uint8Array): { found: boolean; versionstamp: Uint8Array | null } | undefined {
    const row = this.#s.peek!.get(namespaceId, key);
    if (!row) return undefined;
    return { found: row.found === 1, versionstamp: (row.versionstamp as Uint8Array | null) ?? null };
  }

  /**
   * Writes entries as the most recently used (in the order given), then evicts to stay within the bound.
   * Returns how many were written (entries too large are not).
   */
  put(reads: readonly SpilledRead[]): number {
    if (reads.length === 0) return 0;
    let written = 0;
    this.#write();
    {
      for (const r of reads) {
        if (r.bytes > SPILL_MAX_ENTRY_BYTES || r.bytes > this.maxBytes || r.entry?.sealed) {
          this.stats.tooLarge++;
          this.remove(r.namespaceId, r.key);
          continue;
        }
        const old = this.#s.bytesOf!.get(r.namespaceId, r.key);
        const e = r.entry;
        this.#s.put!.run(
          r.namespaceId,
          r.key,
          e ? 1 : 0,
          e?.encoding ?? null,
          e?.data ?? null,
          e?.versionstamp ?? null,
          e?.expiresAt ?? null,
          e?.metadata ?? null,
          r.fetchedAt,
          r.tag,
          r.bytes,
          ++this.#used,
        );
        if (old) this.stats.bytes -= old.bytes as number;
        else this.stats.entries++;
        this.stats.bytes += r.bytes;
        this.stats.spilled++;
        written++;
      }
      while (this.stats.bytes > this.maxBytes) {
        const victims = this.#s.oldest!.all();
        if (victims.length === 0) break;
        for (const v of victims) {
          if (this.stats.bytes <= this.maxBytes) break;
          this.#s.delId!.run(v.id as number);
          this.stats.entries--;
          this.stats.bytes -= v.bytes as number;
          this.stats.evictions++;
        }
      }
    }
    return written;
  }

  /** Forgets a key. */
  remove(namespaceId: string, key: Uint8Array): void {
    this.#write();
    this.#forgot(this.#s.del!.all(namespaceId, key));
  }

  /** Forgets a key unless the file holds it at `versionstamp` or later (see ReadCache.invalidate). */
  removeOlder(namespaceId: string, key: Uint8Array, versionstamp: Uint8Array): void {
    this.#write();
    this.#forgot(this.#s.delOlder!.all(namespaceId, key, versionstamp));
  }

  /** Forgets a namespace. */
  dropNamespace(namespaceId: string): void {
    this.#write();
    if (this.#s.delNs!.run(namespaceId).changes === 0) return;
    this.#recount();
  }

  /** Forgets everything, and the feed position with it. */
  clear(): void {
    this.#write();
    this.#db.exec("DELETE FROM entries");
    this.#s.metaDel!.run("applied");
    this.#recount();
  }

  /** Commits what is pending and closes the file. */
  close(): void {
    if (!this.#db.isOpen) return;
    this.commit();
    this.#db.close();
  }

  /** Closes the file without committing what is pending (the file failed: keep only what was committed). */
  abandon(): void {
    this.#open = false;
    if (this.#db.isOpen) this.#db.close();
  }

  #forgot(rows: Row[]): void {
    for (const r of rows) {
      this.stats.entries--;
      this.stats.bytes -= r.bytes as number;
    }
  }

  #recount(): void {
    const t = this.#s.totals!.get()!;
    this.stats.entries = Number(t.n);
    this.stats.bytes = Number(t.bytes);
  }
}

function readOf(row: Row, namespaceId: string, key: Uint8Array): SpilledRead {
  const entry: Entry | null =
    row.found === 1
      ? {
          key,
          encoding: row.encoding as ValueEncoding,
          data: row.data as Uint8Array,
          versionstamp: row.versionstamp as Uint8Array,
          expiresAt: row.expires_at === null ? null : Number(row.expires_at),
          metadata: (row.metadata as string | null) ?? null,
        }
      : null;
  return { namespaceId, key, entry, fetchedAt: row.fetched_at as number, tag: row.tag as Uint8Array, bytes: row.bytes as number };
}

function isLocked(e: unknown): boolean {
  const err = e as { errcode?: number; message?: string };
  // SQLITE_BUSY (5) or SQLITE_LOCKED (6), with or without extended bits.
  return ((err.errcode ?? 0) & 0xff) === 5 || ((err.errcode ?? 0) & 0xff) === 6 || /database is locked/.test(err.message ?? "");
}
