/** The official `cloudflare` SDK, unchanged, against the real server: every KV call it has. */
import { test } from "node:test";
import assert from "node:assert/strict";
import Cloudflare from "cloudflare";
import { ManualClock } from "../../src/core/clock.ts";
import { openKv } from "../../src/index.ts";
import { ADMIN, startTestServer } from "./harness.ts";

const clock = new ManualClock(Date.UTC(2030, 0, 1));
const server = await startTestServer({ clock });
const account_id = server.accountId;
const cf = new Cloudflare({ baseURL: `${server.url}/client/v4`, apiToken: ADMIN, maxRetries: 0 });
const nowSeconds = () => Math.floor(clock.now() / 1000);

test("namespaces: create, get, list with pagination and order, rename, delete", async () => {
  const a = await cf.kv.namespaces.create({ account_id, title: "sdk-a" });
  assert.match(a.id, /^[0-9a-f]{32}$/);
  assert.equal(a.title, "sdk-a");
  const b = await cf.kv.namespaces.create({ account_id, title: "sdk-b" });
  assert.deepEqual(await cf.kv.namespaces.get(a.id, { account_id }), { id: a.id, title: "sdk-a", supports_url_encoding: true });

  const titles: string[] = [];
  for await (const ns of cf.kv.namespaces.list({ account_id, per_page: 1, order: "title", direction: "desc" })) titles.push(ns.title);
  assert.deepEqual(titles.filter((t) => t.startsWith("sdk-")), ["sdk-b", "sdk-a"]);
  assert.ok(titles.includes("default"));

  await assert.rejects(cf.kv.namespaces.create({ account_id, title: "sdk-a" }), (e: unknown) => {
    assert.ok(e instanceof Cloudflare.BadRequestError);
    assert.deepEqual((e.error as { errors: unknown[] }).errors, [{ code: 10014, message: "a namespace with this account ID and title already exists" }]);
    return true;
  });
  const renamed = await cf.kv.namespaces.update(b.id, { account_id, title: "sdk-b2" });
  assert.equal(renamed.title, "sdk-b2");
  await cf.kv.namespaces.delete(b.id, { account_id });
  await assert.rejects(cf.kv.namespaces.get(b.id, { account_id }), (e: unknown) => {
    assert.ok(e instanceof Cloudflare.NotFoundError);
    assert.equal((e.error as { errors: { code: number }[] }).errors[0]!.code, 10013);
    return true;
  });
});

test("values: update with metadata and expiration_ttl, get raw with the expiration header, metadata, delete", async () => {
  const ns = await cf.kv.namespaces.create({ account_id, title: "sdk-values" });
  await cf.kv.namespaces.values.update("greeting", { account_id, namespace_id: ns.id, value: "hello", metadata: JSON.stringify({ lang: "en" }), expiration_ttl: 120 });
  const res = await cf.kv.namespaces.values.get("greeting", { account_id, namespace_id: ns.id });
  assert.equal(await res.text(), "hello");
  assert.equal(res.headers.get("expiration"), String(nowSeconds() + 120));
  assert.deepEqual(await cf.kv.namespaces.metadata.get("greeting", { account_id, namespace_id: ns.id }), { lang: "en" });

  // Given an object, the SDK sends bracket fields (metadata[a][b]=…); they are rebuilt into the object.
  await cf.kv.namespaces.values.update("nested", { account_id, namespace_id: ns.id, value: "v", metadata: { a: { b: "c" }, list: ["x", "y"] } });
  assert.deepEqual(await cf.kv.namespaces.metadata.get("nested", { account_id, namespace_id: ns.id }), { a: { b: "c" }, list: ["x", "y"] });

  // Keys with characters that need escaping in a URL path.
  const odd = "a/b?c#d e%f.json";
  await cf.kv.namespaces.values.update(odd, { account_id, namespace_id: ns.id, value: "odd" });
  assert.equal(await (await cf.kv.namespaces.values.get(odd, { account_id, namespace_id: ns.id })).text(), "odd");

  await cf.kv.namespaces.values.delete("greeting", { account_id, namespace_id: ns.id });
  await assert.rejects(cf.kv.namespaces.values.get("greeting", { account_id, namespace_id: ns.id }), (e: unknown) => {
    assert.ok(e instanceof Cloudflare.NotFoundError);
    assert.deepEqual((e.error as { errors: unknown[] }).errors, [{ code: 10009, message: "key not found" }]);
    return true;
  });
  // Deleting a missing key is not an error.
  await cf.kv.namespaces.values.delete("never-there", { account_id, namespace_id: ns.id });
});

test("values: the service's validation messages come back as 4xx with Cloudflare's texts", async () => {
  const ns = await cf.kv.namespaces.create({ account_id, title: "sdk-invalid" });
  const fails = async (p: Promise<unknown>, status: number, message: string) =>
    assert.rejects(p, (e: unknown) => {
      assert.ok(e instanceof Cloudflare.APIError);
      assert.equal(e.status, status);
      assert.equal((e.error as { errors: { message: string }[] }).errors[0]!.message, message);
      return true;
    });
  await fails(cf.kv.namespaces.values.update("k", { account_id, namespace_id: ns.id, value: "v", expiration_ttl: 59 }), 400, "Invalid expiration_ttl of 59. Expiration TTL must be at least 60.");
  await fails(cf.kv.namespaces.values.update("k", { account_id, namespace_id: ns.id, value: "v", expiration: nowSeconds() }), 400, `Invalid expiration of ${nowSeconds()}. Please specify integer greater than the current number of seconds since the UNIX epoch.`);
  await fails(cf.kv.namespaces.values.update("x".repeat(513), { account_id, namespace_id: ns.id, value: "v" }), 414, "UTF-8 encoded length of 513 exceeds key length limit of 512.");
  await fails(cf.kv.namespaces.values.update("k", { account_id, namespace_id: ns.id, value: "v", metadata: JSON.stringify({ x: "y".repeat(1020) }) }), 413, "Metadata length of 1028 exceeds limit of 1024.");
  const keys = [];
  for await (const k of cf.kv.namespaces.keys.list(ns.id, { account_id })) keys.push(k);
  assert.deepEqual(keys, [], "nothing was stored by the refused writes");
});

test("keys: list with prefix, limit and cursor pagination; expiration and metadata in results", async () => {
  const ns = await cf.kv.namespaces.create({ account_id, title: "sdk-keys" });
  for (let i = 0; i < 25; i++) {
    await cf.kv.namespaces.values.update(`item:${String(i).padStart(2, "0")}`, { account_id, namespace_id: ns.id, value: String(i), ...(i === 0 ? { metadata: '{"first":true}', expiration: nowSeconds() + 3600 } : {}) });
  }
  await cf.kv.namespaces.values.update("other", { account_id, namespace_id: ns.id, value: "x" });
  const page = await cf.kv.namespaces.keys.list(ns.id, { account_id, prefix: "item:", limit: 10 });
  assert.equal(page.result.length, 10);
  assert.deepEqual(page.result[0], { name: "item:00", expiration: nowSeconds() + 3600, metadata: { first: true } });
  const all: string[] = [];
  for await (const k of cf.kv.namespaces.keys.list(ns.id, { account_id, prefix: "item:", limit: 10 })) all.push(k.name);
  assert.deepEqual(all, Array.from({ length: 25 }, (_, i) => `item:${String(i).padStart(2, "0")}`));
});

test("bulk: update (with base64 and per-item options), get (text, json, with metadata), delete", async () => {
  const ns = await cf.kv.namespaces.create({ account_id, title: "sdk-bulk" });
  const written = await cf.kv.namespaces.bulkUpdate(ns.id, {
    account_id,
    body: [
      { key: "t", value: "text" },
      { key: "j", value: '{"n":1}', metadata: { m: 1 } },
      { key: "b", value: Buffer.from([0, 1, 2, 255]).toString("base64"), base64: true },
      { key: "e", value: "exp", expiration_ttl: 600 },
      { key: "bad", value: "x", expiration_ttl: 10 },
    ],
  });
  assert.deepEqual(written, { successful_key_count: 4, unsuccessful_keys: ["bad"] });
  const raw = await cf.kv.namespaces.values.get("b", { account_id, namespace_id: ns.id });
  assert.deepEqual([...new Uint8Array(await raw.arrayBuffer())], [0, 1, 2, 255]);

  const texts = await cf.kv.namespaces.bulkGet(ns.id, { account_id, keys: ["t", "j", "missing"] });
  assert.deepEqual(texts, { values: { t: "text", j: '{"n":1}', missing: null } });
  const jsons = await cf.kv.namespaces.bulkGet(ns.id, { account_id, keys: ["j"], type: "json", withMetadata: true });
  assert.deepEqual(jsons, { values: { j: { value: { n: 1 }, metadata: { m: 1 } } } });
  const withExp = await cf.kv.namespaces.bulkGet(ns.id, { account_id, keys: ["e"], withMetadata: true });
  assert.deepEqual(withExp, { values: { e: { value: "exp", metadata: null, expiration: nowSeconds() + 600 } } });

  const deleted = await cf.kv.namespaces.bulkDelete(ns.id, { account_id, body: ["t", "j"] });
  assert.deepEqual(deleted, { successful_key_count: 2, unsuccessful_keys: [] });
  const left: string[] = [];
  for await (const k of cf.kv.namespaces.keys.list(ns.id, { account_id })) left.push(k.name);
  assert.deepEqual(left, ["b", "e"]);
});

test("cross-API: an SDK-written string is a string to Deno's Kv, bytes are a Uint8Array, and the reverse", async () => {
  const ns = await cf.kv.namespaces.create({ account_id, title: "sdk-cross" });
  await cf.kv.namespaces.values.update("s", { account_id, namespace_id: ns.id, value: "from the sdk" });
  await cf.kv.namespaces.bulkUpdate(ns.id, { account_id, body: [{ key: "bytes", value: "AAEC", base64: true }] });
  const kv = await openKv(undefined, { engine: server.engine, namespace: ns.id });
  assert.equal((await kv.get(["s"])).value, "from the sdk");
  assert.deepEqual((await kv.get(["bytes"])).value, new Uint8Array([0, 1, 2]));
  await kv.set(["obj"], { a: [1, 2], b: "c" });
  const back = await cf.kv.namespaces.values.get("obj", { account_id, namespace_id: ns.id });
  assert.deepEqual(JSON.parse(await back.text()), { a: [1, 2], b: "c" });
  kv.close();
});

test("accounts, memberships and token verify answer like Cloudflare", async () => {
  const accounts = [];
  for await (const a of cf.accounts.list()) accounts.push(a.id);
  assert.deepEqual(accounts, [account_id]);
  const verify = await cf.user.tokens.verify();
  assert.equal(verify.status, "active");
  const wrongAccount = new Cloudflare({ baseURL: `${server.url}/client/v4`, apiToken: ADMIN, maxRetries: 0 });
  await assert.rejects(wrongAccount.kv.namespaces.list({ account_id: "f".repeat(32) }).then((p) => p.result), (e: unknown) => {
    assert.ok(e instanceof Cloudflare.NotFoundError);
    return true;
  });
  const noAuth = new Cloudflare({ baseURL: `${server.url}/client/v4`, apiToken: "okv_wrong", maxRetries: 0 });
  await assert.rejects(noAuth.kv.namespaces.list({ account_id }).then((p) => p.result), (e: unknown) => {
    assert.ok(e instanceof Cloudflare.AuthenticationError);
    assert.deepEqual((e.error as { errors: unknown[] }).errors, [{ code: 10000, message: "Invalid API token" }]);
    return true;
  });
});
