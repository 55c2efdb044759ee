/**
 * Servers sharing one PostgreSQL store (real servers, started by scripts/pg-cluster.ts) answer to one
 * account id, one admin token and one set of tokens: the admin token printed by the first `openkv serve
 * --store` works on the second; a token created through either server, or with `openkv token … --store`,
 * works on the other at its first request; a revocation anywhere is refused everywhere within a second
 * and ends the streams opened with it; a read-only token is read-only on every server.
 *
 * Server A is a real `openkv serve` child (its banner is what a user reads) polling every 250 ms, as by
 * default; server B runs in-process and polls once a minute, so whatever works on B at once came through
 * the miss path (an unknown secret reads the store), not a lucky poll.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { create, toBinary } from "@bufbuild/protobuf";
import pg from "pg";
import { startPostgres } from "../../scripts/pg-cluster.ts";
import { encodeKey } from "../../src/core/keys.ts";
import { startServer, type RunningServer } from "../../src/server/server.ts";
import { WatchSchema } from "../../src/wire/kv-connect/gen/kv-connect_pb.ts";
import { cleanEnv, OPENKV, openkv, tempDir } from "../cli/helpers.ts";

// Stopped last-started first: servers before the database they use.
const closers: (() => Promise<void>)[] = [];
after(async () => {
  for (const close of closers.reverse()) await close();
});
const postgres = await startPostgres();
closers.push(() => postgres.stop());
const store = await postgres.createDatabase("tokens");
const home = tempDir("store-tokens");
const env = cleanEnv(home);

interface Created {
  token: string;
  id: string;
}

/** `openkv serve --store` as a child process, until its banner is complete. */
async function serveChild(args: string[]): Promise<{ url: string; banner: string; stop(): Promise<void> }> {
  const child = spawn(OPENKV, ["serve", "--port", "0", "--store", store, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    await exited;
  };
  closers.push(stop);
  let out = "";
  let err = "";
  child.stderr!.setEncoding("utf8").on("data", (c: string) => (err += c));
  child.stdout!.setEncoding("utf8");
  const banner = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no banner within 30 s:\n${out}\n${err}`)), 30_000);
    child.stdout!.on("data", (c: string) => {
      out += c;
      if (!out.includes('"Authorization: Bearer <token>"')) return;
      clearTimeout(timer);
      resolve(out);
    });
    void exited.then(() => reject(new Error(`openkv serve exited:\n${out}\n${err}`)));
  });
  return { url: /OpenKV listening on (http:\/\/\S+)/.exec(banner)![1]!, banner, stop };
}

async function inProcess(config: { adminToken?: string; accountId?: string; tokenPollMs?: number } = {}): Promise<RunningServer> {
  const server = await startServer({ host: "127.0.0.1", port: 0, dataDir: null, store, log: () => {}, ...config });
  closers.push(() => server.close());
  return server;
}

async function status(base: string, path: string, token: string, init: RequestInit = {}): Promise<number> {
  const res = await fetch(`${base}${path}`, { ...init, headers: { authorization: `Bearer ${token}`, ...(init.headers as Record<string, string>) } });
  await res.body?.cancel();
  return res.status;
}

async function createToken(base: string, admin: string, body: object): Promise<Created> {
  const res = await fetch(`${base}/admin/tokens`, { method: "POST", headers: { authorization: `Bearer ${admin}` }, body: JSON.stringify(body) });
  assert.equal(res.status, 201, await res.clone().text());
  return (await res.json()) as Created;
}

/** Milliseconds from `since` until `probe` holds; fails past `limitMs` (a bounded poll, 10 ms apart). */
async function within(limitMs: number, since: number, probe: () => Promise<boolean>): Promise<number> {
  for (;;) {
    if (await probe()) return performance.now() - since;
    if (performance.now() - since > limitMs) assert.fail(`not within ${limitMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function cli(args: string[]): Promise<{ stdout: string; exitedAt: number }> {
  const run = await openkv([...args, "--store", store], { cwd: home, env });
  assert.equal(run.code, 0, run.stderr);
  return { stdout: run.stdout, exitedAt: performance.now() };
}

/** A KV Connect watch opened with `token`; `ended` resolves, with the time, when the server ends it. */
async function openWatch(base: string, token: string): Promise<{ ended: Promise<number> }> {
  const meta = await fetch(`${base}/kv-connect/default`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ supportedVersions: [3] }),
  });
  assert.equal(meta.status, 200);
  const m = (await meta.json()) as { databaseId: string; endpoints: { url: string }[]; token: string };
  const res = await fetch(`${new URL(m.endpoints[0]!.url, base)}/watch`, {
    method: "POST",
    headers: { authorization: `Bearer ${m.token}`, "x-denokv-database-id": m.databaseId, "x-denokv-version": "3" },
    body: toBinary(WatchSchema, create(WatchSchema, { keys: [{ key: encodeKey(["w"]) }] })),
  });
  assert.equal(res.status, 200);
  const reader = res.body!.getReader();
  // Wrapped: an async function would wait for a promise it returns, here until the stream ends.
  const ended = (async () => {
    while (!(await reader.read()).done);
    return performance.now();
  })();
  return { ended };
}

const a = await serveChild([]);
const b = await inProcess({ tokenPollMs: 60_000 });
const admin = /Admin token \(shown once; only its hash is kept in the store\):\n {2}(okv_\S+)/.exec(a.banner)?.[1];

test("the first server generates the admin token and prints it once; the second answers to it and to the same account id", async () => {
  assert.ok(admin, a.banner);
  assert.equal(b.adminTokenGenerated, false);
  assert.equal(b.adminToken, null, "the second server never sees the secret");
  assert.match(a.banner, new RegExp(`\\(account id ${b.accountId}\\)`));
  assert.equal(await status(b.url, "/admin/tokens", admin), 200);
  assert.equal(await status(b.url, `/client/v4/accounts/${b.accountId}/storage/kv/namespaces`, admin), 200);
  const db = new pg.Client({ connectionString: store });
  await db.connect();
  try {
    const rows = (await db.query<{ name: string; value: string }>("SELECT name, value FROM settings")).rows;
    assert.equal(rows.find((r) => r.name === "admin-token-sha256")?.value, createHash("sha256").update(admin).digest("hex"));
    assert.ok(rows.every((r) => !r.value.includes(admin)), "the store never holds the secret");
  } finally {
    await db.end();
  }
});

test("a token created through one server's admin endpoint works on the other at its first request", async () => {
  const viaA = await createToken(a.url, admin!, { name: "via-a" });
  assert.equal(await status(b.url, "/kv/k", viaA.token, { method: "PUT", body: JSON.stringify({ value: 1 }) }), 200);
  const viaB = await createToken(b.url, admin!, { name: "via-b" });
  assert.equal(await status(a.url, "/kv/k", viaB.token), 200);
  const listed = (await (await fetch(`${b.url}/admin/tokens`, { headers: { authorization: `Bearer ${admin}` } })).json()) as { tokens: { name: string }[] };
  assert.deepEqual(listed.tokens.map((t) => t.name).sort(), ["via-a", "via-b"], "each server lists the store's tokens");
});

test("a read-only token is read-only on every server", async () => {
  const reader = await createToken(a.url, admin!, { name: "reader", permission: "read" });
  for (const base of [b.url, a.url]) {
    assert.equal(await status(base, "/kv/k", reader.token), 200);
    const res = await fetch(`${base}/kv/k`, { method: "PUT", headers: { authorization: `Bearer ${reader.token}` }, body: JSON.stringify({ value: 2 }) });
    assert.equal(res.status, 403);
    assert.match(await res.text(), /This token is read-only/);
  }
});

test("revoked through one server, a token is refused on the other within a second, and its streams there end", async () => {
  const doomed = await createToken(a.url, admin!, { name: "doomed" });
  assert.equal(await status(a.url, "/kv/missing", doomed.token), 404);
  const watch = await openWatch(a.url, doomed.token);
  const res = await fetch(`${b.url}/admin/tokens/${doomed.id}`, { method: "DELETE", headers: { authorization: `Bearer ${admin}` } });
  assert.equal(res.status, 200);
  const since = performance.now();
  assert.equal(await status(b.url, "/kv/k", doomed.token), 401, "at once on the server that revoked it");
  const refused = await within(1000, since, async () => (await status(a.url, "/kv/k", doomed.token)) === 401);
  const ended = (await watch.ended) - since;
  assert.ok(ended < 1000, `the watch outlived its token by ${Math.round(ended)} ms`);
  assert.ok(refused < 1000, `refused after ${Math.round(refused)} ms`);
});

test("openkv token create|list|revoke --store (or OPENKV_STORE) change the store's tokens: at once on first use, within a second when revoked", async () => {
  const made = await cli(["token", "create", "from-cli", "--permission", "read", "--json"]);
  const { token, id } = JSON.parse(made.stdout) as Created;
  assert.equal(await status(b.url, "/kv/k", token), 200, "its first request, on a server that has not polled since");
  assert.equal(await status(b.url, "/kv/k", token, { method: "PUT", body: JSON.stringify({ value: 3 }) }), 403);
  const viaEnv = await openkv(["token", "list", "--json"], { cwd: home, env: { ...env, OPENKV_STORE: store } });
  assert.equal(viaEnv.code, 0, viaEnv.stderr);
  const listed = JSON.parse(viaEnv.stdout) as { id: string; name: string }[];
  assert.ok(listed.some((t) => t.id === id && t.name === "from-cli"));

  assert.equal(await status(a.url, "/kv/k", token), 200);
  const revoked = await cli(["token", "revoke", id]);
  const refused = await within(1000, revoked.exitedAt, async () => (await status(a.url, "/kv/k", token)) === 401);
  assert.ok(refused < 1000);

  const both = await openkv(["token", "list", "--store", store, "--persist-to", home], { cwd: home, env });
  assert.equal(both.code, 1);
  assert.match(both.stderr, /--persist-to and --store name two different stores: pass one\./);
});

test("--admin-token replaces the store's admin token on every server; a different --account-id is refused", async () => {
  await assert.rejects(inProcess({ accountId: "f".repeat(32) }), { message: new RegExp(`^This store's account id is ${b.accountId}, not f{32}`) });
  const replacement = "okv_replacement_admin_token_for_the_store";
  const c = await inProcess({ adminToken: replacement, tokenPollMs: 60_000 });
  assert.equal(c.adminTokenReplaced, true);
  assert.equal(c.accountId, b.accountId);
  const since = performance.now();
  await within(1000, since, async () => (await status(a.url, "/admin/tokens", admin!)) === 401);
  assert.equal(await status(a.url, "/admin/tokens", replacement), 200);
  assert.equal(await status(b.url, "/admin/tokens", replacement), 200, "a miss reads the admin hash too");
});
