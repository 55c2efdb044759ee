/**
 * HEAD on every GET route of `builtinRoutes()` answers what GET answers — status and headers, no body —
 * over HTTP/1.1 and HTTP/2 (it answered 404 on every route before). Misses and unknown paths too.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect as h2connect, type ClientHttp2Session } from "node:http2";
import { builtinRoutes } from "../../src/server/server.ts";
import { auth, startTestServer } from "./harness.ts";

const server = await startTestServer();
const ns = (await server.engine.findNamespace("default"))!;
const NS = `/client/v4/accounts/${server.accountId}/storage/kv/namespaces/${ns.id}`;

/** A concrete URL for each GET route pattern. */
const CONCRETE: Record<string, string> = {
  "/client/v4/accounts/:account_id/storage/kv/namespaces": `/client/v4/accounts/${server.accountId}/storage/kv/namespaces`,
  "/client/v4/accounts/:account_id/storage/kv/namespaces/:namespace_id": NS,
  "/client/v4/accounts/:account_id/storage/kv/namespaces/:namespace_id/values/:key_name": `${NS}/values/head-key`,
  "/client/v4/accounts/:account_id/storage/kv/namespaces/:namespace_id/metadata/:key_name": `${NS}/metadata/head-key`,
  "/client/v4/accounts/:account_id/storage/kv/namespaces/:namespace_id/keys": `${NS}/keys?prefix=head`,
  "/client/v4/accounts": "/client/v4/accounts",
  "/client/v4/accounts/:account_id": `/client/v4/accounts/${server.accountId}`,
  "/client/v4/memberships": "/client/v4/memberships",
  "/client/v4/user/tokens/verify": "/client/v4/user/tokens/verify",
  "/client/v4/user": "/client/v4/user",
  "/healthz": "/healthz",
  "/metrics": "/metrics",
  "/admin/tokens": "/admin/tokens",
  "/kv/*": "/kv/head.path",
  "/kv": "/kv/head?list=true",
  "/ns/:namespace/kv/*": "/ns/default/kv/head.path",
  "/ns/:namespace/kv": "/ns/default/kv?list=true",
  // Without `after`, the doorbell answers at once with the latest versionstamp.
  "/_openkv/v1/feed/wait": "/_openkv/v1/feed/wait",
  "/": "/",
  "/_openkv/ui/:file": "/_openkv/ui/app.js",
  "/_openkv/ui/vendor/:file": "/_openkv/ui/vendor/preact.mjs",
  "/_openkv/v1/dashboard/session": "/_openkv/v1/dashboard/session",
};
/** Answers that are not routes: misses and unknown paths keep GET's status and headers too. */
const MISSES = [`${NS}/values/nope`, `${NS}/metadata/nope`, "/kv/no.such.key", "/ns/default/kv/nope", "/no/such/route", `/client/v4/accounts/${server.accountId}/nope`, "/_openkv/ui/nope.js"];
/** Headers that differ between any two responses, whatever the method. */
const VOLATILE = new Set(["date", "connection", "keep-alive"]);

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

function comparable(headers: Record<string, string>, path: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (VOLATILE.has(k) || k.startsWith(":")) continue;
    // Every request moves /metrics' counters, so its length changes from one answer to the next.
    if (path === "/metrics" && k === "content-length") continue;
    out[k] = v;
  }
  return out;
}

async function h1(method: string, path: string): Promise<Answer> {
  const r = await fetch(`${server.url}${path}`, { method, headers: auth() });
  return { status: r.status, headers: Object.fromEntries(r.headers), body: await r.text() };
}

function h2(session: ClientHttp2Session, method: string, path: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ":method": method, ":path": path, ...auth() });
    let headers: Record<string, string> = {};
    let body = "";
    stream.on("response", (h) => (headers = Object.fromEntries(Object.entries(h).map(([k, v]) => [k, String(v)]))));
    stream.setEncoding("utf8");
    stream.on("data", (c: string) => (body += c));
    stream.on("end", () => resolve({ status: Number(headers[":status"]), headers, body }));
    stream.on("error", reject);
  });
}

test("HEAD answers GET's status and headers without a body, on every GET route, over HTTP/1.1 and HTTP/2", { timeout: 60_000 }, async (t) => {
  const put = await fetch(`${server.url}${NS}/values/head-key?expiration_ttl=3600`, {
    method: "PUT",
    headers: auth(),
    body: (() => {
      const form = new FormData();
      form.set("value", "héllo");
      form.set("metadata", JSON.stringify({ lang: "fr" }));
      return form;
    })(),
  });
  assert.equal(put.status, 200);
  const kvPut = await fetch(`${server.url}/kv/head.path`, { method: "PUT", headers: { ...auth(), "content-type": "application/json" }, body: '{"value":{"a":1}}' });
  assert.equal(kvPut.status, 200);

  const gets = builtinRoutes().filter((r) => [r.method].flat().includes("GET"));
  const uncovered = gets.map((r) => r.path).filter((p) => !(p in CONCRETE));
  assert.deepEqual(uncovered, [], "every GET route has a concrete URL here");

  const session = h2connect(server.url);
  t.after(() => session.close());
  for (const path of [...gets.map((r) => CONCRETE[r.path]!), ...MISSES]) {
    for (const [protocol, call] of [
      ["HTTP/1.1", (m: string) => h1(m, path)],
      ["HTTP/2", (m: string) => h2(session, m, path)],
    ] as const) {
      const get = await call("GET");
      const head = await call("HEAD");
      const where = `${protocol} HEAD ${path}`;
      assert.equal(head.status, get.status, where);
      assert.deepEqual(comparable(head.headers, path), comparable(get.headers, path), where);
      assert.equal(head.body, "", `${where}: no body`);
      assert.ok(get.body.length > 0, `${protocol} GET ${path} has a body to leave out`);
    }
  }
  // The routes really were served, not answered by a catch-all.
  assert.equal((await h1("HEAD", `${NS}/values/head-key`)).headers["cf-kv-metadata"], '{"lang":"fr"}');
  assert.match((await h1("HEAD", "/kv/head.path")).headers.etag!, /^"[0-9a-f]{20}"$/);
  assert.equal((await h1("HEAD", "/no/such/route")).status, 404);
});

test("HEAD is a read: a read-only token may, no token may not", { timeout: 30_000 }, async () => {
  const created = await fetch(`${server.url}/admin/tokens`, { method: "POST", headers: { ...auth(), "content-type": "application/json" }, body: '{"name":"head-ro","permission":"read"}' });
  const token = ((await created.json()) as { token: string }).token;
  assert.equal((await fetch(`${server.url}/kv/head.path`, { method: "HEAD", headers: auth(token) })).status, 200);
  assert.equal((await fetch(`${server.url}/kv/head.path`, { method: "HEAD" })).status, 401);
  assert.equal((await fetch(`${server.url}/metrics`, { method: "HEAD", headers: auth(token) })).status, 403);
});
