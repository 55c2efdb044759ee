/**
 * Throwaway PostgreSQL servers for tests and for trying OpenKV's scale-out on one machine: a single node
 * (`startPostgres`) or a primary with streaming standbys and quorum commit (`startCluster`), on free ports
 * in a temp dir, torn down by `stop()` — or when the process exits, is interrupted or is killed.
 *
 *   npm run pg:cluster                        # primary + 2 standbys, in the foreground until Ctrl-C
 *   npm run pg:cluster -- --standbys 1 --dir ./pg-data
 *
 * Real server binaries (Debian's `postgresql` package), no Docker. As root, every server program runs as the
 * `postgres` OS user (`runuser`), because PostgreSQL refuses to run as root.
 *
 * @example
 *   const pg = await startPostgres();
 *   try {
 *     const url = await pg.createDatabase("case1"); // postgres://postgres@127.0.0.1:PORT/case1
 *   } finally {
 *     await pg.stop();
 *   }
 */
import { execFile, execFileSync, spawn, type ChildProcess } from "node:child_process";
import { createHash, randomUUID } from "node:crypto";
import { appendFileSync, chownSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { parseArgs, promisify } from "node:util";
import pg from "pg";

const execFileAsync = promisify(execFile);

export interface PgNode {
  readonly name: string;
  readonly port: number;
  readonly dataDir: string;
  /** `postgres://postgres@127.0.0.1:PORT/postgres` — this node alone. */
  readonly url: string;
}

export interface PgCluster {
  /** The node started as primary (after `promote`, `createDatabase` goes to the promoted one instead). */
  readonly primary: PgNode;
  /** `[]` for `startPostgres()`. Named s1, s2, … — the names `synchronous_standby_names` lists. */
  readonly standbys: readonly PgNode[];
  readonly nodes: readonly PgNode[];
  /** Every node in one URL: `postgres://postgres@127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3/postgres`. */
  readonly url: string;
  /**
   * A crash: SIGKILL to the postmaster and every backend at once (its process group), so nothing answers
   * after that instant; resolves when they are gone. The node stays down. What the server had written
   * stays in the OS's cache: a process crash, not a power cut.
   */
  kill(node: PgNode): Promise<void>;
  /**
   * Promotes a standby and resolves once it commits writes. The other running standbys follow it (or are
   * rebuilt from it by a new base backup when they had received WAL it never got), so commits keep their
   * quorum; with no standby left it commits alone (`synchronous_standby_names = ''`).
   * Promoting a standby that is behind another loses what only the other had: pick with
   * `mostAdvancedStandby()` after a crash.
   */
  promote(node: PgNode): Promise<void>;
  /** The running standby that has received the most WAL — the one to promote without losing a commit. */
  mostAdvancedStandby(): Promise<PgNode>;
  /**
   * Creates an empty database on the current primary; returns its URL (multi-host for a cluster). Costs a
   * copy of template1 (7 MB): tens of ms on an idle disk, several hundred on a busy one.
   */
  createDatabase(name: string): Promise<string>;
  /**
   * The cheap isolation (about 1 ms): a schema in the `postgres` database, and a URL whose connections use
   * it (`?options=-c search_path=NAME`). Unqualified tables, sequences and functions stay apart; advisory
   * locks and LISTEN/NOTIFY channels do not — they are per database. NAME: lower-case letters, digits, _.
   */
  createSchema(name: string): Promise<string>;
  /**
   * Stops every node and removes the temp dir (a `dir` passed in is kept): its path is gone when this
   * resolves, its blocks are freed by a detached `rm` (DIR.removing) soon after. Idempotent.
   */
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Keep data in this directory (created, must be empty) instead of a temp dir removed by `stop()`. */
  dir?: string;
  /** Called before each step ("initdb primary", "base backup s1", …). */
  onProgress?: (step: string) => void;
}

const ROOT = process.getuid?.() === 0;
const HOST = "127.0.0.1";
const START_TIMEOUT_MS = 60_000;
const POLL_MS = 5;

let binDir: string | undefined;

/**
 * The directory of the PostgreSQL server programs: `pg_config --bindir` when it holds initdb (Debian's
 * /usr/bin/pg_config may come from libpq-dev alone), else the newest /usr/lib/postgresql/N/bin.
 */
export function pgBinDir(): string {
  if (binDir !== undefined) return binDir;
  const candidates: string[] = [];
  try {
    candidates.push(execFileSync("pg_config", ["--bindir"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim());
  } catch {
    // no pg_config on PATH: look where Debian and Ubuntu put the servers
  }
  try {
    const versions = readdirSync("/usr/lib/postgresql").filter((v) => /^\d+$/.test(v));
    versions.sort((a, b) => Number(b) - Number(a));
    candidates.push(...versions.map((v) => `/usr/lib/postgresql/${v}/bin`));
  } catch {
    // no /usr/lib/postgresql
  }
  const found = candidates.find((dir) => ["initdb", "postgres", "pg_ctl", "pg_basebackup"].every((p) => existsSync(join(dir, p))));
  if (found === undefined) {
    throw new Error(
      "PostgreSQL server binaries not found (no initdb in `pg_config --bindir` or /usr/lib/postgresql/*/bin). " +
        "Install them: `apt-get install postgresql` on Debian/Ubuntu, or put your server's pg_config on PATH.",
    );
  }
  return (binDir = found);
}

/** A PostgreSQL program's argv, through `runuser -u postgres` when we are root. */
function argv(program: string, args: readonly string[]): [string, string[]] {
  const path = join(pgBinDir(), program);
  return ROOT ? ["runuser", ["-u", "postgres", "--", path, ...args]] : [path, [...args]];
}

async function runPg(program: string, args: readonly string[]): Promise<string> {
  const [cmd, full] = argv(program, args);
  try {
    const { stdout } = await execFileAsync(cmd, full, { encoding: "utf8", maxBuffer: 16 << 20 });
    return stdout;
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`${program} failed: ${(err.stderr ?? "").trim() || err.message}`);
  }
}

let postgresIds: { uid: number; gid: number } | undefined;
function postgresUser(): { uid: number; gid: number } {
  if (postgresIds !== undefined) return postgresIds;
  try {
    const id = (flag: string) => Number(execFileSync("id", [flag, "postgres"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim());
    return (postgresIds = { uid: id("-u"), gid: id("-g") });
  } catch {
    throw new Error("Running as root needs a `postgres` OS user to run the servers as (Debian's postgresql package creates it).");
  }
}

/** A port nothing listens on now (the kernel's pick). Another process may still take it: see `launch`. */
async function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const server = createServer();
    server.unref();
    server.once("error", fail);
    server.listen(0, HOST, () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => ok(port));
    });
  });
}

// ── process bookkeeping ─────────────────────────────────────────────────────────────────────────────────

/** True when pid is no more, or only a zombie waiting for its parent (it holds no port and no memory). */
function gone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "ESRCH";
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return /^\d+ \(.*\) [ZX]/s.test(stat);
  } catch {
    return true;
  }
}

/**
 * Waits until no process of group pgid is alive, zombies aside: a killed postmaster's backends go to init,
 * which may reap them late, and kill(-pgid, 0) counts zombies.
 */
async function groupGone(what: string, pgid: number): Promise<void> {
  const watch = groupWatch(pgid);
  await until(what, watch, 10_000);
}

/** A check that turns true once group pgid has no live member; cheap to call in a loop. */
function groupWatch(pgid: number): () => boolean {
  let members: string[] | undefined;
  return () => {
    try {
      process.kill(-pgid, 0);
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === "ESRCH";
    }
    try {
      // A dying group cannot gain members, so one scan of /proc finds every process to watch.
      members ??= readdirSync("/proc").filter((d) => /^\d+$/.test(d) && statOf(d)?.pgrp === pgid);
    } catch {
      return false; // no /proc: wait for kill(0) alone
    }
    members = members.filter((d) => {
      const st = statOf(d);
      return st !== undefined && st.pgrp === pgid && st.state !== "Z" && st.state !== "X";
    });
    return members.length === 0;
  };
}

function statOf(pid: string): { state: string; pgrp: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { state: fields[0]!, pgrp: Number(fields[2]) };
  } catch {
    return undefined;
  }
}

async function until(what: string, done: () => boolean | Promise<boolean>, timeoutMs = START_TIMEOUT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(POLL_MS);
  }
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // already gone
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Stops the servers of a process that dies without running its exit hooks (SIGKILL, OOM): it reads
 * "add PGID" / "del PGID" lines (a server's process group) until our end of the pipe closes, then sends
 * SIGQUIT — immediate shutdown — to the groups left, and removes the temp dir once they are gone.
 */
const WATCHDOG = `
groups=""
while read -r op id; do
  case "$op" in
    add) groups="$groups $id" ;;
    del) left=""; for g in $groups; do [ "$g" = "$id" ] || left="$left $g"; done; groups=$left ;;
  esac
done
# A group is alive while a member is not a zombie: init may reap the orphans seconds late.
alive() {
  kill -0 "-$1" 2>/dev/null || return 1
  [ -d /proc/self ] || return 0
  for f in /proc/[0-9]*/stat; do
    read -r line < "$f" 2>/dev/null || continue
    set -- "$1" \${line##*) }
    [ "$4" = "$1" ] && [ "$2" != Z ] && return 0
  done
  return 1
}
for g in $groups; do kill -QUIT "-$g" 2>/dev/null; done
for g in $groups; do n=0; while alive "$g" && [ $n -lt 100 ]; do sleep 0.1; n=$((n+1)); done; done
[ "$2" = keep ] || rm -rf -- "$1"
`;

const live = new Set<Cluster>();
let hooked = false;

function hookProcessExit(): void {
  if (hooked) return;
  hooked = true;
  process.on("exit", () => {
    for (const c of live) c.stopSync();
  });
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    const onSignal = () => {
      // An application that handles the signal itself decides when to exit; our exit hook still runs then.
      if (process.listenerCount(signal) > 1) return;
      for (const c of live) c.stopSync();
      process.removeListener(signal, onSignal);
      process.kill(process.pid, signal);
    };
    process.on(signal, onSignal);
  }
}

// ── nodes ───────────────────────────────────────────────────────────────────────────────────────────────

/** A node's port can still change while it starts (see `launchOnFreePort`); callers see it read-only. */
interface MutableNode {
  name: string;
  port: number;
  dataDir: string;
  url: string;
}

interface NodeState {
  node: MutableNode;
  role: "primary" | "standby";
  logPath: string;
  /**
   * The process group of the server, from its start until it is seen gone: the leader is what we spawned
   * (runuser or postgres itself), and the postmaster and its backends share the group.
   */
  pgid?: number;
  /** The postmaster, from postmaster.pid, once it is ready. */
  pid?: number;
  /** Ready and not stopped or killed by us. */
  running: boolean;
}

function nodeUrl(port: number, db = "postgres"): string {
  return `postgres://postgres@${HOST}:${port}/${encodeURIComponent(db)}`;
}

function conf(values: Record<string, string | number>): string {
  return Object.entries(values)
    .map(([k, v]) => `${k} = ${typeof v === "number" ? v : `'${v.replaceAll("'", "''")}'`}\n`)
    .join("");
}

/** Settings every node shares (before a base backup, so the standbys inherit them too). */
function sharedConf(standbys: number, fsync: boolean): string {
  const names = Array.from({ length: standbys }, (_, i) => `s${i + 1}`);
  return (
    "\n# openkv pg-cluster\n" +
    conf({
      listen_addresses: HOST,
      max_connections: 200,
      wal_level: "replica",
      hot_standby: "on",
      // A standby rebuilt or repointed after a failover catches up from here.
      wal_keep_size: "256MB",
      // The default 5 s between a standby's attempts to reach its primary would slow every failover.
      wal_retrieve_retry_interval: "100ms",
      synchronous_standby_names: names.length > 0 ? `ANY 1 (${names.join(", ")})` : "",
      synchronous_commit: "on",
      fsync: fsync ? "on" : "off",
      // Torn pages only matter after an OS crash, which fsync = off gives up on anyway.
      full_page_writes: fsync ? "on" : "off",
    })
  );
}

function nodeConf(name: string, port: number, dataDir: string): string {
  return conf({ port, cluster_name: name, unix_socket_directories: dataDir });
}

function logTail(path: string, lines = 15): string {
  try {
    return readFileSync(path, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

async function withClient<T>(port: number, fn: (c: pg.Client) => Promise<T>, database = "postgres"): Promise<T> {
  const client = new pg.Client({ host: HOST, port, user: "postgres", database });
  client.on("error", () => {}); // a server killed under us: the pending query rejects, that is enough
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

/** Parses "16/B374D848" into a comparable number. */
function lsn(text: string | null): bigint {
  if (text === null) return -1n;
  const [hi, lo] = text.split("/");
  return (BigInt(`0x${hi}`) << 32n) | BigInt(`0x${lo}`);
}

/** How far a standby's WAL goes: flushed by its receiver, or replayed (from its own pg_wal at start). */
function walReceived(port: number): Promise<bigint> {
  return withClient(port, async (c) => {
    const r = (await c.query("SELECT pg_last_wal_receive_lsn()::text AS rx, pg_last_wal_replay_lsn()::text AS rp")).rows[0];
    return lsn(r.rx) > lsn(r.rp) ? lsn(r.rx) : lsn(r.rp);
  });
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

class Cluster implements PgCluster {
  readonly primary: PgNode;
  readonly standbys: readonly PgNode[];
  readonly nodes: readonly PgNode[];
  readonly #dir: string;
  readonly #keep: boolean;
  readonly #states: Map<PgNode, NodeState>;
  readonly #watchdog: ChildProcess;
  #current: PgNode;
  #stopping: Promise<void> | undefined;

  constructor(dir: string, keep: boolean, watchdog: ChildProcess, states: NodeState[]) {
    this.#dir = dir;
    this.#keep = keep;
    this.#watchdog = watchdog;
    this.#states = new Map(states.map((s) => [s.node, s]));
    this.primary = this.#current = states[0]!.node;
    this.standbys = states.slice(1).map((s) => s.node);
    this.nodes = states.map((s) => s.node);
  }

  get url(): string {
    return this.#urlFor("postgres");
  }

  #urlFor(db: string): string {
    return `postgres://postgres@${this.nodes.map((n) => `${HOST}:${n.port}`).join(",")}/${encodeURIComponent(db)}`;
  }

  #state(node: PgNode): NodeState {
    const st = this.#states.get(node as MutableNode);
    if (st === undefined) throw new Error(`${node.name} is not a node of this cluster`);
    return st;
  }

  async kill(node: PgNode): Promise<void> {
    const st = this.#state(node);
    if (!st.running) return;
    signal(-st.pgid!, "SIGKILL");
    await groupGone(`${node.name} to die`, st.pgid!);
    this.#forget(st);
    // Nothing is attached to the crashed server's shared memory any more; no restart will reclaim it.
    removeSharedMemory(node.dataDir);
    rmSync(join(node.dataDir, "postmaster.pid"), { force: true });
  }

  async promote(node: PgNode): Promise<void> {
    const st = this.#state(node);
    if (!st.running) throw new Error(`${node.name} is not running`);
    if (st.role === "primary") throw new Error(`${node.name} is already a primary`);
    const current = this.#state(this.#current);
    if (current.running) {
      throw new Error(`${this.#current.name} still runs as primary: kill it first, or there would be two primaries`);
    }
    await runPg("pg_ctl", ["promote", "--no-wait", "-D", node.dataDir]);
    await withClient(node.port, async (c) => {
      await until(`${node.name} to leave recovery`, async () => !(await c.query("SELECT pg_is_in_recovery() AS r")).rows[0].r);
    });
    st.role = "primary";
    this.#current = node;
    const others = [...this.#states.values()].filter((s) => s.running && s.role === "standby");
    if (others.length === 0) {
      await withClient(node.port, async (c) => {
        await c.query("ALTER SYSTEM SET synchronous_standby_names = ''");
        await c.query("SELECT pg_reload_conf()");
        // The reload is asynchronous; a commit before it lands would wait for a standby forever.
        await until(`${node.name} to drop synchronous standbys`, async () => (await c.query("SHOW synchronous_standby_names")).rows[0].synchronous_standby_names === "");
      });
    } else {
      const forkedAt = await withClient(node.port, async (c) => {
        const tli = (await c.query("SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8) AS t")).rows[0].t as string;
        const history = (await c.query("SELECT pg_read_file($1) AS h", [`pg_wal/${tli}.history`])).rows[0].h as string;
        return lsn(history.trim().split("\n").at(-1)!.split("\t")[1]!);
      });
      await Promise.all(
        others.map(async (o) => {
          if ((await walReceived(o.node.port)) > forkedAt) await this.#rebuild(o, node);
          else await this.#follow(o, node);
        }),
      );
      await this.#awaitStreaming(node, others.map((o) => o.node.name));
    }
    // A commit that needs an xid waits for the quorum: when it returns, the node takes writes.
    await withClient(node.port, async (c) => {
      const timer = setTimeout(() => c.end().catch(() => {}), START_TIMEOUT_MS);
      try {
        await c.query("SELECT pg_current_xact_id()");
      } catch (e) {
        throw new Error(`${node.name} was promoted but a commit did not return (log: ${st.logPath}): ${(e as Error).message}`);
      } finally {
        clearTimeout(timer);
      }
    });
  }

  async mostAdvancedStandby(): Promise<PgNode> {
    const standbys = [...this.#states.values()].filter((s) => s.running && s.role === "standby");
    if (standbys.length === 0) throw new Error("No standby is running");
    const positions = await Promise.all(standbys.map((s) => walReceived(s.node.port)));
    let best = 0;
    for (let i = 1; i < standbys.length; i++) if (positions[i]! > positions[best]!) best = i;
    return standbys[best]!.node;
  }

  async createDatabase(name: string): Promise<string> {
    await withClient(this.#current.port, (c) => c.query(`CREATE DATABASE ${quoteIdent(name)}`));
    return this.nodes.length === 1 ? nodeUrl(this.#current.port, name) : this.#urlFor(name);
  }

  async createSchema(name: string): Promise<string> {
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`Schema name ${JSON.stringify(name)}: use lower-case letters, digits and _`);
    await withClient(this.#current.port, (c) => c.query(`CREATE SCHEMA ${name}`));
    const url = this.nodes.length === 1 ? nodeUrl(this.#current.port) : this.url;
    return `${url}?options=${encodeURIComponent(`-c search_path=${name}`)}`;
  }

  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      await Promise.all(
        [...this.#states.values()].filter((s) => s.pgid !== undefined).map(async (st) => {
          const pgid = st.pgid!;
          const down = this.#signalStop(st);
          try {
            await until(`${st.node.name} to stop`, down, 30_000);
          } catch {
            signal(-pgid, "SIGKILL");
          }
          await groupGone(`${st.node.name}'s processes to end`, pgid);
          this.#forget(st);
        }),
      );
      this.#finish();
    })();
    return this.#stopping;
  }

  /** The exit hook's stop: no event loop left, so signal, spin and remove synchronously. */
  stopSync(): void {
    const stopping = [...this.#states.values()].filter((s) => s.pgid !== undefined).map((st) => [st, this.#signalStop(st)] as const);
    const deadline = Date.now() + 10_000;
    for (const [st, down] of stopping) {
      while (!down() && Date.now() < deadline) sleepSync(POLL_MS);
      if (!down()) signal(-st.pgid!, "SIGKILL");
      this.#forget(st);
    }
    this.#finish();
  }

  /**
   * Asks a server to shut down — fast (checkpointing what is kept) or immediate — or a starting one's whole
   * group to quit; returns a check that turns true once it is down.
   */
  #signalStop(st: NodeState): () => boolean {
    if (st.pid !== undefined) {
      const pid = st.pid;
      signal(pid, this.#keep ? "SIGINT" : "SIGQUIT");
      return () => gone(pid);
    }
    signal(-st.pgid!, "SIGQUIT");
    return groupWatch(st.pgid!);
  }

  #finish(): void {
    if (!this.#keep) removeSoon(this.#dir);
    this.#watchdog.kill("SIGKILL");
    live.delete(this);
  }

  #forget(st: NodeState): void {
    if (st.pgid !== undefined) this.#watchdog.stdin?.write(`del ${st.pgid}\n`);
    st.running = false;
    st.pgid = st.pid = undefined;
  }

  /** Points a standby at the new primary; it follows the new timeline (recovery_target_timeline = latest). */
  async #follow(st: NodeState, primary: PgNode): Promise<void> {
    await withClient(st.node.port, async (c) => {
      const conninfo = `host=${HOST} port=${primary.port} user=postgres application_name=${st.node.name}`;
      await c.query(`ALTER SYSTEM SET primary_conninfo = '${conninfo}'`);
      await c.query("SELECT pg_reload_conf()");
    });
  }

  /** A standby ahead of the promoted node cannot follow its timeline: a fresh base backup replaces it. */
  async #rebuild(st: NodeState, primary: PgNode): Promise<void> {
    signal(-st.pgid!, "SIGKILL");
    await groupGone(`${st.node.name} to die`, st.pgid!);
    this.#forget(st);
    removeSharedMemory(st.node.dataDir);
    rmSync(st.node.dataDir, { recursive: true, force: true });
    await baseBackup(primary.port, st.node.dataDir);
    appendConf(st.node.dataDir, nodeConf(st.node.name, st.node.port, st.node.dataDir));
    await this.launch(st);
  }

  async #awaitStreaming(primary: PgNode, names: readonly string[]): Promise<void> {
    await withClient(primary.port, async (c) => {
      await until(`${names.join(", ")} to stream from ${primary.name}`, async () => {
        // A standby counts towards the quorum once it has reported a flush position: until then it shows as
        // async even though synchronous_standby_names lists it.
        const { rows } = await c.query(
          "SELECT application_name FROM pg_stat_replication WHERE state = 'streaming' AND (sync_state <> 'async' OR current_setting('synchronous_standby_names') = '')",
        );
        const streaming = new Set(rows.map((r) => r.application_name as string));
        return names.every((n) => streaming.has(n));
      });
    });
  }

  awaitStandbys(): Promise<void> {
    return this.#awaitStreaming(this.primary, this.standbys.map((s) => s.name));
  }

  /**
   * Starts `postgres` in its own process group (so a crash takes every backend with it and a terminal's
   * Ctrl-C reaches us, not it) and waits for postmaster.pid to say ready — at a finer grain than
   * `pg_ctl -w`, which looks every 100 ms.
   */
  async launch(st: NodeState): Promise<void> {
    const logStart = existsSync(st.logPath) ? readFileSync(st.logPath).length : 0;
    const log = openSync(st.logPath, "a");
    const [cmd, args] = argv("postgres", ["-D", st.node.dataDir]);
    const child = spawn(cmd, args, { stdio: ["ignore", log, log], detached: true });
    closeSync(log);
    child.unref();
    let exited: string | undefined;
    child.once("exit", (code, signal) => (exited = signal ?? `exit code ${code}`));
    child.once("error", (e) => (exited = e.message));
    st.pgid = child.pid;
    if (st.pgid !== undefined) this.#watchdog.stdin?.write(`add ${st.pgid}\n`);
    const pidFile = join(st.node.dataDir, "postmaster.pid");
    await until(`${st.node.name} to accept connections (log: ${st.logPath})`, () => {
      if (exited !== undefined) {
        this.#forget(st);
        if (readFileSync(st.logPath, "utf8").slice(logStart).includes("Address already in use")) throw new PortTaken(st.node.port);
        throw new Error(`PostgreSQL ${st.node.name} stopped (${exited}) before it was ready; ${st.logPath} ends:\n${logTail(st.logPath)}`);
      }
      let lines: string[];
      try {
        lines = readFileSync(pidFile, "utf8").split("\n");
      } catch {
        return false;
      }
      // Line 8 is the postmaster's status; pg_ctl waits for the same two words.
      const status = lines[7]?.trim();
      if (status !== "ready" && status !== "standby") return false;
      st.pid = Number(lines[0]);
      return true;
    });
    st.running = true;
  }
}

class PortTaken extends Error {
  constructor(port: number) {
    super(`port ${port} was taken before PostgreSQL could listen on it`);
  }
}

/** The port picked for a node may be taken by another process before the server binds it: pick again. */
async function launchOnFreePort(cluster: Cluster, st: NodeState): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await cluster.launch(st);
    } catch (e) {
      if (!(e instanceof PortTaken) || attempt === 5) throw e;
      st.node.port = await freePort();
      st.node.url = nodeUrl(st.node.port);
      appendConf(st.node.dataDir, conf({ port: st.node.port }));
    }
  }
}

/**
 * Removes a temp dir without waiting: renamed away at once, deleted by a detached rm. Deleting the blocks
 * of fsynced files takes seconds on some disks (ext4 mounted with discard), which stop() need not wait for.
 */
function removeSoon(dir: string): void {
  const trash = `${dir}.removing`;
  try {
    renameSync(dir, trash);
  } catch {
    rmSync(dir, { recursive: true, force: true });
    return;
  }
  const rm = spawn("rm", ["-rf", "--", trash], { detached: true, stdio: "ignore" });
  rm.once("error", () => rmSync(trash, { recursive: true, force: true }));
  rm.unref();
}

function appendConf(dataDir: string, text: string): void {
  // The file belongs to the postgres user; appending keeps that.
  appendFileSync(join(dataDir, "postgresql.conf"), text);
}

function removeSharedMemory(dataDir: string): void {
  let line: string | undefined;
  try {
    line = readFileSync(join(dataDir, "postmaster.pid"), "utf8").split("\n")[6];
  } catch {
    return;
  }
  const shmid = line?.trim().split(/\s+/)[1];
  if (shmid === undefined || !/^\d+$/.test(shmid)) return;
  try {
    execFileSync("ipcrm", ["-m", shmid], { stdio: "ignore" });
  } catch {
    // already removed, or no ipcrm: a 56-byte segment is all that leaks
  }
}

// 1 MB WAL segments instead of 16: a fresh segment is written out in full (zeros) before use, and a base
// backup ends by starting one on the primary and in the copy, so a three-node cluster writes, copies and
// deletes about 45 MB less.
const INITDB_ARGS = ["-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync", "--wal-segsize=1"];
const INITDB_CACHE = join(import.meta.dirname, "..", "node_modules", ".cache", "openkv-pg");

let versionText: string | undefined;
/** `postgres --version`, e.g. "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)". */
export function pgVersion(): string {
  return (versionText ??= execFileSync(join(pgBinDir(), "postgres"), ["--version"], { encoding: "utf8" }).trim());
}

/**
 * initdb costs 0.5–2 s, copying its result a fraction of that: the first run keeps a pristine copy in
 * node_modules/.cache/openkv-pg, keyed by binaries, version, arguments and owner; later runs copy it.
 * It appears by rename, so a reader never sees half of one. OPENKV_PG_INITDB_CACHE=0 runs initdb always.
 */
async function initdb(dataDir: string): Promise<void> {
  if (process.env.OPENKV_PG_INITDB_CACHE === "0") {
    await runPg("initdb", ["-D", dataDir, ...INITDB_ARGS]);
    return;
  }
  const key = createHash("sha256")
    .update([pgBinDir(), pgVersion(), ...INITDB_ARGS, ROOT ? "postgres" : String(process.getuid?.())].join("\0"))
    .digest("hex")
    .slice(0, 16);
  const cached = join(INITDB_CACHE, `initdb-${key}`);
  if (existsSync(join(cached, "global", "pg_control"))) {
    await execFileAsync("cp", ["-a", cached, dataDir]);
    return;
  }
  await runPg("initdb", ["-D", dataDir, ...INITDB_ARGS]);
  const staging = join(INITDB_CACHE, `.staging-${process.pid}-${randomUUID()}`);
  try {
    mkdirSync(INITDB_CACHE, { recursive: true });
    await execFileAsync("cp", ["-a", dataDir, staging]);
    renameSync(staging, cached);
  } catch {
    // another process cached it first, or no cache can be kept: both fine
    rmSync(staging, { recursive: true, force: true });
  }
}

async function baseBackup(port: number, dataDir: string): Promise<void> {
  // -R writes standby.signal and primary_conninfo; --no-sync skips flushing a copy made for a test run.
  await runPg("pg_basebackup", ["-h", HOST, "-p", String(port), "-U", "postgres", "-D", dataDir, "-R", "-X", "stream", "-c", "fast", "--no-sync"]);
}

function makeDir(dir: string | undefined): { dir: string; keep: boolean } {
  let path: string;
  if (dir === undefined) {
    path = mkdtempSync(join(tmpdir(), "openkv-pg-"));
  } else {
    path = resolve(dir);
    mkdirSync(path, { recursive: true });
    if (readdirSync(path).length > 0) throw new Error(`${path} is not empty: remove it or choose another --dir`);
  }
  if (ROOT) {
    const { uid, gid } = postgresUser();
    chownSync(path, uid, gid);
  }
  return { dir: path, keep: dir !== undefined };
}

async function start(opts: { standbys: number; fsync: boolean } & StartOptions): Promise<Cluster> {
  pgBinDir();
  const progress = opts.onProgress ?? (() => {});
  const { dir, keep } = makeDir(opts.dir);
  const watchdog = spawn("sh", ["-c", WATCHDOG, "pg-cluster-watchdog", dir, keep ? "keep" : ""], { stdio: ["pipe", "ignore", "ignore"], detached: true });
  watchdog.unref();
  watchdog.stdin!.on("error", () => {});
  (watchdog.stdin as unknown as { unref(): void }).unref();

  const names = ["primary", ...Array.from({ length: opts.standbys }, (_, i) => `s${i + 1}`)];
  const ports = await Promise.all(names.map(() => freePort()));
  const states: NodeState[] = names.map((name, i) => {
    const dataDir = join(dir, name);
    return {
      node: { name, port: ports[i]!, dataDir, url: nodeUrl(ports[i]!) },
      role: i === 0 ? "primary" : "standby",
      logPath: join(dir, `${name}.log`),
      running: false,
    };
  });
  const cluster = new Cluster(dir, keep, watchdog, states);
  live.add(cluster);
  hookProcessExit();
  try {
    const [primary, ...standbys] = states as [NodeState, ...NodeState[]];
    progress("initdb primary");
    await initdb(primary.node.dataDir);
    appendConf(primary.node.dataDir, sharedConf(opts.standbys, opts.fsync) + nodeConf("primary", primary.node.port, primary.node.dataDir));
    progress(`start primary on port ${primary.node.port}`);
    await launchOnFreePort(cluster, primary);
    if (standbys.length > 0) {
      const [first, ...rest] = standbys as [NodeState, ...NodeState[]];
      progress(`base backup ${first.node.name}`);
      await baseBackup(primary.node.port, first.node.dataDir);
      // Every standby starts from the same backup; copying it is cheaper than asking the primary again.
      for (const st of rest) {
        progress(`copy base backup to ${st.node.name}`);
        execFileSync("cp", ["-a", first.node.dataDir, st.node.dataDir]);
      }
      for (const st of standbys) appendConf(st.node.dataDir, nodeConf(st.node.name, st.node.port, st.node.dataDir));
      progress(`start ${standbys.map((s) => s.node.name).join(", ")}`);
      await Promise.all(standbys.map((st) => launchOnFreePort(cluster, st)));
      progress(`wait for ${standbys.map((s) => s.node.name).join(", ")} to stream`);
      await cluster.awaitStandbys();
    }
    return cluster;
  } catch (e) {
    await cluster.stop();
    throw e;
  }
}

/**
 * One PostgreSQL server for a test suite. fsync and full_page_writes are off unless `fsync: true`: only a
 * crash of the machine loses data then, and the data is a temp dir's. Commits stay synchronous, so a
 * killed server loses nothing it acknowledged.
 */
export async function startPostgres(options: { fsync?: boolean } & StartOptions = {}): Promise<PgCluster> {
  return start({ ...options, standbys: 0, fsync: options.fsync ?? false });
}

/**
 * A primary and `standbys` (default 2) streaming standbys s1, s2, … made with `pg_basebackup -R`, with
 * `synchronous_standby_names = 'ANY 1 (s1, s2)'`, `synchronous_commit = on` and fsync on: a commit returns
 * once it is flushed on the primary and on at least one standby. Resolves when every standby streams.
 */
export async function startCluster(options: { standbys?: number } & StartOptions = {}): Promise<PgCluster> {
  const standbys = options.standbys ?? 2;
  if (!Number.isInteger(standbys) || standbys < 0 || standbys > 9) throw new Error(`standbys must be 0 to 9, got ${standbys}`);
  return start({ ...options, standbys, fsync: true });
}

// ── CLI: npm run pg:cluster ─────────────────────────────────────────────────────────────────────────────

const HELP = `npm run pg:cluster -- [options]

Starts a local PostgreSQL cluster to try OpenKV's scale-out: a primary and streaming standbys with quorum
commit (synchronous_standby_names = 'ANY 1 (s1, s2)'), on free ports, until Ctrl-C.

Options:
  --standbys N   Number of standbys (default 2)
  --dir PATH     Keep the data in PATH (must be empty) instead of a temp dir removed on exit
  --help         Show this help`;

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      options: { standbys: { type: "string", default: "2" }, dir: { type: "string" }, help: { type: "boolean", default: false } },
    }));
  } catch (e) {
    console.error(`${(e as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const standbys = Number(values.standbys);
  if (!Number.isInteger(standbys) || standbys < 0 || standbys > 9) {
    console.error(`--standbys must be a whole number from 0 to 9, got ${JSON.stringify(values.standbys)}`);
    return 2;
  }
  const began = performance.now();
  let stepAt = began;
  const elapsed = (from: number) => `${((performance.now() - from) / 1000).toFixed(1)} s`;
  const version = pgVersion().replace(/^postgres \(PostgreSQL\) /, "");
  console.log(`Starting PostgreSQL ${version}: a primary and ${standbys} standby${standbys === 1 ? "" : "s"}`);
  let first = true;
  const cluster = await startCluster({
    standbys,
    ...(values.dir !== undefined ? { dir: values.dir } : {}),
    onProgress(step) {
      process.stdout.write(`${first ? "" : ` (${elapsed(stepAt)})\n`}  ${step}…`);
      first = false;
      stepAt = performance.now();
    },
  });
  process.stdout.write(` (${elapsed(stepAt)})\n`);
  const dir = resolve(cluster.primary.dataDir, "..");
  const names = cluster.standbys.map((s) => s.name).join(", ");
  console.log(`\nReady in ${elapsed(began)}.${standbys > 0 ? ` Every commit is flushed on the primary and on at least one of ${names} before it returns.` : ""}`);
  console.log(`\n  ${cluster.url}\n`);
  console.log(`Point OpenKV nodes at it (each finds the writable host itself):\n\n  openkv serve --store '${cluster.url}'\n`);
  console.log(`  node      role      port   data dir`);
  for (const n of cluster.nodes) console.log(`  ${n.name.padEnd(9)} ${(n === cluster.primary ? "primary" : "standby").padEnd(9)} ${String(n.port).padEnd(6)} ${n.dataDir}`);
  console.log(`\nLogs: ${dir}/<node>.log. Ctrl-C stops every node${values.dir === undefined ? ` and removes ${dir}` : ` (the data stays in ${dir})`}.`);
  await new Promise<void>((done) => {
    // The servers are unref'd children: without this, Node would see nothing left to do and exit.
    const keepAlive = setInterval(() => {}, 1 << 30);
    const onSignal = () => {
      clearInterval(keepAlive);
      process.removeListener("SIGINT", onSignal);
      process.removeListener("SIGTERM", onSignal);
      done();
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  });
  process.stdout.write("\nStopping…");
  await cluster.stop();
  console.log(" done.");
  return 0;
}

if (import.meta.main) {
  main().then(
    (code) => process.exit(code),
    (e: Error) => {
      console.error(`\n${e.message}`);
      process.exit(1);
    },
  );
}
