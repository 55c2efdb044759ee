/**
 * Where the writable PostgreSQL is. A store URL may list several hosts
 * (`postgres://user@h1:5432,h2:5433/db`); like libpq's `target_session_attrs=read-write`, the first host
 * that answers and is not in recovery is the primary. When the primary goes (a crash, a failover), every
 * pool on it is dropped and the next call looks again, until a promoted standby answers — no config
 * change, no restart.
 *
 * The driver (`pg`) is imported lazily: a SQLite-only user never loads it.
 */
import type { Client, Pool, PoolConfig } from "pg";

export interface PgTarget {
  /** One connection string per host, in the order the URL lists them. */
  readonly hosts: readonly string[];
  /** The URL as given, with any password masked: for messages. */
  readonly display: string;
}

/** Splits a (possibly multi-host) postgres:// URL into one single-host connection string per host. */
export function parseStoreUrl(url: string): PgTarget {
  const m = /^(postgres(?:ql)?:\/\/)(?:([^@/]*)@)?([^/?#]*)(.*)$/.exec(url);
  if (!m) throw new Error(`Invalid PostgreSQL URL ${JSON.stringify(url)}: expected postgres://user@host:port/database`);
  const [, scheme, userinfo, hostlist, rest] = m;
  const hosts = hostlist!.split(",").filter((h) => h !== "");
  if (hosts.length === 0) hosts.push("localhost");
  const auth = userinfo === undefined ? "" : `${userinfo}@`;
  // target_session_attrs is ours to honour (the driver ignores it): drop it from what reaches pg.
  const cleaned = rest!.replace(/([?&])target_session_attrs=[^&]*&?/, "$1").replace(/[?&]$/, "");
  const masked = userinfo?.includes(":") ? `${userinfo.slice(0, userinfo.indexOf(":"))}:***@` : auth;
  return { hosts: hosts.map((h) => `${scheme}${auth}${h}${cleaned}`), display: `${scheme}${masked}${hostlist}${cleaned}` };
}

/** SQLSTATEs and socket errors after which the connection or its server cannot be trusted to write. */
const LOST = new Set([
  "57P01", // admin_shutdown
  "57P02", // crash_shutdown
  "57P03", // cannot_connect_now
  "25006", // read_only_sql_transaction: we are on a standby (a demoted primary)
  "08000",
  "08003",
  "08006",
  "08001",
  "08004",
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENOTFOUND",
]);

/** The driver refused before sending anything: the pool was ended (by `lost()`, after a failover). */
export function isPoolEnded(e: unknown): boolean {
  return e instanceof Error && /Cannot use a pool after calling end on the pool/.test(e.message);
}

/** True for errors that mean "this server is gone or no longer the primary", not "this query was wrong". */
export function isConnectionLoss(e: unknown): boolean {
  if (!(e instanceof Error)) return false;
  const code = (e as { code?: unknown }).code;
  if (typeof code === "string" && LOST.has(code)) return true;
  // The driver's own words for a connection that is gone or never came (pg, pg-pool).
  return /Connection terminated|not queryable|Client has encountered a connection error|timeout exceeded when trying to connect|timeout expired|Connection ended|Cannot use a pool after calling end/i.test(
    e.message,
  );
}

type PgModule = typeof import("pg");
let pgModule: Promise<PgModule> | null = null;
function loadPg(): Promise<PgModule> {
  pgModule ??= import("pg").then((m) => ((m as unknown as { default?: PgModule }).default ?? m) as PgModule);
  return pgModule;
}

/** bytea arrives as `\x` + hex: decoded straight into a Uint8Array, the type the rest of OpenKV uses. */
function parseBytea(v: string): Uint8Array {
  const b = Buffer.from(v.substring(2), "hex");
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/**
 * Result types for our own connections only (the driver's global table is left alone): int8 as a JS
 * number — every int8 we store (times, counters, ids) is far below 2^53 — and bytea as Uint8Array.
 */
function types(pg: PgModule) {
  return {
    getTypeParser(oid: number, format?: "text" | "binary") {
      if (oid === 20) return (v: string) => Number(v);
      if (oid === 17 && format !== "binary") return parseBytea;
      return pg.types.getTypeParser(oid, format ?? "text");
    },
  };
}

export interface PrimaryPools {
  /** Reads and short statements. */
  readonly pool: Pool;
  /** The group-commit writer: one pipelined connection, so a batch costs two round trips. */
  readonly writer: Client;
  readonly host: string;
}

/** How long `primary()` keeps looking for a writable host before it gives up (a failover takes seconds). */
const DISCOVERY_MS = 15_000;

export class PgConnector {
  readonly target: PgTarget;
  #current: Promise<PrimaryPools> | null = null;
  /** What `#current` resolved to, while it is current: a commit can take it without awaiting. */
  #settled: PrimaryPools | null = null;
  #closed = false;
  #poolSize: number;
  #discoveryMs: number;
  #listeners = new Set<() => void>();

  constructor(url: string, options: { poolSize?: number; discoveryMs?: number } = {}) {
    this.target = parseStoreUrl(url);
    this.#poolSize = options.poolSize ?? 10;
    this.#discoveryMs = options.discoveryMs ?? DISCOVERY_MS;
  }

  /** The pools of the writable host, discovered on first use and again after `lost()`. */
  primary(): Promise<PrimaryPools> {
    if (this.#closed) return Promise.reject(new Error("The PostgreSQL store is closed"));
    if (!this.#current) {
      const current: Promise<PrimaryPools> = this.#discover().then(
        (p) => {
          if (this.#current === current) this.#settled = p;
          return p;
        },
        (e) => {
          if (this.#current === current) this.#current = null;
          throw e;
        },
      );
      this.#current = current;
    }
    return this.#current;
  }

  /** The writable host's pools if they are known and not lost, else null (then `primary()` finds them). */
  get settled(): PrimaryPools | null {
    return this.#settled;
  }

  /** Forgets the current primary (its connections are closed); the next `primary()` looks again. */
  lost(pools?: PrimaryPools): void {
    if (!pools || this.#settled === pools) this.#settled = null;
    const current = this.#current;
    if (!current) return;
    void current.then(
      (p) => {
        if (pools && p !== pools) return;
        if (this.#current === current) this.#current = null;
        void p.writer.end().catch(() => {});
        void p.pool.end().catch(() => {});
      },
      () => {},
    );
  }

  async #discover(): Promise<PrimaryPools> {
    const pg = await loadPg();
    const deadline = Date.now() + this.#discoveryMs;
    const errors = new Map<string, string>();
    for (let round = 0; ; round++) {
      for (const host of this.target.hosts) {
        if (this.#closed) throw new Error("The PostgreSQL store is closed");
        const config: PoolConfig = {
          connectionString: host,
          max: this.#poolSize,
          connectionTimeoutMillis: 2000,
          idleTimeoutMillis: 30_000,
          types: types(pg),
          application_name: "openkv",
        };
        const pool = new pg.Pool(config);
        // An idle client whose server went away emits here; without a listener the process would exit.
        pool.on("error", () => this.lost());
        try {
          const probe = await pool.query("SELECT pg_is_in_recovery() AS standby");
          if (probe.rows[0].standby === true) {
            errors.set(host, "a standby (read-only)");
            await pool.end();
            continue;
          }
          const writer = new pg.Client({ connectionString: host, types: types(pg), application_name: "openkv", pipeline: true } as ConstructorParameters<typeof pg.Client>[0]);
          writer.on("error", () => this.lost());
          await writer.connect();
          // Every statement the writer runs finds its rows by primary key, so each is planned once (a
          // generic plan; left to choose, PostgreSQL planned the batch read afresh on every execution),
          // and only with index lookups: a generic plan made while `entries` was a page or two hashes or
          // scans the whole table for its lookups, and goes on doing so as the table grows (measured: 5 ms
          // a batch of 100 at 5,000 keys).
          await writer.query(
            "SET plan_cache_mode = force_generic_plan; SET enable_seqscan = off; SET enable_hashjoin = off; SET enable_mergejoin = off",
          );
          return { pool, writer, host };
        } catch (e) {
          errors.set(host, e instanceof Error ? e.message : String(e));
          await pool.end().catch(() => {});
        }
      }
      if (Date.now() >= deadline) {
        const detail = [...errors].map(([h, why]) => `${parseStoreUrl(h).display}: ${why}`).join("; ");
        throw new Error(
          `No writable PostgreSQL found at ${this.target.display} (${detail}). Start the server, or check the URL; with several hosts, one must be a primary.`,
        );
      }
      // A failover is under way: look again soon, not in a tight loop.
      await new Promise((r) => setTimeout(r, Math.min(250, 50 * (round + 1))));
    }
  }

  /**
   * LISTENs on `channel` on the current primary and calls `listener` for each notification, and once
   * after every (re)connection — commits made while nobody listened are found by reading the feed. A
   * lost connection is re-established on the new primary. Returns a function that stops it.
   */
  listen(channel: string, listener: () => void): () => void {
    let stopped = false;
    let client: Client | null = null;
    const run = async (): Promise<void> => {
      while (!stopped && !this.#closed) {
        try {
          const pools = await this.primary();
          const pg = await loadPg();
          const c = new pg.Client({ connectionString: pools.host, application_name: "openkv-listen" });
          const ended = new Promise<void>((resolve) => {
            c.on("error", () => resolve());
            c.on("end", () => resolve());
          });
          await c.connect();
          client = c;
          if (stopped) break;
          c.on("notification", () => listener());
          await c.query(`LISTEN ${channel}`);
          listener();
          await ended;
          client = null;
          if (!stopped) this.lost(pools);
        } catch {
          if (stopped || this.#closed) break;
          await new Promise((r) => setTimeout(r, 200));
        }
      }
      await client?.end().catch(() => {});
    };
    void run();
    this.#listeners.add(() => {
      stopped = true;
      void client?.end().catch(() => {});
    });
    return () => {
      stopped = true;
      void client?.end().catch(() => {});
    };
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#settled = null;
    for (const stop of this.#listeners) stop();
    this.#listeners.clear();
    const current = this.#current;
    this.#current = null;
    if (!current) return;
    try {
      const p = await current;
      await Promise.all([p.writer.end(), p.pool.end()]);
    } catch {
      // Never connected: nothing to close.
    }
  }
}
