/**
 * The remote Workers binding (`openNamespace("http://…", { token })`) against the real server: the whole
 * Workers KV conformance suite over the wire, then a check that it observed exactly what the embedded
 * binding observes in this same run, case by case, except for the deliberate differences listed below.
 * Then what only a client over HTTP has: expiry on the server's (injected) clock, the put checks that
 * need the server's clock, streamed uploads, request shapes, opening, tokens and closing.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { openNamespace } from "../../src/api/workers/index.ts";
import { openRemoteNamespace } from "../../src/client/workers-remote.ts";
import { ManualClock, type Clock } from "../../src/core/clock.ts";
import { encodeKey } from "../../src/core/keys.ts";
import { deserializeV8 } from "../../src/core/v8.ts";
import { defineWorkersKvSuite, WORKERS_KV_CASES, type WorkersKvFactory } from "../conformance/workers-kv.case.ts";
import { assertDeliberateDifferencesReal, mismatches, recorder, type Observations } from "../conformance/observations.ts";
import { ADMIN, startTestServer } from "./harness.ts";

/**
 * The server's clock follows the system clock — the conformance cases compare expirations with
 * `Date.now()` — until a test below pins it to a ManualClock (tests in this file run one at a time).
 */
let pinned: ManualClock | null = null;
const clock: Clock = { now: () => (pinned ? pinned.now() : Date.now()) };
const server = await startTestServer({ clock });

/**
 * Where the remote binding deliberately does not observe what the embedded one does. None: every case,
 * errors included, comes out identical over the wire. (What differs where the suite cannot look — Deno
 * strings with lone surrogates, cacheTtl not sent — is listed in src/client/workers-remote.ts.)
 */
const DELIBERATE_DIFFERENCES: Readonly<Record<string, string>> = {};

// ---------------------------------------------------------------------------------------------------
// The suite, embedded and remote

const observed = { embedded: new Map(), remote: new Map() } satisfies Record<string, Observations>;
const CASE_NAMES = WORKERS_KV_CASES.map((c) => c.name);

const embedded: WorkersKvFactory = async () => {
  const kv = await openNamespace(":memory:");
  return { kv, close: () => kv.close() };
};

let nextCase = 0;
const remote: WorkersKvFactory = async () => {
  const kv = await openNamespace(server.url, { token: ADMIN, namespace: `case-${nextCase++}` });
  return { kv, close: () => kv.close() };
};

defineWorkersKvSuite("embedded", embedded, { observe: recorder(observed.embedded), concurrency: 8 });
defineWorkersKvSuite("remote", remote, { observe: recorder(observed.remote), concurrency: 8 });

test("remote: every observation is identical to the embedded binding's", () => {
  const reference = { label: "embedded", observed: observed.embedded };
  assert.deepEqual(mismatches(CASE_NAMES, reference, { label: "remote", observed: observed.remote }, DELIBERATE_DIFFERENCES), []);
});

test("the deliberate differences are real (so the list stays honest)", () => {
  assertDeliberateDifferencesReal(CASE_NAMES, { label: "embedded", observed: observed.embedded }, { label: "remote", observed: observed.remote }, DELIBERATE_DIFFERENCES);
});

// ---------------------------------------------------------------------------------------------------
// Time: the server's clock decides

const START = Date.UTC(2030, 0, 1); // a whole second
const startSeconds = START / 1000;
const MAX_VALUE = 25 * 1024 * 1024;
let nextNamespace = 0;

/** A fresh remote namespace, with the server's clock pinned to a ManualClock for the test. */
async function withClock(fn: (kv: Awaited<ReturnType<typeof openNamespace>>, clock: ManualClock) => Promise<void>) {
  pinned = new ManualClock(START);
  const kv = await openNamespace(server.url, { token: ADMIN, namespace: `clock-${nextNamespace++}` });
  try {
    await fn(kv, pinned);
  } finally {
    await kv.close();
    pinned = null;
  }
}

test("expiry: an expirationTtl key disappears from get, getWithMetadata, bulk get and list at its second", async () => {
  await withClock(async (kv, clock) => {
    clock.advance(400); // not on a whole second: the TTL counts from the server's current whole second
    await kv.put("t", "v", { expirationTtl: 60, metadata: { m: 1 } });
    await kv.put("keep", "v");
    assert.deepEqual((await kv.list()).keys, [{ name: "keep" }, { name: "t", expiration: startSeconds + 60, metadata: { m: 1 } }]);
    clock.set(START + 60_000 - 1);
    assert.deepEqual(await kv.getWithMetadata("t"), { value: "v", metadata: { m: 1 }, cacheStatus: null });
    clock.set(START + 60_000);
    assert.equal(await kv.get("t"), null);
    assert.deepEqual(await kv.getWithMetadata("t"), { value: null, metadata: null, cacheStatus: null });
    assert.deepEqual([...(await kv.get(["t", "keep"]))], [["t", null], ["keep", "v"]]);
    assert.deepEqual(await kv.list(), { keys: [{ name: "keep" }], list_complete: true, cacheStatus: null });
  });
});

test("expiry: an absolute expiration is checked against the server's clock, to the second", async () => {
  await withClock(async (kv, clock) => {
    await assert.rejects(kv.put("k", "v", { expiration: startSeconds + 59 }), {
      message: `KV PUT failed: 400 Invalid expiration of ${startSeconds + 59}. Expiration times must be at least 60 seconds in the future.`,
    });
    await assert.rejects(kv.put("k", "v", { expiration: startSeconds }), /greater than the current number of seconds/);
    await kv.put("e", "v", { expiration: startSeconds + 90 });
    clock.advance(999);
    await kv.put("e2", "v", { expiration: startSeconds + 60 }); // still second `startSeconds`
    clock.set((startSeconds + 90) * 1000 - 1);
    assert.equal(await kv.get("e"), "v");
    clock.advance(1);
    assert.equal(await kv.get("e"), null);
    assert.deepEqual((await kv.list()).keys, []);
  });
});

test("put: with an absolute expiration, the server's verdict on it comes before a size the client rejects", async () => {
  await withClock(async (kv) => {
    const soon = startSeconds + 10;
    const later = startSeconds + 3600;
    const tooSoon = `KV PUT failed: 400 Invalid expiration of ${soon}. Expiration times must be at least 60 seconds in the future.`;
    const big = new Uint8Array(MAX_VALUE + 1);
    await assert.rejects(kv.put("k", big, { expiration: soon }), { message: tooSoon });
    await assert.rejects(kv.put("k", "v", { expiration: soon, metadata: "m".repeat(2000) }), { message: tooSoon });
    await assert.rejects(kv.put("k", new ReadableStream({ start: (c) => (c.enqueue(big), c.close()) }), { expiration: soon }), { message: tooSoon });
    // A good expiration: the size is the answer, found without sending the value.
    await assert.rejects(kv.put("k", big, { expiration: later }), { message: `KV PUT failed: 413 Value length of ${MAX_VALUE + 1} exceeds limit of ${MAX_VALUE}.` });
    await assert.rejects(kv.put("k", "v", { expiration: later, metadata: "m".repeat(2000) }), { message: "KV PUT failed: 413 Metadata length of 2002 exceeds limit of 1024." });
    await assert.rejects(kv.put("k", new ReadableStream({ start: (c) => (c.enqueue(big), c.enqueue(Uint8Array.of(1)), c.close()) }), { expiration: later }), {
      message: `KV PUT failed: 413 Value length of ${MAX_VALUE + 2} exceeds limit of ${MAX_VALUE}.`,
    });
    // Asking never writes.
    assert.deepEqual((await kv.list()).keys, []);
  });
});

// ---------------------------------------------------------------------------------------------------
// Streams, bodies and what the server stores

const remoteNs = (namespace: string) => openNamespace(server.url, { token: ADMIN, namespace });

async function stored(namespace: string, key: string) {
  const ns = (await server.engine.findNamespace(namespace))!;
  return server.engine.get(ns.id, encodeKey([key]));
}

test("values keep their kind on the server: text as a string Deno reads, bytes and streams as bytes", async () => {
  const kv = await remoteNs("kinds");
  const text = "line 1\nline 2\r\n\u0000 é 😀";
  await kv.put("text", text);
  await kv.put("text-meta", text, { metadata: { m: "é" } });
  await kv.put("bytes", Uint8Array.of(1, 2, 3), { metadata: 1 });
  await kv.put("stream", new ReadableStream({ start: (c) => (c.enqueue("str"), c.enqueue(Uint8Array.of(0xff)), c.close()) }), { metadata: [1] });
  for (const key of ["text", "text-meta"]) {
    const entry = (await stored("kinds", key))!;
    assert.equal(entry.encoding, "v8", key);
    assert.equal(deserializeV8(entry.data), text, key);
  }
  for (const [key, bytes] of [["bytes", [1, 2, 3]], ["stream", [0x73, 0x74, 0x72, 0xff]]] as const) {
    const entry = (await stored("kinds", key))!;
    assert.equal(entry.encoding, "bytes", key);
    assert.deepEqual(new Uint8Array(entry.data), Uint8Array.from(bytes), key);
  }
  assert.deepEqual(new Uint8Array((await kv.get("stream", "arrayBuffer"))!), Uint8Array.of(0x73, 0x74, 0x72, 0xff));
  assert.deepEqual(await kv.getWithMetadata("text-meta"), { value: text, metadata: { m: "é" }, cacheStatus: null });
  await kv.close();
});

test("a failing stream rejects the put with its error and writes nothing", async () => {
  const kv = await remoteNs("failing-streams");
  let sent = 0;
  const failing = new ReadableStream({
    pull: (c) => (sent++ < 3 ? c.enqueue(new Uint8Array(1024)) : c.error(new Error("boom"))),
  });
  await assert.rejects(kv.put("s", failing), { message: "boom" });
  await assert.rejects(kv.put("n", new ReadableStream({ start: (c) => (c.enqueue(42 as never), c.close()) })), {
    name: "TypeError",
    message: "This ReadableStream did not return bytes.",
  });
  await assert.rejects(kv.put("m", new ReadableStream({ start: (c) => (c.enqueue({} as never), c.close()) }), { metadata: 1 }), {
    name: "TypeError",
    message: "This ReadableStream did not return bytes.",
  });
  // Sending stops at the limit; the rest is only counted, so the message has the full length (and is
  // not the server's request-body limit of 100 MiB).
  let chunks = 0;
  const huge = new ReadableStream({ pull: (c) => (chunks++ < 101 ? c.enqueue(new Uint8Array(1024 * 1024)) : c.close()) });
  await assert.rejects(kv.put("h", huge), { message: `KV PUT failed: 413 Value length of ${101 * 1024 * 1024} exceeds limit of ${MAX_VALUE}.` });
  assert.deepEqual((await kv.list()).keys, []);
  await kv.close();
});

test("validation failures cancel a stream value without reading it", async () => {
  const kv = await remoteNs("cancelled-streams");
  let cancelled: unknown = null;
  let pulled = 0;
  const stream = new ReadableStream({ pull: () => void pulled++, cancel: (r) => void (cancelled = r) }, { highWaterMark: 0 });
  await assert.rejects(kv.put("k", stream, { expirationTtl: 5 }), /at least 60/);
  assert.equal(pulled, 0);
  assert.match(String(cancelled), /at least 60/);
  await kv.close();
});

// ---------------------------------------------------------------------------------------------------
// Requests

/** A fetch that records method and path of every request. */
function recordingFetch(log: string[]): typeof fetch {
  return (input, init) => {
    const url = new URL(String(input));
    log.push(`${init?.method ?? "GET"} ${url.pathname.replace(/^.*\/namespaces\/[^/]+/, "{ns}")}`);
    return fetch(input, init);
  };
}

test("requests: one round trip per call; getWithMetadata reads value and metadata together", async () => {
  const log: string[] = [];
  const kv = await openRemoteNamespace(server.url, { token: ADMIN, namespace: "requests", fetch: recordingFetch(log) });
  assert.deepEqual(log.slice(0, 2), ["GET /client/v4/accounts", "GET /client/v4/accounts/0123456789abcdef0123456789abcdef/storage/kv/namespaces"]);
  log.length = 0;
  await kv.put("a/b?c", "v", { metadata: { m: 1 } });
  await kv.getWithMetadata("a/b?c", "arrayBuffer");
  await kv.get(["a/b?c", "x"], "json").catch(() => {});
  await kv.list({ limit: 1 });
  await kv.delete("a/b?c");
  // What the binding itself rejects never reaches the server.
  await assert.rejects(kv.get(""), { name: "TypeError" });
  await assert.rejects(kv.put("k", "v", { expirationTtl: 5 }), /at least 60/);
  await assert.rejects(kv.get(["", "x"]), /Key names must not be empty/);
  assert.deepEqual(log, ["PUT {ns}/values/a%2Fb%3Fc", "GET {ns}/values/a%2Fb%3Fc", "POST {ns}/bulk/get", "GET {ns}/keys", "DELETE {ns}/values/a%2Fb%3Fc"]);
  await kv.close();
});

test("writes to one key from one handle apply in call order", async () => {
  const kv = await remoteNs("ordered");
  await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 5 === 4 ? kv.delete("k") : kv.put("k", String(i)))));
  assert.equal(await kv.get("k"), null); // the last call (i = 19) deletes
  await Promise.all(Array.from({ length: 20 }, (_, i) => kv.put("k", String(i), i % 2 ? { metadata: i } : {})));
  assert.deepEqual(await kv.getWithMetadata("k"), { value: "19", metadata: 19, cacheStatus: null });
  await kv.close();
});

// ---------------------------------------------------------------------------------------------------
// Opening, tokens, closing

test("open: a URL needs a token, from the options or OPENKV_TOKEN; OPENKV_URL may name the server", async () => {
  const saved = { token: process.env.OPENKV_TOKEN, url: process.env.OPENKV_URL };
  try {
    delete process.env.OPENKV_TOKEN;
    await assert.rejects(openNamespace(server.url), { name: "TypeError", message: /needs an API token: pass \{ token \} or set OPENKV_TOKEN/ });
    process.env.OPENKV_TOKEN = ADMIN;
    process.env.OPENKV_URL = `${server.url}/client/v4/`;
    const kv = await openNamespace(undefined, { namespace: "from-env" });
    await kv.put("k", "v");
    assert.equal(await kv.get("k"), "v");
    await kv.close();
    assert.ok(await server.engine.findNamespace("from-env"));
  } finally {
    for (const [name, value] of [["OPENKV_TOKEN", saved.token], ["OPENKV_URL", saved.url]] as const) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
});

test("open: bad tokens, unknown namespaces and unreachable servers fail clearly", async () => {
  await assert.rejects(openNamespace(server.url, { token: "nope" }), { message: /openNamespace: GET .*\/accounts failed: 401 Invalid API token \(check the token\)/ });
  await assert.rejects(openNamespace(server.url, { token: ADMIN, strict: true }), { name: "TypeError", message: /strict/ });

  const reader = (await server.tokens.create({ name: "reader", namespaces: null, permission: "read" }, Date.now())).token;
  await assert.rejects(openNamespace(server.url, { token: reader, namespace: "not-there" }), {
    message: /there is no namespace "not-there" and this token may not create one/,
  });
  const writer = await remoteNs("read-only");
  await writer.put("k", "v");
  const ro = await openNamespace(server.url, { token: reader, namespace: "read-only" });
  assert.equal(await ro.get("k"), "v");
  await assert.rejects(ro.put("k", "w"), { message: "KV PUT failed: 403 This token is read-only" });
  await assert.rejects(ro.delete("k"), { message: "KV DELETE failed: 403 This token is read-only" });
  await ro.close();

  // By id as well as by title; a namespace deleted under an open handle is a 404 on every call.
  const { id } = (await server.engine.findNamespace("read-only"))!;
  const byId = await openNamespace(server.url, { token: ADMIN, namespace: id });
  assert.equal(await byId.get("k"), "v");
  await server.engine.deleteNamespace(id);
  await assert.rejects(byId.get("k"), { message: "KV GET failed: 404 namespace not found" });
  await assert.rejects(byId.list(), { message: "KV GET failed: 404 namespace not found" });
  await byId.close();
  await writer.close();

  await assert.rejects(openNamespace("http://127.0.0.1:1", { token: ADMIN }), { message: /could not reach http:\/\/127\.0\.0\.1:1/ });
});

test("close: aborts requests in flight; later calls reject", async () => {
  const kv = await remoteNs("closing");
  await kv.put("k", "v");
  // A stream that never ends keeps the put in flight until close().
  const pending = kv.put("slow", new ReadableStream({ pull: () => new Promise(() => {}) }, { highWaterMark: 0 }));
  await new Promise((r) => setTimeout(r, 20));
  await kv.close();
  await assert.rejects(pending, { message: "The database is closed" });
  await assert.rejects(kv.get("k"), { message: "The database is closed" });
  await kv.close();
  assert.equal(await stored("closing", "slow"), null);
});
