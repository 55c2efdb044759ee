/**
 * The real `wrangler kv …` commands against the real server, with CLOUDFLARE_API_BASE_URL pointing at
 * it. Results are asserted, not just exit codes; values cross into Deno's Kv and the /kv API both ways.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import { openKv } from "../../src/index.ts";
import { ADMIN, auth, startTestServer } from "./harness.ts";

const server = await startTestServer();
const home = mkdtempSync(join(tmpdir(), "openkv-wrangler-"));
after(() => rmSync(home, { recursive: true, force: true }));
const bin = join(import.meta.dirname, "../../node_modules/.bin/wrangler");

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function wrangler(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      bin,
      args,
      {
        cwd: home,
        timeout: 60_000,
        env: {
          PATH: process.env.PATH,
          HOME: home,
          CLOUDFLARE_API_BASE_URL: `${server.url}/client/v4`,
          CLOUDFLARE_API_TOKEN: ADMIN,
          CLOUDFLARE_ACCOUNT_ID: server.accountId,
          WRANGLER_SEND_METRICS: "false",
          CI: "true",
          NO_COLOR: "1",
        },
      },
      (error, stdout, stderr) => resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** The JSON document in wrangler's output, which may be followed by a "Success!" line. */
function jsonOf(out: string): unknown {
  const start = out.search(/^[[{]/m);
  const end = Math.max(out.lastIndexOf("\n}"), out.lastIndexOf("\n]"));
  return JSON.parse(out.slice(start, end + 2));
}

test("kv namespace create | list | rename | delete", { timeout: 120_000 }, async () => {
  const created = await wrangler("kv", "namespace", "create", "WR_NS");
  assert.equal(created.code, 0, created.stderr);
  assert.match(created.stdout, /Creating namespace with title "WR_NS"/);
  const id = /"id": "([0-9a-f]{32})"/.exec(created.stdout)![1]!;
  assert.equal((await server.engine.getNamespace(id)).title, "WR_NS");

  const listed = await wrangler("kv", "namespace", "list");
  assert.equal(listed.code, 0);
  assert.deepEqual(
    (jsonOf(listed.stdout) as { id: string; title: string }[]).find((n) => n.id === id),
    { id, title: "WR_NS", supports_url_encoding: true },
  );

  const renamed = await wrangler("kv", "namespace", "rename", "WR_NS", "--new-name", "WR_RENAMED");
  assert.equal(renamed.code, 0, renamed.stderr);
  assert.equal((await server.engine.getNamespace(id)).title, "WR_RENAMED");

  const deleted = await wrangler("kv", "namespace", "delete", "--namespace-id", id, "--skip-confirmation");
  assert.equal(deleted.code, 0, deleted.stderr);
  assert.equal(await server.engine.findNamespace(id), null);
});

test("kv key put | get | list | delete --remote, text and binary, metadata and ttl", { timeout: 120_000 }, async () => {
  const ns = await server.engine.createNamespace("wr-keys");
  const id = ["--namespace-id", ns.id, "--remote"];
  assert.equal((await wrangler("kv", "key", "put", "greeting", "hello", ...id)).code, 0);
  const put = await wrangler("kv", "key", "put", "meta", "world", "--metadata", '{"a":1}', "--ttl", "3600", ...id);
  assert.equal(put.code, 0, put.stderr);
  writeFileSync(join(home, "bin.dat"), Buffer.from([0, 1, 2, 0xff]));
  assert.equal((await wrangler("kv", "key", "put", "bin", "--path", join(home, "bin.dat"), ...id)).code, 0);

  const text = await wrangler("kv", "key", "get", "greeting", "--text", ...id);
  assert.equal(text.stdout.trim(), "hello");
  const listed = jsonOf((await wrangler("kv", "key", "list", ...id)).stdout) as { name: string; expiration?: number; metadata?: unknown }[];
  assert.deepEqual(listed.map((k) => k.name), ["bin", "greeting", "meta"]);
  const meta = listed.find((k) => k.name === "meta")!;
  assert.deepEqual(meta.metadata, { a: 1 });
  assert.ok(meta.expiration! > Date.now() / 1000 + 3500);

  // Cross-API: the wrangler-written text is a string to Deno and to /kv, the file is bytes.
  const kv = await openKv(undefined, { engine: server.engine, namespace: ns.id });
  assert.equal((await kv.get(["greeting"])).value, "hello");
  assert.deepEqual((await kv.get(["bin"])).value, new Uint8Array([0, 1, 2, 0xff]));
  const rest = (await (await fetch(`${server.url}/ns/${ns.id}/kv/greeting`, { headers: auth() })).json()) as { value: string };
  assert.equal(rest.value, "hello");

  // The reverse: Deno and /kv writes read back through wrangler.
  await kv.set(["from-deno"], { deno: true, n: 1 });
  await fetch(`${server.url}/ns/${ns.id}/kv/from-rest`, { method: "PUT", headers: { ...auth(), "content-type": "application/json" }, body: '{"value":"rest text"}' });
  assert.deepEqual(JSON.parse((await wrangler("kv", "key", "get", "from-deno", "--text", ...id)).stdout), { deno: true, n: 1 });
  assert.equal((await wrangler("kv", "key", "get", "from-rest", "--text", ...id)).stdout.trim(), "rest text");
  kv.close();

  assert.equal((await wrangler("kv", "key", "delete", "greeting", ...id)).code, 0);
  assert.equal((await (await fetch(`${server.url}/ns/${ns.id}/kv/greeting`, { headers: auth() })).status), 404);
});

test("kv bulk put | get | delete --remote", { timeout: 120_000 }, async () => {
  const ns = await server.engine.createNamespace("wr-bulk");
  const id = ["--namespace-id", ns.id, "--remote"];
  const pairs = Array.from({ length: 1500 }, (_, i) => ({ key: `k${String(i).padStart(4, "0")}`, value: `v${i}` }));
  pairs.push({ key: "b64", value: Buffer.from([0, 1]).toString("base64"), base64: true } as never);
  writeFileSync(join(home, "bulk.json"), JSON.stringify(pairs));
  const put = await wrangler("kv", "bulk", "put", join(home, "bulk.json"), ...id);
  assert.equal(put.code, 0, put.stderr);
  assert.match(put.stdout + put.stderr, /Success!/);
  const kv = await openKv(undefined, { engine: server.engine, namespace: ns.id });
  let n = 0;
  for await (const _ of kv.list({ prefix: [] })) n++;
  assert.equal(n, 1501, "1,500 pairs arrive in batches of 1,000, plus the base64 one");

  writeFileSync(join(home, "keys.json"), JSON.stringify(["k0000", "b64", "missing"]));
  const got = await wrangler("kv", "bulk", "get", join(home, "keys.json"), ...id);
  assert.deepEqual(jsonOf(got.stdout), { k0000: "v0", b64: "\u0000\u0001", missing: null });

  writeFileSync(join(home, "delete.json"), JSON.stringify(pairs.map((p) => p.key)));
  const del = await wrangler("kv", "bulk", "delete", join(home, "delete.json"), "--force", ...id);
  assert.equal(del.code, 0, del.stderr);
  n = 0;
  for await (const _ of kv.list({ prefix: [] })) n++;
  assert.equal(n, 0);
  kv.close();
  assert.ok(readFileSync(join(home, "keys.json")).length > 0);
});
