/**
 * Tokens changed with `openkv token …` (a child process writing the data directory's tokens.json) take
 * effect on a running server within a second, without a restart: a new token works, a revoked one is
 * refused on HTTP routes and the KV Connect data path, and the watch and queue streams it opened end.
 * Waiting for the server is polling with a deadline, measured from the moment the CLI exits.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import { encodeKey } from "../../src/core/keys.ts";
import { WatchSchema } from "../../src/wire/kv-connect/gen/kv-connect_pb.ts";
import { cleanEnv, openkv, tempDir } from "../cli/helpers.ts";
import { ADMIN, auth, startTestServer } from "./harness.ts";

const logged: string[] = [];
const server = await startTestServer({ persistent: true, log: (line) => logged.push(line) });
const dataDir = server.dir!;
const home = tempDir("token-reload");
const env = cleanEnv(home);

interface Created {
  token: string;
  id: string;
}

async function cli(args: string[]): Promise<{ stdout: string; exitedAt: number }> {
  const run = await openkv([...args, "--persist-to", dataDir], { cwd: home, env });
  assert.equal(run.code, 0, run.stderr);
  return { stdout: run.stdout, exitedAt: performance.now() };
}

/** Milliseconds from `since` until `probe` holds; fails past `limitMs`. */
async function within(limitMs: number, since: number, probe: () => Promise<boolean>): Promise<number> {
  for (;;) {
    if (await probe()) return performance.now() - since;
    if (performance.now() - since > limitMs) assert.fail(`not within ${limitMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function status(path: string, token: string, init: RequestInit = {}): Promise<number> {
  const res = await fetch(`${server.url}${path}`, { ...init, headers: { ...auth(token), ...(init.headers as Record<string, string>) } });
  await res.body?.cancel();
  return res.status;
}

/** Opens a KV Connect stream (`watch` or `queue/listen`) and resolves, with the time, when the server ends it. */
async function openStream(token: string, method: string, body: Uint8Array): Promise<{ ended: Promise<number> }> {
  const meta = await fetch(`${server.url}/kv-connect/reload`, {
    method: "POST",
    headers: { ...auth(token), "content-type": "application/json" },
    body: JSON.stringify({ supportedVersions: [3] }),
  });
  assert.equal(meta.status, 200);
  const m = (await meta.json()) as { databaseId: string; endpoints: { url: string }[]; token: string };
  const res = await fetch(`${new URL(m.endpoints[0]!.url, server.url)}/${method}`, {
    method: "POST",
    headers: { ...auth(m.token), "x-denokv-database-id": m.databaseId, "x-denokv-version": "3" },
    body,
  });
  if (res.status !== 200) assert.fail(`${method}: ${res.status} ${await res.text()}`);
  const reader = res.body!.getReader();
  // Wrapped: an async function would wait for a promise it returns, here until the stream ends.
  const ended = (async () => {
    while (!(await reader.read()).done);
    return performance.now();
  })();
  return { ended };
}

test("a token created with the CLI works at once; revoked with the CLI it is refused within a second everywhere", { timeout: 60_000 }, async () => {
  const made = await cli(["token", "create", "ci", "--json"]);
  const { token, id } = JSON.parse(made.stdout) as Created;
  const usable = await within(1000, made.exitedAt, async () => (await status("/kv/probe", token)) === 404);
  assert.equal(await status(`/client/v4/accounts/${server.accountId}/storage/kv/namespaces`, token), 200);

  const watch = await openStream(token, "watch", toBinary(WatchSchema, create(WatchSchema, { keys: [{ key: encodeKey(["w"]) }] })));
  const listen = await openStream(token, "queue/listen", new Uint8Array(0));
  const meta = await fetch(`${server.url}/kv-connect/reload`, {
    method: "POST",
    headers: { ...auth(token), "content-type": "application/json" },
    body: JSON.stringify({ supportedVersions: [3] }),
  });
  const m = (await meta.json()) as { databaseId: string; endpoints: { url: string }[] };
  const dataPath = `${new URL(m.endpoints[0]!.url, server.url).pathname}/snapshot_read`;
  const dataHeaders = { "x-denokv-database-id": m.databaseId, "x-denokv-version": "3" };
  assert.equal(await status(dataPath, token, { method: "POST", body: new Uint8Array(0), headers: dataHeaders }), 200);

  const revoked = await cli(["token", "revoke", id]);
  assert.doesNotMatch(readFileSync(join(dataDir, "tokens.json"), "utf8"), new RegExp(id), "the CLI wrote the revocation");
  const refused = await within(1000, revoked.exitedAt, async () => (await status("/kv/probe", token)) === 401);
  assert.equal(await status(`/client/v4/accounts/${server.accountId}/storage/kv/namespaces`, token), 401);
  assert.equal(await status(dataPath, token, { method: "POST", body: new Uint8Array(0), headers: dataHeaders }), 401);
  const streams = await Promise.all([watch.ended, listen.ended]);
  for (const ended of streams) assert.ok(ended - revoked.exitedAt < 1500, `a stream outlived its token by ${Math.round(ended - revoked.exitedAt)} ms`);
  // The poll runs every 250 ms; the rest is the request itself.
  assert.ok(usable < 1000 && refused < 1000, `usable after ${usable} ms, refused after ${refused} ms`);
});

test("tokens created at the same moment by CLI processes and by /admin/tokens are all kept", { timeout: 60_000 }, async () => {
  const before = JSON.parse(readFileSync(join(dataDir, "tokens.json"), "utf8")) as unknown[];
  const [viaCli, viaHttp] = await Promise.all([
    Promise.all(["c1", "c2", "c3"].map((name) => cli(["token", "create", name, "--json"]))),
    Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        fetch(`${server.url}/admin/tokens`, { method: "POST", headers: auth(ADMIN), body: JSON.stringify({ name: `h${i}` }) }).then(async (r) => {
          assert.equal(r.status, 201);
          return (await r.json()) as Created;
        }),
      ),
    ),
  ]);
  const onDisk = (JSON.parse(readFileSync(join(dataDir, "tokens.json"), "utf8")) as { name: string }[]).map((t) => t.name);
  assert.equal(onDisk.length, before.length + 13, onDisk.join(" "));
  const secrets = [...viaCli.map((c) => (JSON.parse(c.stdout) as Created).token), ...viaHttp.map((c) => c.token)];
  const last = Math.max(...viaCli.map((c) => c.exitedAt));
  await within(1000, last, async () => (await Promise.all(secrets.map((s) => status("/kv/probe", s)))).every((s) => s === 404));
});

test("a tokens.json the server cannot read leaves its tokens as they were, reported once", { timeout: 60_000 }, async () => {
  const made = await cli(["token", "create", "survivor", "--json"]);
  const { token } = JSON.parse(made.stdout) as Created;
  await within(1000, made.exitedAt, async () => (await status("/kv/probe", token)) === 404);
  const file = join(dataDir, "tokens.json");
  const good = readFileSync(file, "utf8");
  writeFileSync(file, good.slice(0, good.length / 2));
  const since = performance.now();
  await within(1000, since, async () => logged.some((l) => l.includes("is not valid JSON")));
  assert.equal(await status("/kv/probe", token), 404, "the token read before still works");
  assert.equal(logged.filter((l) => l.includes("is not valid JSON")).length, 1);
  const refusedWrite = await openkv(["token", "create", "more", "--persist-to", dataDir], { cwd: home, env });
  assert.equal(refusedWrite.code, 1);
  assert.match(refusedWrite.stderr, /The tokens file .*tokens\.json is not valid JSON/);
  writeFileSync(file, good);
  await within(1000, performance.now(), async () => logged.some((l) => l.includes("is readable again")));
  assert.equal(await status("/kv/probe", token), 404);
});
