/**
 * The dashboard's JSON API (src/api/dashboard/routes.ts) and its static files, against the real server:
 * tagged keys and values cross to the Deno side intact, paging, the tree, compare-and-set, delete by
 * prefix with a dry run, export/import in `openkv export`'s format, exact errors, and the page's headers.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { openKv } from "../../src/index.ts";
import { KvU64 } from "../../src/api/deno/kv-u64.ts";
import { parseLine } from "../../src/api/export-format.ts";
import { ADMIN, auth, startTestServer } from "./harness.ts";

const server = await startTestServer();
const str = (value: string) => ({ type: "string", value });
const num = (value: number) => ({ type: "number", value });

async function call(ns: string, verb: string, body: unknown, token = ADMIN): Promise<{ status: number; json: any }> {
  const r = await fetch(`${server.url}/_openkv/v1/dashboard/ns/${ns}/${verb}`, { method: "POST", headers: { ...auth(token), "content-type": "application/json" }, body: JSON.stringify(body) });
  const text = await r.text();
  return { status: r.status, json: text.startsWith("{") ? JSON.parse(text) : text };
}

async function ok(ns: string, verb: string, body: unknown): Promise<any> {
  const r = await call(ns, verb, body);
  assert.equal(r.status, 200, JSON.stringify(r.json));
  return r.json;
}

async function token(permission: "read" | "write", namespaces: string[] | null = null): Promise<string> {
  const r = await fetch(`${server.url}/admin/tokens`, { method: "POST", headers: { ...auth(), "content-type": "application/json" }, body: JSON.stringify({ name: `t-${permission}`, permission, namespaces }) });
  return ((await r.json()) as { token: string }).token;
}

test("structured values written through the dashboard are what Deno reads, and read back the same", async () => {
  await server.engine.ensureNamespace("typed");
  const value = {
    type: "object",
    value: {
      when: { type: "Date", value: "2024-07-15T00:00:00.000Z" },
      big: { type: "bigint", value: "12345678901234567890" },
      tags: { type: "Set", value: [str("a"), str("b")] },
      byId: { type: "Map", value: [[num(1), str("one")]] },
      raw: { type: "Uint8Array", value: "00ff10" },
      nothing: { type: "undefined" },
      nan: { type: "number", value: "NaN" },
    },
  };
  await ok("typed", "set", { key: [str("users"), num(42), { type: "bigint", value: "7" }], value });
  await ok("typed", "set", { key: [str("counter")], value: { type: "KvU64", value: "18446744073709551615" } });
  await ok("typed", "set", { key: [str("blob")], value: { type: "Uint8Array", value: "deadbeef" } });

  const kv = await openKv(server.url + "/kv-connect/typed", { token: ADMIN });
  try {
    const got = (await kv.get(["users", 42, 7n])).value as Record<string, unknown>;
    assert.deepEqual(got.when, new Date("2024-07-15T00:00:00.000Z"));
    assert.equal(got.big, 12345678901234567890n);
    assert.deepEqual(got.tags, new Set(["a", "b"]));
    assert.deepEqual(got.byId, new Map([[1, "one"]]));
    assert.deepEqual(got.raw, Uint8Array.of(0, 255, 16));
    assert.ok("nothing" in got && got.nothing === undefined);
    assert.ok(Number.isNaN(got.nan));
    assert.deepEqual((await kv.get(["counter"])).value, new KvU64(18446744073709551615n));
    assert.deepEqual((await kv.get(["blob"])).value, Uint8Array.of(0xde, 0xad, 0xbe, 0xef));
  } finally {
    kv.close();
  }

  const entry = await ok("typed", "get", { key: [str("users"), num(42), { type: "bigint", value: "7" }] });
  assert.deepEqual(entry.value, value);
  assert.equal(entry.encoding, "v8");
  assert.deepEqual((await ok("typed", "get", { key: [str("counter")] })).value, { type: "KvU64", value: "18446744073709551615" });
  const blob = await ok("typed", "get", { key: [str("blob")] });
  assert.deepEqual([blob.encoding, blob.value], ["bytes", { type: "Uint8Array", value: "deadbeef" }]);
});

test("bad keys and values are 400s that say what is wrong", async () => {
  await server.engine.ensureNamespace("bad");
  const cases: [unknown, string][] = [
    [{ key: "users", value: str("x") }, 'key must be an array of key parts like [{"type":"string","value":"users"}]'],
    [{ key: [{ type: "symbol", value: "x" }], value: str("x") }, 'key[0]: unknown key part type "symbol" (use string, number, bigint, boolean or Uint8Array)'],
    [{ key: [str("k")], value: { type: "bigint", value: "1.5" } }, 'value: a bigint must be decimal digits as a string, e.g. "123"'],
    [{ key: [str("k")], value: { type: "KvU64", value: "-1" } }, "value: a KvU64 is an integer from 0 to 2^64-1"],
    [{ key: [str("k")], value: { type: "KvU64", value: "18446744073709551616" } }, "value: a KvU64 is an integer from 0 to 2^64-1"],
    [{ key: [str("k")], value: { type: "Uint8Array", value: "abc" } }, "value must be hex digits in pairs"],
    [{ key: [str("k")], value: { type: "Error", value: { name: "Error", message: "x" } } }, 'value: "Error" values can be viewed but not written'],
    [{ key: [str("k")], value: str("x"), versionstamp: "nope" }, "versionstamp must be the 20 hex digits the entry was read with, or null for a new key"],
    [{ key: [str("k")], value: str("x"), expiresAt: 5 }, "expiresAt must be a future time in epoch milliseconds, or null"],
  ];
  for (const [body, message] of cases) {
    const r = await call("bad", "set", body);
    assert.deepEqual(r, { status: 400, json: { error: { status: 400, message } } }, JSON.stringify(body));
  }
  assert.deepEqual((await call("bad", "list", { prefix: [], limit: 1001 })).json.error.message, "Invalid limit 1001: use an integer from 1 to 1000");
  assert.deepEqual((await call("bad", "list", { prefix: [], cursor: "_w" })).json.error.message, "Invalid cursor: pass the cursor returned by the previous page of the same list");
  assert.deepEqual((await call("bad", "delete-prefix", { prefix: [] })).json.error.message, "dryRun must be true (count only) or false (delete)");
  assert.deepEqual((await call("bad", "get", { key: [str("missing")] })).json, { error: { status: 404, message: "No entry with this key" } });
  assert.equal((await call("nope-no-such-ns", "list", { prefix: [] })).status, 404);
});

test("paging reaches the last of 2,500 keys; startsWith narrows a string part; the tree lists each next part once", async () => {
  const ns = (await server.engine.ensureNamespace("paged")).id;
  for (let i = 0; i < 2500; i += 500) {
    const mutations = Array.from({ length: 500 }, (_, j) => ({ key: [str("item"), num(i + j)], value: num(i + j) }));
    await Promise.all(mutations.map((m) => ok(ns, "set", m)));
  }
  await ok(ns, "set", { key: [str("user:ada")], value: str("a") });
  await ok(ns, "set", { key: [str("user:bob")], value: str("b") });
  await ok(ns, "set", { key: [str("zeta"), str("x"), str("y")], value: str("z") });
  const seen: number[] = [];
  let cursor: string | null = null;
  do {
    const page: { entries: { key: { value: number }[] }[]; cursor: string | null } = await ok(ns, "list", { prefix: [str("item")], limit: 1000, cursor });
    for (const e of page.entries) seen.push(e.key[1]!.value);
    cursor = page.cursor;
  } while (cursor);
  assert.deepEqual(seen, Array.from({ length: 2500 }, (_, i) => i));

  const users = await ok(ns, "list", { prefix: [], startsWith: "user:" });
  assert.deepEqual(users.entries.map((e: { key: { value: string }[] }) => e.key[0]!.value), ["user:ada", "user:bob"]);
  assert.equal((await ok(ns, "count", { prefix: [], startsWith: "user:" })).count, 2);

  const root = await ok(ns, "children", { prefix: [] });
  assert.deepEqual(root, { children: [str("item"), str("user:ada"), str("user:bob"), str("zeta")], cursor: null });
  const items = await ok(ns, "children", { prefix: [str("item")] });
  assert.equal(items.children.length, 100);
  assert.deepEqual(items.children[99], num(99));
  const next = await ok(ns, "children", { prefix: [str("item")], cursor: items.cursor });
  assert.deepEqual(next.children[0], num(100));
});

test("set with the versionstamp read is a compare-and-set: a stale one is a 409, null refuses an existing key", async () => {
  const ns = (await server.engine.ensureNamespace("cas")).id;
  const first = await ok(ns, "set", { key: [str("k")], value: str("one"), versionstamp: null });
  assert.deepEqual(await call(ns, "set", { key: [str("k")], value: str("again"), versionstamp: null }), { status: 409, json: { error: { status: 409, message: "An entry with this key exists already" } } });
  const second = await ok(ns, "set", { key: [str("k")], value: str("two"), versionstamp: first.versionstamp });
  assert.deepEqual(await call(ns, "set", { key: [str("k")], value: str("stale"), versionstamp: first.versionstamp }), { status: 409, json: { error: { status: 409, message: "The entry changed since you opened it" } } });
  await ok(ns, "set", { key: [str("k")], value: str("three"), versionstamp: second.versionstamp });
  assert.deepEqual((await ok(ns, "get", { key: [str("k")] })).value, str("three"));
});

test("delete by prefix: the dry run counts, changes nothing, and the delete removes exactly that many", async () => {
  const ns = (await server.engine.ensureNamespace("prefixdel")).id;
  await Promise.all(Array.from({ length: 1200 }, (_, i) => ok(ns, "set", { key: [str("tmp"), num(i)], value: num(i) })));
  await ok(ns, "set", { key: [str("tmpx")], value: str("kept: a sibling string, not under the tuple prefix") });
  await ok(ns, "set", { key: [str("keep")], value: str("kept") });
  assert.deepEqual(await ok(ns, "delete-prefix", { prefix: [str("tmp")], dryRun: true }), { count: 1200 });
  assert.equal((await ok(ns, "count", { prefix: [] })).count, 1202);
  assert.deepEqual(await ok(ns, "delete-prefix", { prefix: [str("tmp")], dryRun: false }), { deleted: 1200 });
  const left = await ok(ns, "list", { prefix: [] });
  assert.deepEqual(left.entries.map((e: { key: unknown }) => e.key), [[str("keep")], [str("tmpx")]]);
  assert.deepEqual(await ok(ns, "delete", { keys: [[str("keep")], [str("tmpx")]] }), { deleted: 2 });
  assert.equal((await ok(ns, "count", { prefix: [] })).count, 0);
});

test("export writes openkv export's lines; import reads them back into another namespace exactly", async () => {
  const from = (await server.engine.ensureNamespace("exp-from")).id;
  const to = (await server.engine.ensureNamespace("exp-to")).id;
  await ok(from, "set", { key: [str("a")], value: str("text"), metadata: { lang: "en" }, expiresAt: Date.now() + 3_600_000 });
  await ok(from, "set", { key: [str("b"), num(1)], value: { type: "Map", value: [[str("x"), { type: "bigint", value: "1" }]] } });
  await ok(from, "set", { key: [str("c")], value: { type: "KvU64", value: "5" } });
  const res = await fetch(`${server.url}/_openkv/v1/dashboard/ns/${from}/export`, { method: "POST", headers: { ...auth(), "content-type": "application/json" }, body: "{}" });
  assert.equal(res.headers.get("content-type"), "application/x-ndjson; charset=utf-8");
  const text = await res.text();
  const lines = text.trim().split("\n");
  assert.equal(lines.length, 3);
  const records = lines.map((l, i) => parseLine(l, `line ${i + 1}`));
  assert.deepEqual(JSON.parse(lines[0]!).name, "a");
  assert.deepEqual(JSON.parse(lines[0]!).metadata, { lang: "en" });

  const imported = await fetch(`${server.url}/_openkv/v1/dashboard/ns/${to}/import`, {
    method: "POST",
    headers: { ...auth(), "content-type": "application/x-ndjson" },
    body: `{"namespace":{"id":"${from}","title":"exp-from"}}\n${text}`,
  });
  assert.deepEqual(await imported.json(), { imported: 3, skipped: 1 });
  const a = await server.engine.read(from, [{ start: Uint8Array.of(0), end: Uint8Array.of(0xff), limit: 10 }]);
  const b = await server.engine.read(to, [{ start: Uint8Array.of(0), end: Uint8Array.of(0xff), limit: 10 }]);
  const shape = (rows: typeof a) => rows[0]!.map((e) => [Buffer.from(e.key).toString("hex"), e.encoding, Buffer.from(e.data).toString("hex"), e.metadata, e.expiresAt]);
  assert.deepEqual(shape(b), shape(a));
  assert.equal(records.length, 3);

  const bad = await fetch(`${server.url}/_openkv/v1/dashboard/ns/${to}/import`, { method: "POST", headers: auth(), body: '{"name":"ok","value":"aGk="}\n{"name":"x","encoding":"utf16","value":""}' });
  assert.deepEqual(await bad.json(), { error: { status: 400, message: 'line 2: "encoding" must be "v8", "bytes" or "le64"' } });
  assert.equal((await ok(to, "count", { prefix: [] })).count, 3, "a bad line imports nothing from its request");
});

test("the session says who the token is; read and scoped tokens are refused what they may not do", async () => {
  const a = (await server.engine.ensureNamespace("scope-a")).id;
  const b = (await server.engine.ensureNamespace("scope-b")).id;
  const session = async (t: string): Promise<any> => (await fetch(`${server.url}/_openkv/v1/dashboard/session`, { headers: auth(t) })).json();
  assert.deepEqual(await session(ADMIN), { accountId: server.accountId, kind: "admin", name: "admin", permission: "write", namespaces: null, isAdmin: true, canWrite: true, canManage: true });
  const reader = await token("read");
  assert.deepEqual({ ...(await session(reader)) }, { accountId: server.accountId, kind: "token", name: "t-read", permission: "read", namespaces: null, isAdmin: false, canWrite: false, canManage: false });
  const scoped = await token("write", ["scope-a"]);
  assert.deepEqual((await session(scoped)).namespaces, [a]);
  assert.equal((await session(scoped)).canManage, false);

  assert.equal((await call(a, "list", { prefix: [] }, reader)).status, 200);
  assert.deepEqual((await call(a, "set", { key: [str("k")], value: str("v") }, reader)).json, { error: { status: 403, message: "This token is read-only" } });
  assert.equal((await call(a, "set", { key: [str("k")], value: str("v") }, scoped)).status, 200);
  assert.deepEqual((await call(b, "list", { prefix: [] }, scoped)).json, { error: { status: 403, message: "This token may not use this namespace" } });
  assert.equal((await fetch(`${server.url}/_openkv/v1/dashboard/session`)).status, 401);
});

test("the page: a CSP that allows no inline script but the hashed import map; modules and libraries served; no directory walk", async () => {
  const page = await fetch(`${server.url}/`);
  assert.equal(page.headers.get("content-type"), "text/html; charset=utf-8");
  const csp = page.headers.get("content-security-policy")!;
  assert.match(csp, /script-src 'self' 'sha256-[A-Za-z0-9+/]+=*'/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  const html = await page.text();
  const map = /<script type="importmap">(.*?)<\/script>/.exec(html)![1]!;
  const { createHash } = await import("node:crypto");
  assert.ok(csp.includes(`'sha256-${createHash("sha256").update(map).digest("base64")}'`), "the hash is the import map's");
  assert.equal((html.match(/<script/g) ?? []).length, 2, "the import map and one module script, nothing else");
  for (const path of Object.values(JSON.parse(map).imports as Record<string, string>)) {
    const r = await fetch(server.url + path);
    assert.equal(r.status, 200, path);
    assert.equal(r.headers.get("content-type"), "text/javascript; charset=utf-8");
  }
  assert.equal((await fetch(`${server.url}/_openkv/ui/app.js`)).status, 200);
  assert.equal((await fetch(`${server.url}/_openkv/ui/..%2F..%2Fpackage.json`)).status, 404);
  assert.equal((await fetch(`${server.url}/_openkv/ui/vendor/..%2Fpackage.json`)).status, 404);
});
