/**
 * `--audit-log`: every namespace create/rename/delete, token create/revoke and bulk delete made through
 * the real APIs (REST v4, /admin/tokens, KV Connect's namespace-on-first-use, the CLI's local token
 * commands) is one JSON line naming who, what, when and from where — and the file never holds a token
 * secret, a value, metadata or a key name. Concurrent writers (the server and CLI processes) never
 * interleave lines.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync, statSync } from "node:fs";
import { userInfo } from "node:os";
import { join } from "node:path";
import { cleanEnv, OPENKV, openkv, tempDir } from "../cli/helpers.ts";
import { ADMIN, auth, startTestServer } from "./harness.ts";

const work = tempDir("audit");
const file = join(work, "audit.jsonl");
const server = await startTestServer({ persistent: true, auditLog: file });
const env = cleanEnv(work);
const NS = `${server.url}/client/v4/accounts/${server.accountId}/storage/kv/namespaces`;

interface Line {
  time: string;
  action: string;
  actor: Record<string, string>;
  remote?: string;
  namespace?: Record<string, string>;
  token?: Record<string, unknown>;
  keys?: Record<string, number>;
}

const lines = (): Line[] =>
  readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as Line);

/** What these routes answer: a Cloudflare envelope (`result`) or /admin/tokens' own JSON. */
interface Answer {
  result?: { id: string; successful_key_count?: number; unsuccessful_keys?: string[] };
  id: string;
  token: string;
}

async function call(method: string, url: string, token: string, body?: unknown): Promise<{ status: number; json: Answer }> {
  const res = await fetch(url, {
    method,
    headers: { ...auth(token), "content-type": "application/json" },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, json: (await res.json()) as Answer };
}

test("each action through the real APIs is one line: who, what, when, where — never a secret or a value", { timeout: 60_000 }, async () => {
  const started = Date.now();
  const ns = (await call("POST", NS, ADMIN, { title: "audited" })).json.result!;
  const ops = (await call("POST", `${server.url}/admin/tokens`, ADMIN, { name: "ops", permission: "write" })).json;
  const reader = (await call("POST", `${server.url}/admin/tokens`, ADMIN, { name: "ro", permission: "read", namespaces: ["audited"] })).json;

  const secretValue = "value-that-must-not-leak";
  const secretMeta = "metadata-that-must-not-leak";
  const secretKey = "key-name-that-must-not-leak";
  const bulk = await call("PUT", `${NS}/${ns.id}/bulk`, ops.token, [
    { key: secretKey, value: secretValue, metadata: { m: secretMeta } },
    { key: "b", value: secretValue },
  ]);
  assert.equal(bulk.status, 200);
  assert.equal((await call("PUT", `${NS}/${ns.id}`, ops.token, { title: "audited-renamed" })).status, 200);
  const deleted = await call("POST", `${NS}/${ns.id}/bulk/delete`, ops.token, [secretKey, "b", "never-there", 42]);
  assert.deepEqual(deleted.json.result, { successful_key_count: 3, unsuccessful_keys: ["42"] });
  // A refused action changes nothing and is not an action.
  assert.equal((await call("POST", NS, reader.token, { title: "not-allowed" })).status, 403);
  const meta = await fetch(`${server.url}/kv-connect/made-by-deno`, {
    method: "POST",
    headers: auth(ops.token),
    body: JSON.stringify({ supportedVersions: [3] }),
  });
  assert.equal(meta.status, 200);
  await meta.body?.cancel();
  const made = (await server.engine.findNamespace("made-by-deno"))!;
  assert.equal((await call("DELETE", `${NS}/${ns.id}`, ops.token)).status, 200);
  assert.equal((await call("DELETE", `${server.url}/admin/tokens/${ops.id}`, ADMIN)).status, 200);

  // The CLI's local token commands append to the same file: given --audit-log, or OPENKV_AUDIT_LOG (which serve reads too).
  const local = await openkv(["token", "create", "local-ci", "--json", "--persist-to", server.dir!, "--audit-log", file], { cwd: work, env });
  assert.equal(local.code, 0, local.stderr);
  const localToken = JSON.parse(local.stdout) as { id: string; token: string };
  const revoked = await openkv(["token", "revoke", localToken.id, "--persist-to", server.dir!], { cwd: work, env: { ...env, OPENKV_AUDIT_LOG: file } });
  assert.equal(revoked.code, 0, revoked.stderr);

  const got = lines();
  const admin = { type: "admin" };
  const opsActor = { type: "token", id: ops.id, name: "ops" };
  const me = { type: "local", user: userInfo().username };
  assert.deepEqual(
    got.map(({ time: _t, remote: _r, ...rest }) => rest),
    [
      { action: "namespace.create", actor: admin, namespace: { id: ns.id, title: "audited" } },
      { action: "token.create", actor: admin, token: { id: ops.id, name: "ops", permission: "write", namespaces: null } },
      { action: "token.create", actor: admin, token: { id: reader.id, name: "ro", permission: "read", namespaces: [ns.id] } },
      { action: "namespace.rename", actor: opsActor, namespace: { id: ns.id, title: "audited-renamed", previousTitle: "audited" } },
      { action: "kv.bulk_delete", actor: opsActor, namespace: { id: ns.id, title: "audited-renamed" }, keys: { requested: 4, deleted: 3 } },
      { action: "namespace.create", actor: opsActor, namespace: { id: made.id, title: "made-by-deno" } },
      { action: "namespace.delete", actor: opsActor, namespace: { id: ns.id, title: "audited-renamed" } },
      { action: "token.revoke", actor: admin, token: { id: ops.id, name: "ops" } },
      { action: "token.create", actor: me, token: { id: localToken.id, name: "local-ci", permission: "write", namespaces: null } },
      { action: "token.revoke", actor: me, token: { id: localToken.id, name: "local-ci" } },
    ],
  );
  for (const line of got) {
    assert.match(line.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.ok(Date.parse(line.time) >= started - 1000 && Date.parse(line.time) <= Date.now(), line.time);
    if (line.actor.type === "local") assert.equal(line.remote, undefined);
    else assert.match(line.remote!, /^(::ffff:)?127\.0\.0\.1$/);
  }
  const text = readFileSync(file, "utf8");
  for (const secret of [ADMIN, ops.token, reader.token, localToken.token, secretValue, secretMeta, secretKey]) {
    assert.ok(!text.includes(secret), `the audit log holds ${secret}`);
  }
  // The token hashes are not secrets, but they have no business in an audit log either.
  const hashes = (JSON.parse(readFileSync(join(server.dir!, "tokens.json"), "utf8")) as { hash: string }[]).map((t) => t.hash);
  for (const h of hashes) assert.ok(!text.includes(h));
  assert.equal((statSync(file).mode & 0o777).toString(8), "600");
});

test("the server and CLI processes appending at once leave whole lines", { timeout: 60_000 }, async () => {
  const before = lines().length;
  await Promise.all([
    ...Array.from({ length: 40 }, (_, i) => call("POST", NS, ADMIN, { title: `burst-${i}` }).then((r) => assert.equal(r.status, 200))),
    ...["c1", "c2", "c3"].map(async (name) => {
      const run = await openkv(["token", "create", name, "--persist-to", server.dir!, "--audit-log", file], { cwd: work, env });
      assert.equal(run.code, 0, run.stderr);
    }),
  ]);
  const after = lines().slice(before);
  assert.equal(after.length, 43);
  assert.deepEqual(
    after.map((l) => l.action).sort(),
    [...Array(40).fill("namespace.create"), ...Array(3).fill("token.create")].sort(),
  );
});

test("openkv serve --audit-log records what the server does; --remote token commands refuse the flag", { timeout: 60_000 }, async () => {
  const data = join(work, "served");
  const served = join(work, "served.jsonl");
  const child = spawn(OPENKV, ["serve", "--port", "0", "--data", data, "--admin-token", ADMIN, "--audit-log", served], { cwd: work, env, stdio: ["ignore", "pipe", "pipe"] });
  after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  let out = "";
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.setEncoding("utf8").on("data", (c: string) => {
      out += c;
      const m = /^OpenKV listening on (http:\/\/\S+)[^]*curl -H .*\n/m.exec(out);
      if (m) resolve(m[1]!);
    });
    void exited.then(() => reject(new Error(`serve exited:\n${out}`)));
  });
  assert.match(out, new RegExp(`\\n {2}Audit log {15}${served.replaceAll("/", "\\/")}\\n`));
  const accountId = readFileSync(join(data, "account-id"), "utf8").trim();
  const res = await call("POST", `${url}/client/v4/accounts/${accountId}/storage/kv/namespaces`, ADMIN, { title: "via-serve" });
  assert.equal(res.status, 200);
  const line = JSON.parse(readFileSync(served, "utf8")) as Line;
  assert.deepEqual([line.action, line.actor, line.namespace], ["namespace.create", { type: "admin" }, { id: res.json.result!.id, title: "via-serve" }]);

  const remote = await openkv(["token", "create", "x", "--remote", "--audit-log", served], { cwd: work, env: { ...env, OPENKV_URL: url, OPENKV_TOKEN: ADMIN } });
  assert.equal(remote.code, 1);
  assert.match(remote.stderr, /✘ \[ERROR\] --audit-log is for tokens changed locally: with --remote the server writes its own audit log \(openkv serve --audit-log\)\./);
  assert.equal(readFileSync(served, "utf8").split("\n").length, 2, "the refused command wrote nothing");
  child.kill("SIGTERM");
  assert.equal(await exited, 0);
});
