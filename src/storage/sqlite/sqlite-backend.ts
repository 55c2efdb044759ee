/**
 * The embedded default: one SQLite file (WAL) holds every namespace. Writes run in one synchronous
 * transaction per group commit; with `durability: "fsync"` (the default) SQLite syncs the WAL on every
 * commit, so an acknowledged write survives a power cut. `"process"` syncs only at checkpoints: a write
 * survives the process dying, not the machine.
 */
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { executeAtomic, type AppliedWrite, type TxView } from "../../core/atomic.ts";
import type { Backend, BatchItem, ChangePage, DumpRecord, ExpiredKey, MessageReseal, Reseal } from "../../core/backend.ts";
import { packKeys, unpackKeys } from "../../core/changes.ts";
import { KvError } from "../../core/errors.ts";
import { bytesToHex, compareBytes, hexToBytes, isPointRange } from "../../core/keys.ts";
import type { Entry, Enqueue, NamespaceInfo, QueueMessage, ReadRange } from "../../core/types.ts";
import { counterFromVersionstamp, plainCounter, versionstampFromCounter, versionstampFromNumber } from "../../core/versionstamp.ts";
import { INLINE_VALUE_BYTES, MIGRATIONS } from "./migrations.ts";
import { arrayToEntry, encodingCode, rowToEntry, SEALED, storedEntry } from "../entry-codes.ts";
import { entryBytes, type AnalyticsStore, type NamespaceStats } from "../../core/analytics/types.ts";
import { OPERATION_COLUMNS, operationRow, operationValues, storageRow } from "../analytics-rows.ts";

export type Durability = "fsync" | "process";

export interface SqliteBackendOptions {
  durability?: Durability;
}

type Row = Record<string, unknown>;

/**
 * The commit counter, namespace seqs and settings as the last commit left them. Another connection's
 * commit moves `data_version`; this connection's other writes (namespaces, settings, pruning, loads)
 * move `#version`: either makes the next commit read them again, under its write lock.
 */
interface CommitCache {
  dataVersion: number;
  version: number;
  /** A safe integer: 2^53 commits is about 285 years at a million a second. */
  counter: number;
  seqs: Map<string, number | null>;
  settings: Map<string, string | null>;
}

/** The commit counter (see counterGet). */
const COUNTER_SQL = "SELECT max(coalesce((SELECT max(vs) FROM changes), 0), (SELECT value FROM meta WHERE name = 'versionstamp')) AS value";

function toNamespace(r: Row): NamespaceInfo {
  return { id: r.id as string, title: r.title as string, createdAt: r.created_at as number };
}

function toMessage(r: Row, namespaceId: string): QueueMessage {
  return {
    id: r.id as number,
    namespaceId,
    payload: r.payload as Uint8Array,
    readyAt: r.ready_at as number,
    attempts: r.attempts as number,
    keysIfUndelivered: (JSON.parse(r.keys_if_undelivered as string) as string[]).map(hexToBytes),
    backoffSchedule: r.backoff_schedule === null ? null : (JSON.parse(r.backoff_schedule as string) as number[]),
    sealed: r.sealed === 1,
  };
}

/**
 * What the versionstamp column holds (migration 6): the commit counter as an INTEGER for a
 * `counter ‖ 0000` versionstamp, else its bytes. A BigInt binds as an INTEGER (a JS number would bind
 * as a REAL).
 */
function versionstampColumn(vs: Uint8Array): bigint | Uint8Array {
  const counter = plainCounter(vs);
  return counter === null ? vs : BigInt(counter);
}

/** Scans asking for at least this many rows read the page as one blob (#scanPage). */
const PAGE_SCAN_ROWS = 64;

/** A scan row `kv, kl, big, encoding, versionstamp, expires_at, metadata`: key ‖ inline value split at kl. */
function packedToEntry(r: unknown[]): Entry {
  const kv = r[0] as Uint8Array;
  const kl = r[1] as number;
  const data = (r[2] as Uint8Array | null) ?? kv.subarray(kl);
  return storedEntry(kv.subarray(0, kl), data, r[3] as number, r[4] as Uint8Array | number, r[5] as number | null, r[6] as string | null);
}

function arrays(stmt: StatementSync): StatementSync {
  stmt.setReturnArrays(true);
  return stmt;
}

function isUniqueViolation(e: unknown): boolean {
  return e instanceof Error && /UNIQUE constraint failed/.test(e.message);
}

/** A queue row's keys_if_undelivered, backoff_schedule and sealed columns. */
function deliveryColumns(q: { keysIfUndelivered: readonly Uint8Array[]; backoffSchedule?: readonly number[] | null; sealed?: boolean }): [string, string | null, number] {
  return [JSON.stringify(q.keysIfUndelivered.map(bytesToHex)), q.backoffSchedule ? JSON.stringify(q.backoffSchedule) : null, q.sealed ? 1 : 0];
}

function putEntry(s: Record<string, StatementSync>, ns: number, e: Entry): void {
  let inline: Uint8Array | null = e.data;
  let blobId: number | bigint | null = null;
  if (e.data.byteLength > INLINE_VALUE_BYTES) {
    blobId = s.putBlob!.run(e.data).lastInsertRowid;
    inline = null;
  }
  s.put!.run(ns, e.key, inline, blobId, encodingCode(e), versionstampColumn(e.versionstamp), e.expiresAt, e.metadata, entryBytes(e));
}

/** What executeAtomic sees of one commit's transaction: one per batch, pointed at each write's namespace in turn. */
class CommitView implements TxView {
  ns = 0;
  readonly #s: Record<string, StatementSync>;
  readonly setting: (name: string) => string | null;

  constructor(s: Record<string, StatementSync>, setting: (name: string) => string | null) {
    this.#s = s;
    this.setting = setting;
  }

  get(key: Uint8Array): Entry | null {
    const r = this.#s.getOne!.get(this.ns, key);
    return r ? rowToEntry(r) : null;
  }

  put(e: Entry): void {
    putEntry(this.#s, this.ns, e);
  }

  delete(key: Uint8Array): void {
    this.#s.del!.run(this.ns, key);
  }

  enqueue(q: Enqueue): void {
    this.#s.enqueue!.run(this.ns, q.payload, q.readyAt, ...deliveryColumns(q));
  }
}

export class SqliteBackend implements Backend {
  readonly kind = "sqlite" as const;
  readonly path: string;
  #db: DatabaseSync;
  #seqCache = new Map<string, number>();
  /** Scans answered as one page (#scanPage), for tests and diagnostics. */
  pageScans = 0;
  #s: Record<string, StatementSync>;
  /** storeVersion(): bumped by every write transaction here and whenever `data_version` moves. */
  #version = 0;
  #dataVersion = -1;
  /** What commits read under the write lock and seldom changes (see #commitState); null: read it again. */
  #commitCache: CommitCache | null = null;
  readonly analytics: AnalyticsStore;

  constructor(path: string, options: SqliteBackendOptions = {}) {
    this.path = path;
    if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
    this.#db = new DatabaseSync(path);
    const db = this.#db;
    db.exec("PRAGMA busy_timeout = 10000");
    db.exec("PRAGMA journal_mode = WAL");
    db.exec(`PRAGMA synchronous = ${options.durability === "process" ? "NORMAL" : "FULL"}`);
    this.#migrate();
    const p = (sql: string) => db.prepare(sql);
    // A big value lives in `blobs` (migration 2): fetched only when the row points there, and never by
    // key-only scans, so listing keys next to 25 MiB values reads none of their pages.
    const valueCol = "CASE WHEN blob_id IS NULL THEN value ELSE (SELECT data FROM blobs WHERE id = blob_id) END";
    const cols = `key, ${valueCol} AS value, encoding, versionstamp, expires_at, metadata`;
    const keyCols = "key, X'' AS value, encoding, versionstamp, expires_at, metadata";
    // Scans take key and inline value as one blob (split with subarray, see packedToEntry): node:sqlite
    // makes an ArrayBuffer per blob, and one per row instead of two makes a 1,000-row scan ~25% cheaper.
    // A value in \`blobs\` comes separately (\`big\`), so a big value is never copied into the pair. \`||\`
    // joins blobs byte for byte in a UTF-8 database, which every store file is (SQLite's default; we
    // never set another).
    const packedCols = `CAST(key || coalesce(value, X'') AS BLOB) AS kv, length(key) AS kl, CASE WHEN blob_id IS NULL THEN NULL ELSE (SELECT data FROM blobs WHERE id = blob_id) END AS big, encoding, versionstamp, expires_at, metadata`;
    const live = "(expires_at IS NULL OR expires_at > ?4)";
    const pageFrom = `FROM entries WHERE ns = ?1 AND key >= ?2 AND key < ?3 AND ${live}`;
    const pageRowCols = "length(key), length(value), encoding, versionstamp, expires_at, metadata, blob_id";
    this.#s = {
      seqOf: p("SELECT seq FROM namespaces WHERE id = ?"),
      nsById: p("SELECT id, title, created_at FROM namespaces WHERE id = ?"),
      nsByTitle: p("SELECT id, title, created_at FROM namespaces WHERE title = ?"),
      nsList: p("SELECT id, title, created_at FROM namespaces ORDER BY seq"),
      nsInsert: p("INSERT INTO namespaces (id, title, created_at) VALUES (?, ?, ?)"),
      nsRename: p("UPDATE namespaces SET title = ? WHERE id = ?"),
      nsDelete: p("DELETE FROM namespaces WHERE seq = ?"),
      nsDeleteEntries: p("DELETE FROM entries WHERE ns = ?"),
      nsDeleteQueue: p("DELETE FROM queue WHERE ns = ?"),
      getOne: p(`SELECT ${cols} FROM entries WHERE ns = ? AND key = ?`),
      // Reads already know the key: one blob fewer to copy out per lookup. No expression per row: the
      // blob id comes back instead of a CASE, and expiry is checked in JS (both cost ~15% of a lookup);
      // a row whose value lives in `blobs` is read again with pointGetBlob, in one statement (one snapshot).
      pointGet: arrays(p("SELECT value, encoding, versionstamp, expires_at, metadata, blob_id FROM entries WHERE ns = ? AND key = ?")),
      pointGetBlob: arrays(p(`SELECT ${valueCol} AS value, encoding, versionstamp, expires_at, metadata FROM entries WHERE ns = ? AND key = ?`)),
      scanFwd: arrays(p(`SELECT ${packedCols} FROM entries WHERE ns = ? AND key >= ? AND key < ? AND ${live} ORDER BY key LIMIT ?`)),
      scanFwdKeys: arrays(p(`SELECT ${keyCols} FROM entries WHERE ns = ? AND key >= ? AND key < ? AND ${live} ORDER BY key LIMIT ?`)),
      scanRevKeys: arrays(p(`SELECT ${keyCols} FROM entries WHERE ns = ? AND key >= ? AND key < ? AND ${live} ORDER BY key DESC LIMIT ?`)),
      scanRev: arrays(p(`SELECT ${packedCols} FROM entries WHERE ns = ? AND key >= ? AND key < ? AND ${live} ORDER BY key DESC LIMIT ?`)),
      // Longer scans go further: the keys and inline values of the whole page as one blob, and the rest of
      // each row with no blob in it (see #scanPage).
      pageFwd: p(`SELECT CAST(group_concat(key || coalesce(value, X''), '') AS BLOB) AS page FROM (SELECT key, value ${pageFrom} ORDER BY key LIMIT ?5)`),
      pageRev: p(`SELECT CAST(group_concat(key || coalesce(value, X''), '') AS BLOB) AS page FROM (SELECT key, value ${pageFrom} ORDER BY key DESC LIMIT ?5)`),
      pageRowsFwd: arrays(p(`SELECT ${pageRowCols} ${pageFrom} ORDER BY key LIMIT ?5`)),
      pageRowsRev: arrays(p(`SELECT ${pageRowCols} ${pageFrom} ORDER BY key DESC LIMIT ?5`)),
      blobData: p("SELECT data FROM blobs WHERE id = ?"),
      count: p(`SELECT count(*) AS n FROM entries WHERE ns = ? AND key >= ? AND key < ? AND ${live}`),
      // An upsert, not INSERT OR REPLACE: REPLACE's implicit delete would not fire the trigger that frees
      // the old row's blob.
      put: p(
        `INSERT INTO entries (ns, key, value, blob_id, encoding, versionstamp, expires_at, metadata, size) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value, blob_id = excluded.blob_id, encoding = excluded.encoding,
           versionstamp = excluded.versionstamp, expires_at = excluded.expires_at, metadata = excluded.metadata, size = excluded.size`,
      ),
      putBlob: p("INSERT INTO blobs (data) VALUES (?)"),
      del: p("DELETE FROM entries WHERE ns = ? AND key = ?"),
      // The commit counter is the newest change feed row (every commit writes one: migration 6), or the
      // floor kept in meta when pruning has emptied the feed (or a load set it). Commits write no meta
      // row, which spares each one a page of WAL (bench:sqlite-commit: ~15 µs of a durable set).
      counterGet: p(COUNTER_SQL),
      feed: p("INSERT INTO changes (vs, ns, keys, at) VALUES (?, ?, ?, ?)"),
      feedPage: arrays(p("SELECT vs, ns, keys FROM changes WHERE vs > ? ORDER BY vs LIMIT ?")),
      feedPruned: p("SELECT value FROM meta WHERE name = 'changes_pruned_through'"),
      feedAgeCut: p("SELECT max(vs) AS vs FROM (SELECT vs, at FROM changes ORDER BY vs LIMIT 10000) WHERE at < ?"),
      feedPrune: p("DELETE FROM changes WHERE vs <= ?"),
      feedOldest: p("SELECT min(vs) AS vs FROM changes"),
      feedPrunedSet: p("UPDATE meta SET value = max(value, ?) WHERE name = 'changes_pruned_through'"),
      counterFloor: p("UPDATE meta SET value = max(value, ?) WHERE name = 'versionstamp'"),
      expired: p(
        "SELECT e.ns AS ns, e.key AS key, n.id AS nsid FROM entries e JOIN namespaces n ON n.seq = e.ns WHERE e.expires_at IS NOT NULL AND e.expires_at <= ? LIMIT ?",
      ),
      enqueue: p(
        "INSERT INTO queue (ns, payload, ready_at, keys_if_undelivered, backoff_schedule, sealed) VALUES (?, ?, ?, ?, ?, ?)",
      ),
      claim: p(
        "SELECT id, payload, ready_at, attempts, keys_if_undelivered, backoff_schedule, sealed FROM queue WHERE ns = ? AND ready_at <= ? AND leased_until <= ? ORDER BY ready_at, id LIMIT ?",
      ),
      messages: p(
        "SELECT id, payload, ready_at, attempts, keys_if_undelivered, backoff_schedule, sealed FROM queue WHERE ns = ? AND id > ? ORDER BY id LIMIT ?",
      ),
      resealMessage: p("UPDATE queue SET payload = ?, sealed = ? WHERE id = ? AND payload = ?"),
      resealCheck: p("SELECT 1 AS ok FROM entries WHERE ns = ? AND key = ? AND versionstamp = ?"),
      // Changing blob_id fires the trigger that frees the old blob (migration 2).
      reseal: p(`UPDATE entries SET value = ?, blob_id = ?, encoding = (encoding & ~${SEALED}) | ?, metadata = ?, size = ? WHERE ns = ? AND key = ?`),
      // Analytics (migration 5): counters kept by triggers, per-minute operation rows, hourly storage samples.
      nsStats: p("SELECT keys, bytes FROM ns_stats WHERE ns = ?"),
      allStats: p("SELECT n.id AS id, s.keys AS keys, s.bytes AS bytes FROM ns_stats s JOIN namespaces n ON n.seq = s.ns"),
      opsInsert: p(`INSERT INTO analytics_ops (${OPERATION_COLUMNS}) VALUES (${OPERATION_COLUMNS.split(",").map(() => "?").join(", ")})`),
      opsRead: p(`SELECT ${OPERATION_COLUMNS} FROM analytics_ops WHERE minute >= ? AND minute < ?`),
      opsPrune: p("DELETE FROM analytics_ops WHERE minute < ?"),
      storageSample: p(
        "INSERT INTO analytics_storage (hour, ns, keys, bytes) VALUES (?, ?, ?, ?) ON CONFLICT (hour, ns) DO UPDATE SET keys = max(keys, excluded.keys), bytes = max(bytes, excluded.bytes)",
      ),
      storageRead: p("SELECT hour, ns, keys, bytes FROM analytics_storage WHERE hour >= ? AND hour < ?"),
      storagePrune: p("DELETE FROM analytics_storage WHERE hour < ?"),
      settingGet: p("SELECT value FROM settings WHERE name = ?"),
      settingPut: p("INSERT OR REPLACE INTO settings (name, value) VALUES (?, ?)"),
      settingDelete: p("DELETE FROM settings WHERE name = ?"),
      lease: p("UPDATE queue SET attempts = attempts + 1, leased_until = ? WHERE id = ?"),
      ack: p("DELETE FROM queue WHERE id = ?"),
      retry: p("UPDATE queue SET ready_at = ?, leased_until = 0 WHERE id = ?"),
      nextAt: p("SELECT min(max(ready_at, leased_until)) AS at FROM queue WHERE ns = ?"),
      // Transaction control as prepared statements: no SQL parsing on the write path.
      beginImmediate: p("BEGIN IMMEDIATE"),
      beginDeferred: p("BEGIN DEFERRED"),
      commit: p("COMMIT"),
      rollback: p("ROLLBACK"),
      savepoint: p("SAVEPOINT w"),
      release: p("RELEASE w"),
      rollbackTo: p("ROLLBACK TO w"),
      // Changes whenever another connection (this process's or another's) commits to the file.
      dataVersion: p("PRAGMA data_version"),
    };
    const st = this.#s;
    this.analytics = {
      appendOperations: async (rows) => this.#transaction(() => void rows.forEach((r) => st.opsInsert!.run(...operationValues(r)))),
      readOperations: async (from, to) => st.opsRead!.all(from, to).map(operationRow),
      sampleStorage: async (rows) => this.#transaction(() => void rows.forEach((r) => st.storageSample!.run(r.hour, r.namespaceId, r.keyCount, r.byteCount))),
      readStorage: async (from, to) => st.storageRead!.all(from, to).map(storageRow),
      pruneAnalytics: async (before) =>
        this.#transaction(() => {
          st.opsPrune!.run(before);
          st.storagePrune!.run(before);
        }),
      allNamespaceStats: async () => new Map(st.allStats!.all().map((r) => [r.id as string, { keyCount: r.keys as number, byteCount: r.bytes as number }])),
    };
  }

  async namespaceStats(nsId: string): Promise<NamespaceStats> {
    const ns = this.#seq(nsId);
    const r = ns === null ? undefined : this.#s.nsStats!.get(ns);
    return { keyCount: (r?.keys as number | undefined) ?? 0, byteCount: (r?.bytes as number | undefined) ?? 0 };
  }

  #migrate(): void {
    const db = this.#db;
    db.exec("BEGIN IMMEDIATE");
    try {
      const hasMeta = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").get();
      let version = 0;
      if (hasMeta) {
        const row = db.prepare("SELECT value FROM meta WHERE name = 'schema_version'").get();
        version = row ? (row.value as number) : 1;
      }
      if (version > MIGRATIONS.length) {
        throw new Error(
          `${this.path} was written by a newer OpenKV (schema ${version}, this one knows ${MIGRATIONS.length}); upgrade OpenKV to open it`,
        );
      }
      for (let i = version; i < MIGRATIONS.length; i++) db.exec(MIGRATIONS[i]!);
      db.prepare("INSERT OR REPLACE INTO meta (name, value) VALUES ('schema_version', ?)").run(MIGRATIONS.length);
      db.exec("COMMIT");
    } catch (e) {
      db.exec("ROLLBACK");
      throw e;
    }
  }

  #seq(nsId: string): number | null {
    const cached = this.#seqCache.get(nsId);
    if (cached !== undefined) return cached;
    const row = this.#s.seqOf!.get(nsId);
    if (!row) return null;
    this.#seqCache.set(nsId, row.seq as number);
    return row.seq as number;
  }

  async createNamespace(info: NamespaceInfo): Promise<NamespaceInfo> {
    this.#version++;
    try {
      this.#s.nsInsert!.run(info.id, info.title, info.createdAt);
    } catch (e) {
      if (isUniqueViolation(e)) {
        throw new KvError("namespace_exists", "a namespace with this account ID and title already exists");
      }
      throw e;
    }
    return { ...info };
  }

  async listNamespaces(): Promise<NamespaceInfo[]> {
    return this.#s.nsList!.all().map(toNamespace);
  }

  async getNamespace(nsId: string): Promise<NamespaceInfo | null> {
    const r = this.#s.nsById!.get(nsId);
    return r ? toNamespace(r) : null;
  }

  async getNamespaceByTitle(title: string): Promise<NamespaceInfo | null> {
    const r = this.#s.nsByTitle!.get(title);
    return r ? toNamespace(r) : null;
  }

  async renameNamespace(nsId: string, title: string): Promise<NamespaceInfo> {
    let changes: number | bigint;
    this.#version++;
    try {
      changes = this.#s.nsRename!.run(title, nsId).changes;
    } catch (e) {
      if (isUniqueViolation(e)) {
        throw new KvError("namespace_exists", "a namespace with this account ID and title already exists");
      }
      throw e;
    }
    if (Number(changes) === 0) throw new KvError("namespace_not_found", "namespace not found");
    return toNamespace(this.#s.nsById!.get(nsId)!);
  }

  async deleteNamespace(nsId: string): Promise<boolean> {
    this.#seqCache.delete(nsId);
    const row = this.#s.seqOf!.get(nsId);
    if (!row) return false;
    this.#transaction(() => {
      this.#s.nsDeleteEntries!.run(row.seq as number);
      this.#s.nsDeleteQueue!.run(row.seq as number);
      this.#s.nsDelete!.run(row.seq as number);
      // The deletion is a commit of its own in the change feed (keys NULL), so followers drop the namespace.
      const counter = (this.#s.counterGet!.get()!.value as number) + 1;
      this.#s.feed!.run(counter, nsId, null, Date.now());
    });
    return true;
  }

  #transaction<T>(fn: () => T, mode: "IMMEDIATE" | "DEFERRED" = "IMMEDIATE"): T {
    (mode === "IMMEDIATE" ? this.#s.beginImmediate! : this.#s.beginDeferred!).run();
    try {
      const r = fn();
      this.#s.commit!.run();
      return r;
    } catch (e) {
      if (this.#db.isTransaction) this.#s.rollback!.run();
      throw e;
    } finally {
      // data_version does not move for this connection's own commits: count them here. A rolled-back
      // write counts too (a spurious change is allowed, a missed one is not).
      if (mode === "IMMEDIATE") this.#version++;
    }
  }

  storeVersion(): number {
    const dv = this.#s.dataVersion!.get()!.data_version as number;
    if (dv !== this.#dataVersion) {
      this.#dataVersion = dv;
      this.#version++;
    }
    return this.#version;
  }

  #scan(ns: number, r: ReadRange, now: number): Entry[] {
    // [k, k‖00) holds at most the key k itself: a point lookup is several times cheaper than a range.
    if (isPointRange(r) && !r.keysOnly) {
      let row = this.#s.pointGet!.get(ns, r.start) as unknown as unknown[] | undefined;
      if (row !== undefined && row[5] !== null) row = this.#s.pointGetBlob!.get(ns, r.start) as unknown as unknown[] | undefined;
      if (row === undefined || (row[3] !== null && (row[3] as number) <= now)) return [];
      return [storedEntry(r.start, row[0] as Uint8Array, row[1] as number, row[2] as Uint8Array | number, row[3] as number | null, row[4] as string | null)];
    }
    if (r.keysOnly) {
      const stmt = r.reverse ? this.#s.scanRevKeys! : this.#s.scanFwdKeys!;
      return (stmt.all(ns, r.start, r.end, now, r.limit) as unknown as unknown[][]).map(arrayToEntry);
    }
    if (r.limit >= PAGE_SCAN_ROWS) {
      const page = this.#db.isTransaction ? this.#scanPage(ns, r, now) : this.#transaction(() => this.#scanPage(ns, r, now), "DEFERRED");
      if (page) {
        this.pageScans++;
        return page;
      }
    }
    const stmt = r.reverse ? this.#s.scanRev! : this.#s.scanFwd!;
    return (stmt.all(ns, r.start, r.end, now, r.limit) as unknown as unknown[][]).map(packedToEntry);
  }

  /**
   * A scan as two statements in one snapshot: the page's keys and inline values joined into one blob
   * (`group_concat`), and each row's lengths, encoding, versionstamp, expiry, metadata and blob id, which
   * hold no blob. node:sqlite makes an ArrayBuffer for every blob it returns (~0.4 µs each), so a
   * 1,000-row page costs ~0.45 ms this way against ~0.8 ms as one blob per row (`npm run bench`'s list
   * floor; SQLite walking the rows alone, `count(*)`, takes 0.075 ms). The rows come in key order
   * (ORDER BY); SQLite feeds an aggregate the rows of a LIMITed subquery in the subquery's order, but
   * does not promise it, so the page is checked as it is split — every key inside the range and strictly
   * ordered, the lengths adding up to the blob — and anything else answers null: the caller then scans
   * the plain way.
   */
  #scanPage(ns: number, r: ReadRange, now: number): Entry[] | null {
    const s = this.#s;
    const page = (r.reverse ? s.pageRev! : s.pageFwd!).get(ns, r.start, r.end, now, r.limit)!.page as Uint8Array | null;
    const rows = (r.reverse ? s.pageRowsRev! : s.pageRowsFwd!).all(ns, r.start, r.end, now, r.limit) as unknown as unknown[][];
    if (page === null) return rows.length === 0 ? [] : null;
    const out: Entry[] = new Array(rows.length);
    let offset = 0;
    let previous: Uint8Array | null = null;
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i]!;
      const keyEnd = offset + (row[0] as number);
      const key = page.subarray(offset, keyEnd);
      if (previous === null ? compareBytes(key, r.start) < 0 || compareBytes(key, r.end) >= 0 : (r.reverse ? compareBytes(previous, key) <= 0 : compareBytes(previous, key) >= 0)) return null;
      previous = key;
      const blobId = row[6] as number | null;
      let data: Uint8Array;
      if (blobId === null) {
        offset = keyEnd + (row[1] as number);
        data = page.subarray(keyEnd, offset);
      } else {
        offset = keyEnd;
        data = s.blobData!.get(blobId)!.data as Uint8Array;
      }
      out[i] = storedEntry(key, data, row[2] as number, row[3] as Uint8Array | number, row[4] as number | null, row[5] as string | null);
    }
    if (offset !== page.byteLength) return null;
    if (previous !== null && (compareBytes(previous, r.start) < 0 || compareBytes(previous, r.end) >= 0)) return null;
    return out;
  }

  async read(nsId: string, ranges: readonly ReadRange[], now: number): Promise<Entry[][]> {
    const ns = this.#seq(nsId);
    if (ns === null) return ranges.map(() => []);
    if (ranges.length === 1) return [this.#scan(ns, ranges[0]!, now)];
    // Several ranges share one read transaction: one snapshot.
    return this.#transaction(() => ranges.map((r) => this.#scan(ns, r, now)), "DEFERRED");
  }

  async count(nsId: string, start: Uint8Array, end: Uint8Array, now: number): Promise<number> {
    const ns = this.#seq(nsId);
    if (ns === null) return 0;
    return this.#s.count!.get(ns, start, end, now)!.n as number;
  }

  async commit(batch: readonly BatchItem[], now: number): Promise<(AppliedWrite | KvError)[]> {
    try {
      return this.#commit(batch, now);
    } catch (e) {
      // A batch of one runs without a savepoint: its invalid mutation rolled back the transaction.
      if (batch.length === 1 && e instanceof KvError) return [e];
      throw e;
    }
  }

  /**
   * Inside a commit's transaction (the write lock held): the cached counter, seqs and settings if
   * nothing has changed them since the last commit, else a fresh cache with the counter read now. One
   * `PRAGMA data_version` instead of three lookups per commit (bench:sqlite-commit, step 4).
   */
  #commitState(): CommitCache {
    const s = this.#s;
    const dataVersion = s.dataVersion!.get()!.data_version as number;
    const cached = this.#commitCache;
    // Invalid until this transaction commits: a rollback must not leave a counter that was never written.
    this.#commitCache = null;
    if (cached !== null && cached.dataVersion === dataVersion && cached.version === this.#version) return cached;
    return { dataVersion, version: -1, counter: s.counterGet!.get()!.value as number, seqs: new Map(), settings: new Map() };
  }

  #commit(batch: readonly BatchItem[], now: number): (AppliedWrite | KvError)[] {
    const s = this.#s;
    let state!: CommitCache;
    let counter = 0;
    const results = this.#transaction(() => {
      state = this.#commitState();
      counter = state.counter;
      const { seqs, settings } = state;
      // Settings change only through a write transaction, which invalidates the cache.
      const setting = (name: string) => {
        let value = settings.get(name);
        if (value === undefined) settings.set(name, (value = (s.settingGet!.get(name)?.value as string | undefined) ?? null));
        return value;
      };
      const view = new CommitView(s, setting);
      return batch.map((item): AppliedWrite | KvError => {
        let seq = seqs.get(item.namespaceId);
        if (seq === undefined) seqs.set(item.namespaceId, (seq = (s.seqOf!.get(item.namespaceId)?.seq as number | undefined) ?? null));
        if (seq === null) return new KvError("namespace_not_found", "namespace not found");
        view.ns = seq;
        // A savepoint per write: a mutation that throws halfway leaves nothing behind. A batch of one
        // needs none (the whole transaction rolls back instead), which keeps the 1-in-flight path lean.
        const guarded = batch.length > 1;
        if (guarded) s.savepoint!.run();
        try {
          const applied = executeAtomic(view, item, versionstampFromNumber(counter + 1), now);
          if (applied.result.ok) {
            counter++;
            if (item.consumeMessage !== undefined) s.ack!.run(item.consumeMessage);
            s.feed!.run(counter, item.namespaceId, packKeys(applied.changed), now);
          }
          if (guarded) s.release!.run();
          return applied;
        } catch (e) {
          if (!guarded) throw e;
          s.rollbackTo!.run();
          s.release!.run();
          if (e instanceof KvError) return e;
          throw e;
        }
      });
    });
    // Committed: what it read and the counter it reached hold until data_version or #version moves.
    state.counter = counter;
    state.version = this.#version;
    this.#commitCache = state;
    return results;
  }

  async purgeExpired(now: number, limit: number): Promise<ExpiredKey[]> {
    const s = this.#s;
    if (s.expired!.all(now, 1).length === 0) return [];
    return this.#transaction(() => {
      // Read again inside the write lock: another process may have purged meanwhile.
      const rows = s.expired!.all(now, limit);
      const byNs = new Map<string, Uint8Array[]>();
      const gone = rows.map((r) => {
        s.del!.run(r.ns as number, r.key as Uint8Array);
        const key = r.key as Uint8Array;
        const list = byNs.get(r.nsid as string);
        if (list) list.push(key);
        else byNs.set(r.nsid as string, [key]);
        return { namespaceId: r.nsid as string, key };
      });
      if (byNs.size > 0) {
        let counter = s.counterGet!.get()!.value as number;
        for (const [ns, keys] of byNs) s.feed!.run(++counter, ns, packKeys(keys), now);
      }
      return gone;
    });
  }

  async changes(after: Uint8Array, limit: number): Promise<ChangePage> {
    const s = this.#s;
    const cursor = Number(counterFromVersionstamp(after));
    // One read transaction: the page and the counter it is current to agree.
    return this.#transaction(() => {
      const latest = s.counterGet!.get()!.value as number;
      const pruned = s.feedPruned!.get()!.value as number;
      const rows = s.feedPage!.all(cursor, limit) as unknown as [number, string, Uint8Array | null][];
      return {
        changes: rows.map(([vs, ns, keys]) => ({ versionstamp: versionstampFromCounter(BigInt(vs)), namespaceId: ns, keys: keys === null ? null : unpackKeys(keys) })),
        latest: versionstampFromCounter(BigInt(latest)),
        gap: cursor < pruned,
      };
    }, "DEFERRED");
  }

  async pruneChanges(olderThan: number, keepWrites: number): Promise<number> {
    const s = this.#s;
    const cut = () => Math.max((s.feedAgeCut!.get(olderThan)!.vs as number | null) ?? 0, (s.counterGet!.get()!.value as number) - keepWrites);
    // Engines call this every few seconds: take the write lock only when there is something to drop.
    const oldest = s.feedOldest!.get()!.vs as number | null;
    if (oldest === null || oldest > cut()) return 0;
    return this.#transaction(() => {
      const through = cut();
      if (through <= 0) return 0;
      // The counter must survive the rows that carry it.
      s.counterFloor!.run(s.counterGet!.get()!.value as number);
      const n = Number(s.feedPrune!.run(through).changes);
      if (n > 0) s.feedPrunedSet!.run(through);
      return n;
    });
  }

  async claimMessages(nsId: string, now: number, limit: number, leaseMs: number): Promise<QueueMessage[]> {
    const ns = this.#seq(nsId);
    if (ns === null) return [];
    return this.#transaction(() =>
      this.#s.claim!.all(ns, now, now, limit).map((r) => {
        this.#s.lease!.run(now + leaseMs, r.id as number);
        return toMessage({ ...r, attempts: (r.attempts as number) + 1 }, nsId);
      }),
    );
  }

  async ackMessage(id: number): Promise<void> {
    this.#version++;
    this.#s.ack!.run(id);
  }

  async retryMessage(id: number, readyAt: number): Promise<void> {
    this.#version++;
    this.#s.retry!.run(readyAt, id);
  }

  async nextMessageAt(nsId: string): Promise<number | null> {
    const ns = this.#seq(nsId);
    if (ns === null) return null;
    return (this.#s.nextAt!.get(ns)!.at as number | null) ?? null;
  }

  async getSetting(name: string): Promise<string | null> {
    return (this.#s.settingGet!.get(name)?.value as string | undefined) ?? null;
  }

  async putSetting(name: string, value: string | null, expected: string | null): Promise<boolean> {
    return this.#transaction(() => {
      const current = (this.#s.settingGet!.get(name)?.value as string | undefined) ?? null;
      if (current !== expected) return false;
      if (value === null) this.#s.settingDelete!.run(name);
      else this.#s.settingPut!.run(name, value);
      return true;
    });
  }

  async reseal(nsId: string, items: readonly Reseal[]): Promise<boolean[]> {
    const ns = this.#seq(nsId);
    if (ns === null) return items.map(() => false);
    const s = this.#s;
    return this.#transaction(() =>
      items.map((r) => {
        if (!s.resealCheck!.get(ns, r.key, versionstampColumn(r.versionstamp))) return false;
        // Sealing adds a few bytes, so a value may cross the inline limit either way.
        const big = r.data.byteLength > INLINE_VALUE_BYTES;
        const blobId = big ? s.putBlob!.run(r.data).lastInsertRowid : null;
        s.reseal!.run(big ? null : r.data, blobId, r.sealed ? SEALED : 0, r.metadata, entryBytes(r), ns, r.key);
        return true;
      }),
    );
  }

  async listMessages(nsId: string, afterId: number, limit: number): Promise<QueueMessage[]> {
    const ns = this.#seq(nsId);
    if (ns === null) return [];
    return this.#s.messages!.all(ns, afterId, limit).map((r) => toMessage(r, nsId));
  }

  async resealMessages(items: readonly MessageReseal[]): Promise<boolean[]> {
    return this.#transaction(() =>
      items.map((r) => Number(this.#s.resealMessage!.run(r.payload, r.sealed ? 1 : 0, r.id, r.from).changes) === 1),
    );
  }

  async *dump(): AsyncIterable<DumpRecord> {
    // A connection of its own, holding one read transaction for the whole dump: one snapshot (WAL), and
    // this backend's own connection stays free for writers meanwhile.
    const db = new DatabaseSync(this.path, { readOnly: true });
    try {
      db.exec("BEGIN");
      const valueCol = "CASE WHEN blob_id IS NULL THEN value ELSE (SELECT data FROM blobs WHERE id = blob_id) END";
      const page = db.prepare(
        `SELECT key, ${valueCol} AS value, encoding, versionstamp, expires_at, metadata FROM entries WHERE ns = ? AND key > ? ORDER BY key LIMIT 1000`,
      );
      page.setReturnArrays(true);
      const counter = db.prepare(COUNTER_SQL).get()!.value as number;
      const entries = db.prepare("SELECT count(*) AS n FROM entries").get()!.n as number;
      yield { kind: "versionstamp", versionstamp: versionstampFromCounter(BigInt(counter)), entries };
      for (const r of db.prepare("SELECT name, value FROM settings ORDER BY name").all()) {
        yield { kind: "setting", name: r.name as string, value: r.value as string };
      }
      const namespaces = db.prepare("SELECT seq, id, title, created_at FROM namespaces ORDER BY seq").all();
      for (const n of namespaces) {
        const namespace = toNamespace(n);
        yield { kind: "namespace", namespace };
        let after: Uint8Array = new Uint8Array(0);
        for (;;) {
          const rows = (page.all(n.seq as number, after) as unknown as unknown[][]).map(arrayToEntry);
          if (rows.length === 0) break;
          yield { kind: "entries", namespaceId: namespace.id, entries: rows };
          after = rows[rows.length - 1]!.key;
        }
        const messages = db
          .prepare("SELECT id, payload, ready_at, attempts, keys_if_undelivered, backoff_schedule, sealed FROM queue WHERE ns = ? ORDER BY id")
          .all(n.seq as number)
          .map((r) => toMessage(r, namespace.id));
        if (messages.length) yield { kind: "messages", namespaceId: namespace.id, messages };
      }
      db.exec("COMMIT");
    } finally {
      db.close();
    }
  }

  async load(records: AsyncIterable<DumpRecord>): Promise<void> {
    const s = this.#s;
    if (s.nsList!.all().length > 0) throw new KvError("invalid_argument", "The store to load into already holds namespaces: load into an empty store.");
    const insertMessage = this.#db.prepare(
      "INSERT INTO queue (ns, payload, ready_at, attempts, keys_if_undelivered, backoff_schedule, sealed) VALUES (?, ?, ?, ?, ?, ?, ?)",
    );
    for await (const r of records) {
      this.#transaction(() => {
        switch (r.kind) {
          case "versionstamp": {
            const c = Number(counterFromVersionstamp(r.versionstamp));
            s.counterFloor!.run(c);
            // Nothing before the copy is in this store's feed: a follower from an older cursor has a gap.
            s.feedPrunedSet!.run(c);
            break;
          }
          case "setting":
            s.settingPut!.run(r.name, r.value);
            break;
          case "namespace":
            s.nsInsert!.run(r.namespace.id, r.namespace.title, r.namespace.createdAt);
            break;
          case "entries": {
            const ns = this.#seq(r.namespaceId)!;
            for (const e of r.entries) putEntry(this.#s, ns, e);
            break;
          }
          case "messages": {
            const ns = this.#seq(r.namespaceId)!;
            for (const m of r.messages) {
              insertMessage.run(ns, m.payload, m.readyAt, m.attempts, ...deliveryColumns(m));
            }
            break;
          }
        }
      });
    }
  }

  async scrub(options: { checkpoint: boolean }): Promise<void> {
    this.#db.exec("PRAGMA secure_delete = ON");
    if (options.checkpoint) this.#db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  }

  /** What SQLite actually runs with: for diagnostics and the durability tests. */
  settings(): { journalMode: string; synchronous: "off" | "normal" | "full" | "extra" } {
    const journal = this.#db.prepare("PRAGMA journal_mode").get()!.journal_mode as string;
    const sync = this.#db.prepare("PRAGMA synchronous").get()!.synchronous as number;
    return { journalMode: journal, synchronous: (["off", "normal", "full", "extra"] as const)[sync]! };
  }

  async close(): Promise<void> {
    if (this.#db.isOpen) this.#db.close();
  }
}
