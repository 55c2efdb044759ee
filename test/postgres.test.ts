/**
 * What only the PostgreSQL store has (the shared suites prove the rest): finding the writable host in a
 * multi-host URL, a clear error when there is none, the schema version it records, no plaintext in the
 * server's files when encrypted, and `openkv migrate` / `backup` / `restore` between SQLite and PostgreSQL.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import pg from "pg";
import { openKv } from "../src/api/deno/index.ts";
import { openNamespace } from "../src/api/workers/index.ts";
import { u64Bytes } from "../src/core/atomic.ts";
import { KvError } from "../src/core/errors.ts";
import { STORE_ID_SETTING } from "../src/core/store-id.ts";
import { PostgresBackend } from "../src/storage/index.ts";
import { parseStoreUrl } from "../src/storage/postgres/connection.ts";
import { MIGRATIONS } from "../src/storage/postgres/migrations.ts";
import { counterFromVersionstamp, versionstampFromCounter } from "../src/core/versionstamp.ts";
import { freshStoreUrl, testPostgres } from "./fixtures/postgres.ts";
import { cleanEnv, openkv, tempDir } from "./cli/helpers.ts";

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

test("a multi-host URL: hosts that refuse are skipped, the writable one is used; passwords never shown", async () => {
  const url = await freshStoreUrl();
  const dead = await closedPort();
  const multi = url.replace("@127.0.0.1:", `@127.0.0.1:${dead},127.0.0.1:`);
  const kv = await openKv(multi);
  try {
    await kv.set(["k"], "v");
    assert.equal((await kv.get(["k"])).value, "v");
  } finally {
    kv.close();
  }
  const parsed = parseStoreUrl("postgres://app:s3cret@h1:5432,h2:5433/kv?sslmode=disable&target_session_attrs=read-write");
  assert.deepEqual(parsed.hosts, ["postgres://app:s3cret@h1:5432/kv?sslmode=disable", "postgres://app:s3cret@h2:5433/kv?sslmode=disable"]);
  assert.equal(parsed.display, "postgres://app:***@h1:5432,h2:5433/kv?sslmode=disable");
});

test("no writable host: every operation fails with `unavailable`, saying which hosts answered what", async () => {
  const dead = await closedPort();
  const b = new PostgresBackend(`postgres://openkv:pw@127.0.0.1:${dead}/x`, { discoveryMs: 300 });
  try {
    await assert.rejects(b.listNamespaces(), (e: unknown) => {
      assert.ok(e instanceof KvError && e.code === "unavailable", String(e));
      assert.match(e.message, /^The PostgreSQL store at postgres:\/\/openkv:\*\*\*@127\.0\.0\.1:\d+\/x is unavailable \(No writable PostgreSQL found at .*ECONNREFUSED.*Start the server, or check the URL/);
      assert.doesNotMatch(e.message, /pw/);
      return true;
    });
  } finally {
    await b.close();
  }
});

test("the schema version is recorded; nodes starting together migrate once", async () => {
  const url = await freshStoreUrl();
  const nodes = Array.from({ length: 4 }, () => new PostgresBackend(url));
  try {
    await Promise.all(nodes.map((b) => b.listNamespaces()));
    for (const b of nodes) assert.equal(await b.schemaVersion(), MIGRATIONS.length);
  } finally {
    await Promise.all(nodes.map((b) => b.close()));
  }
});

test("encrypted: the server's files (tables, WAL) hold none of the plaintext values or metadata", async () => {
  const server = await testPostgres();
  const url = await server.createDatabase("sealed_files");
  const secret = `TOP-SECRET-${randomBytes(8).toString("hex")}`;
  const key = randomBytes(32);
  const kv = await openKv(url, { encryptionKey: key });
  try {
    for (let i = 0; i < 50; i++) await kv.set(["s", i], `${secret}-${i}`);
    // Big enough to be TOASTed out of line by PostgreSQL.
    await kv.set(["big"], `${secret}-big-`.repeat(2_000));
    await kv.enqueue(`${secret}-queued`, { delay: 3_600_000 });
    assert.equal((await kv.get(["s", 7])).value, `${secret}-7`);
  } finally {
    kv.close();
  }
  const ns = await openNamespace(url, { encryptionKey: key });
  try {
    await ns.put("workers", `${secret}-workers`, { metadata: { note: `${secret}-metadata` } });
    assert.deepEqual((await ns.getWithMetadata("workers")).metadata, { note: `${secret}-metadata` });
  } finally {
    await ns.close();
  }
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query("CHECKPOINT");
  await admin.end();
  const needle = Buffer.from(secret);
  const hits: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      const st = statSync(path);
      if (st.isDirectory()) walk(path);
      else if (st.isFile() && readFileSync(path).includes(needle)) hits.push(path);
    }
  };
  walk(server.primary.dataDir);
  assert.deepEqual(hits, [], "no file of the PostgreSQL server holds a plaintext value");
  // The check could fail: the same write without a key does land in the files.
  const plainUrl = await server.createDatabase("plain_files");
  const plain = await openKv(plainUrl);
  await plain.set(["p"], `${secret}-plain`);
  plain.close();
  const again = new pg.Client({ connectionString: plainUrl });
  await again.connect();
  await again.query("CHECKPOINT");
  await again.end();
  walk(server.primary.dataDir);
  assert.ok(hits.length > 0, "a plaintext store's value is found in the files");
});

test("openkv migrate moves a data directory into PostgreSQL exactly, account id and tokens too; backup and restore --store round-trip it", { timeout: 120_000 }, async () => {
  const work = tempDir("pg-migrate");
  const env = cleanEnv(work);
  const dir = join(work, "data");
  const kv = await openKv(join(dir, "openkv.sqlite"), { namespace: "app" });
  await kv.set(["users", "ada"], { name: "Ada" }, { expireIn: 3_600_000 });
  await kv.atomic().sum(["visits"], 41n).commit();
  await kv.enqueue("hello", { delay: 3_600_000 });
  for (let i = 0; i < 1200; i++) await kv.set(["bulk", i], i);
  kv.close();
  // What `serve --data` keeps beside the store: an account id, an admin token, API tokens.
  writeFileSync(join(dir, "account-id"), "0123456789abcdef0123456789abcdef\n");
  writeFileSync(join(dir, "admin-token"), "okv_the_old_admin_token\n");
  const token = await openkv(["token", "create", "ci", "--permission", "read", "--persist-to", dir], { cwd: work, env });
  assert.equal(token.code, 0, token.stderr);
  const target = await freshStoreUrl();
  const source = new DatabaseSync(join(dir, "openkv.sqlite"));
  source.prepare("INSERT INTO settings (name, value) VALUES (?, ?)").run(STORE_ID_SETTING, "the-source-store");
  source.close();

  const migrated = await openkv(["migrate", "--from", dir, "--to", target], { cwd: work, env });
  assert.equal(migrated.code, 0, migrated.stderr);
  assert.match(migrated.stdout, /Carried over the account id from account-id\.\nCarried over the admin token \(only its hash is stored\) from admin-token\.\nCarried over the API tokens from tokens\.json\./);
  const listed = await openkv(["token", "list", "--store", target], { cwd: work, env });
  assert.equal(listed.code, 0, listed.stderr);
  assert.match(listed.stdout, /ci/);
  const settings = new PostgresBackend(target);
  try {
    assert.equal(await settings.getSetting("account-id"), "0123456789abcdef0123456789abcdef");
    assert.equal(await settings.getSetting(STORE_ID_SETTING), null, "a copy is a new store: edges' cache files do not take it for the source");
    assert.equal(await settings.getSetting("admin-token-sha256"), createHash("sha256").update("okv_the_old_admin_token").digest("hex"));
  } finally {
    await settings.close();
  }
  assert.match(migrated.stdout, /Copied 2 namespaces, 1,202 entries and 1 queue message into postgres:\/\//);
  // Opening a store for export adds an empty `default` namespace (with an id of its own) where none was:
  // leave it out, compare the rest line for line.
  const exportOf = async (where: string[]) => {
    const r = await openkv(["export", ...where], { cwd: work, env });
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.split("\n").filter((line) => !line.includes('"title":"default"'));
  };
  const same = (a: string[], b: string[], what: string) => {
    const diff = a.findIndex((line, i) => line !== b[i]);
    assert.ok(a.length === b.length && diff === -1, `${what}: line ${diff}: ${a[diff]?.slice(0, 200)} ≠ ${b[diff]?.slice(0, 200)}`);
  };
  const fromSqlite = await exportOf(["--persist-to", dir]);
  assert.equal(fromSqlite.length, 1 + 1202 + 1);
  same(await exportOf(["--store", target]), fromSqlite, "every entry, value, versionstamp and expiry is the same");

  const again = await openkv(["migrate", "--from", dir, "--to", target], { cwd: work, env });
  assert.equal(again.code, 1);
  assert.match(again.stderr, /already holds data \(2 namespaces\): copying into it would mix two stores/);

  const backup = await openkv(["backup", "pg.bak", "--store", target], { cwd: work, env });
  assert.equal(backup.code, 0, backup.stderr);
  const restoredUrl = await freshStoreUrl();
  const restored = await openkv(["restore", "pg.bak", "--store", restoredUrl], { cwd: work, env });
  assert.equal(restored.code, 0, restored.stderr);
  same(await exportOf(["--store", restoredUrl]), fromSqlite, "the backup of a PostgreSQL store restores exactly");
  const pgKv = await openKv(restoredUrl, { namespace: "app" });
  try {
    const next = await pgKv.set(["after"], 1);
    const exported = fromSqlite.filter((l) => l.includes('"versionstamp"'));
    const last = exported.map((l) => (JSON.parse(l) as { versionstamp: string }).versionstamp).sort().at(-1)!;
    assert.ok(next.versionstamp > last, "new versionstamps sort after the copied ones");
  } finally {
    pgKv.close();
  }
});

test("a 25 MiB value goes in and comes back byte for byte; listing its key reads none of it", async () => {
  const ns = await openNamespace(await freshStoreUrl());
  try {
    const big = randomBytes(25 * 1024 * 1024);
    let t = performance.now();
    await ns.put("big", big, { metadata: { size: big.length } });
    const wrote = performance.now() - t;
    t = performance.now();
    const back = new Uint8Array((await ns.get("big", "arrayBuffer"))!);
    const read = performance.now() - t;
    assert.equal(back.length, big.length);
    assert.ok(Buffer.from(back).equals(big), "the same bytes");
    assert.deepEqual((await ns.list()).keys, [{ name: "big", metadata: { size: big.length } }]);
    await ns.delete("big");
    assert.equal(await ns.get("big"), null);
    process.stderr.write(`postgres 25 MiB: put ${Math.round(wrote)} ms, get ${Math.round(read)} ms\n`);
  } finally {
    await ns.close();
  }
});

const NS = { id: "0123456789abcdef0123456789abcdef", title: "one-trip", createdAt: 1 };
const setItem = (key: string, value = "v") => ({
  namespaceId: NS.id,
  write: { checks: [], mutations: [{ type: "set" as const, key: Buffer.from(key), value: { encoding: "bytes" as const, data: Buffer.from(value) } }], enqueues: [] },
});
const deleteItem = (key: string) => ({ namespaceId: NS.id, write: { checks: [], mutations: [{ type: "delete" as const, key: Buffer.from(key) }], enqueues: [] } });

/** Counts the statements the group-commit writer is sent, from now on. */
async function countWriterQueries(b: PostgresBackend): Promise<{ n: number }> {
  const { writer } = await b.connector.primary();
  const seen = { n: 0 };
  const query = writer.query.bind(writer) as (...a: unknown[]) => unknown;
  (writer as unknown as { query: (...a: unknown[]) => unknown }).query = (...a) => {
    seen.n++;
    return query(...a);
  };
  return seen;
}

test("a write that reads nothing commits in one statement (one round trip); so does a lone write with checks; checks in a batch take the lock first", async () => {
  const b = new PostgresBackend(await freshStoreUrl());
  try {
    await b.createNamespace(NS);
    const sent = await countWriterQueries(b);
    const [a1, a2] = await b.commit([setItem("a"), deleteItem("b")], 5);
    assert.equal(sent.n, 1);
    const vs = (a: unknown) => (a as { result: { versionstamp: Uint8Array } }).result.versionstamp;
    // Consecutive versionstamps, as the two-trip path gives, and the stored entry carries its own.
    assert.equal(counterFromVersionstamp(vs(a2)), counterFromVersionstamp(vs(a1)) + 1n);
    const [[got]] = await b.read(NS.id, [{ start: Buffer.from("a"), end: Buffer.from("a\0"), limit: 1, reverse: false }], 5);
    assert.deepEqual(got!.versionstamp, vs(a1));
    const feed = await b.changes(versionstampFromCounter(0n), 10);
    assert.deepEqual(feed.changes.map((c) => c.versionstamp), [vs(a1), vs(a2)]);
    assert.deepEqual(feed.latest, vs(a2));

    const checked = (key: string, checks: { key: string; versionstamp: Uint8Array | null }[], item = setItem(key)) => ({
      ...item,
      write: { ...item.write, checks: checks.map((c) => ({ key: Buffer.from(c.key), versionstamp: c.versionstamp })) },
    });
    const counter = async () => (await b.changes(versionstampFromCounter(0n), 100)).latest;
    sent.n = 0;
    const [c] = await b.commit([checked("c", [{ key: "c", versionstamp: null }])], 5);
    assert.equal(counterFromVersionstamp(vs(c)), counterFromVersionstamp(vs(a2)) + 1n);
    assert.equal(sent.n, 1);
    // Failing checks: reported by index, in one statement; nothing written, no versionstamp used.
    sent.n = 0;
    const [failed] = await b.commit([checked("c", [{ key: "a", versionstamp: vs(a1) }, { key: "c", versionstamp: null }, { key: "a", versionstamp: vs(a2) }], setItem("c", "new"))], 5);
    assert.deepEqual(failed, { result: { ok: false, failedChecks: [1, 2] }, changed: [] });
    assert.equal(sent.n, 1);
    assert.deepEqual(await counter(), vs(c));
    const [[still]] = await b.read(NS.id, [{ start: Buffer.from("c"), end: Buffer.from("c\0"), limit: 1, reverse: false }], 5);
    assert.equal(Buffer.from(still!.data).toString(), "v");
    // A check on an entry that has expired finds it absent, as executeAtomic does.
    await b.commit([{ namespaceId: NS.id, write: { checks: [], mutations: [{ type: "set", key: Buffer.from("e"), value: { encoding: "bytes", data: Buffer.from("x") }, expiresAt: 10 }], enqueues: [] } }], 5);
    const [expired] = await b.commit([checked("f", [{ key: "e", versionstamp: null }])], 20);
    assert.ok(!(expired instanceof KvError) && expired.result.ok);
    // Checks in a batch of more than one write: the two trips (BEGIN + lock, the read, the write, COMMIT).
    sent.n = 0;
    const [d1, d2] = await b.commit([checked("d", [{ key: "d", versionstamp: null }]), setItem("d2")], 5);
    assert.ok(!(d1 instanceof KvError) && d1.result.ok && !(d2 instanceof KvError) && d2.result.ok);
    assert.equal(sent.n, 4);
  } finally {
    await b.close();
  }
});

/**
 * Another session takes the counter's row (moving the counter, or rewriting the row as a settings change
 * does) and inserts "k" (`value`) without committing; then `start` begins a write on a fresh store
 * (namespace NS, one entry written), whose statement takes its snapshot — without "k" — and waits for that
 * lock; then the other session commits. `check` gets what the write returned.
 */
async function withLateInsert<T>(
  value: string,
  moveCounter: boolean,
  start: (b: PostgresBackend) => Promise<T>,
  check: (b: PostgresBackend, result: T) => Promise<void>,
): Promise<void> {
  const url = await freshStoreUrl();
  const b = new PostgresBackend(url);
  const x = new pg.Client({ connectionString: url, application_name: "other" });
  await x.connect();
  try {
    await b.createNamespace(NS);
    await b.commit([setItem("before")], 5);
    await x.query("BEGIN");
    await x.query(moveCounter ? "UPDATE openkv_meta SET value = value + 1 WHERE name = 'versionstamp'" : "UPDATE openkv_meta SET value = value WHERE name = 'versionstamp'");
    await x.query(
      "INSERT INTO entries (ns, key, value, encoding, versionstamp) SELECT seq, $1, $2, 3, '\\x00000000000000630000'::bytea FROM namespaces WHERE id = $3",
      [Buffer.from("k"), Buffer.from(value), NS.id],
    );
    const result = start(b);
    const deadline = Date.now() + 10_000;
    while ((await x.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'openkv' AND wait_event_type = 'Lock'")).rows[0].n !== 1) {
      assert.ok(Date.now() < deadline, "the write never waited for the counter's lock");
    }
    await x.query("COMMIT");
    await check(b, await result);
  } finally {
    await x.end();
    await b.close();
  }
}

const readK = async (b: PostgresBackend) => (await b.read(NS.id, [{ start: Buffer.from("k"), end: Buffer.from("k\0"), limit: 1, reverse: false }], 5))[0]![0];

for (const [other, batch] of [
  ["commits a write (the counter moves)", [deleteItem("k")]],
  ["changes a setting (the counter row is rewritten, its value kept)", [deleteItem("k")]],
  ["commits a write (the counter moves), the delete in a batch of two", [deleteItem("k"), deleteItem("k2")]],
] as const) {
  test(`a one-statement delete that waited for the counter while another session ${other} still deletes the row it inserted`, async () => {
    await withLateInsert(
      "late",
      other.startsWith("commits"),
      (b) => b.commit([...batch], 5),
      async (b, results) => {
        for (const r of results) assert.equal((r as { result: { ok: boolean } }).result.ok, true);
        assert.equal(await readK(b), undefined);
      },
    );
  });
}

test("a lone checked write whose statement waited for the counter while another session inserted the checked key fails its check (it goes again in two trips)", async () => {
  let sent = { n: 0 };
  await withLateInsert(
    "theirs",
    true,
    async (b) => {
      sent = await countWriterQueries(b);
      // Its snapshot has no "k", so the check passes there.
      return b.commit([{ ...setItem("k", "mine"), write: { ...setItem("k", "mine").write, checks: [{ key: Buffer.from("k"), versionstamp: null }] } }], 5);
    },
    async (b, [r]) => {
      assert.deepEqual(r, { result: { ok: false, failedChecks: [0] }, changed: [] });
      assert.equal(sent.n, 1 + 3, "one statement that wrote nothing, then BEGIN + lock, the read and COMMIT (nothing to write)");
      assert.equal(Buffer.from((await readK(b))!.data).toString(), "theirs");
    },
  );
});

/** A batch item in NS of `mutations`, no checks. */
const item = (mutations: unknown[]) => ({ namespaceId: NS.id, write: { checks: [], mutations, enqueues: [] } }) as Parameters<PostgresBackend["commit"]>[0][number];
/** A KvU64 sum of `n` on `key`. */
const sum = (key: string, n: bigint) => ({ type: "sum", key: Buffer.from(key), value: { encoding: "le64", data: u64Bytes(n) } });

test("a KvU64 sum commits in one statement, added by the server: absent or expired takes the operand, 2^64 wraps; a non-U64 value still fails the write alone", async () => {
  const b = new PostgresBackend(await freshStoreUrl());
  const value = async (key: string, now = 5) => {
    const [[e]] = await b.read(NS.id, [{ start: Buffer.from(key), end: Buffer.from(key + "\0"), limit: 1, reverse: false }], now);
    return e && { n: Buffer.from(e.data).readBigUInt64LE(), encoding: e.encoding, expiresAt: e.expiresAt, metadata: e.metadata, versionstamp: e.versionstamp };
  };
  try {
    await b.createNamespace(NS);
    await b.commit([item([{ type: "set", key: Buffer.from("big"), value: { encoding: "le64", data: u64Bytes(2n ** 64n - 2n) } }])], 5);
    await b.commit([item([{ type: "set", key: Buffer.from("old"), value: { encoding: "le64", data: u64Bytes(40n) }, expiresAt: 10, metadata: "m" }])], 5);
    await b.commit([item([{ type: "set", key: Buffer.from("text"), value: { encoding: "bytes", data: Buffer.from("hi") } }])], 5);
    const sent = await countWriterQueries(b);
    const [r] = await b.commit([item([sum("big", 5n), sum("new", 7n), sum("old", 1n), { type: "set", key: Buffer.from("other"), value: { encoding: "bytes", data: Buffer.from("x") } }])], 20);
    assert.equal(sent.n, 1);
    const vs = (r as { result: { versionstamp: Uint8Array } }).result.versionstamp;
    assert.deepEqual(await value("big", 20), { n: 3n, encoding: "le64", expiresAt: null, metadata: null, versionstamp: vs });
    assert.equal((await value("new", 20))!.n, 7n);
    // "old" had expired at 10: the sum starts from the operand, and the expiry and metadata are gone.
    assert.deepEqual(await value("old", 20), { n: 1n, encoding: "le64", expiresAt: null, metadata: null, versionstamp: vs });
    // Keys and bytes as the triggers count them, the sums (their own insert) included; "old" lost its metadata.
    assert.deepEqual(await b.namespaceStats(NS.id), { keyCount: 5, byteCount: 3 * (3 + 8) + (4 + 2) + (5 + 1) });

    // A lone sum and a lone set (the statement's scalar form), then a lone sum on a non-U64 value.
    sent.n = 0;
    const [lone] = await b.commit([item([sum("big", 2n ** 32n)])], 20);
    await b.commit([item([{ type: "set", key: Buffer.from("other"), value: { encoding: "bytes", data: Buffer.from("xy") } }])], 20);
    assert.equal(sent.n, 2);
    assert.deepEqual(await value("big", 20), { n: 2n ** 32n + 3n, encoding: "le64", expiresAt: null, metadata: null, versionstamp: (lone as { result: { versionstamp: Uint8Array } }).result.versionstamp });
    assert.deepEqual(await b.namespaceStats(NS.id), { keyCount: 5, byteCount: 3 * (3 + 8) + (4 + 2) + (5 + 2) });
    const [loneBad] = await b.commit([item([sum("text", 1n)])], 20);
    assert.equal((loneBad as KvError).message, "Failed to perform 'sum' mutation on a non-U64 value in the database");

    sent.n = 0;
    const [bad, good] = await b.commit([item([sum("text", 1n), sum("big", 1n)]), item([sum("new", 1n)])], 20);
    assert.equal((bad as KvError).message, "Failed to perform 'sum' mutation on a non-U64 value in the database");
    // The lone sum on "text" found the non-U64 value and wrote nothing, then went in two trips; the
    // batches right after a fallback take two trips directly.
    assert.equal(sent.n, 4);
    assert.ok(!(good instanceof KvError) && good.result.ok);
    assert.equal((await value("big", 20))!.n, 2n ** 32n + 3n);
    assert.equal((await value("new", 20))!.n, 8n);
  } finally {
    await b.close();
  }
});

test("KvU64 sums added by the server match BigInt arithmetic mod 2^64: carries across the halves, the top bit, lone and batched", async () => {
  const b = new PostgresBackend(await freshStoreUrl());
  const M = 2n ** 64n;
  // Values on every boundary the two 32-bit halves and the sign bit of int8 have, and seeded randoms.
  const edges = [0n, 1n, 2n ** 31n - 1n, 2n ** 31n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 63n - 1n, 2n ** 63n, M - 2n ** 32n, M - 1n];
  let seed = 0x9e3779b97f4a7c15n;
  const random = () => (seed = (seed * 6364136223846793005n + 1442695040888963407n) % M);
  const operands = [...edges, ...Array.from({ length: 30 }, random)];
  try {
    await b.createNamespace(NS);
    const sent = await countWriterQueries(b);
    const expected = new Map<string, bigint>();
    for (const [i, start] of edges.entries()) {
      await b.commit([item([{ type: "set", key: Buffer.from(`k${i}`), value: { encoding: "le64", data: u64Bytes(start) } }])], 5);
      expected.set(`k${i}`, start);
    }
    let commits = edges.length;
    for (const [j, n] of operands.entries()) {
      const key = `k${j % edges.length}`;
      if (j % 2 === 0) {
        // A lone sum: the scalar statement.
        await b.commit([item([sum(key, n)])], 5);
        expected.set(key, (expected.get(key)! + n) % M);
      } else {
        // A batch of two sums on different keys: the array statement.
        const other = `k${(j + 3) % edges.length}`;
        await b.commit([item([sum(key, n)]), item([sum(other, M - 1n - n)])], 5);
        expected.set(key, (expected.get(key)! + n) % M);
        expected.set(other, (expected.get(other)! + M - 1n - n) % M);
      }
      commits++;
    }
    // Every commit took the one-statement path: none fell back to two trips.
    assert.equal(sent.n, commits);
    const [rows] = await b.read(NS.id, [{ start: Buffer.from("k"), end: Buffer.from("l"), limit: 100, reverse: false }], 5);
    assert.deepEqual(
      new Map(rows!.map((e) => [Buffer.from(e.key).toString(), Buffer.from(e.data).readBigUInt64LE()])),
      expected,
    );
  } finally {
    await b.close();
  }
});

test("migration 3 replaces the counter triggers of a store written before it: counts carried over exactly, then kept by every path", async () => {
  const url = await freshStoreUrl();
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  const b = new PostgresBackend(url);
  try {
    // A store at schema 2, written through its triggers (as the previous version left it).
    await c.query("BEGIN");
    for (const m of MIGRATIONS.slice(0, 2)) await c.query(m);
    await c.query("INSERT INTO openkv_meta (name, value) VALUES ('schema_version', 2)");
    await c.query("INSERT INTO namespaces (id, title, created_at) VALUES ($1, 'old', 0), ($2, 'empty', 0)", [NS.id, "e".repeat(32)]);
    await c.query(
      `INSERT INTO entries (ns, key, value, encoding, versionstamp, metadata)
         SELECT 1, convert_to('k' || i, 'UTF8'), '\\x0102'::bytea, 3, '\\x00000000000000010000'::bytea, CASE WHEN i % 2 = 0 THEN 'ü' END FROM generate_series(1, 5) i`,
    );
    await c.query("DELETE FROM entries WHERE key = 'k1'");
    await c.query("UPDATE openkv_meta SET value = 7 WHERE name = 'versionstamp'");
    await c.query("COMMIT");
    const before = (await c.query("SELECT keys, bytes FROM ns_stats WHERE ns = 1")).rows[0];
    // k2..k5: 2-byte keys and values, "ü" (2 bytes) on k2 and k4.
    assert.deepEqual({ keys: Number(before.keys), bytes: Number(before.bytes) }, { keys: 4, bytes: 4 * 4 + 2 * 2 });

    assert.equal(await b.schemaVersion(), MIGRATIONS.length);
    assert.deepEqual((await c.query("SELECT tgname FROM pg_trigger WHERE tgrelid = 'entries'::regclass AND NOT tgisinternal")).rows, []);
    assert.deepEqual(await b.namespaceStats(NS.id), { keyCount: 4, byteCount: 20 });
    // The namespace that had no entries (so no counters row under the triggers) got one.
    assert.deepEqual(await b.namespaceStats("e".repeat(32)), { keyCount: 0, byteCount: 0 });
    assert.deepEqual((await c.query("SELECT count(*)::int AS n FROM ns_stats")).rows[0].n, 2);
    // Lone writes (feed-row deltas), a batch, a fold by the feed's pruning, each matching a scan.
    await b.commit([setItem("k9", "abc")], 5);
    await b.commit([deleteItem("k2")], 5);
    // + k9 (2 + 3 bytes), − k2 (2 + 2 + "ü" 2).
    assert.deepEqual(await b.namespaceStats(NS.id), { keyCount: 4, byteCount: 20 + 5 - 6 });
    // k3's value 2 → 1 byte, + k10 (3 + 1).
    await b.commit([setItem("k3", "a"), setItem("k10")], 5);
    assert.deepEqual(await b.namespaceStats(NS.id), { keyCount: 5, byteCount: 19 - 1 + 4 });
    assert.equal((await c.query("SELECT count(*)::int AS n FROM changes WHERE dkeys <> 0 OR dbytes <> 0")).rows[0].n, 2);
    await b.pruneChanges(Date.now() + 60_000, 0);
    assert.equal((await c.query("SELECT count(*)::int AS n FROM changes")).rows[0].n, 0);
    assert.deepEqual(await b.namespaceStats(NS.id), { keyCount: 5, byteCount: 22 });
    assert.deepEqual(await b.analytics.allNamespaceStats(), new Map([[NS.id, { keyCount: 5, byteCount: 22 }], ["e".repeat(32), { keyCount: 0, byteCount: 0 }]]));
  } finally {
    await c.end();
    await b.close();
  }
});

test("a one-statement write on a writer already closed is `unavailable` (nothing was sent), and the next write reconnects", async () => {
  const b = new PostgresBackend(await freshStoreUrl());
  try {
    await b.createNamespace(NS);
    await (await b.connector.primary()).writer.end();
    await assert.rejects(b.commit([setItem("a")], 5), (e: KvError) => e.code === "unavailable");
    const [r] = await b.commit([setItem("a")], 5);
    assert.ok(!(r instanceof KvError) && r.result.ok);
  } finally {
    await b.close();
  }
});
