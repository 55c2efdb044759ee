/**
 * The rest of the CLI surface: tokens (local tokens.json and a server's /admin/tokens, with --json),
 * wrangler 3's `kv:` spellings, help and version, and the messages for a misconfigured remote mode.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { join } from "node:path";
import { startServer } from "../../src/server/server.ts";
import { ADMIN, startTestServer } from "../e2e/harness.ts";
import { cleanEnv, openkv, tempDir } from "./helpers.ts";

interface TokenJson {
  token: string;
  id: string;
  name: string;
  namespaces: string[] | null;
  permission: string;
}

test("token create | list | revoke on the local data directory; a server started on it honours the tokens", { timeout: 60_000 }, async () => {
  const dir = tempDir("tokens-local");
  const env = cleanEnv(dir);
  const ns = await openkv(["kv", "namespace", "create", "reports"], { cwd: dir, env });
  assert.equal(ns.code, 0, ns.stderr);
  const nsId = /"id": "([0-9a-f]{32})"/.exec(ns.stdout)![1]!;

  const created = await openkv(["token", "create", "ci", "--namespace", "reports", "--permission", "read", "--json"], { cwd: dir, env });
  assert.equal(created.code, 0, created.stderr);
  const token = JSON.parse(created.stdout) as TokenJson;
  assert.match(token.token, /^okv_/);
  assert.deepEqual({ ...token, token: "", id: "" }, { ...token, token: "", id: "", name: "ci", namespaces: [nsId], permission: "read" });
  // No "restart the server" note: a running server picks the change up by itself (test/e2e/token-reload.test.ts).
  assert.equal(created.stderr, "Resource location: local (./.openkv)\n");
  assert.ok(!readFileSync(join(dir, ".openkv/tokens.json"), "utf8").includes(token.token), "only the hash is kept");

  const human = await openkv(["token", "create", "writer"], { cwd: dir, env });
  assert.equal(human.code, 0, human.stderr);
  assert.match(human.stdout, /✨ Created token "writer" \(id: [0-9a-f]{32}\): read and write on every namespace\.\nIt is shown only this once; keep it somewhere safe:\n {2}okv_\S+\n/);

  const listed = JSON.parse((await openkv(["token", "list", "--json"], { cwd: dir, env })).stdout) as TokenJson[];
  assert.deepEqual(listed.map((t) => t.name), ["ci", "writer"]);
  assert.ok(listed.every((t) => !("token" in t)), "secrets are never listed");
  const table = await openkv(["token", "list"], { cwd: dir, env });
  assert.match(table.stdout, new RegExp(`${token.id} +ci +read +reports \\(id: ${nsId}\\)`));

  const server = await startServer({ host: "127.0.0.1", port: 0, dataDir: join(dir, ".openkv"), adminToken: ADMIN, log: () => {} });
  try {
    const url = `${server.url}/client/v4/accounts/${server.accountId}/storage/kv/namespaces/${nsId}/keys`;
    assert.equal((await fetch(url, { headers: { authorization: `Bearer ${token.token}` } })).status, 200);
    const put = await fetch(`${server.url}/client/v4/accounts/${server.accountId}/storage/kv/namespaces/${nsId}/values/k`, {
      method: "PUT",
      body: "v",
      headers: { authorization: `Bearer ${token.token}` },
    });
    assert.equal(put.status, 403, "a read token cannot write");
  } finally {
    await server.close();
  }

  const revoked = await openkv(["token", "revoke", token.id], { cwd: dir, env });
  assert.equal(revoked.code, 0, revoked.stderr);
  assert.match(revoked.stdout, new RegExp(`✨ Revoked token ${token.id}\\.`));
  assert.deepEqual((JSON.parse((await openkv(["token", "list", "--json"], { cwd: dir, env })).stdout) as TokenJson[]).map((t) => t.name), ["writer"]);
  const missing = await openkv(["token", "revoke", token.id], { cwd: dir, env });
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /No token with id/);
});

test("token create | list | revoke --remote use the server's admin endpoints", { timeout: 60_000 }, async () => {
  const server = await startTestServer();
  const dir = tempDir("tokens-remote");
  const env = cleanEnv(dir, { OPENKV_URL: server.url, OPENKV_TOKEN: "okv_not_admin", OPENKV_ADMIN_TOKEN: ADMIN });
  const created = await openkv(["token", "create", "remote-ci", "--namespace", "default", "--remote", "--json"], { cwd: dir, env });
  assert.equal(created.code, 0, created.stderr);
  const token = JSON.parse(created.stdout) as TokenJson;
  assert.equal(created.stderr, `Resource location: remote (${server.url})\n`);
  assert.deepEqual(server.tokens.list().map((t) => t.name), ["remote-ci"]);
  const use = await openkv(["kv", "key", "put", "k", "v", "--namespace-id", (await server.engine.getNamespace("default")).id, "--remote"], {
    cwd: dir,
    env: { ...env, OPENKV_TOKEN: token.token },
  });
  assert.equal(use.code, 0, use.stderr);
  const list = JSON.parse((await openkv(["token", "list", "--remote", "--json"], { cwd: dir, env })).stdout) as TokenJson[];
  assert.deepEqual(list.map((t) => t.id), [token.id]);
  assert.equal((await openkv(["token", "revoke", token.id, "--remote"], { cwd: dir, env })).code, 0);
  assert.deepEqual(server.tokens.list(), []);
  const denied = await openkv(["token", "list", "--remote"], { cwd: dir, env: { ...env, OPENKV_ADMIN_TOKEN: "" } });
  assert.equal(denied.code, 1);
  assert.match(denied.stderr, /✘ \[ERROR\] A request to the OpenKV server at http:\/\/127\.0\.0\.1:\d+ \(\/admin\/tokens\) failed\./);
});

test("wrangler 3's kv:namespace / kv:key / kv:bulk still work, with a deprecation warning", { timeout: 30_000 }, async () => {
  const dir = tempDir("alias");
  const env = cleanEnv(dir);
  const run = await openkv(["kv:namespace", "list"], { cwd: dir, env });
  assert.equal(run.code, 0, run.stderr);
  assert.match(
    run.stderr,
    /^▲ \[WARNING\] The `openkv kv:namespace` command is deprecated and will be removed in a future major version\. Please use `openkv kv namespace` instead which behaves the same\.\n\n\n/,
  );
  assert.equal((JSON.parse(run.stdout) as { title: string }[])[0]!.title, "default");
  const put = await openkv(["kv:key", "put", "k", "v", "--namespace-id", "0123456789abcdef0123456789abcdef"], { cwd: dir, env });
  assert.equal(put.code, 0, put.stderr);
  assert.match(put.stderr, /`openkv kv:key` command is deprecated/);
});

test("help, version, unknown commands, and where remote mode needs settings", { timeout: 30_000 }, async () => {
  const dir = tempDir("misc");
  const env = cleanEnv(dir);
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
  assert.equal((await openkv(["--version"], { cwd: dir, env })).stdout, `${pkg.version}\n`);
  const help = await openkv(["--help"], { cwd: dir, env });
  for (const c of ["openkv kv ", "openkv token ", "openkv export", "openkv import <file>", "openkv backup <file>", "openkv restore <file>", "openkv serve"]) {
    assert.ok(help.stdout.includes(c), `${c} in:\n${help.stdout}`);
  }
  const kv = await openkv(["kv"], { cwd: dir, env });
  assert.equal(kv.code, 0);
  assert.match(kv.stdout, /^openkv kv\n\n🗂️ Manage Workers KV Namespaces\n\nCOMMANDS\n {2}openkv kv namespace +Interact with your Workers KV Namespaces/);
  const unknown = await openkv(["frobnicate"], { cwd: dir, env });
  assert.deepEqual([unknown.code, unknown.stdout, unknown.stderr], [1, "", 'Unknown command "frobnicate". Run "openkv --help" to see the commands.\n']);
  const badFlag = await openkv(["kv", "namespace", "list", "--bogus"], { cwd: dir, env });
  assert.equal(badFlag.code, 1);
  assert.match(badFlag.stderr, /✘ \[ERROR\] Unknown argument: bogus/);
  assert.match(badFlag.stdout, /openkv kv namespace list\n/);

  const noUrl = await openkv(["kv", "namespace", "list", "--remote"], { cwd: dir, env });
  assert.equal(noUrl.code, 1);
  assert.match(noUrl.stderr, /Remote mode needs a server: set OPENKV_URL \(e\.g\. http:\/\/127\.0\.0\.1:8787\) and OPENKV_TOKEN\./);
  const fileUrl = await openkv(["kv", "namespace", "list", "--remote"], { cwd: dir, env: { ...env, OPENKV_URL: "./data.sqlite", OPENKV_TOKEN: "t" } });
  assert.match(fileUrl.stderr, /OPENKV_URL is "\.\/data\.sqlite", which is not the http\(s\) URL of an OpenKV server\./);
  const closed = await new Promise<number>((resolve) => {
    const probe = createServer().listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
  const down = await openkv(["kv", "namespace", "list", "--remote"], { cwd: dir, env: { ...env, OPENKV_URL: `http://127.0.0.1:${closed}`, OPENKV_TOKEN: "t" } });
  assert.equal(down.code, 1);
  assert.match(down.stderr, new RegExp(`Could not reach the OpenKV server at http://127\\.0\\.0\\.1:${closed}: ECONNREFUSED`));
  const both = await openkv(["kv", "key", "list", "--namespace-id", "x", "--local", "--remote"], { cwd: dir, env });
  assert.equal(both.code, 1);
  assert.match(both.stderr, /Arguments remote and local are mutually exclusive/);
  const badMeta = await openkv(["kv", "key", "put", "k", "v", "--namespace-id", "x", "--metadata", "{nope"], { cwd: dir, env });
  assert.equal(badMeta.code, 1);
  assert.match(badMeta.stderr, /--metadata must be JSON/);
});

test("bin/openkv starts with Node's compile cache on (in $TMPDIR unless NODE_COMPILE_CACHE says where), off with NODE_DISABLE_COMPILE_CACHE=1", { timeout: 30_000 }, async () => {
  // A start that finds its modules there never loads the TypeScript stripper (~30 MB of RSS in a server).
  const dir = tempDir("compile-cache");
  const files = (d: string) => (existsSync(d) ? readdirSync(d, { recursive: true }).length : 0);
  assert.equal((await openkv(["--version"], { cwd: dir, env: cleanEnv(dir, { TMPDIR: join(dir, "tmp") }) })).code, 0);
  assert.ok(files(join(dir, "tmp", "node-compile-cache")) > 0, "the default cache directory holds the compiled modules");
  assert.equal((await openkv(["--version"], { cwd: dir, env: cleanEnv(dir, { NODE_COMPILE_CACHE: join(dir, "chosen") }) })).code, 0);
  assert.ok(files(join(dir, "chosen")) > 0, "NODE_COMPILE_CACHE is where the cache goes");
  const off = cleanEnv(dir, { TMPDIR: join(dir, "off"), NODE_DISABLE_COMPILE_CACHE: "1" });
  assert.equal((await openkv(["--version"], { cwd: dir, env: off })).code, 0);
  assert.equal(files(join(dir, "off", "node-compile-cache")), 0);
});

test("local mode works on the data directory of a running server: each sees the other's writes at once", { timeout: 60_000 }, async () => {
  const server = await startTestServer({ persistent: true });
  const dir = tempDir("alongside");
  const env = cleanEnv(dir);
  const ns = await server.engine.createNamespace("shared");
  const put = await openkv(["kv", "key", "put", "from-cli", "local write", "--namespace-id", ns.id, "--persist-to", server.dir!], { cwd: dir, env });
  assert.equal(put.code, 0, put.stderr);
  assert.match(put.stdout, /Resource location: local \(\.\.\/openkv-e2e-\w+\)/);
  const res = await fetch(`${server.url}/client/v4/accounts/${server.accountId}/storage/kv/namespaces/${ns.id}/values/from-cli`, { headers: { authorization: `Bearer ${ADMIN}` } });
  assert.equal(await res.text(), "local write");
  await fetch(`${server.url}/client/v4/accounts/${server.accountId}/storage/kv/namespaces/${ns.id}/values/from-server`, {
    method: "PUT",
    body: "remote write",
    headers: { authorization: `Bearer ${ADMIN}`, "content-type": "text/plain" },
  });
  const get = await openkv(["kv", "key", "get", "from-server", "--namespace-id", ns.id, "--persist-to", server.dir!], { cwd: dir, env });
  assert.equal(get.stdout, "remote write");
  const forced = await openkv(["kv", "namespace", "delete", "--namespace-id", ns.id, "--force", "--persist-to", server.dir!], { cwd: dir, env });
  assert.equal(forced.code, 0, forced.stderr);
  assert.ok(!forced.stdout.includes("Ok to proceed?"), "--force (like -y) skips the question");
  // The server's namespace cache learns of another process's change within a second.
  const deadline = Date.now() + 3000;
  while ((await server.engine.findNamespace(ns.id)) !== null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.equal(await server.engine.findNamespace(ns.id), null);
});
