/**
 * Issue 8's holes, one regression test each: nothing a client sends pollutes the process, nothing stored
 * poisons later reads, and a client's mistake is a 4xx with a clear message — the same through every API.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { create, toBinary } from "@bufbuild/protobuf";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { encodeKey } from "../../src/core/keys.ts";
import { serializeV8 } from "../../src/core/v8.ts";
import { AtomicWriteSchema, MutationType, ValueEncoding } from "../../src/wire/kv-connect/gen/kv-connect_pb.ts";
import { cleanEnv, openkv, tempDir } from "../cli/helpers.ts";
import { ADMIN, auth, startTestServer } from "./harness.ts";

const server = await startTestServer({ persistent: true });
const CF = `${server.url}/client/v4/accounts/${server.accountId}/storage/kv/namespaces`;
const ns = await server.engine.ensureNamespace("trust");
const kvc = await (
  await fetch(`${server.url}/kv-connect/trust`, { method: "POST", headers: { ...auth(), "content-type": "application/json" }, body: '{"supportedVersions":[3]}' })
).json() as { databaseId: string; endpoints: { url: string }[] };

function kvConnectWrite(mutation: Record<string, unknown>): Promise<Response> {
  const body = toBinary(AtomicWriteSchema, create(AtomicWriteSchema, { mutations: [mutation as never] }));
  return fetch(`${new URL(kvc.endpoints[0]!.url, server.url)}/atomic_write`, {
    method: "POST",
    headers: { ...auth(), "x-denokv-database-id": kvc.databaseId, "x-denokv-version": "3" },
    body,
  });
}

async function putMultipart(key: string, form: FormData): Promise<Response> {
  return fetch(`${CF}/${ns.id}/values/${key}`, { method: "PUT", headers: auth(), body: form });
}

test("hole 1: multipart metadata[__proto__][x] is stored as data and pollutes no prototype", async () => {
  for (const field of ["metadata[__proto__][polluted]", "metadata[constructor][prototype][polluted]"]) {
    const form = new FormData();
    form.set("value", "v");
    form.set(field, "1");
    const res = await putMultipart("proto", form);
    assert.equal(res.status, 200, await res.text());
    assert.equal(({} as Record<string, unknown>).polluted, undefined, `${field} reached Object.prototype`);
    assert.equal((Object as unknown as Record<string, unknown>).polluted, undefined);
  }
  const meta = await fetch(`${CF}/${ns.id}/metadata/proto`, { headers: auth() });
  assert.equal(meta.status, 200);
  assert.equal(JSON.stringify(((await meta.json()) as { result: unknown }).result), '{"constructor":{"prototype":{"polluted":"1"}}}');
  assert.equal((await fetch(`${server.url}/healthz`)).status, 200, "the server is still up");
});

test("hole 4: metadata field names nested 100,000 levels, and /kv values nested past 1,000, are 400s", async () => {
  const form = new FormData();
  form.set("value", "v");
  form.set(`metadata${"[a]".repeat(100_000)}`, "1");
  const deep = await putMultipart("deep", form);
  assert.equal(deep.status, 400);
  assert.deepEqual(((await deep.json()) as { errors: unknown }).errors, [{ code: 10001, message: "The metadata field name nests deeper than 64 levels" }]);

  const nested = `{"value":${"[".repeat(1001)}${"]".repeat(1001)}}`;
  const rest = await fetch(`${server.url}/ns/trust/kv/deep`, { method: "PUT", headers: auth(), body: nested });
  assert.equal(rest.status, 400);
  assert.deepEqual(await rest.json(), { error: { status: 400, message: "The value nests 1001 levels deep; the most is 1000" } });
  const ok = await fetch(`${server.url}/ns/trust/kv/deep`, { method: "PUT", headers: auth(), body: `{"value":${"[".repeat(1000)}${"]".repeat(1000)}}` });
  assert.equal(ok.status, 200, "1,000 levels are still a value");
});

test("hole 3: KV Connect cannot store bytes marked V8 that no reader can decode", async () => {
  const key = encodeKey(["bad-v8"]);
  for (const data of [new Uint8Array([0xff, 0x0f, 0x6f, 0x22, 0x99]), new Uint8Array(0), new Uint8Array([1, 2, 3, 4, 5, 6])]) {
    const res = await kvConnectWrite({ key, mutationType: MutationType.M_SET, value: { data, encoding: ValueEncoding.VE_V8 } });
    assert.equal(res.status, 400);
    assert.match(await res.text(), /^The value is not valid V8 serialized data: /);
  }
  const u64 = await kvConnectWrite({ key, mutationType: MutationType.M_SET, value: { data: new Uint8Array(3), encoding: ValueEncoding.VE_LE64 } });
  assert.equal(u64.status, 400);
  assert.equal(await u64.text(), "A KvU64 (le64) value is exactly 8 bytes, got 3");
  assert.equal((await fetch(`${server.url}/ns/trust/kv/bad-v8`, { headers: auth() })).status, 404, "nothing was stored");
});

test("hole 3: a cyclic Deno value reads through /kv, its listing, REST v4 and bulk get", async () => {
  const cyclic: Record<string, unknown> = { name: "loop" };
  cyclic.self = cyclic;
  cyclic.list = [cyclic, 1n];
  const res = await kvConnectWrite({ key: encodeKey(["cyclic"]), mutationType: MutationType.M_SET, value: { data: serializeV8(cyclic), encoding: ValueEncoding.VE_V8 } });
  assert.equal(res.status, 200);
  const expected = { name: "loop", self: "[Circular]", list: ["[Circular]", "1"] };
  const one = await fetch(`${server.url}/ns/trust/kv/cyclic`, { headers: auth() });
  assert.equal(one.status, 200);
  assert.deepEqual(((await one.json()) as { value: unknown }).value, expected);
  const list = await fetch(`${server.url}/ns/trust/kv?list=true`, { headers: auth() });
  assert.equal(list.status, 200);
  const v4 = await fetch(`${CF}/${ns.id}/values/cyclic`, { headers: auth() });
  assert.equal(v4.status, 200);
  assert.deepEqual(JSON.parse(await v4.text()), expected);
  const bulk = await fetch(`${CF}/${ns.id}/bulk/get`, { method: "POST", headers: { ...auth(), "content-type": "application/json" }, body: '{"keys":["cyclic"],"type":"json"}' });
  assert.equal(bulk.status, 200);
  assert.deepEqual(((await bulk.json()) as { result: { values: unknown } }).result.values, { cyclic: expected });
});

test("hole 3: expiries a JS number cannot hold are refused by /kv and KV Connect", async () => {
  const rest = await fetch(`${server.url}/ns/trust/kv/far`, { method: "PUT", headers: auth(), body: '{"value":1,"ttl":9007199254740000}' });
  assert.equal(rest.status, 400);
  assert.match(((await rest.json()) as { error: { message: string } }).error.message, /^Invalid expiration \d+: expected milliseconds since the epoch, from 0 to 8640000000000000/);
  const wire = await kvConnectWrite({
    key: encodeKey(["far"]),
    mutationType: MutationType.M_SET,
    value: { data: new Uint8Array([1]), encoding: ValueEncoding.VE_BYTES },
    expireAtMs: 2n ** 62n,
  });
  assert.equal(wire.status, 400);
  assert.equal(await wire.text(), "Invalid expiration 4611686018427388000: expected milliseconds since the epoch, from 0 to 8640000000000000 (the latest date JavaScript can hold)");
  assert.equal((await fetch(`${server.url}/ns/trust/kv/far`, { headers: auth() })).status, 404);
});

test("hole 3: rows written before validation existed still read, list, export and delete", async () => {
  const bad = await server.engine.ensureNamespace("legacy");
  const db = new DatabaseSync(join(server.dir!, "openkv.sqlite"));
  const seq = db.prepare("SELECT seq FROM namespaces WHERE id = ?").get(bad.id)!.seq as number;
  const put = db.prepare("INSERT INTO entries (ns, key, value, encoding, versionstamp, expires_at, metadata) VALUES (?, ?, ?, ?, ?, NULL, NULL)");
  put.run(seq, encodeKey(["garbage"]), new Uint8Array([0xff, 0x0f, 0x6f, 0x22]), 1, new Uint8Array(10).fill(1));
  put.run(seq, encodeKey(["short-u64"]), new Uint8Array([7, 0, 0]), 2, new Uint8Array(10).fill(2));
  db.close();
  const one = await fetch(`${server.url}/ns/legacy/kv/garbage`, { headers: auth() });
  assert.equal(one.status, 200);
  assert.deepEqual(((await one.json()) as { value: unknown }).value, [0xff, 0x0f, 0x6f, 0x22], "raw bytes, not a 500");
  const list = await fetch(`${server.url}/ns/legacy/kv?list=true`, { headers: auth() });
  assert.equal(list.status, 200);
  assert.equal(((await list.json()) as { entries: unknown[] }).entries.length, 2);
  const v4 = await fetch(`${CF}/${bad.id}/values/short-u64`, { headers: auth() });
  assert.equal(v4.status, 200);
  assert.deepEqual(new Uint8Array(await v4.arrayBuffer()), new Uint8Array([7, 0, 0]));
  const dir = tempDir("trust-export");
  const exported = await openkv(["export", "--persist-to", server.dir!, "--namespace-id", bad.id], { cwd: dir, env: cleanEnv(dir) });
  assert.equal(exported.code, 0, exported.stderr);
  assert.equal(exported.stdout.trim().split("\n").length, 2);
  for (const key of ["garbage", "short-u64"]) {
    assert.equal((await fetch(`${server.url}/ns/legacy/kv/${key}`, { method: "DELETE", headers: auth() })).status, 200);
  }
  assert.equal(await server.engine.count(bad.id, new Uint8Array([0]), new Uint8Array([0xff])), 0);
});

test("hole 6: the value limit is 25 MiB of payload through /kv as through REST v4", async () => {
  const limit = 25 * 1024 * 1024;
  const big = (n: number) => `{"value":"${"x".repeat(n)}"}`;
  const over = await fetch(`${server.url}/ns/trust/kv/huge`, { method: "PUT", headers: auth(), body: big(limit + 1) });
  assert.equal(over.status, 413);
  assert.deepEqual(await over.json(), { error: { status: 413, message: "Value too large (max 26214400 bytes)" } });
  const v4 = await fetch(`${CF}/${ns.id}/values/huge`, { method: "PUT", headers: { ...auth(), "content-type": "text/plain" }, body: "x".repeat(limit + 1) });
  assert.equal(v4.status, 413);
  const at = await fetch(`${server.url}/ns/trust/kv/huge`, { method: "PUT", headers: auth(), body: big(limit) });
  assert.equal(at.status, 200, "exactly 25 MiB is allowed");
  const back = await fetch(`${CF}/${ns.id}/values/huge`, { headers: auth() });
  assert.equal((await back.arrayBuffer()).byteLength, limit);
});

test("the admin token never appears in an error body", async () => {
  const res = await fetch(`${server.url}/ns/trust/kv/x`, { method: "PUT", headers: auth(), body: "{" });
  assert.equal(res.status, 400);
  assert.ok(!(await res.text()).includes(ADMIN));
});

test("found by the fuzzers: deep JSON metadata, objects where names belong, and a leading U+FEFF", async () => {
  const form = new FormData();
  form.set("value", "v");
  form.set("metadata", `${"[".repeat(5000)}${"]".repeat(5000)}`);
  const deep = await putMultipart("deep-json", form);
  assert.equal(deep.status, 400);
  assert.deepEqual(((await deep.json()) as { errors: unknown }).errors, [{ code: 10001, message: "metadata nests deeper than 1000 levels" }]);

  const json = { ...auth(), "content-type": "application/json" };
  const get = await fetch(`${CF}/${ns.id}/bulk/get`, { method: "POST", headers: json, body: '{"keys":["a"],"type":{"toString":1}}' });
  assert.equal(get.status, 400);
  assert.deepEqual(((await get.json()) as { errors: unknown }).errors, [{ code: 10001, message: 'The body\'s "type" must be "text" or "json"' }]);
  const del = await fetch(`${CF}/${ns.id}/bulk/delete`, { method: "POST", headers: json, body: '[{"name":{"toString":1}},"ok",[[[]]]]' });
  assert.equal(del.status, 200);
  assert.deepEqual(((await del.json()) as { result: unknown }).result, { successful_key_count: 1, unsuccessful_keys: ["0", "2"] });

  const bom = "\uFEFFbom";
  assert.equal((await fetch(`${CF}/${ns.id}/values/${encodeURIComponent(bom)}`, { method: "PUT", headers: auth(), body: "x" })).status, 200);
  const list = await fetch(`${CF}/${ns.id}/keys?prefix=${encodeURIComponent("\uFEFF")}`, { headers: auth() });
  assert.deepEqual(((await list.json()) as { result: { name: string }[] }).result.map((k) => k.name), [bom]);
});
