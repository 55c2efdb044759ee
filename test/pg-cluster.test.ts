/**
 * The PostgreSQL harness (scripts/pg-cluster.ts) on real servers: a single node for test suites, a quorum
 * cluster with failover, and no server or temp dir left behind however the process ends.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { after, before, describe, test } from "node:test";
import pg from "pg";
import { pgBinDir, startCluster, startPostgres, type PgCluster, type PgNode } from "../scripts/pg-cluster.ts";

async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  client.on("error", () => {}); // servers are killed under some clients on purpose
  await client.connect();
  return client;
}

async function query<T extends pg.QueryResultRow = pg.QueryResultRow>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const client = await connect(url);
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

/** Polls until check() returns true, for at most timeoutMs. */
async function eventually(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`not within ${timeoutMs} ms: ${what}`);
    await delay(10);
  }
}

/** Live processes (zombies aside) with dir as an argument: the postmaster of that node (and runuser above it). */
function processesUsing(dir: string): number[] {
  const found: number[] = [];
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      if (/\) [ZX] /.test(stat)) continue;
      if (readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").includes(dir)) found.push(Number(pid));
    } catch {
      // exited while we looked
    }
  }
  return found;
}

function postmasterPid(node: PgNode): number {
  return Number(readFileSync(join(node.dataDir, "postmaster.pid"), "utf8").split("\n")[0]);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/\) [ZX] /.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

test("pgBinDir finds the server programs", () => {
  for (const program of ["initdb", "postgres", "pg_ctl", "pg_basebackup"]) assert.ok(existsSync(join(pgBinDir(), program)), program);
});

describe("startPostgres", () => {
  let server: PgCluster;
  before(async () => {
    server = await startPostgres();
  });
  after(() => server?.stop());

  test("one node on 127.0.0.1, reachable with the pg driver", async () => {
    assert.equal(server.standbys.length, 0);
    assert.deepEqual(server.nodes, [server.primary]);
    assert.equal(server.url, `postgres://postgres@127.0.0.1:${server.primary.port}/postgres`);
    assert.equal(server.primary.url, server.url);
    const client = await connect(server.url);
    try {
      await client.query("CREATE TABLE kv (k bytea PRIMARY KEY, v text)");
      await client.query("INSERT INTO kv VALUES ($1, $2), ($3, $4)", [Buffer.from([0, 1]), "a", Buffer.from([0xff]), "b"]);
      const { rows } = await client.query("SELECT k, v FROM kv ORDER BY k");
      assert.deepEqual(rows, [
        { k: Buffer.from([0, 1]), v: "a" },
        { k: Buffer.from([0xff]), v: "b" },
      ]);
      const settings = await client.query("SELECT name, setting FROM pg_settings WHERE name IN ('fsync', 'listen_addresses', 'max_connections', 'server_encoding', 'lc_collate') ORDER BY name");
      assert.deepEqual(Object.fromEntries(settings.rows.map((r) => [r.name, r.setting])), {
        fsync: "off",
        lc_collate: "C",
        listen_addresses: "127.0.0.1",
        max_connections: "200",
        server_encoding: "UTF8",
      });
    } finally {
      await client.end();
    }
  });

  test("createDatabase gives an empty database of its own", async () => {
    const a = await server.createDatabase("case a");
    const b = await server.createDatabase("case_b");
    assert.equal(a, `postgres://postgres@127.0.0.1:${server.primary.port}/case%20a`);
    await query(a, "CREATE TABLE only_in_a (x int)");
    await query(a, "INSERT INTO only_in_a VALUES (1)");
    assert.deepEqual(await query(a, "SELECT current_database() AS db, count(*)::int AS n FROM only_in_a"), [{ db: "case a", n: 1 }]);
    assert.deepEqual(await query(b, "SELECT to_regclass('only_in_a') AS t"), [{ t: null }]);
    assert.deepEqual(await query(server.url, "SELECT to_regclass('only_in_a') AS t"), [{ t: null }]);
  });

  test("createSchema: a schema of its own, chosen by the URL's search_path", async () => {
    const a = await server.createSchema("case_a");
    const b = await server.createSchema("case_b");
    assert.equal(a, `postgres://postgres@127.0.0.1:${server.primary.port}/postgres?options=-c%20search_path%3Dcase_a`);
    await query(a, "CREATE TABLE entries (x int)");
    await query(a, "INSERT INTO entries VALUES (1)");
    assert.deepEqual(await query(a, "SELECT current_schema() AS s, count(*)::int AS n FROM entries"), [{ s: "case_a", n: 1 }]);
    assert.deepEqual(await query(b, "SELECT current_schema() AS s, to_regclass('entries') AS t"), [{ s: "case_b", t: null }]);
    await assert.rejects(server.createSchema("Case-C"), /lower-case letters/);
  });

  test("stop() ends every server process and removes the temp dir; a second stop() is a no-op", async () => {
    const { dataDir } = server.primary;
    const pid = postmasterPid(server.primary);
    assert.ok(isAlive(pid));
    assert.ok(processesUsing(dataDir).length > 0);
    await server.stop();
    assert.equal(isAlive(pid), false);
    assert.deepEqual(processesUsing(dataDir), []);
    const dir = join(dataDir, "..");
    assert.equal(existsSync(dir), false);
    await eventually("the renamed dir to be deleted", () => !existsSync(`${dir}.removing`));
    await server.stop();
  });
});

describe("startCluster", () => {
  let cluster: PgCluster;
  before(async () => {
    cluster = await startCluster();
  });
  after(() => cluster?.stop());

  test("a primary and standbys s1, s2 under one multi-host URL", async () => {
    assert.deepEqual(cluster.nodes.map((n) => n.name), ["primary", "s1", "s2"]);
    assert.deepEqual(cluster.standbys, cluster.nodes.slice(1));
    assert.equal(cluster.url, `postgres://postgres@${cluster.nodes.map((n) => `127.0.0.1:${n.port}`).join(",")}/postgres`);
    assert.equal(new Set(cluster.nodes.map((n) => n.port)).size, 3);
    for (const node of cluster.nodes) {
      const [row] = await query(node.url, "SELECT pg_is_in_recovery() AS standby, current_setting('cluster_name') AS name");
      assert.deepEqual(row, { standby: node !== cluster.primary, name: node.name });
    }
  });

  test("quorum commit: ANY 1 (s1, s2), synchronous_commit on, fsync on, both standbys in the quorum", async () => {
    const [row] = await query(cluster.primary.url, "SELECT current_setting('synchronous_standby_names') AS names, current_setting('synchronous_commit') AS commit, current_setting('fsync') AS fsync");
    assert.deepEqual(row, { names: "ANY 1 (s1, s2)", commit: "on", fsync: "on" });
    const replicas = await query(cluster.primary.url, "SELECT application_name, state, sync_state FROM pg_stat_replication ORDER BY application_name");
    assert.deepEqual(replicas, [
      { application_name: "s1", state: "streaming", sync_state: "quorum" },
      { application_name: "s2", state: "streaming", sync_state: "quorum" },
    ]);
  });

  test("a commit on the primary shows on both standbys", async () => {
    await query(cluster.primary.url, "CREATE TABLE acked (id int PRIMARY KEY)");
    await query(cluster.primary.url, "INSERT INTO acked VALUES (0)");
    for (const standby of cluster.standbys) {
      // Two queries: one naming a table the standby has not replayed yet fails as a whole, whatever guards it.
      await eventually(
        `row 0 on ${standby.name}`,
        async () =>
          (await query(standby.url, "SELECT to_regclass('acked') IS NOT NULL AS ok"))[0]!.ok &&
          (await query(standby.url, "SELECT EXISTS (SELECT FROM acked WHERE id = 0) AS ok"))[0]!.ok,
      );
    }
  });

  test("createDatabase creates on the primary and answers with the multi-host URL", async () => {
    const url = await cluster.createDatabase("tenant1");
    assert.equal(url, cluster.url.replace(/\/postgres$/, "/tenant1"));
    assert.deepEqual(await query(cluster.primary.url.replace(/\/postgres$/, "/tenant1"), "SELECT current_database() AS db"), [{ db: "tenant1" }]);
  });

  test("kill -9 of the primary under load, then promote: every acknowledged write is there, writes go on", async () => {
    const acked: number[] = [];
    let next = 1;
    let stop = false;
    const writers = Array.from({ length: 4 }, async () => {
      const client = await connect(cluster.primary.url);
      try {
        while (!stop) {
          const id = next++;
          await client.query("INSERT INTO acked VALUES ($1)", [id]);
          acked.push(id);
        }
      } catch {
        // the primary died: this write's outcome is unknown, and it ends this writer
      }
      await client.end().catch(() => {});
    });
    await eventually("100 acknowledged writes", () => acked.length >= 100);
    const pid = postmasterPid(cluster.primary);
    await cluster.kill(cluster.primary);
    stop = true;
    await Promise.all(writers);
    assert.equal(isAlive(pid), false);
    assert.deepEqual(processesUsing(cluster.primary.dataDir), []);
    await assert.rejects(query(cluster.primary.url, "SELECT 1"));

    const next1 = await cluster.mostAdvancedStandby();
    await cluster.promote(next1);
    const rows = await query<{ id: number }>(next1.url, "SELECT id FROM acked");
    const present = new Set(rows.map((r) => r.id));
    assert.deepEqual(acked.filter((id) => !present.has(id)), [], "acknowledged writes missing after failover");
    assert.ok(present.has(0));

    // The new primary commits with the quorum: the other standby follows it.
    await query(next1.url, "INSERT INTO acked VALUES (-1)");
    const other = cluster.standbys.find((s) => s !== next1)!;
    assert.deepEqual(await query(next1.url, "SELECT application_name, sync_state FROM pg_stat_replication"), [{ application_name: other.name, sync_state: "quorum" }]);
    await eventually(`row -1 on ${other.name}`, async () => (await query(other.url, "SELECT count(*)::int AS n FROM acked WHERE id = -1"))[0]!.n === 1);
    assert.equal(await cluster.createDatabase("after_failover"), cluster.url.replace(/\/postgres$/, "/after_failover"));

    // Down to the last node: it commits alone.
    await cluster.kill(next1);
    await cluster.promote(other);
    await query(other.url, "INSERT INTO acked VALUES (-2)");
    assert.deepEqual(await query(other.url, "SELECT count(*)::int AS n FROM acked WHERE id IN (-1, -2)"), [{ n: 2 }]);
  });
});

test("promoting a standby that lags: the other standby is rebuilt from it and writes keep their quorum", async (t) => {
  const cluster = await startCluster();
  t.after(() => cluster.stop());
  const [s1, s2] = cluster.standbys as [PgNode, PgNode];
  await query(cluster.primary.url, "CREATE TABLE t (x int)");
  await eventually("t on s1", async () => (await query(s1.url, "SELECT to_regclass('t') IS NOT NULL AS ok"))[0]!.ok);
  // Cut s1 off: from now on only s2 makes up the quorum.
  await query(s1.url, "ALTER SYSTEM SET primary_conninfo = ''");
  await query(s1.url, "SELECT pg_reload_conf()");
  await eventually("s1 to stop streaming", async () => (await query(cluster.primary.url, "SELECT count(*)::int AS n FROM pg_stat_replication WHERE application_name = 's1'"))[0]!.n === 0);
  await query(cluster.primary.url, "INSERT INTO t VALUES (1)");
  await cluster.kill(cluster.primary);

  assert.equal(await cluster.mostAdvancedStandby(), s2);
  await assert.rejects(cluster.promote(cluster.primary), /not running/);
  await cluster.promote(s1);
  // The row only s2 had is gone with the old timeline: why mostAdvancedStandby() exists.
  assert.deepEqual(await query(s1.url, "SELECT count(*)::int AS n FROM t"), [{ n: 0 }]);
  await query(s1.url, "INSERT INTO t VALUES (2)");
  assert.deepEqual(await query(s1.url, "SELECT application_name, state FROM pg_stat_replication"), [{ application_name: "s2", state: "streaming" }]);
  await eventually("row 2 on the rebuilt s2", async () => (await query(s2.url, "SELECT array_agg(x)::text AS xs FROM t"))[0]!.xs === "{2}");
  await assert.rejects(cluster.promote(s2), /s1 still runs as primary/);
});

/** Runs a child process that starts a node, prints its data dir and postmaster pid, then ends as `end` says. */
function child(end: "exit" | "SIGTERM" | "SIGKILL"): Promise<{ dataDir: string; pid: number }> {
  const script = `
    import { readFileSync } from "node:fs";
    import { startPostgres } from ${JSON.stringify(join(import.meta.dirname, "..", "scripts", "pg-cluster.ts"))};
    const pg = await startPostgres();
    const pid = Number(readFileSync(pg.primary.dataDir + "/postmaster.pid", "utf8").split("\\n")[0]);
    console.log(JSON.stringify({ dataDir: pg.primary.dataDir, pid }));
    ${end === "exit" ? "process.exit(0);" : "setInterval(() => {}, 1000);"}
  `;
  const proc = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    let out = "";
    let started: { dataDir: string; pid: number } | undefined;
    proc.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      out += chunk;
      if (started !== undefined || !out.includes("\n")) return;
      started = JSON.parse(out.split("\n")[0]!) as { dataDir: string; pid: number };
      if (end === "exit") return;
      if (!isAlive(started.pid)) reject(new Error(`postmaster ${started.pid} is not running`));
      proc.kill(end);
    });
    proc.once("error", reject);
    // "close" comes after stdout has been read to its end, unlike "exit".
    proc.once("close", (code) => (started !== undefined ? resolve(started) : reject(new Error(`child exited with ${code} before starting PostgreSQL`))));
  });
}

test("a process that exits, is terminated or is killed leaves no server and no temp dir behind", async () => {
  const ended = await Promise.all([child("exit"), child("SIGTERM"), child("SIGKILL")]);
  for (const [i, { dataDir, pid }] of ended.entries()) {
    // SIGKILL leaves it to the watchdog, which acts once the pipe from the dead process closes.
    await eventually(`cleanup after ${["exit", "SIGTERM", "SIGKILL"][i]}`, () => {
      const dir = join(dataDir, "..");
      return !isAlive(pid) && !existsSync(dir) && !existsSync(`${dir}.removing`) && processesUsing(dataDir).length === 0;
    });
  }
});
