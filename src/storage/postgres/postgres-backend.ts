/**
 * PostgreSQL as the store: many OpenKV nodes share one database (and its synchronous standbys).
 *
 * The write path. A node's group commit is one transaction. When no write of the batch needs to read
 * anything back (sets, deletes and KvU64 sums on an unencrypted store, no queue work, checks only on a lone write) it is
 * one autocommitted statement, one round trip (`oneTripStatement`, `oneWriteStatement`: the counter, the
 * writes, the feed rows and the doorbell as CTEs). Otherwise it is two pipelined round trips:
 *   1. BEGIN · lock the commit counter (`SELECT … FOR UPDATE`, the first statement) · the batch's
 *      namespaces · the store settings · every entry a check or a sum/min/max needs;
 *   2. the batch's writes folded per key (one upsert, one delete, via unnest) · queue inserts and acks ·
 *      one change-feed row per write · the counter's new value · a NOTIFY doorbell · COMMIT.
 * Between them `executeAtomic` (core) runs each write of the batch on the prefetched rows, exactly as it
 * does on SQLite (the one-statement path runs it on an empty state and lets the statement number the
 * versionstamps and add the sums). Holding the counter's row lock from the first statement to the end of COMMIT
 * (including the wait for a synchronous standby) serializes writers across nodes, so versionstamps —
 * counter values — follow commit order everywhere, and every check sees every earlier commit at READ
 * COMMITTED without SERIALIZABLE retries.
 *
 * A connection lost before COMMIT was sent leaves nothing behind (the server rolls back). One lost while
 * COMMIT was in flight may or may not have committed — with a synchronous standby the commit can even be
 * visible and unacknowledged — so that batch fails with `outcome_unknown`, never with success, and is
 * never retried here.
 */
import type { Pool, PoolClient, QueryConfig, QueryResult } from "pg";
import { executeAtomic, TX_SETTINGS, type AppliedWrite, type TxView } from "../../core/atomic.ts";
import type { Backend, BatchItem, ChangePage, DumpRecord, ExpiredKey, MessageReseal, Reseal } from "../../core/backend.ts";
import { packKeys, unpackKeys } from "../../core/changes.ts";
import { KvError } from "../../core/errors.ts";
import { bytesToHex, hexToBytes, isPointRange, keyId } from "../../core/keys.ts";
import type { Entry, Enqueue, NamespaceInfo, QueueMessage, ReadRange } from "../../core/types.ts";
import { counterFromVersionstamp, plainCounter, versionstampFromCounter, versionstampFromNumber } from "../../core/versionstamp.ts";
import { isConnectionLoss, isPoolEnded, PgConnector, type PrimaryPools } from "./connection.ts";
import { MIGRATIONS } from "./migrations.ts";
import { arrayToEntry, encodingCode, rowToEntry, SEALED } from "../entry-codes.ts";
import type { AnalyticsStore, NamespaceStats } from "../../core/analytics/types.ts";
import { OPERATION_COLUMNS, operationRow, operationValues, storageRow } from "../analytics-rows.ts";

/** PostgreSQL array types of OPERATION_COLUMNS, in order: one unnest appends a whole flush. */
const OPERATION_TYPES = ["int8", "text", "text", "text", "int4", "int8", "int8", "int8", "float8", "float8", "int8", "int8", "text"];

/**
 * pg_advisory_xact_lock keys (class, then the schema's hash: stores in different schemas of one database
 * do not wait for each other): schema migration, and the one node that purges at a time.
 */
const MIGRATION_LOCK = 0x6f6b7601;
const PURGE_LOCK = 0x6f6b7602;
/** After a one-statement commit finds its snapshot stale, this many batches take two trips directly. */
const TWO_TRIPS_AFTER_STALE = 8;
/** Values above this are written one statement each, as binary parameters (see `commit`). */
const BIG_VALUE_BYTES = 64 * 1024;
/** The NOTIFY channel that rings after every commit; the payload is the new counter. */
export const CHANGE_CHANNEL = "openkv_changes";

type Row = Record<string, unknown>;

const asBytes = (b: unknown): Uint8Array => b as Uint8Array;

function rowToMessage(r: Row, namespaceId: string): QueueMessage {
  return {
    id: r.id as number,
    namespaceId,
    payload: asBytes(r.payload),
    readyAt: r.ready_at as number,
    attempts: r.attempts as number,
    keysIfUndelivered: (JSON.parse(r.keys_if_undelivered as string) as string[]).map(hexToBytes),
    backoffSchedule: r.backoff_schedule === null ? null : (JSON.parse(r.backoff_schedule as string) as number[]),
    sealed: r.sealed === true,
  };
}

function isUniqueViolation(e: unknown): boolean {
  return (e as { code?: unknown })?.code === "23505";
}

const nsSeq = "(SELECT seq FROM namespaces WHERE id = $1)";
const entryCols = "value, encoding, versionstamp, expires_at, metadata";
const live = (now: string) => `(expires_at IS NULL OR expires_at > ${now})`;

/** A KvU64 (8 bytes, little-endian) as the int8 with the same 64 bits. */
const le64 = (v: string) => `(${[0, 1, 2, 3, 4, 5, 6, 7].map((i) => `(get_byte(${v}, ${i})::int8 << ${8 * i})`).join(" | ")})`;
/** The int8 `r` as the 8 little-endian bytes of a KvU64: its bytes swapped, then big-endian `int8send`. */
const int8ToLe64 = (r: string) => `int8send(${[0, 1, 2, 3, 4, 5, 6, 7].map((i) => `(((${r} >> ${8 * i}) & 255) << ${56 - 8 * i})`).join(" | ")})`;

/** A row's size as the key and byte counters count it (core's `entryBytes`): key, value and metadata bytes. */
const rowSize = (t: string) => `octet_length(${t}.key) + octet_length(${t}.value) + coalesce(octet_length(${t}.metadata), 0)`;

/**
 * Adds `rows` (namespace seq, keys, bytes) to the counters in `ns_stats`, one update per namespace. In
 * a statement whose other parts insert and delete entries, `rows` is what they return: the counters
 * change in the writes' own transaction.
 */
const addStats = (rows: string) => `INSERT INTO ns_stats (ns, keys, bytes)
       SELECT ns, sum(k)::int8, sum(b)::int8 FROM (${rows}) d(ns, k, b) GROUP BY ns
       ON CONFLICT (ns) DO UPDATE SET keys = ns_stats.keys + excluded.keys, bytes = ns_stats.bytes + excluded.bytes`;

/**
 * The stored entry `e` a KvU64 sum adds to (`where` picks it; `operand`: the operand as an int8), read in
 * the statement's snapshot, with the sum ready-made: `size` (for the counters); `not_u64`, a live value
 * that is not a KvU64 (the sum must fail); `summed`, stored + operand wrapping at 2^64 like Deno's sum,
 * as a KvU64 — NULL when there is no live KvU64 to add to (the key then takes the operand). The addition
 * is in two 32-bit halves with a carry, in int8 arithmetic (numeric would cost the server ~70 µs a sum,
 * measured), each step once (OFFSET 0 keeps the planner from copying a step into every use of it).
 */
const sumSource = (where: string, operand: string) => `SELECT o.size, o.live AND o.x IS NULL AS not_u64, CASE WHEN o.live THEN ${int8ToLe64("z.r")} END AS summed
       FROM (SELECT ${rowSize("e")} AS size, (e.expires_at IS NULL OR e.expires_at > $4) AS live,
               CASE WHEN e.encoding = 2 AND octet_length(e.value) = 8 THEN ${le64("e.value")} END AS x
             FROM entries e WHERE ${where}) o,
         LATERAL (SELECT (o.x & 4294967295) + (${operand} & 4294967295) AS lo OFFSET 0) l,
         LATERAL (SELECT (((o.x >> 32) + (${operand} >> 32) + (l.lo >> 32)) << 32) | (l.lo & 4294967295) AS r OFFSET 0) z`;

const PUT_ON_CONFLICT = `ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value, encoding = excluded.encoding,
         versionstamp = excluded.versionstamp, expires_at = excluded.expires_at, metadata = excluded.metadata`;
/** The upsert of entries given as seven arrays ($1–$7: ns, key, value, encoding, versionstamp, expires_at, metadata). */
const UPSERT_ARRAYS = `INSERT INTO entries (ns, key, value, encoding, versionstamp, expires_at, metadata)
       SELECT * FROM unnest($1::int8[], $2::bytea[], $3::bytea[], $4::int2[], $5::bytea[], $6::int8[], $7::text[])
       ${PUT_ON_CONFLICT}`;
/**
 * The namespace seq and stored size of each entry named by the arrays `ns` and `keys` that exists, read in
 * the statement's snapshot. `seq` turns an element of `ns` (`k.ns`) into the namespace's seq: the
 * element itself when `ns` holds seqs.
 */
const oldSizes = (ns: string, keys: string, seq = "k.ns") => `SELECT o.ns, o.size FROM unnest(${ns}, ${keys}) AS k(ns, key),
       -- LATERAL: one primary-key lookup per key, whatever the (generic) plan thinks of the table.
       LATERAL (SELECT e.ns, ${rowSize("e")} AS size FROM entries e WHERE e.ns = ${seq} AND e.key = k.key) o`;

const SQL = {
  pointGet: `SELECT ${entryCols} FROM entries WHERE ns = ${nsSeq} AND key = $2 AND ${live("$3")}`,
  scanFwd: `SELECT key, ${entryCols} FROM entries WHERE ns = ${nsSeq} AND key >= $2 AND key < $3 AND ${live("$4")} ORDER BY key LIMIT $5`,
  scanRev: `SELECT key, ${entryCols} FROM entries WHERE ns = ${nsSeq} AND key >= $2 AND key < $3 AND ${live("$4")} ORDER BY key DESC LIMIT $5`,
  // Key-only scans never read a value: TOASTed values are not even detoasted.
  scanFwdKeys: `SELECT key, ''::bytea AS value, encoding, versionstamp, expires_at, metadata FROM entries WHERE ns = ${nsSeq} AND key >= $2 AND key < $3 AND ${live("$4")} ORDER BY key LIMIT $5`,
  scanRevKeys: `SELECT key, ''::bytea AS value, encoding, versionstamp, expires_at, metadata FROM entries WHERE ns = ${nsSeq} AND key >= $2 AND key < $3 AND ${live("$4")} ORDER BY key DESC LIMIT $5`,
  count: `SELECT count(*)::int8 AS n FROM entries WHERE ns = ${nsSeq} AND key >= $2 AND key < $3 AND ${live("$4")}`,
  lockCounter: "SELECT value FROM openkv_meta WHERE name = 'versionstamp' FOR UPDATE",
  /** A namespace and its counters' row. */
  createNamespace: `WITH n AS (INSERT INTO namespaces (id, title, created_at) VALUES ($1, $2, $3) RETURNING seq)
     INSERT INTO ns_stats (ns, keys, bytes) SELECT seq, 0, 0 FROM n RETURNING ns AS seq`,
  /** BEGIN and the counter lock as one simple-protocol message: the lock is the transaction's first statement. */
  beginAndLock: "BEGIN; SELECT value FROM openkv_meta WHERE name = 'versionstamp' FOR UPDATE",
  touchCounter: "UPDATE openkv_meta SET value = value WHERE name = 'versionstamp'",
  setCounter: "UPDATE openkv_meta SET value = $1 WHERE name = 'versionstamp'",
  /**
   * Everything a batch reads, in one statement after the lock (so in a snapshot that sees every earlier
   * commit): its namespaces ('n'), the settings a transaction reads ('s', TX_SETTINGS), and each entry a check or sum/min/max needs ('e').
   */
  batchRead: `SELECT 'n' AS kind, id AS nsid, seq, NULL::text AS metadata, NULL::bytea AS key, NULL::bytea AS value, NULL::int2 AS encoding, NULL::bytea AS versionstamp, NULL::int8 AS expires_at
       FROM namespaces WHERE id = ANY($1::text[])
     UNION ALL SELECT 's', name, NULL, value, NULL, NULL, NULL, NULL, NULL FROM settings WHERE name = ANY($4::text[])
     UNION ALL SELECT 'e', r.id, NULL, e.metadata, e.key, e.value, e.encoding, e.versionstamp, e.expires_at
       FROM unnest($2::text[], $3::bytea[]) AS r(id, key),
       -- LATERAL: one primary-key lookup per wanted key, whatever the (generic) plan thinks of the table.
       LATERAL (SELECT * FROM entries WHERE ns = (SELECT seq FROM namespaces WHERE id = r.id) AND key = r.key) e`,
  /**
   * Everything a batch writes, in one statement (data-modifying CTEs all run, once each, on one snapshot
   * taken after the counter's lock): the folded upserts and deletes and the counters they change, queue
   * inserts and acks, one feed row per write, the counter, and the doorbell.
   */
  batchWrite: `WITH old AS (${oldSizes("$1::int8[]", "$2::bytea[]")}),
     up AS (${UPSERT_ARRAYS} RETURNING ns, ${rowSize("entries")} AS size),
     del AS (DELETE FROM entries e USING unnest($8::int8[], $9::bytea[]) AS d(ns, key) WHERE e.ns = d.ns AND e.key = d.key RETURNING e.ns, ${rowSize("e")} AS size),
     st AS (${addStats("SELECT ns, 1, size FROM up UNION ALL SELECT ns, -1, -size FROM old UNION ALL SELECT ns, -1, -size FROM del")}),
     enq AS (INSERT INTO queue (ns, payload, ready_at, keys_if_undelivered, backoff_schedule, sealed)
       SELECT * FROM unnest($10::int8[], $11::bytea[], $12::int8[], $13::text[], $14::text[], $15::bool[]) RETURNING 1),
     ack AS (DELETE FROM queue WHERE id = ANY($16::int8[]) RETURNING 1),
     feed AS (INSERT INTO changes (vs, ns, keys, at) SELECT v, n, k, $20 FROM unnest($17::int8[], $18::text[], $19::bytea[]) AS c(v, n, k) RETURNING 1),
     ctr AS (UPDATE openkv_meta SET value = $21 WHERE name = 'versionstamp' RETURNING 1)
   SELECT pg_notify('${CHANGE_CHANNEL}', $21::text)`,
  /** One entry (a big value, a binary parameter of its own) and the counters it changes. */
  putOne: `WITH old AS (SELECT ${rowSize("e")} AS size FROM entries e WHERE e.ns = $1 AND e.key = $2),
     up AS (INSERT INTO entries (ns, key, value, encoding, versionstamp, expires_at, metadata) VALUES ($1, $2, $3, $4, $5, $6, $7)
       ${PUT_ON_CONFLICT} RETURNING ns, ${rowSize("entries")} AS size)
   ${addStats("SELECT ns, 1, size FROM up UNION ALL SELECT $1::int8, -1, -size FROM old")}`,
  /** Entries as arrays (a restore's load) and the counters they change. */
  upsert: `WITH old AS (${oldSizes("$1::int8[]", "$2::bytea[]")}),
     up AS (${UPSERT_ARRAYS} RETURNING ns, ${rowSize("entries")} AS size)
   ${addStats("SELECT ns, 1, size FROM up UNION ALL SELECT ns, -1, -size FROM old")}`,
  notify: `SELECT pg_notify('${CHANGE_CHANNEL}', $1)`,
} as const;

const oneTripStatements = new Map<string, { name: string; text: string }>();

/** The named statement `name`, its text built once (the first time it is asked for). */
function oneTripNamed(name: string, build: () => string): { name: string; text: string } {
  let statement = oneTripStatements.get(name);
  if (!statement) oneTripStatements.set(name, (statement = { name, text: build() }));
  return statement;
}

/** The versionstamp of the write numbered `n` after the counter's value before the statement (`ctr.base`). */
const versionstampAt = (n: string) => `int8send(ctr.base + ${n}) || '\\x0000'::bytea`;

/**
 * What the one-statement commit needs of the counter's row `m` to write (`seen`: the row's `xmin` in the
 * statement's snapshot): still that version, no keyring in the store, every namespace there, no summed
 * key holding a live value that is not a KvU64.
 */
const writable = (seen: string, namespacesExist: string, sumCheck: string) => `m.name = 'versionstamp' AND m.xmin = ${seen}
          AND NOT EXISTS (SELECT 1 FROM settings WHERE name = ANY($3::text[]))
          AND ${namespacesExist}
          ${sumCheck}`;

/** The one-statement commit's first part: the counter, bumped by `count` only if the snapshot is fresh (above). */
const counterPart = (count: string, namespacesExist: string, sumCheck: string, checks: Checks | null = null) =>
  checks === null
    ? `ctr AS (
       UPDATE openkv_meta m SET value = m.value + ${count}
         FROM (SELECT xmin AS seen FROM openkv_meta WHERE name = 'versionstamp') s
        WHERE ${writable("s.seen", namespacesExist, sumCheck)}
       RETURNING m.value - ${count} AS base)`
    : // With checks, a fresh snapshot whose checks fail must be told from a stale one: `lk` locks the
      // counter's row if the snapshot is fresh (the same test, re-checked on the newest version after a
      // wait), `chk` reads the checked entries, and `ctr` bumps the counter only if none failed.
      // (Each checked key's entry as a scalar subquery: a primary-key lookup per key, never a join the
      // generic plan could turn into a scan of the namespace.)
      `chk AS (SELECT array_agg((c.i - 1)::int4 ORDER BY c.i) FILTER (WHERE (SELECT e.versionstamp FROM entries e
             WHERE e.ns = ${checks.ns} AND e.key = c.key AND (e.expires_at IS NULL OR e.expires_at > $4)) IS DISTINCT FROM c.vs) AS failed
         FROM unnest(${checks.keys}, ${checks.versionstamps}) WITH ORDINALITY AS c(key, vs, i)),
     lk AS (SELECT 1 FROM openkv_meta m
        WHERE ${writable("(SELECT xmin FROM openkv_meta WHERE name = 'versionstamp')", namespacesExist, sumCheck)}
        FOR UPDATE),
     ctr AS (UPDATE openkv_meta m SET value = m.value + ${count} FROM lk, chk
        WHERE m.name = 'versionstamp' AND chk.failed IS NULL
       RETURNING m.value - ${count} AS base)`;

/** A lone write's checks in the one-statement commit: its namespace's seq and the array parameters of the checked keys and versionstamps (NULL: absent). */
interface Checks {
  ns: string;
  keys: string;
  versionstamps: string;
}

/**
 * The one-statement commit's result row: the counter's value before it (`base`) and, with checks, the
 * indices of those that failed (then nothing was written and `base` is NULL); with no row, the
 * snapshot was stale. `count`: the versionstamps the statement numbers.
 */
const resultPart = (count: string, checks: Checks | null) =>
  checks === null
    ? `SELECT base, pg_notify('${CHANGE_CHANNEL}', (base + ${count})::text) FROM ctr`
    : `SELECT c.base, chk.failed, CASE WHEN c.base IS NOT NULL THEN pg_notify('${CHANGE_CHANNEL}', (c.base + ${count})::text) END AS rang
       FROM lk CROSS JOIN chk LEFT JOIN ctr c ON true`;
/**
 * The one-statement commit of a batch of exactly one write of one key (a lone `set`, `delete` or `sum`,
 * the common case one at a time): the same statement with scalar parameters — no arrays to build and
 * unnest, no joins (measured: ~50–100 µs less server CPU per write than the batch form). Its change to
 * the key and byte counters goes on its feed row (`dkeys`, `dbytes`) instead of into `ns_stats`: one row
 * fewer to write (see the stats section of PostgresBackend). `old` is the key's row before the write, from
 * the statement's snapshot — which `ctr` proves current before anything is written.
 * Parameters: the namespace id, the feed row's keys, TX_SETTINGS, now, the key, then the put's value,
 * encoding, expiry and metadata, or the sum's operand as a KvU64 and as an int8.
 */
function oneWriteStatement(kind: "put" | "sum" | "del", checked: boolean): { name: string; text: string } {
  return oneTripNamed(`okv_one_write_${kind}${checked ? "_checked" : ""}`, () => {
    const vs = versionstampAt("1");
    // The namespace looked up once (the CTE is read three times, so it is materialized).
    const ns = `ns AS (SELECT seq FROM namespaces WHERE id = $1::text)`;
    const seq = "(SELECT seq FROM ns)";
    const exists = "EXISTS (SELECT 1 FROM ns)";
    const feed = (dkeys: string, dbytes: string, from: string) => `feed AS (INSERT INTO changes (vs, ns, keys, at, dkeys, dbytes)
       SELECT ctr.base + 1, $1, $2::bytea, $4::int8, ${dkeys}, ${dbytes} FROM ${from} RETURNING 1)`;
    // The checks' two arrays follow the kind's own parameters.
    const first = { put: 10, sum: 8, del: 6 }[kind];
    const checks: Checks | null = checked ? { ns: seq, keys: `$${first}::bytea[]`, versionstamps: `$${first + 1}::bytea[]` } : null;
    const counter = (sumCheck: string) => counterPart("1", exists, sumCheck, checks);
    const tail = resultPart("1", checks);
    if (kind === "del") {
      return `WITH ${ns}, ${counter("")},
     w AS (DELETE FROM entries e USING ctr WHERE e.ns = ${seq} AND e.key = $5 RETURNING ${rowSize("e")} AS size),
     ${feed("CASE WHEN w.size IS NULL THEN 0 ELSE -1 END", "-coalesce(w.size, 0)", "ctr LEFT JOIN w ON true")}
   ${tail}`;
    }
    if (kind === "sum") {
      return `WITH ${ns}, old AS (${sumSource(`e.ns = ${seq} AND e.key = $5::bytea`, "$7::int8")}),
     ${counter("AND NOT EXISTS (SELECT 1 FROM old WHERE not_u64)")},
     w AS (INSERT INTO entries (ns, key, value, encoding, versionstamp, expires_at, metadata)
           SELECT ${seq}, $5, coalesce((SELECT summed FROM old), $6::bytea), 2, ${vs}, NULL, NULL FROM ctr
         ${PUT_ON_CONFLICT} RETURNING 1),
     ${feed("CASE WHEN old.size IS NULL THEN 1 ELSE 0 END", "octet_length($5::bytea) + 8 - coalesce(old.size, 0)", "ctr LEFT JOIN old ON true")}
   ${tail}`;
    }
    return `WITH ${ns}, old AS (SELECT ${rowSize("e")} AS size FROM entries e WHERE e.ns = ${seq} AND e.key = $5::bytea),
     ${counter("")},
     w AS (INSERT INTO entries (ns, key, value, encoding, versionstamp, expires_at, metadata)
           SELECT ${seq}, $5, $6::bytea, $7::int2, ${vs}, $8::int8, $9::text FROM ctr
         ${PUT_ON_CONFLICT} RETURNING 1),
     ${feed("CASE WHEN old.size IS NULL THEN 1 ELSE 0 END", "octet_length($5::bytea) + octet_length($6::bytea) + coalesce(octet_length($9::text), 0) - coalesce(old.size, 0)", "ctr LEFT JOIN old ON true")}
   ${tail}`;
  });
}

/**
 * The one-statement commit: a batch that reads nothing back to JS (`oneTripSums`: sets, deletes and KvU64
 * sums; checks only on a lone write), whole, in one autocommitted statement — one round trip instead of two. `ctr` takes the counter's row lock, and every other part
 * uses its row (the versionstamps are `base + n`), so the lock comes before any entry's: writers still
 * lock in one order, and it is held through COMMIT and the standby wait, so counter order = commit order.
 *
 * The catch is the snapshot: at READ COMMITTED a statement's snapshot is taken when it starts, before it
 * waits for the lock, so it could miss a commit that landed meanwhile (a row inserted then would escape
 * `del`; a namespace deleted then would still be found; a sum would add to a stale value). So `ctr`
 * updates the counter only if its row is
 * still the version the snapshot saw (`xmin`: when the lock was waited for, PostgreSQL re-checks the
 * condition on the newest version, which another commit made). Every commit that changes entries,
 * namespaces or the feed updates that row, and settings changes rewrite it too (`putSetting`), so when it
 * is unchanged the snapshot holds everything a snapshot taken after the lock would. Otherwise (or when
 * the store has a keyring now, a namespace is missing, or a summed key holds a live value that is not a
 * KvU64) `ctr` is empty, nothing is written, no row comes back, and the batch goes the two-trip way.
 *
 * A part with nothing to do is left out. Parameters: the count, the namespace ids, TX_SETTINGS, now, the
 * feed rows (n, ns, keys), then each part's columns (a sum's operand also as an int8).
 */
function oneTripStatement(puts: boolean, sums: boolean, dels: boolean, checked: boolean): { name: string; text: string } {
  return oneTripNamed(`okv_one_trip_${puts ? "p" : ""}${sums ? "s" : ""}${dels ? "d" : ""}${checked ? "_checked" : ""}`, () => oneTripText(puts, sums, dels, checked));
}

function oneTripText(puts: boolean, sums: boolean, dels: boolean, checked: boolean): string {
  let n = 7;
  const param = (type: string) => `$${++n}::${type}[]`;
  const reads: string[] = [];
  const parts: string[] = [];
  // What the writes add to and take from the counters: new rows as the upserts return them, old ones as
  // `old_*` read them before (and `del` returns them).
  const stats: string[] = [];
  let sumCheck = "";
  if (puts) {
    const [ns, key, value, encoding, num, expiresAt, metadata] = ["text", "bytea", "bytea", "int2", "int8", "int8", "text"].map(param);
    // The namespace as a scalar: a primary-key lookup on both columns per key, whatever the generic plan
    // thinks of the table (joined to `ns`, a plan made while the table was small probed on key alone).
    reads.push(`old_p AS (${oldSizes(ns, key, "(SELECT seq FROM ns WHERE id = k.ns)")})`);
    parts.push(`up AS (
       INSERT INTO entries (ns, key, value, encoding, versionstamp, expires_at, metadata)
       SELECT ns.seq, u.key, u.value, u.encoding, ${versionstampAt("u.n")}, u.expires_at, u.metadata
         FROM ctr, unnest(${ns}, ${key}, ${value}, ${encoding}, ${num}, ${expiresAt}, ${metadata}) AS u(ns, key, value, encoding, n, expires_at, metadata)
         JOIN ns ON ns.id = u.ns
       ${PUT_ON_CONFLICT}
       RETURNING ns, ${rowSize("entries")} AS size)`);
    stats.push("SELECT ns, 1, size FROM up", "SELECT ns, -1, -size FROM old_p, ctr");
  }
  if (sums) {
    const [ns, key, value, num, operand] = ["text", "bytea", "bytea", "int8", "int8"].map(param);
    reads.push(`old_s AS (SELECT (SELECT seq FROM ns WHERE id = k.ns) AS ns, k.key, o.* FROM unnest(${ns}, ${key}, ${operand}) AS k(ns, key, operand),
       LATERAL (${sumSource("e.ns = (SELECT seq FROM ns WHERE id = k.ns) AND e.key = k.key", "k.operand")}) o)`);
    sumCheck = "AND NOT EXISTS (SELECT 1 FROM old_s WHERE not_u64)";
    parts.push(`sums AS (
       INSERT INTO entries (ns, key, value, encoding, versionstamp, expires_at, metadata)
       SELECT ns.seq, u.key, coalesce(o.summed, u.value), 2, ${versionstampAt("u.n")}, NULL, NULL
         FROM ctr, unnest(${ns}, ${key}, ${value}, ${num}) AS u(ns, key, value, n) JOIN ns ON ns.id = u.ns
         LEFT JOIN old_s o ON o.ns = ns.seq AND o.key = u.key
       ${PUT_ON_CONFLICT}
       RETURNING ns, ${rowSize("entries")} AS size)`);
    stats.push("SELECT ns, 1, size FROM sums", "SELECT ns, -1, -size FROM old_s, ctr");
  }
  if (dels) {
    const [ns, key] = ["text", "bytea"].map(param);
    parts.push(`del AS (DELETE FROM entries e USING ctr, (SELECT ns.seq, d.key FROM unnest(${ns}, ${key}) AS d(ns, key) JOIN ns ON ns.id = d.ns) d
       WHERE e.ns = d.seq AND e.key = d.key RETURNING e.ns, ${rowSize("e")} AS size)`);
    stats.push("SELECT ns, -1, -size FROM del");
  }
  // Checks come with a batch of one write, so of one namespace; their arrays are the last parameters.
  const checks: Checks | null = checked ? { ns: "(SELECT seq FROM ns)", keys: `$${n + 1}::bytea[]`, versionstamps: `$${n + 2}::bytea[]` } : null;
  return `WITH ns AS (SELECT id, seq FROM namespaces WHERE id = ANY($2::text[])),
     ${[...reads, counterPart("$1", "(SELECT count(*) FROM ns) = cardinality($2::text[])", sumCheck, checks)].join(",\n     ")},
     ${[...parts, ...(stats.length ? [`st AS (${addStats(stats.join(" UNION ALL "))})`] : []), `feed AS (INSERT INTO changes (vs, ns, keys, at) SELECT ctr.base + f.n, f.ns, f.keys, $4 FROM ctr, unnest($5::int8[], $6::text[], $7::bytea[]) AS f(n, ns, keys) RETURNING 1)`].join(",\n     ")}
   ${resultPart("$1", checks)}`;
}

/** One write of a batch after executeAtomic: what it stores, folded into the batch per key. */
interface Staged {
  ns: number;
  nsId: string;
  key: Uint8Array;
  entry: Entry | null;
}

export interface PostgresBackendOptions {
  /** Connections per node for reads (default 10); writes use one more, the pipelined writer. */
  poolSize?: number;
  /** How long to keep looking for a writable host (a failover takes seconds) before failing (default 15 s). */
  discoveryMs?: number;
}

export class PostgresBackend implements Backend {
  readonly kind = "postgres" as const;
  readonly connector: PgConnector;
  #ready: Promise<void> | null = null;
  /** `#ready` has resolved: the schema is current in this process. */
  #migrated = false;
  /** Batches that skip the one-statement try (`commit`), after one found another node's commit in its way. */
  #twoTripsAhead = 0;
  readonly analytics: AnalyticsStore = {
    appendOperations: async (rows) => {
      const columns = OPERATION_TYPES.map((_, i) => rows.map((r) => operationValues(r)[i]));
      await this.#query((pool) =>
        pool.query(
          `INSERT INTO analytics_ops (${OPERATION_COLUMNS}) SELECT * FROM unnest(${OPERATION_TYPES.map((t, i) => `$${i + 1}::${t}[]`).join(", ")})`,
          columns,
        ),
      );
    },
    readOperations: async (from, to) =>
      (await this.#query((pool) => pool.query(`SELECT ${OPERATION_COLUMNS} FROM analytics_ops WHERE minute >= $1 AND minute < $2`, [from, to]))).rows.map(operationRow),
    sampleStorage: async (rows) => {
      await this.#query((pool) =>
        pool.query(
          `INSERT INTO analytics_storage (hour, ns, keys, bytes) SELECT * FROM unnest($1::int8[], $2::text[], $3::int8[], $4::int8[])
             ON CONFLICT (hour, ns) DO UPDATE SET keys = greatest(analytics_storage.keys, excluded.keys), bytes = greatest(analytics_storage.bytes, excluded.bytes)`,
          [rows.map((r) => r.hour), rows.map((r) => r.namespaceId), rows.map((r) => r.keyCount), rows.map((r) => r.byteCount)],
        ),
      );
    },
    readStorage: async (from, to) =>
      (await this.#query((pool) => pool.query("SELECT hour, ns, keys, bytes FROM analytics_storage WHERE hour >= $1 AND hour < $2", [from, to]))).rows.map(storageRow),
    pruneAnalytics: async (before) => {
      await this.#query((pool) => pool.query("DELETE FROM analytics_ops WHERE minute < $1", [before]));
      await this.#query((pool) => pool.query("DELETE FROM analytics_storage WHERE hour < $1", [before]));
    },
    allNamespaceStats: async () => {
      const r = await this.#query((pool) =>
        pool.query(
          `SELECT n.id, coalesce(s.keys, 0) + coalesce(d.keys, 0) AS keys, coalesce(s.bytes, 0) + coalesce(d.bytes, 0) AS bytes
             FROM namespaces n LEFT JOIN ns_stats s ON s.ns = n.seq
             LEFT JOIN (SELECT ns, sum(dkeys) AS keys, sum(dbytes) AS bytes FROM changes WHERE ${UNFOLDED} GROUP BY ns) d ON d.ns = n.id`,
        ),
      );
      return new Map(r.rows.map((row) => [row.id as string, { keyCount: Number(row.keys), byteCount: Number(row.bytes) }]));
    },
  };

  // ---- key and byte counters ----
  // A namespace's counts are its `ns_stats` row plus the `dkeys`/`dbytes` of the feed rows not yet folded
  // into it (those after `stats_through`: lone writes put their change there, see `oneWriteStatement`),
  // read in one snapshot. `foldStats` moves the deltas into ns_stats before the feed is pruned.

  async namespaceStats(namespaceId: string): Promise<NamespaceStats> {
    const r = await this.#query((pool) =>
      pool.query({
        name: "okv_ns_stats",
        text: `SELECT s.keys + coalesce(d.keys, 0) AS keys, s.bytes + coalesce(d.bytes, 0) AS bytes
           FROM ns_stats s, (SELECT sum(dkeys) AS keys, sum(dbytes) AS bytes FROM changes WHERE ns = $1 AND ${UNFOLDED}) d
           WHERE s.ns = ${nsSeq}`,
        values: [namespaceId],
      }),
    );
    return r.rows.length ? { keyCount: Number(r.rows[0].keys), byteCount: Number(r.rows[0].bytes) } : { keyCount: 0, byteCount: 0 };
  }

  constructor(url: string, options: PostgresBackendOptions = {}) {
    this.connector = new PgConnector(url, {
      ...(options.poolSize === undefined ? {} : { poolSize: options.poolSize }),
      ...(options.discoveryMs === undefined ? {} : { discoveryMs: options.discoveryMs }),
    });
  }

  /** The URL as given, password masked. */
  get display(): string {
    return this.connector.target.display;
  }

  /** The primary's pools, the schema migrated once per process. Connection trouble surfaces as `unavailable`. */
  async #pools(): Promise<PrimaryPools> {
    let pools: PrimaryPools;
    try {
      pools = await this.connector.primary();
    } catch (e) {
      throw unavailable(this.display, e);
    }
    this.#ready ??= this.#migrate(pools.pool).then(
      () => void (this.#migrated = true),
      (e) => {
        this.#ready = null;
        throw e;
      },
    );
    await this.#ready;
    return pools;
  }

  /** Runs `fn` on the primary's read pool; a lost primary is forgotten so the next call finds the new one. */
  async #query<T>(fn: (pool: Pool) => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const pools = await this.#pools();
      try {
        return await fn(pools.pool);
      } catch (e) {
        // The pool was closed under us (another call found the primary gone) before anything was sent:
        // nothing reached the server, so one more try on the primary found now is safe for any statement.
        if (attempt === 0 && isPoolEnded(e)) continue;
        if (isConnectionLoss(e)) {
          this.connector.lost(pools);
          throw unavailable(this.display, e);
        }
        throw e;
      }
    }
  }

  async #migrate(pool: Pool): Promise<void> {
    const client = await pool.connect();
    try {
      await client.query("BEGIN");
      await client.query("SELECT pg_advisory_xact_lock($1, hashtext(current_schema()))", [MIGRATION_LOCK]);
      const has = await client.query("SELECT to_regclass('openkv_meta') IS NOT NULL AS ok");
      let version = 0;
      if (has.rows[0].ok) {
        const row = await client.query("SELECT value FROM openkv_meta WHERE name = 'schema_version'");
        version = row.rows.length ? (row.rows[0].value as number) : 1;
      }
      if (version > MIGRATIONS.length) {
        throw new Error(
          `${this.display} was written by a newer OpenKV (schema ${version}, this one knows ${MIGRATIONS.length}); upgrade OpenKV to open it`,
        );
      }
      for (let i = version; i < MIGRATIONS.length; i++) await client.query(MIGRATIONS[i]!);
      await client.query(
        "INSERT INTO openkv_meta (name, value) VALUES ('schema_version', $1) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        [MIGRATIONS.length],
      );
      await client.query("COMMIT");
    } catch (e) {
      await client.query("ROLLBACK").catch(() => {});
      throw e;
    } finally {
      client.release();
    }
  }

  /** The schema version recorded in the store (for tests and diagnostics). */
  async schemaVersion(): Promise<number> {
    return this.#query(async (pool) => (await pool.query("SELECT value FROM openkv_meta WHERE name = 'schema_version'")).rows[0].value as number);
  }

  // ---- namespaces ----

  async createNamespace(info: NamespaceInfo): Promise<NamespaceInfo> {
    try {
      await this.#query((pool) => pool.query(SQL.createNamespace, [info.id, info.title, info.createdAt]));
    } catch (e) {
      if (isUniqueViolation(e)) throw new KvError("namespace_exists", "a namespace with this account ID and title already exists");
      throw e;
    }
    return { ...info };
  }

  async listNamespaces(): Promise<NamespaceInfo[]> {
    const r = await this.#query((pool) => pool.query("SELECT id, title, created_at FROM namespaces ORDER BY seq"));
    return r.rows.map(toNamespace);
  }

  async getNamespace(id: string): Promise<NamespaceInfo | null> {
    const r = await this.#query((pool) => pool.query({ name: "okv_ns_id", text: "SELECT id, title, created_at FROM namespaces WHERE id = $1", values: [id] }));
    return r.rows.length ? toNamespace(r.rows[0]) : null;
  }

  async getNamespaceByTitle(title: string): Promise<NamespaceInfo | null> {
    const r = await this.#query((pool) =>
      pool.query({ name: "okv_ns_title", text: "SELECT id, title, created_at FROM namespaces WHERE title = $1", values: [title] }),
    );
    return r.rows.length ? toNamespace(r.rows[0]) : null;
  }

  async renameNamespace(id: string, title: string): Promise<NamespaceInfo> {
    let r: QueryResult;
    try {
      r = await this.#query((pool) => pool.query("UPDATE namespaces SET title = $2 WHERE id = $1 RETURNING id, title, created_at", [id, title]));
    } catch (e) {
      if (isUniqueViolation(e)) throw new KvError("namespace_exists", "a namespace with this account ID and title already exists");
      throw e;
    }
    if (r.rows.length === 0) throw new KvError("namespace_not_found", "namespace not found");
    return toNamespace(r.rows[0]);
  }

  async deleteNamespace(id: string): Promise<boolean> {
    return this.#transaction(async (tx) => {
      // The deletion is a commit of its own in the change feed (keys NULL), so followers drop the namespace.
      const counter = ((await tx.query(SQL.lockCounter)).rows[0].value as number) + 1;
      // The feed's counter deltas are folded into ns_stats first: none of this namespace's may outlive it
      // (a namespace created later with the same id would count them).
      await foldStats(tx);
      const ns = await tx.query("DELETE FROM namespaces WHERE id = $1 RETURNING seq", [id]);
      if (ns.rows.length === 0) return false;
      const seq = ns.rows[0].seq as number;
      await tx.query("DELETE FROM entries WHERE ns = $1", [seq]);
      await tx.query("DELETE FROM queue WHERE ns = $1", [seq]);
      await tx.query("DELETE FROM ns_stats WHERE ns = $1", [seq]);
      await tx.query("INSERT INTO changes (vs, ns, keys, at) VALUES ($1, $2, NULL, $3)", [counter, id, Date.now()]);
      await tx.query(SQL.setCounter, [counter]);
      await tx.query(SQL.notify, [String(counter)]);
      return true;
    });
  }

  /** A short transaction on a pooled connection (not the group-commit writer), opened with `begin`. */
  async #transaction<T>(fn: (tx: PoolClient) => Promise<T>, begin = "BEGIN"): Promise<T> {
    return this.#query(async (pool) => {
      const client = await pool.connect();
      let broken = false;
      try {
        await client.query(begin);
        const result = await fn(client);
        await client.query("COMMIT");
        return result;
      } catch (e) {
        broken = isConnectionLoss(e);
        if (!broken) await client.query("ROLLBACK").catch(() => {});
        throw e;
      } finally {
        client.release(broken);
      }
    });
  }

  // ---- reads ----

  async read(namespaceId: string, ranges: readonly ReadRange[], now: number): Promise<Entry[][]> {
    if (ranges.length === 1) return [await this.#query((pool) => scan(pool, namespaceId, ranges[0]!, now))];
    // Several ranges share one snapshot.
    return this.#transaction(async (client) => {
      const out: Entry[][] = [];
      for (const r of ranges) out.push(await scan(client, namespaceId, r, now));
      return out;
    }, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
  }

  async count(namespaceId: string, start: Uint8Array, end: Uint8Array, now: number): Promise<number> {
    const r = await this.#query((pool) => pool.query({ name: "okv_count", text: SQL.count, values: [namespaceId, start, end, now] }));
    return r.rows[0].n as number;
  }

  // ---- the write path ----

  async commit(batch: readonly BatchItem[], now: number): Promise<(AppliedWrite | KvError)[]> {
    // Known pools without a wait: a lone write's time before its statement is sent is time the server
    // spends going to sleep and waking again (measured: 20 µs of JS there cost 26 µs a write).
    const pools = (this.#migrated ? this.connector.settled : null) ?? (await this.#pools());
    const sums = this.#twoTripsAhead > 0 ? null : oneTripSums(batch);
    if (this.#twoTripsAhead > 0) this.#twoTripsAhead--;
    if (sums !== null) {
      const done = await this.#commitOneTrip(pools, batch, now, sums);
      if (done !== null) return done;
      // Another node's commit came between: while nodes contend, a one-statement try would often be
      // wasted, so the next few batches take two trips straight away.
      this.#twoTripsAhead = TWO_TRIPS_AFTER_STALE;
    }
    return this.#commitTwoTrips(pools, batch, now);
  }

  /**
   * Runs each write of the batch on `state` (the prefetched rows), in batch order, numbering the ones that
   * apply from `counter + 1`; a later write sees an earlier one's result. `seq` maps a namespace id to its
   * number (undefined: not found).
   */
  #apply(batch: readonly BatchItem[], now: number, counter: number, seq: (nsId: string) => number | undefined, settings: Map<string, string>, state: Map<string, Entry | null>) {
    const staged = new Map<string, Staged>();
    const enqueues: { ns: number; q: Enqueue }[] = [];
    const acks: number[] = [];
    const feed: { vs: number; ns: string; keys: Uint8Array[] }[] = [];
    const results = batch.map((item): AppliedWrite | KvError => {
      const ns = seq(item.namespaceId);
      if (ns === undefined) return new KvError("namespace_not_found", "namespace not found");
      const mine = new Map<string, Staged>();
      const myQueue: Enqueue[] = [];
      const id = (key: Uint8Array) => `${item.namespaceId}:${keyId(key)}`;
      const view: TxView = {
        get: (key) => {
          const k = id(key);
          if (mine.has(k)) return mine.get(k)!.entry;
          return state.get(k) ?? null;
        },
        put: (e) => void mine.set(id(e.key), { ns, nsId: item.namespaceId, key: e.key, entry: e }),
        delete: (key) => void mine.set(id(key), { ns, nsId: item.namespaceId, key, entry: null }),
        enqueue: (q) => void myQueue.push(q),
        setting: (name) => {
          if (!TX_SETTINGS.includes(name)) throw new Error(`The setting "${name}" is not read by commits: add it to TX_SETTINGS`);
          return settings.get(name) ?? null;
        },
      };
      try {
        const applied = executeAtomic(view, item, versionstampFromNumber(counter + 1), now);
        if (!applied.result.ok) return applied;
        counter++;
        for (const [k, s] of mine) {
          state.set(k, s.entry);
          staged.delete(k); // re-inserted last: the final write of a key wins, in order
          staged.set(k, s);
        }
        for (const q of myQueue) enqueues.push({ ns, q });
        if (item.consumeMessage !== undefined) acks.push(item.consumeMessage);
        feed.push({ vs: counter, ns: item.namespaceId, keys: applied.changed as Uint8Array[] });
        return applied;
      } catch (e) {
        if (e instanceof KvError) return e;
        throw e;
      }
    });
    return { results, staged, enqueues, acks, feed, counter };
  }

  /**
   * A batch of sets, deletes and KvU64 sums (`oneTripSums`) in one autocommitted statement, one round
   * trip: the counter, the writes, the feed rows and the doorbell, versionstamps computed in SQL from the
   * counter (`oneTripStatement`); a lone write's checks are made there too, and failing ones come back
   * as its result with nothing written. Null when the statement found its snapshot stale (another commit landed
   * between the statement's start and its lock on the counter), the store encrypted, a namespace missing
   * or a summed key holding something other than a KvU64: it wrote nothing then, and the two-trip path
   * does the batch (and reports that sum's error).
   */
  async #commitOneTrip(pools: PrimaryPools, batch: readonly BatchItem[], now: number, sumIds: Set<string>): Promise<(AppliedWrite | KvError)[] | null> {
    // A lone write's checks are the statement's to make (on the empty state below they could not pass).
    const checks = batch.length === 1 ? batch[0]!.write.checks : [];
    const unchecked = checks.length > 0 ? [{ ...batch[0]!, write: { ...batch[0]!.write, checks: [] } }] : batch;
    // Versionstamps relative to the counter as the statement will find it: 1, 2, … in batch order. On
    // an empty state a sum stages its operand: the statement adds it to the stored value, if any.
    const { results, staged, feed } = this.#apply(unchecked, now, 0, () => 0, NO_SETTINGS, new Map());
    if (feed.length === 0) return results;
    const puts: Staged[] = [];
    const dels: Staged[] = [];
    const sums: Staged[] = [];
    const single = feed.length === 1 && staged.size === 1;
    for (const [id, s] of staged) {
      if (s.entry === null) dels.push(s);
      else if (sumIds.has(id)) sums.push(s);
      // In an array a big value would be hex-escaped (see #commitTwoTrips); alone it is a binary parameter.
      else if (!single && s.entry.data.byteLength > BIG_VALUE_BYTES) return null;
      else puts.push(s);
    }
    let statement: { name: string; text: string };
    let values: unknown[];
    if (single) {
      // One write of one key: the scalar form.
      const [s] = [...puts, ...sums, ...dels];
      const kind = puts.length ? "put" : sums.length ? "sum" : "del";
      statement = oneWriteStatement(kind, checks.length > 0);
      values = [s!.nsId, packKeys(feed[0]!.keys), TX_SETTINGS, now, s!.key];
      if (kind === "put") values.push(s!.entry!.data, encodingCode(s!.entry!), s!.entry!.expiresAt, s!.entry!.metadata);
      if (kind === "sum") values.push(s!.entry!.data, u64AsInt8(s!.entry!.data));
    } else {
      statement = oneTripStatement(puts.length > 0, sums.length > 0, dels.length > 0, checks.length > 0);
      const nsIds = [...new Set(batch.map((b) => b.namespaceId))];
      values = [feed.length, nsIds, TX_SETTINGS, now, feed.map((f) => f.vs), feed.map((f) => f.ns), feed.map((f) => packKeys(f.keys))];
      if (puts.length > 0) {
        values.push(
          puts.map((s) => s.nsId),
          puts.map((s) => s.key),
          puts.map((s) => s.entry!.data),
          puts.map((s) => encodingCode(s.entry!)),
          puts.map((s) => plainCounter(s.entry!.versionstamp)),
          puts.map((s) => s.entry!.expiresAt),
          puts.map((s) => s.entry!.metadata),
        );
      }
      if (sums.length > 0) {
        values.push(
          sums.map((s) => s.nsId),
          sums.map((s) => s.key),
          sums.map((s) => s.entry!.data),
          sums.map((s) => plainCounter(s.entry!.versionstamp)),
          sums.map((s) => u64AsInt8(s.entry!.data)),
        );
      }
      if (dels.length > 0) values.push(dels.map((s) => s.nsId), dels.map((s) => s.key));
    }
    // Both forms take the checks' arrays last.
    if (checks.length > 0) values.push(checks.map((c) => c.key), checks.map((c) => c.versionstamp));
    let r: QueryResult;
    try {
      r = await pools.writer.query({ ...statement, values });
    } catch (e) {
      if (isConnectionLoss(e)) {
        this.connector.lost(pools);
        // The driver refuses a closed connection before sending anything: then nothing was applied.
        if (/not queryable/.test((e as Error).message)) throw unavailable(this.display, e);
        throw outcomeUnknown(this.display, e);
      }
      throw e;
    }
    if (r.rows.length === 0) return null;
    const row = r.rows[0]!;
    if (row.failed != null) return [{ result: { ok: false, failedChecks: row.failed as number[] }, changed: [] }];
    const base = row.base as number;
    return results.map((a) => {
      if (a instanceof KvError || !a.result.ok) return a;
      return { result: { ok: true, versionstamp: versionstampFromNumber(base + plainCounter(a.result.versionstamp)!) }, changed: a.changed };
    });
  }

  async #commitTwoTrips(pools: PrimaryPools, batch: readonly BatchItem[], now: number): Promise<(AppliedWrite | KvError)[]> {
    const writer = pools.writer;
    let commitSent = false;
    const sent: Promise<QueryResult>[] = [];
    const send = (query: string | QueryConfig): Promise<QueryResult> => {
      const p = writer.query(query);
      // Pipelined: every promise is awaited below; this only keeps an early failure from going unhandled.
      p.catch(() => {});
      sent.push(p);
      return p;
    };
    try {
      // Round trip 1: lock, then read everything the batch's checks and sum/min/max need.
      const nsIds = [...new Set(batch.map((b) => b.namespaceId))];
      const want = prefetchKeys(batch);
      const lockP = send(SQL.beginAndLock);
      const readP = send({ name: "okv_batch_read", text: SQL.batchRead, values: [nsIds, want.ids, want.keys, TX_SETTINGS] });
      // A multi-statement simple query answers one result per statement: BEGIN's, then the lock's.
      const locked = (await lockP) as unknown as QueryResult[];
      const seqs = new Map<string, number>();
      const settings = new Map<string, string>();
      const state = new Map<string, Entry | null>();
      for (const r of (await readP).rows) {
        if (r.kind === "n") seqs.set(r.nsid as string, r.seq as number);
        else if (r.kind === "s") settings.set(r.nsid as string, r.metadata as string);
        else state.set(`${r.nsid}:${keyId(asBytes(r.key))}`, rowToEntry(r));
      }
      const { results, staged, enqueues, acks, feed, counter } = this.#apply(batch, now, locked[1]!.rows[0].value as number, (id) => seqs.get(id), settings, state);

      // Round trip 2: the folded writes, the feed, the counter, the doorbell, COMMIT.
      if (feed.length > 0) {
        // A big value goes as a parameter of its own, in binary: inside a bytea[] array it would be
        // hex-escaped into a string twice its size, on the event loop.
        const big = [...staged.values()].filter((s) => s.entry !== null && s.entry.data.byteLength > BIG_VALUE_BYTES);
        for (const b of big) {
          const e = b.entry!;
          send({
            name: "okv_put_one",
            text: SQL.putOne,
            values: [b.ns, b.key, e.data, encodingCode(e), e.versionstamp, e.expiresAt, e.metadata],
          });
        }
        const puts = [...staged.values()].filter((s) => s.entry !== null && s.entry.data.byteLength <= BIG_VALUE_BYTES);
        const dels = [...staged.values()].filter((s) => s.entry === null);
        send({
          name: "okv_batch_write",
          text: SQL.batchWrite,
          values: [
            puts.map((s) => s.ns),
            puts.map((s) => s.key),
            puts.map((s) => s.entry!.data),
            puts.map((s) => encodingCode(s.entry!)),
            puts.map((s) => s.entry!.versionstamp),
            puts.map((s) => s.entry!.expiresAt),
            puts.map((s) => s.entry!.metadata),
            dels.map((s) => s.ns),
            dels.map((s) => s.key),
            enqueues.map((e) => e.ns),
            enqueues.map((e) => e.q.payload),
            enqueues.map((e) => e.q.readyAt),
            enqueues.map((e) => JSON.stringify(e.q.keysIfUndelivered.map(bytesToHex))),
            enqueues.map((e) => (e.q.backoffSchedule ? JSON.stringify(e.q.backoffSchedule) : null)),
            enqueues.map((e) => e.q.sealed === true),
            acks,
            feed.map((f) => f.vs),
            feed.map((f) => f.ns),
            feed.map((f) => packKeys(f.keys)),
            now,
            counter,
          ],
        });
      }
      commitSent = true;
      const done = await send("COMMIT");
      // Any failed statement before it turned the COMMIT into a ROLLBACK: surface that statement's error.
      for (const p of sent) await p;
      if (done.command !== "COMMIT") throw new Error(`PostgreSQL answered ${done.command} to COMMIT`);
      return results;
    } catch (e) {
      if (isConnectionLoss(e)) {
        this.connector.lost(pools);
        if (commitSent) throw outcomeUnknown(this.display, e);
        throw unavailable(this.display, e);
      }
      // A statement failed: the transaction is aborted; end it so the writer can take the next batch.
      await Promise.allSettled(sent);
      await writer.query("ROLLBACK").catch(() => {});
      throw e;
    }
  }

  // ---- expiry ----

  async purgeExpired(now: number, limit: number): Promise<ExpiredKey[]> {
    // Cheap outside a transaction: most seconds there is nothing to do.
    const any = await this.#query((pool) =>
      pool.query({ name: "okv_any_expired", text: "SELECT 1 FROM entries WHERE expires_at IS NOT NULL AND expires_at <= $1 LIMIT 1", values: [now] }),
    );
    if (any.rows.length === 0) return [];
    return this.#transaction(async (tx) => {
      // One node purges at a time; the others find the work done.
      if (!(await tx.query("SELECT pg_try_advisory_xact_lock($1, hashtext(current_schema())) AS ok", [PURGE_LOCK])).rows[0].ok) return [];
      let counter = (await tx.query(SQL.lockCounter)).rows[0].value as number;
      const gone = await tx.query(
        `WITH gone AS (DELETE FROM entries e USING namespaces n
             WHERE n.seq = e.ns AND (e.ns, e.key) IN (SELECT ns, key FROM entries WHERE expires_at IS NOT NULL AND expires_at <= $1 LIMIT $2)
             RETURNING n.id AS nsid, e.ns, e.key, ${rowSize("e")} AS size),
           st AS (${addStats("SELECT ns, -1, -size FROM gone")})
         SELECT nsid, key FROM gone`,
        [now, limit],
      );
      if (gone.rows.length === 0) return [];
      const byNs = new Map<string, Uint8Array[]>();
      for (const r of gone.rows) {
        const list = byNs.get(r.nsid as string) ?? [];
        list.push(asBytes(r.key));
        byNs.set(r.nsid as string, list);
      }
      for (const [ns, keys] of byNs) {
        counter++;
        await tx.query("INSERT INTO changes (vs, ns, keys, at) VALUES ($1, $2, $3, $4)", [counter, ns, packKeys(keys), now]);
      }
      await tx.query(SQL.setCounter, [counter]);
      await tx.query(SQL.notify, [String(counter)]);
      return gone.rows.map((r) => ({ namespaceId: r.nsid as string, key: asBytes(r.key) }));
    });
  }

  // ---- queues ----

  async claimMessages(namespaceId: string, now: number, limit: number, leaseMs: number): Promise<QueueMessage[]> {
    // SKIP LOCKED: nodes claiming at once each take different messages; the lease makes it one at a time.
    const r = await this.#query((pool) =>
      pool.query({
        name: "okv_claim",
        text: `UPDATE queue SET attempts = attempts + 1, leased_until = $3
           WHERE id IN (SELECT id FROM queue WHERE ns = ${nsSeq} AND ready_at <= $2 AND leased_until <= $2
                        ORDER BY ready_at, id LIMIT $4 FOR UPDATE SKIP LOCKED)
           RETURNING id, payload, ready_at, attempts, keys_if_undelivered, backoff_schedule, sealed`,
        values: [namespaceId, now, now + leaseMs, limit],
      }),
    );
    return r.rows.sort((a, b) => (a.ready_at as number) - (b.ready_at as number) || (a.id as number) - (b.id as number)).map((row) => rowToMessage(row, namespaceId));
  }

  async ackMessage(id: number): Promise<void> {
    await this.#query((pool) => pool.query({ name: "okv_ack", text: "DELETE FROM queue WHERE id = $1", values: [id] }));
  }

  async retryMessage(id: number, readyAt: number): Promise<void> {
    await this.#query((pool) => pool.query({ name: "okv_retry", text: "UPDATE queue SET ready_at = $2, leased_until = 0 WHERE id = $1", values: [id, readyAt] }));
  }

  async nextMessageAt(namespaceId: string): Promise<number | null> {
    const r = await this.#query((pool) =>
      pool.query({ name: "okv_next_at", text: `SELECT min(greatest(ready_at, leased_until)) AS at FROM queue WHERE ns = ${nsSeq}`, values: [namespaceId] }),
    );
    return (r.rows[0].at as number | null) ?? null;
  }

  // ---- settings, reseal, scrub ----

  async getSetting(name: string): Promise<string | null> {
    const r = await this.#query((pool) => pool.query("SELECT value FROM settings WHERE name = $1", [name]));
    return r.rows.length ? (r.rows[0].value as string) : null;
  }

  async putSetting(name: string, value: string | null, expected: string | null): Promise<boolean> {
    return this.#transaction(async (tx) => {
      // Settings change under the commit counter's lock: no commit runs with half a keyring. The lock is
      // taken by rewriting the row, unchanged, so a one-trip commit that waited for it knows its snapshot
      // is older than this change (`oneTripStatement`).
      await tx.query(SQL.touchCounter);
      const r = await tx.query("SELECT value FROM settings WHERE name = $1", [name]);
      const current = r.rows.length ? (r.rows[0].value as string) : null;
      if (current !== expected) return false;
      if (value === null) await tx.query("DELETE FROM settings WHERE name = $1", [name]);
      else await tx.query("INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = excluded.value", [name, value]);
      return true;
    });
  }

  async reseal(namespaceId: string, items: readonly Reseal[]): Promise<boolean[]> {
    return this.#transaction(async (tx) => {
      const out: boolean[] = [];
      for (const r of items) {
        // The entry's size before (its versionstamp pins the version: a newer one is left alone) and after.
        const u = await tx.query(
          `WITH old AS (SELECT ${rowSize("e")} AS size FROM entries e WHERE e.ns = ${nsSeq} AND e.key = $2 AND e.versionstamp = $6),
             u AS (UPDATE entries SET value = $3, encoding = (encoding & ~${SEALED}::int2) | $4::int2, metadata = $5
               WHERE ns = ${nsSeq} AND key = $2 AND versionstamp = $6 RETURNING ns, ${rowSize("entries")} AS size),
             st AS (${addStats("SELECT ns, 0, size FROM u UNION ALL SELECT u.ns, 0, -old.size FROM old, u")})
           SELECT count(*)::int4 AS n FROM u`,
          [namespaceId, r.key, r.data, r.sealed ? SEALED : 0, r.metadata, r.versionstamp],
        );
        out.push(u.rows[0].n === 1);
      }
      return out;
    });
  }

  async listMessages(namespaceId: string, afterId: number, limit: number): Promise<QueueMessage[]> {
    const r = await this.#query((pool) =>
      pool.query(
        `SELECT id, payload, ready_at, attempts, keys_if_undelivered, backoff_schedule, sealed FROM queue
           WHERE ns = ${nsSeq} AND id > $2 ORDER BY id LIMIT $3`,
        [namespaceId, afterId, limit],
      ),
    );
    return r.rows.map((row) => rowToMessage(row, namespaceId));
  }

  async resealMessages(items: readonly MessageReseal[]): Promise<boolean[]> {
    return this.#transaction(async (tx) => {
      const out: boolean[] = [];
      for (const m of items) {
        const u = await tx.query("UPDATE queue SET payload = $2, sealed = $3 WHERE id = $1 AND payload = $4", [m.id, m.payload, m.sealed, m.from]);
        out.push(u.rowCount === 1);
      }
      return out;
    });
  }

  async scrub(options: { checkpoint: boolean }): Promise<void> {
    // PostgreSQL never rewrites a page in place for an UPDATE: old row versions stay until VACUUM, and
    // the WAL keeps them until recycled. VACUUM frees them for reuse (their bytes are overwritten as the
    // space is reused) and CHECKPOINT lets old WAL segments be recycled.
    if (!options.checkpoint) return;
    await this.#query(async (pool) => {
      await pool.query("VACUUM entries");
      await pool.query("VACUUM queue");
      await pool.query("CHECKPOINT").catch(() => {});
    });
  }

  // ---- whole-store copies ----

  async *dump(): AsyncIterable<DumpRecord> {
    const pools = await this.#pools();
    const client = await pools.pool.connect();
    let broken = false;
    try {
      // One snapshot for the whole dump; writers carry on.
      await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
      const counter = (await client.query("SELECT value FROM openkv_meta WHERE name = 'versionstamp'")).rows[0].value as number;
      const entries = (await client.query("SELECT count(*)::int8 AS n FROM entries")).rows[0].n as number;
      yield { kind: "versionstamp", versionstamp: versionstampFromCounter(BigInt(counter)), entries };
      for (const r of (await client.query("SELECT name, value FROM settings ORDER BY name")).rows) {
        yield { kind: "setting", name: r.name as string, value: r.value as string };
      }
      const namespaces = (await client.query("SELECT seq, id, title, created_at FROM namespaces ORDER BY seq")).rows;
      for (const n of namespaces) {
        const namespace = toNamespace(n);
        yield { kind: "namespace", namespace };
        let after: Uint8Array = new Uint8Array(0);
        for (;;) {
          const rows = (
            await client.query(`SELECT key, ${entryCols} FROM entries WHERE ns = $1 AND key > $2 ORDER BY key LIMIT 1000`, [n.seq, after])
          ).rows.map((r) => rowToEntry(r));
          if (rows.length === 0) break;
          yield { kind: "entries", namespaceId: namespace.id, entries: rows };
          after = rows[rows.length - 1]!.key;
        }
        const messages = (
          await client.query(
            "SELECT id, payload, ready_at, attempts, keys_if_undelivered, backoff_schedule, sealed FROM queue WHERE ns = $1 ORDER BY id",
            [n.seq],
          )
        ).rows.map((r) => rowToMessage(r, namespace.id));
        if (messages.length) yield { kind: "messages", namespaceId: namespace.id, messages };
      }
      await client.query("COMMIT");
    } catch (e) {
      broken = isConnectionLoss(e);
      throw e;
    } finally {
      if (!broken) await client.query("ROLLBACK").catch(() => {});
      client.release(broken);
    }
  }

  async load(records: AsyncIterable<DumpRecord>): Promise<void> {
    if ((await this.listNamespaces()).length > 0) {
      throw new KvError("invalid_argument", "The store to load into already holds namespaces: load into an empty store.");
    }
    const seqs = new Map<string, number>();
    for await (const r of records) {
      await this.#transaction(async (tx) => {
        switch (r.kind) {
          case "versionstamp": {
            const c = Number(counterFromVersionstamp(r.versionstamp));
            await tx.query("UPDATE openkv_meta SET value = greatest(value, $1) WHERE name = 'versionstamp'", [c]);
            await tx.query("UPDATE openkv_meta SET value = greatest(value, $1) WHERE name = 'changes_pruned_through'", [c]);
            break;
          }
          case "setting":
            await tx.query("INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = excluded.value", [r.name, r.value]);
            break;
          case "namespace": {
            const ns = await tx.query(SQL.createNamespace, [
              r.namespace.id,
              r.namespace.title,
              r.namespace.createdAt,
            ]);
            seqs.set(r.namespace.id, ns.rows[0].seq as number);
            break;
          }
          case "entries": {
            const ns = seqs.get(r.namespaceId)!;
            for (const e of bySize(r.entries, 16 * 1024 * 1024)) await tx.query(SQL.upsert, [
              e.map(() => ns),
              e.map((x) => x.key),
              e.map((x) => x.data),
              e.map((x) => encodingCode(x)),
              e.map((x) => x.versionstamp),
              e.map((x) => x.expiresAt),
              e.map((x) => x.metadata),
            ]);
            break;
          }
          case "messages": {
            const ns = seqs.get(r.namespaceId)!;
            for (const m of r.messages) {
              await tx.query(
                "INSERT INTO queue (ns, payload, ready_at, attempts, keys_if_undelivered, backoff_schedule, sealed) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                [ns, m.payload, m.readyAt, m.attempts, JSON.stringify(m.keysIfUndelivered.map(bytesToHex)), m.backoffSchedule ? JSON.stringify(m.backoffSchedule) : null, m.sealed === true],
              );
            }
            break;
          }
        }
      });
    }
  }

  // ---- the change feed ----

  async changes(after: Uint8Array, limit: number): Promise<ChangePage> {
    const cursor = Number(counterFromVersionstamp(after));
    const r = await this.#query((pool) =>
      pool.query({
        name: "okv_changes",
        // One statement, one snapshot: the page and the counter it is current to agree.
        text: `SELECT m.latest, m.pruned, c.vs, c.ns, c.keys
           FROM (SELECT (SELECT value FROM openkv_meta WHERE name = 'versionstamp') AS latest,
                        (SELECT value FROM openkv_meta WHERE name = 'changes_pruned_through') AS pruned) m
           LEFT JOIN LATERAL (SELECT vs, ns, keys FROM changes WHERE vs > $1 ORDER BY vs LIMIT $2) c ON true
           ORDER BY c.vs`,
        values: [cursor, limit],
      }),
    );
    const first = r.rows[0]!;
    const changes = r.rows
      .filter((row) => row.vs !== null)
      .map((row) => ({
        versionstamp: versionstampFromCounter(BigInt(row.vs as number)),
        namespaceId: row.ns as string,
        keys: row.keys === null ? null : unpackKeys(asBytes(row.keys)),
      }));
    return { changes, latest: versionstampFromCounter(BigInt(first.latest as number)), gap: cursor < (first.pruned as number) };
  }

  async pruneChanges(olderThan: number, keepWrites: number): Promise<number> {
    // Every feed row about to go has its counter deltas in ns_stats first. The fold is a transaction of
    // its own: the ns_stats rows it updates stay locked (writers wait for them) only until it commits,
    // not while the feed is pruned.
    const latest = await this.#transaction(foldStats);
    return this.#transaction(async (tx) => {
      const byAge = await tx.query("SELECT max(vs) AS vs FROM (SELECT vs, at FROM changes ORDER BY vs LIMIT 10000) h WHERE at < $1", [olderThan]);
      // Not past the fold, even if another node's clock put a newer row's time in the past.
      const through = Math.min(latest, Math.max((byAge.rows[0].vs as number | null) ?? 0, latest - keepWrites));
      if (through <= 0) return 0;
      const d = await tx.query("DELETE FROM changes WHERE vs <= $1", [through]);
      await tx.query("UPDATE openkv_meta SET value = greatest(value, $1) WHERE name = 'changes_pruned_through'", [through]);
      return d.rowCount ?? 0;
    });
  }

  async ping(): Promise<void> {
    await this.#query((pool) => pool.query("SELECT 1"));
  }

  /** Calls `listener` after any node commits (LISTEN on the primary, re-established after a failover). */
  onCommit(listener: () => void): () => void {
    return this.connector.listen(CHANGE_CHANNEL, listener);
  }

  async close(): Promise<void> {
    await this.connector.close();
  }
}

/** The feed rows whose counter deltas are not in ns_stats yet. */
const UNFOLDED = "vs > (SELECT value FROM openkv_meta WHERE name = 'stats_through')";

/**
 * Folds the counter deltas of the feed rows after `stats_through` into ns_stats, in `tx`, and returns the
 * counter it folded through (the latest commit). The `stats_through` row's lock makes nodes fold one at a
 * time; the next statement's snapshot (READ COMMITTED) then sees every commit up to the counter it reads
 * — commits are serialized on the counter and each writes its feed rows — and none after it.
 */
async function foldStats(tx: PoolClient): Promise<number> {
  const through = (await tx.query("SELECT value FROM openkv_meta WHERE name = 'stats_through' FOR UPDATE")).rows[0].value as number;
  const r = await tx.query(
    `WITH upto AS (SELECT value FROM openkv_meta WHERE name = 'versionstamp'),
       d AS (SELECT n.seq, sum(c.dkeys) AS k, sum(c.dbytes) AS b FROM changes c JOIN namespaces n ON n.id = c.ns
              WHERE c.vs > $1 AND c.vs <= (SELECT value FROM upto) AND (c.dkeys <> 0 OR c.dbytes <> 0) GROUP BY n.seq),
       st AS (${addStats("SELECT seq, k, b FROM d")}),
       t AS (UPDATE openkv_meta SET value = (SELECT value FROM upto) WHERE name = 'stats_through')
     SELECT value FROM upto`,
    [through],
  );
  return r.rows[0].value as number;
}

function toNamespace(r: Row): NamespaceInfo {
  return { id: r.id as string, title: r.title as string, createdAt: r.created_at as number };
}

function outcomeUnknown(display: string, cause: unknown): KvError {
  return new KvError(
    "outcome_unknown",
    `The connection to PostgreSQL (${display}) was lost while the write was committing: it may or may not have been applied. Read the keys to find out before retrying.`,
    { cause },
  );
}

function unavailable(display: string, cause: unknown): KvError {
  const why = cause instanceof Error ? cause.message : String(cause);
  return new KvError("unavailable", `The PostgreSQL store at ${display} is unavailable (${why}); retry shortly.`, { cause });
}

async function scan(q: Pool | { query: Pool["query"] }, namespaceId: string, r: ReadRange, now: number): Promise<Entry[]> {
  if (isPointRange(r) && !r.keysOnly) {
    const res = await q.query({ name: "okv_point", text: SQL.pointGet, values: [namespaceId, r.start, now] });
    return res.rows.length ? [rowToEntry(res.rows[0], r.start)] : [];
  }
  const [name, text] = r.keysOnly ? (r.reverse ? ["okv_rev_keys", SQL.scanRevKeys] : ["okv_fwd_keys", SQL.scanFwdKeys]) : r.reverse ? ["okv_rev", SQL.scanRev] : ["okv_fwd", SQL.scanFwd];
  // Rows as arrays: no object with named keys to build per row before the Entry.
  const res = await q.query({ name, text, values: [namespaceId, r.start, r.end, now, r.limit], rowMode: "array" });
  return (res.rows as unknown as unknown[][]).map(arrayToEntry);
}

/** `entries` in runs of at most `bytes` of values (at least one each): one statement per run. */
function* bySize(entries: readonly Entry[], bytes: number): Generator<Entry[]> {
  let run: Entry[] = [];
  let size = 0;
  for (const e of entries) {
    if (run.length > 0 && size + e.data.byteLength > bytes) {
      yield run;
      run = [];
      size = 0;
    }
    run.push(e);
    size += e.data.byteLength;
  }
  if (run.length > 0) yield run;
}

/**
 * Whether the batch can be committed in one statement (`oneTripStatement`): no checks but a lone write's, no queue work, a store
 * this process knows as unencrypted (sealing needs the keyring as the transaction sees it, and a sealed
 * counter cannot be added in SQL), and only sets, deletes and KvU64 sums — a sum's key touched by no other
 * mutation of the batch, so the statement can add to the stored value itself. Returns the sums' keys
 * (`ns:keyId`), or null when the batch needs the two-trip path.
 */
function oneTripSums(batch: readonly BatchItem[]): Set<string> | null {
  const sums = new Set<string>();
  const others = new Set<string>();
  for (const { namespaceId, write, sealer, consumeMessage } of batch) {
    // Checks only on a lone write: the statement answers for the whole batch at once.
    if ((write.checks.length > 0 && batch.length > 1) || write.enqueues.length > 0 || consumeMessage !== undefined || sealer?.encrypted) return null;
    for (const m of write.mutations) {
      const id = `${namespaceId}:${keyId(m.key)}`;
      if (m.type === "sum") {
        if (m.value.encoding !== "le64" || m.value.data.byteLength !== 8 || sums.has(id) || others.has(id)) return null;
        sums.add(id);
      } else if (m.type === "set" || m.type === "delete") {
        if (sums.has(id)) return null;
        others.add(id);
      } else {
        return null;
      }
    }
  }
  return sums;
}

const NO_SETTINGS = new Map<string, string>();

/** A KvU64's 8 little-endian bytes as the int8 (decimal text) with the same 64 bits, for SQL arithmetic. */
function u64AsInt8(data: Uint8Array): string {
  return new DataView(data.buffer, data.byteOffset, 8).getBigInt64(0, true).toString();
}

/** The (namespace, key) pairs a batch's checks and read-modify-write mutations need, deduplicated. */
function prefetchKeys(batch: readonly BatchItem[]): { ids: string[]; keys: Uint8Array[] } {
  const seen = new Set<string>();
  const ids: string[] = [];
  const keys: Uint8Array[] = [];
  const add = (ns: string, key: Uint8Array) => {
    const k = `${ns}:${keyId(key)}`;
    if (seen.has(k)) return;
    seen.add(k);
    ids.push(ns);
    keys.push(key);
  };
  for (const { namespaceId, write } of batch) {
    for (const c of write.checks) add(namespaceId, c.key);
    for (const m of write.mutations) if (m.type === "sum" || m.type === "min" || m.type === "max") add(namespaceId, m.key);
  }
  return { ids, keys };
}
