/**
 * KV Connect on the wire, request by request: the metadata exchange's exact shape, token scopes, the
 * data path's headers, statuses and plain-text errors, commit semantics, and the watch stream (first
 * frame, keep-alives, changes, expiry, release on disconnect). On a manual clock: no sleeps.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { ManualClock } from "../../src/core/clock.ts";
import { encodeKey } from "../../src/core/keys.ts";
import {
  AtomicWriteOutputSchema,
  AtomicWriteSchema,
  AtomicWriteStatus,
  MutationType,
  SnapshotReadOutputSchema,
  SnapshotReadSchema,
  SnapshotReadStatus,
  ValueEncoding,
  WatchOutputSchema,
  WatchSchema,
} from "../../src/wire/kv-connect/gen/kv-connect_pb.ts";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { ADMIN, auth, startTestServer } from "./harness.ts";

const clock = new ManualClock(Date.UTC(2030, 0, 1));
const server = await startTestServer({ clock, kvConnect: { keepAliveMs: 50 } });

interface Metadata {
  version: number;
  databaseId: string;
  endpoints: { url: string; consistency: string }[];
  token: string;
  expiresAt: string;
}

async function exchange(path: string, token = ADMIN, versions: number[] = [1, 2, 3]): Promise<Response> {
  return fetch(`${server.url}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ supportedVersions: versions }),
  });
}

async function metadata(path: string, token = ADMIN): Promise<Metadata> {
  const res = await exchange(path, token);
  assert.equal(res.status, 200, await res.clone().text());
  return (await res.json()) as Metadata;
}

function call(m: Metadata, method: string, body: Uint8Array, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${new URL(m.endpoints[0]!.url, server.url)}/${method}`, {
    method: "POST",
    headers: { authorization: `Bearer ${m.token}`, "x-denokv-database-id": m.databaseId, "x-denokv-version": "3", ...headers },
    body,
  });
}

async function write(m: Metadata, init: MessageInitShape<typeof AtomicWriteSchema>): Promise<Response> {
  return call(m, "atomic_write", toBinary(AtomicWriteSchema, create(AtomicWriteSchema, init)));
}

async function commit(m: Metadata, init: MessageInitShape<typeof AtomicWriteSchema>) {
  const res = await write(m, init);
  assert.equal(res.status, 200, await res.clone().text());
  assert.equal(res.headers.get("content-type"), "application/x-protobuf");
  return fromBinary(AtomicWriteOutputSchema, new Uint8Array(await res.arrayBuffer()));
}

async function read(m: Metadata, key: unknown[]) {
  const k = encodeKey(key as string[]);
  const res = await call(m, "snapshot_read", toBinary(SnapshotReadSchema, create(SnapshotReadSchema, { ranges: [{ start: k, end: Uint8Array.from([...k, 0]), limit: 1 }] })));
  assert.equal(res.status, 200);
  const out = fromBinary(SnapshotReadOutputSchema, new Uint8Array(await res.arrayBuffer()));
  assert.equal(out.status, SnapshotReadStatus.SR_SUCCESS);
  assert.equal(out.readIsStronglyConsistent, true);
  return out.ranges[0]!.values[0] ?? null;
}

async function createToken(body: object): Promise<string> {
  const res = await fetch(`${server.url}/admin/tokens`, { method: "POST", headers: { ...auth(), "content-type": "application/json" }, body: JSON.stringify(body) });
  assert.equal(res.status, 201);
  return ((await res.json()) as { token: string }).token;
}

const u64 = (n: bigint) => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, n, true);
  return b;
};

test("the metadata exchange answers exactly the fields, types and content type the clients check", async () => {
  const res = await exchange("/kv-connect/proto-meta");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "application/json");
  const m = (await res.json()) as Metadata;
  assert.deepEqual(Object.keys(m), ["version", "databaseId", "endpoints", "token", "expiresAt"]);
  assert.equal(m.version, 3);
  assert.match(m.databaseId, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  assert.deepEqual(m.endpoints, [{ url: `/kv-connect/${m.databaseId.replace(/-/g, "")}`, consistency: "strong" }]);
  assert.equal(m.token, ADMIN);
  assert.ok(Date.parse(m.expiresAt) - clock.now() >= 60 * 60 * 1000, "hours ahead");
  // Stable per namespace, whether named by title or by id; the default namespace has its own.
  const id = m.databaseId.replace(/-/g, "");
  assert.equal((await metadata(`/kv-connect/${id}`)).databaseId, m.databaseId);
  assert.equal((await metadata("/kv-connect/proto-meta")).databaseId, m.databaseId);
  const def = await metadata("/kv-connect");
  assert.equal(def.databaseId.replace(/-/g, ""), (await server.engine.getNamespace("default")).id);
  // Older clients: version 2 keeps a relative URL, version 1 gets an absolute one.
  assert.equal(((await (await exchange("/kv-connect/proto-meta", ADMIN, [2])).json()) as Metadata).version, 2);
  const v1 = (await (await exchange("/kv-connect/proto-meta", ADMIN, [1])).json()) as Metadata;
  assert.equal(v1.endpoints[0]!.url, `${server.url}/kv-connect/${id}`);
  await (await fetch(`${server.url}/healthz`)).body?.cancel();
  const none = await exchange("/kv-connect/proto-meta", ADMIN, [4]);
  assert.equal(none.status, 400);
  assert.match(await none.text(), /could not negotiate a protocol version/);
});

test("tokens: a bad one gets 401 plain text, a scoped one opens only its namespace, a read-only one cannot write", async () => {
  const bad = await exchange("/kv-connect/proto-auth", "not-a-token");
  assert.equal(bad.status, 401);
  assert.equal(bad.headers.get("content-type"), "text/plain; charset=utf-8");
  assert.equal(await bad.text(), "Invalid API token");

  await server.engine.ensureNamespace("proto-auth");
  await server.engine.ensureNamespace("proto-other");
  const scoped = await createToken({ name: "scoped", namespaces: ["proto-auth"], permission: "write" });
  const mine = await exchange("/kv-connect/proto-auth", scoped);
  assert.equal(mine.status, 200);
  await mine.body?.cancel();
  const other = await exchange("/kv-connect/proto-other", scoped);
  assert.equal(other.status, 403);
  assert.equal(await other.text(), "This token may not use this namespace");
  // Nor can it use another namespace's data path with its own metadata.
  const own = await metadata("/kv-connect/proto-auth", scoped);
  const otherId = (await server.engine.getNamespace("proto-other")).id;
  const sneaky = await fetch(`${server.url}/kv-connect/${otherId}/snapshot_read`, {
    method: "POST",
    headers: { authorization: `Bearer ${scoped}`, "x-denokv-database-id": own.databaseId, "x-denokv-version": "3" },
    body: toBinary(SnapshotReadSchema, create(SnapshotReadSchema, {})),
  });
  assert.equal(sneaky.status, 403);
  await sneaky.body?.cancel();

  const ro = await createToken({ name: "ro", namespaces: ["proto-auth"], permission: "read" });
  const m = await metadata("/kv-connect/proto-auth", ro);
  assert.equal(await read(m, ["nothing"]), null);
  const out = await commit(m, { mutations: [{ key: encodeKey(["k"]), mutationType: MutationType.M_SET, value: { data: new Uint8Array([1]), encoding: ValueEncoding.VE_BYTES } }] });
  assert.equal(out.status, AtomicWriteStatus.AW_WRITE_DISABLED);
  assert.equal(await read(m, ["k"]), null);
  const listen = await call(m, "queue/listen", new Uint8Array(0));
  assert.equal(listen.status, 403);
  assert.equal(await listen.text(), "This token is read-only");
  // A revoked token is refused at once on the data path, whatever the metadata said.
  const revocable = await createToken({ name: "gone" });
  const before = await metadata("/kv-connect/proto-auth", revocable);
  const list = (await (await fetch(`${server.url}/admin/tokens`, { headers: auth() })).json()) as { tokens: { id: string; name: string }[] };
  await fetch(`${server.url}/admin/tokens/${list.tokens.find((t) => t.name === "gone")!.id}`, { method: "DELETE", headers: auth() });
  const revoked = await call(before, "snapshot_read", new Uint8Array(0));
  assert.equal(revoked.status, 401);
  await revoked.body?.cancel();
});

test("the data path checks its headers and answers errors as 400 plain text with Deno's messages", async () => {
  const m = await metadata("/kv-connect/proto-errors");
  const wrongDb = await call(m, "snapshot_read", new Uint8Array(0), { "x-denokv-database-id": "00000000-0000-0000-0000-000000000000" });
  assert.equal(wrongDb.status, 400);
  assert.equal(await wrongDb.text(), "Invalid database id.");
  const wrongVersion = await call(m, "snapshot_read", new Uint8Array(0), { "x-denokv-version": "9" });
  assert.equal(wrongVersion.status, 400);
  await wrongVersion.body?.cancel();
  const garbage = await call(m, "atomic_write", new Uint8Array([0xff, 0xff, 0xff]));
  assert.equal(garbage.status, 400);
  assert.match(await garbage.text(), /^Request protobuf is invalid: AtomicWrite: /);

  const key = encodeKey(["n"]);
  await commit(m, { mutations: [{ key, mutationType: MutationType.M_SET, value: { data: new Uint8Array([1]), encoding: ValueEncoding.VE_BYTES } }] });
  const sum = await write(m, { mutations: [{ key, mutationType: MutationType.M_SUM, value: { data: u64(1n), encoding: ValueEncoding.VE_LE64 } }] });
  assert.equal(sum.status, 400);
  assert.equal(sum.headers.get("content-type"), "text/plain; charset=utf-8");
  assert.equal(await sum.text(), "Failed to perform 'sum' mutation on a non-U64 value in the database");
  const short = await write(m, { mutations: [{ key: encodeKey(["m"]), mutationType: MutationType.M_MAX, value: { data: new Uint8Array(7), encoding: ValueEncoding.VE_LE64 } }] });
  assert.equal(short.status, 400);
  assert.equal(await short.text(), "Failed to perform 'max' mutation on a non-U64 operand");
  const unknown = await write(m, { mutations: [{ key, mutationType: MutationType.M_UNSPECIFIED }] });
  assert.equal(await unknown.text(), "Invalid mutation kind or arguments.");
  const checks = await write(m, { checks: Array.from({ length: 101 }, (_, i) => ({ key: encodeKey([i]) })) });
  assert.equal(await checks.text(), "Too many checks (max 100)");
  const big = await write(m, { mutations: [{ key, mutationType: MutationType.M_SET, value: { data: new Uint8Array(65537), encoding: ValueEncoding.VE_BYTES } }] });
  assert.equal(await big.text(), "Value too large (max 65536 bytes)");
  const ranges = await call(m, "snapshot_read", toBinary(SnapshotReadSchema, create(SnapshotReadSchema, { ranges: Array.from({ length: 11 }, () => ({ start: key, end: key, limit: 1 })) })));
  assert.equal(await ranges.text(), "Too many ranges (max 10)");
  const watch = await call(m, "watch", toBinary(WatchSchema, create(WatchSchema, { keys: Array.from({ length: 11 }, (_, i) => ({ key: encodeKey([i]) })) })));
  assert.equal(watch.status, 400);
  assert.equal(await watch.text(), "Too many keys (max 10)");
});

test("every commit, even an empty one, gets a new larger versionstamp; checks fail as AW_CHECK_FAILURE; expiry 0 and -1 mean never", async () => {
  const m = await metadata("/kv-connect/proto-commit");
  const a = await commit(m, {});
  const b = await commit(m, {});
  assert.equal(a.status, AtomicWriteStatus.AW_SUCCESS);
  assert.equal(a.versionstamp.length, 10);
  assert.ok(Buffer.compare(b.versionstamp, a.versionstamp) > 0);
  const failed = await commit(m, { checks: [{ key: encodeKey(["absent"]) }, { key: encodeKey(["absent"]), versionstamp: a.versionstamp }] });
  assert.equal(failed.status, AtomicWriteStatus.AW_CHECK_FAILURE);
  assert.deepEqual(failed.failedChecks, [1]);
  const set = (k: string, expireAtMs: bigint) => ({ key: encodeKey([k]), mutationType: MutationType.M_SET, value: { data: new Uint8Array([1]), encoding: ValueEncoding.VE_BYTES }, expireAtMs });
  await commit(m, { mutations: [set("zero", 0n), set("minus", -1n), set("soon", BigInt(clock.now() + 1000))] });
  clock.advance(1000);
  assert.notEqual(await read(m, ["zero"]), null);
  assert.notEqual(await read(m, ["minus"]), null);
  assert.equal(await read(m, ["soon"]), null);
  // Versionstamped keys: key ‖ 0x02 ‖ hex(versionstamp) ‖ 0x00.
  const prefix = encodeKey(["vs"]);
  const out = await commit(m, { mutations: [{ key: prefix, mutationType: MutationType.M_SET_SUFFIX_VERSIONSTAMPED_KEY, value: { data: new Uint8Array([7]), encoding: ValueEncoding.VE_BYTES } }] });
  const hex = Buffer.from(out.versionstamp).toString("hex");
  assert.equal((await read(m, ["vs", hex]))?.value[0], 7);
});

test("watch: the first frame reports every key, keep-alives flow, changes and expiry purges wake it, a disconnect frees the subscription", async () => {
  const m = await metadata("/kv-connect/proto-watch");
  let live = 0;
  const subscribe = server.engine.subscribe.bind(server.engine);
  server.engine.subscribe = (nsId, keys, listener) => {
    live++;
    const off = subscribe(nsId, keys, listener);
    return () => {
      live--;
      off();
    };
  };
  const res = await call(m, "watch", toBinary(WatchSchema, create(WatchSchema, { keys: [{ key: encodeKey(["a"]) }, { key: encodeKey(["b"]) }] })));
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "application/octet-stream");
  const reader = res.body!.getReader();
  let buf = new Uint8Array(0);
  let keepAlives = 0;
  /** The next frame body, keep-alives (empty bodies) included. */
  const nextFrame = async (): Promise<Uint8Array> => {
    for (;;) {
      if (buf.length >= 4) {
        const n = new DataView(buf.buffer, buf.byteOffset).getUint32(0, true);
        if (buf.length >= 4 + n) {
          const body = buf.slice(4, 4 + n);
          buf = buf.slice(4 + n);
          return body;
        }
      }
      const { done, value } = await reader.read();
      assert.ok(!done, "the stream stays open");
      buf = Uint8Array.from([...buf, ...value]);
    }
  };
  const next = async () => {
    for (;;) {
      const body = await nextFrame();
      if (body.length > 0) return fromBinary(WatchOutputSchema, body);
      keepAlives++;
    }
  };
  const first = await next();
  assert.equal(first.status, SnapshotReadStatus.SR_SUCCESS);
  assert.deepEqual(first.keys.map((k) => [k.changed, k.entryIfChanged]), [[true, undefined], [true, undefined]]);
  const subscriptions = () => live;
  assert.equal(subscriptions(), 1);

  await commit(m, { mutations: [{ key: encodeKey(["b"]), mutationType: MutationType.M_SET, value: { data: new Uint8Array([2]), encoding: ValueEncoding.VE_BYTES }, expireAtMs: BigInt(clock.now() + 500) }] });
  const second = await next();
  assert.deepEqual([...second.keys[1]!.entryIfChanged!.value], [2]);
  clock.advance(500);
  await server.engine.purgeExpired();
  const third = await next();
  assert.equal(third.keys[1]!.changed, true);
  assert.equal(third.keys[1]!.entryIfChanged, undefined);
  // Keep-alives (zero-length frames) arrive every 50 ms on this server.
  while (keepAlives === 0) if ((await nextFrame()).length === 0) keepAlives++;
  await reader.cancel();
  for (let i = 0; i < 100 && subscriptions() !== 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(subscriptions(), 0, "the subscription is released when the client goes away");
  server.engine.subscribe = subscribe;
});
