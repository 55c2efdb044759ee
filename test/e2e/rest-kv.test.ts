import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";

// curl runs asynchronously: the server lives in this process and must keep answering.
const curl = async (...args: string[]) => (await promisify(execFile)("curl", args, { encoding: "utf8", timeout: 10_000 })).stdout;
import { ADMIN, auth, startTestServer } from "./harness.ts";
import { ManualClock } from "../../src/core/clock.ts";

const clock = new ManualClock(Date.UTC(2030, 0, 1));
const server = await startTestServer({ clock });
const url = (path: string) => `${server.url}${path}`;
const json = { ...auth(), "content-type": "application/json" };

test("the seed's curl example works verbatim (with a token header) and the value reads back", async () => {
  const out = await curl(
    "-s", "-X", "PUT", url("/kv/users.john.session"),
    "-H", `Authorization: Bearer ${ADMIN}`,
    "-H", "Content-Type: application/json",
    "-d", '{"value": {"token": "abc123"}, "ttl": 3600000}',
  );
  assert.match(out, /^\{"ok":true,"versionstamp":"[0-9a-f]{20}"\}$/);
  const got = JSON.parse(await curl("-s", url("/kv/users.john.session"), "-H", `Authorization: Bearer ${ADMIN}`));
  assert.deepEqual(got.key, ["users", "john", "session"]);
  assert.equal(got.path, "users.john.session");
  assert.deepEqual(got.value, { token: "abc123" });
  assert.equal(got.expiresAt, clock.now() + 3600000);
});

test("PUT, GET with ETag, DELETE, 404 after delete", async () => {
  const put = await fetch(url("/kv/app.config"), { method: "PUT", headers: json, body: JSON.stringify({ value: [1, "two", { three: 3 }] }) });
  assert.equal(put.status, 200);
  const { versionstamp } = (await put.json()) as { versionstamp: string };
  const get = await fetch(url("/kv/app.config"), { headers: auth() });
  assert.equal(get.headers.get("etag"), `"${versionstamp}"`);
  assert.deepEqual(((await get.json()) as { value: unknown }).value, [1, "two", { three: 3 }]);
  const del = await fetch(url("/kv/app.config"), { method: "DELETE", headers: auth() });
  assert.deepEqual(await del.json(), { ok: true });
  const gone = await fetch(url("/kv/app.config"), { headers: auth() });
  assert.equal(gone.status, 404);
  assert.deepEqual(await gone.json(), { error: { status: 404, message: "Key not found: app.config" } });
});

test("ttl expires on the server's clock", async () => {
  await fetch(url("/kv/tmp.x"), { method: "PUT", headers: json, body: JSON.stringify({ value: 1, ttl: 1000 }) });
  assert.equal((await fetch(url("/kv/tmp.x"), { headers: auth() })).status, 200);
  clock.advance(1000);
  assert.equal((await fetch(url("/kv/tmp.x"), { headers: auth() })).status, 404);
});

test("compare-and-swap: If-Match and If-None-Match: * answer 412 on conflict and change nothing", async () => {
  const first = await fetch(url("/kv/cas.k"), { method: "PUT", headers: { ...json, "if-none-match": "*" }, body: '{"value":"a"}' });
  assert.equal(first.status, 200);
  const etag = first.headers.get("etag")!;
  const again = await fetch(url("/kv/cas.k"), { method: "PUT", headers: { ...json, "if-none-match": "*" }, body: '{"value":"b"}' });
  assert.equal(again.status, 412);
  const swap = await fetch(url("/kv/cas.k"), { method: "PUT", headers: { ...json, "if-match": etag }, body: '{"value":"c"}' });
  assert.equal(swap.status, 200);
  const stale = await fetch(url("/kv/cas.k"), { method: "PUT", headers: { ...json, "if-match": etag }, body: '{"value":"d"}' });
  assert.equal(stale.status, 412);
  assert.deepEqual(await stale.json(), {
    error: { status: 412, message: "Precondition failed: the key changed since the ETag you sent (or exists, for If-None-Match: *)" },
  });
  const staleDelete = await fetch(url("/kv/cas.k"), { method: "DELETE", headers: { ...auth(), "if-match": etag } });
  assert.equal(staleDelete.status, 412);
  const value = (await (await fetch(url("/kv/cas.k"), { headers: auth() })).json()) as { value: string };
  assert.equal(value.value, "c");
  const bad = await fetch(url("/kv/cas.k"), { method: "PUT", headers: { ...json, "if-match": "nonsense" }, body: '{"value":"e"}' });
  assert.equal(bad.status, 400);
});

test("list under a prefix with pagination by cursor", async () => {
  for (let i = 0; i < 5; i++) {
    await fetch(url(`/kv/list.items.${i}`), { method: "PUT", headers: json, body: JSON.stringify({ value: i }) });
  }
  await fetch(url(`/kv/list`), { method: "PUT", headers: json, body: JSON.stringify({ value: "the prefix itself is not listed" }) });
  const page1 = (await (await fetch(url("/kv/list?list=true&limit=3"), { headers: auth() })).json()) as { entries: { path: string; value: number }[]; cursor: string };
  assert.deepEqual(page1.entries.map((e) => e.path), ["list.items.0", "list.items.1", "list.items.2"]);
  const page2 = (await (await fetch(url(`/kv/list?list=true&limit=3&cursor=${page1.cursor}`), { headers: auth() })).json()) as { entries: { path: string }[]; cursor: string | null };
  assert.deepEqual(page2.entries.map((e) => e.path), ["list.items.3", "list.items.4"]);
  assert.equal(page2.cursor, null);
  const rev = (await (await fetch(url("/kv/list.items?list=true&reverse=true&limit=2"), { headers: auth() })).json()) as { entries: { value: number }[] };
  assert.deepEqual(rev.entries.map((e) => e.value), [4, 3]);
});

test("bad input answers 400 with a message and changes nothing", async () => {
  const cases: [string, RequestInit, number, string][] = [
    ["/kv/bad.body", { method: "PUT", headers: json, body: "{not json" }, 400, "The request body is not valid JSON"],
    ["/kv/bad.body", { method: "PUT", headers: json, body: '{"val": 1}' }, 400, 'The body must be a JSON object like {"value": <any JSON>, "ttl": <milliseconds>}'],
    ["/kv/bad.body", { method: "PUT", headers: json, body: '{"value": 1, "ttl": -5}' }, 400, "Invalid ttl -5: use a positive integer number of milliseconds"],
    ["/kv/bad..body", { method: "PUT", headers: json, body: '{"value": 1}' }, 400, 'Invalid key path "bad..body": empty segment between dots'],
    ["/kv/list?list=true&limit=0", { headers: auth() }, 400, 'Invalid limit "0": use an integer from 1 to 1000'],
    ["/kv/list?list=true&cursor=AAAA", { headers: auth() }, 400, "Invalid cursor: pass the cursor returned by the previous page of the same list"],
  ];
  for (const [path, init, status, message] of cases) {
    const r = await fetch(url(path), init);
    assert.equal(r.status, status, path);
    assert.deepEqual(await r.json(), { error: { status, message } }, path);
  }
  assert.equal((await fetch(url("/kv/bad.body"), { headers: auth() })).status, 404);
});

test("namespaces by title or id under /ns/{namespace}/kv", async () => {
  const created = await server.engine.createNamespace("other");
  await fetch(url("/ns/other/kv/a.b"), { method: "PUT", headers: json, body: '{"value": 1}' });
  const byId = (await (await fetch(url(`/ns/${created.id}/kv/a.b`), { headers: auth() })).json()) as { value: number };
  assert.equal(byId.value, 1);
  assert.equal((await fetch(url("/kv/a.b"), { headers: auth() })).status, 404, "other namespaces are separate from default");
  const missing = await fetch(url("/ns/nope/kv/a"), { headers: auth() });
  assert.equal(missing.status, 404);
  assert.deepEqual(await missing.json(), { error: { status: 404, message: "namespace not found" } });
});

test("401 without or with a wrong token, health is public", async () => {
  const none = await fetch(url("/kv/a"));
  assert.equal(none.status, 401);
  assert.deepEqual(await none.json(), { error: { status: 401, message: "Authentication required: send Authorization: Bearer <token>" } });
  const wrong = await fetch(url("/kv/a"), { headers: auth("okv_wrong") });
  assert.deepEqual(await wrong.json(), { error: { status: 401, message: "Invalid API token" } });
  assert.deepEqual(await (await fetch(url("/healthz"))).json(), { ok: true });
});
