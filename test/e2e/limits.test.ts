/**
 * The server's limits and failure answers: rate limits on a fake clock, body size, malformed input and
 * internal errors — each a clear status and message, never a stack trace or SQL.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { ManualClock } from "../../src/core/clock.ts";
import { sendJson } from "../../src/http/http.ts";
import type { Route } from "../../src/http/route.ts";
import { auth, startTestServer } from "./harness.ts";

const json = { ...auth(), "content-type": "application/json" };
const LEAK = /\bat .+:\d+:\d+|\.ts:\d|SQLITE|\bSELECT\b|\bINSERT INTO\b|\bWHERE\b/;
const timeout = { timeout: 30_000 };

async function createToken(base: string, body: unknown): Promise<string> {
  const r = await fetch(`${base}/admin/tokens`, { method: "POST", headers: json, body: JSON.stringify(body) });
  assert.equal(r.status, 201);
  return ((await r.json()) as { token: string }).token;
}

test("rate limit: past the burst a caller gets 429 with Retry-After; the fake clock refills it", timeout, async () => {
  const clock = new ManualClock();
  const server = await startTestServer({ clock, rateLimit: 5 });
  const other = await createToken(server.url, { name: "other" }); // the admin's first request
  const list = (token?: string) => fetch(`${server.url}/kv?list=true`, { headers: token ? auth(token) : auth() });

  // Burst = 2 × rate = 10 requests, one already spent creating the token.
  for (let i = 0; i < 9; i++) assert.equal((await list()).status, 200, `request ${i + 2} of the burst`);
  const limited = await list();
  assert.equal(limited.status, 429);
  assert.equal(limited.headers.get("retry-after"), "1");
  assert.deepEqual(await limited.json(), { error: { status: 429, message: "Too many requests" } });

  const cf = await fetch(`${server.url}/client/v4/accounts/${server.accountId}/storage/kv/namespaces`, { headers: auth() });
  assert.equal(cf.status, 429, "every API shares the caller's bucket");
  assert.deepEqual(((await cf.json()) as { success: boolean; errors: { message: string }[] }).errors[0]!.message, "Too many requests");

  assert.equal((await list(other)).status, 200, "buckets are per token");
  assert.equal((await fetch(`${server.url}/healthz`)).status, 200, "public routes are not limited");

  clock.advance(200); // one request's worth at 5/s
  assert.equal((await list()).status, 200);
  assert.equal((await list()).status, 429);
  clock.advance(60_000); // refills to the burst, no further
  for (let i = 0; i < 10; i++) assert.equal((await list()).status, 200);
  assert.equal((await list()).status, 429);
});

test("body size: 413 past maxBodyBytes on /kv and Cloudflare PUTs, and the stored value stays", timeout, async () => {
  const limit = 1024;
  const server = await startTestServer({ maxBodyBytes: limit });
  const cfValue = `${server.url}/client/v4/accounts/${server.accountId}/storage/kv/namespaces/${(await server.engine.findNamespace("default"))!.id}/values/big`;
  assert.equal((await fetch(`${server.url}/kv/big`, { method: "PUT", headers: json, body: '{"value":"small"}' })).status, 200);
  assert.equal((await fetch(cfValue, { method: "PUT", headers: { ...auth(), "content-type": "text/plain" }, body: "small" })).status, 200);

  const atLimit = JSON.stringify({ value: "x".repeat(limit - 12) });
  assert.equal(Buffer.byteLength(atLimit), limit);
  assert.equal((await fetch(`${server.url}/kv/exact`, { method: "PUT", headers: json, body: atLimit })).status, 200, "exactly the limit is fine");

  const tooBig = JSON.stringify({ value: "x".repeat(limit) });
  const rest = await fetch(`${server.url}/kv/big`, { method: "PUT", headers: json, body: tooBig });
  assert.equal(rest.status, 413);
  assert.deepEqual(await rest.json(), { error: { status: 413, message: `Request body of ${tooBig.length} bytes exceeds the limit of ${limit} bytes` } });

  // Without Content-Length (chunked), the limit is enforced while reading.
  const chunked = new ReadableStream<Uint8Array>({
    start(c) {
      for (let i = 0; i < 4; i++) c.enqueue(new TextEncoder().encode("y".repeat(400)));
      c.close();
    },
  });
  const streamed = await fetch(cfValue, { method: "PUT", headers: { ...auth(), "content-type": "text/plain" }, body: chunked, duplex: "half" } as RequestInit);
  assert.equal(streamed.status, 413);
  assert.deepEqual(await streamed.json(), {
    success: false,
    errors: [{ code: 10001, message: `Request body exceeds the limit of ${limit} bytes` }],
    messages: [],
    result: null,
  });

  const form = new FormData();
  form.set("value", "z".repeat(limit));
  const multipart = await fetch(cfValue, { method: "PUT", headers: auth(), body: form });
  assert.equal(multipart.status, 413);

  assert.equal(((await (await fetch(`${server.url}/kv/big`, { headers: auth() })).json()) as { value: string }).value, "small");
  assert.equal(await (await fetch(cfValue, { headers: auth() })).text(), "small");
  assert.equal((await fetch(`${server.url}/kv/big`, { headers: auth() })).status, 200, "the connection pool still works after 413s");
});

test("malformed input: 400 with a message, never a stack trace or SQL", timeout, async () => {
  const server = await startTestServer();
  const ns = (await server.engine.findNamespace("default"))!.id;
  const cf = `/client/v4/accounts/${server.accountId}/storage/kv/namespaces`;
  const text = { ...auth(), "content-type": "text/plain" };
  const cases: [string, RequestInit, string][] = [
    ["/kv/a", { method: "PUT", headers: json, body: "{not json" }, "The request body is not valid JSON"],
    ["/admin/tokens", { method: "POST", headers: json, body: "[1," }, "The request body is not valid JSON"],
    [cf, { method: "POST", headers: json, body: "{{" }, "The request body is not valid JSON"],
    [`${cf}/${ns}/bulk`, { method: "PUT", headers: json, body: "nope" }, "The request body is not valid JSON"],
    [`${cf}/${ns}/bulk/get`, { method: "POST", headers: json, body: '{"keys": "k"}' }, 'The body must be {"keys": ["k1", ...], "type"?: "text"|"json", "withMetadata"?: boolean}'],
    [
      `${cf}/${ns}/values/k`,
      { method: "PUT", headers: { ...auth(), "content-type": "multipart/form-data; boundary=xyz" }, body: "--xyz\r\nthis is not a part" },
      "Could not parse the multipart/form-data body",
    ],
    [
      `${cf}/${ns}/values/k`,
      { method: "PUT", headers: { ...auth(), "content-type": "multipart/form-data; boundary=xyz" }, body: '--xyz\r\nContent-Disposition: form-data; name="value"\r\n\r\nv\r\n--xyz\r\nContent-Disposition: form-data; name="metadata"\r\n\r\n{oops\r\n--xyz--\r\n' },
      "metadata must be valid JSON",
    ],
    ["/kv/a?list=true&limit=abc", { headers: auth() }, 'Invalid limit "abc": use an integer from 1 to 1000'],
    ["/kv?list=true&limit=1e3x", { headers: auth() }, 'Invalid limit "1e3x": use an integer from 1 to 1000'],
    [`${cf}/${ns}/keys?limit=ten`, { headers: auth() }, "Invalid key_count_limit of ten. Please specify an integer greater than 10."],
    [`${cf}?page=abc`, { headers: auth() }, 'Invalid page "abc": use an integer from 1 to 1000000'],
    [`${cf}?per_page=0`, { headers: auth() }, 'Invalid per_page "0": use an integer from 1 to 1000'],
    [`${cf}/${ns}/values/k?expiration_ttl=soon`, { method: "PUT", headers: text, body: "v" }, "Invalid expiration_ttl of soon. Please specify an integer."],
    ["/kv/a%ZZ", { headers: auth() }, 'Invalid percent-encoding in key path segment "a%ZZ"'],
    ["/kv/ok.%E0%A4", { method: "PUT", headers: json, body: '{"value":1}' }, 'Invalid percent-encoding in key path segment "%E0%A4"'],
    ["/kv/a%?list=true", { headers: auth() }, 'Invalid percent-encoding in key path segment "a%"'],
    ["/ns/%ZZ/kv/a", { headers: auth() }, 'Invalid percent-encoding in the URL path: "%ZZ"'],
    [`${cf}/${ns}/values/%C3%28`, { headers: auth() }, 'Invalid percent-encoding in the URL path: "%C3%28"'],
  ];
  for (const [path, init, message] of cases) {
    const r = await fetch(`${server.url}${path}`, init);
    const body = await r.text();
    assert.equal(r.status, 400, `${path}: ${body}`);
    assert.equal(r.headers.get("content-type"), "application/json", path);
    const parsed = JSON.parse(body) as { error?: { message: string }; errors?: { message: string }[] };
    assert.equal(parsed.error?.message ?? parsed.errors?.[0]?.message, message, path);
    assert.doesNotMatch(body, LEAK, path);
  }
  assert.equal((await fetch(`${server.url}/kv/a`, { headers: auth() })).status, 404, "nothing was written");
  assert.equal((await fetch(`${server.url}${cf}/${ns}/values/k`, { headers: auth() })).status, 404, "nothing was written");
});

test("key paths are percent-decoded once, after splitting: %2E is a dot inside a part, %25 a percent", timeout, async () => {
  const server = await startTestServer();
  const put = (path: string, value: unknown) => fetch(`${server.url}/kv/${path}`, { method: "PUT", headers: json, body: JSON.stringify({ value }) });
  assert.equal((await put("files.a%2Eb", "dotted")).status, 200);
  const got = (await (await fetch(`${server.url}/kv/files.a%2Eb`, { headers: auth() })).json()) as { key: string[]; path: string };
  assert.deepEqual(got.key, ["files", "a.b"]);
  assert.equal(got.path, "files.a%2Eb", "the path it answers with reads the same key back");
  assert.equal((await fetch(`${server.url}/kv/files.a.b`, { headers: auth() })).status, 404, "a.b as two parts is another key");

  assert.equal((await put("pct.100%25", "percent")).status, 200);
  const pct = (await (await fetch(`${server.url}/kv/pct?list=true`, { headers: auth() })).json()) as { entries: { key: string[]; path: string }[] };
  assert.deepEqual(pct.entries.map((e) => e.key), [["pct", "100%"]]);
  assert.equal(pct.entries[0]!.path, "pct.100%25");
  assert.equal((await fetch(`${server.url}/kv/${pct.entries[0]!.path}`, { headers: auth() })).status, 200);
});

test("an internal error is a generic 500, logged with its details", timeout, async () => {
  const logged: string[] = [];
  const failing: Route = {
    method: "GET",
    path: "/boom",
    access: "authenticated",
    api: "test",
    errors: (res, status, message, headers) => sendJson(res, status, { error: { status, message } }, headers),
    handle: () => {
      throw new Error("SQLITE_CORRUPT: SELECT value FROM kv WHERE key = ?");
    },
  };
  const server = await startTestServer({ routes: [failing], log: (line) => logged.push(line) });
  const r = await fetch(`${server.url}/boom`, { headers: auth() });
  assert.equal(r.status, 500);
  assert.deepEqual(await r.json(), { error: { status: 500, message: "Internal server error" } });
  assert.equal(logged.length, 1);
  assert.match(logged[0]!, /^openkv: internal error on GET \/boom: Error: SQLITE_CORRUPT: SELECT value FROM kv WHERE key = \?\n\s+at /);

  // The store closed under a live server: the same generic answer from every API.
  await server.engine.close();
  logged.length = 0;
  const rest = await fetch(`${server.url}/kv/a`, { headers: auth() });
  assert.equal(rest.status, 500);
  assert.deepEqual(await rest.json(), { error: { status: 500, message: "Internal server error" } });
  const cf = await fetch(`${server.url}/client/v4/accounts/${server.accountId}/storage/kv/namespaces`, { headers: auth() });
  assert.equal(cf.status, 500);
  assert.deepEqual(await cf.json(), { success: false, errors: [{ code: 10002, message: "Internal server error" }], messages: [], result: null });
  assert.equal(logged.length, 2);
  assert.match(logged[0]!, /^openkv: internal error on GET \/kv\/a: KvError: The database is closed/);
  assert.equal((await fetch(`${server.url}/healthz`)).status, 200, "the server itself keeps answering");
});
