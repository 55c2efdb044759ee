/**
 * Decoders that live in route handlers, fuzzed through the server's own request handler (./app-harness.ts):
 * Cloudflare multipart value writes and bulk bodies, `/kv` key paths, queries and bodies, KV Connect's
 * data path (its queue messages included). A request must be answered below 500 with nothing logged as
 * internal, and must leave the built-in prototypes alone; what a write accepted must read back below 500.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { KvError } from "../../src/core/errors.ts";
import { CfError } from "../../src/api/cloudflare/envelope.ts";
import { parseMultipartValue } from "../../src/api/cloudflare/multipart.ts";
import { keyToPath, parseKeyPath } from "../../src/api/rest/keypath.ts";
import { create, toBinary } from "@bufbuild/protobuf";
import { QueueListenSchema, QueueSettleSchema } from "../../src/wire/kv-connect/gen/openkv-queue_pb.ts";
import { AtomicWriteSchema } from "../../src/wire/kv-connect/gen/kv-connect_pb.ts";
import { encodeKey } from "../../src/core/keys.ts";
import { serializeV8 } from "../../src/core/v8.ts";
import type { FuzzRequest, FuzzResponse, InProcessApp } from "./app-harness.ts";
import { depth, oddJsonText, text } from "./arbitraries.ts";
import { bytesAround, mutatedText } from "./mutate.ts";
import { guardPrototypes } from "./prototypes.ts";
import { protoBytes, validBodies } from "./targets-wire.ts";
import { target, type FuzzTarget } from "./target.ts";

const utf8 = new TextEncoder();
const RESET_EVERY = 2000;
/** What a client puts in a URL: encodeURIComponent throws on lone surrogates, which a client cannot send. */
const urlEncode = (s: string) => encodeURIComponent(s.toWellFormed());

/**
 * One in-process server per target, started on first use and emptied now and then. Loaded lazily: a
 * worker running only the codec targets need not load the whole server.
 */
function appHolder() {
  let app: InProcessApp | null = null;
  let used = 0;
  return {
    async get(): Promise<InProcessApp> {
      app ??= new (await import("./app-harness.ts")).InProcessApp();
      if (++used % RESET_EVERY === 0) await app.reset();
      return app;
    },
    async close(): Promise<void> {
      await app?.close();
      app = null;
    },
  };
}

/** The property every request shares: a user error at worst, never ours. */
function assertAnswered(r: FuzzRequest, res: FuzzResponse): FuzzResponse {
  const body = r.body ? Buffer.from(r.body).toString("latin1").slice(0, 300) : "";
  assert.ok(res.status < 500 && res.internal.length === 0, `${r.method} ${r.url.slice(0, 300)} ${body}\n→ ${res.status} ${res.body.slice(0, 300)}\n${res.internal.join("\n").slice(0, 2000)}`);
  return res;
}

async function send(app: InProcessApp, r: FuzzRequest): Promise<FuzzResponse> {
  return assertAnswered(r, await guardPrototypes(() => app.request(r)));
}

const noErrors = () => false;

// ---- texts and JSON on the edges ----

const json: fc.Arbitrary<unknown> = fc.oneof(fc.jsonValue({ maxDepth: 4 }), oddJsonText.map((t) => JSON.parse(t) as unknown));
const jsonText = fc.oneof(json.map((v) => JSON.stringify(v)), mutatedText(json.map((v) => JSON.stringify(v)), 2), text);
const numberish = fc.oneof(
  fc.constantFrom(0, -1, 1, 59, 60, 61, 1e3, 2 ** 31, 2 ** 53, 2 ** 53 + 2, 1e21, 9007199254740000, 4102444800, NaN, Infinity, -Infinity, 0.5),
  fc.integer(),
  fc.double(),
);
const anyJsonish: fc.Arbitrary<unknown> = fc.oneof(json, numberish, fc.constantFrom(null, true, "", "x", [], {}));
/** JSON nested `depth` levels: arrays, objects, or both. */
const deepJson = fc.tuple(depth, fc.constantFrom("[]", "{}", "mixed")).map(([depth, kind]) => {
  if (kind === "[]") return "[".repeat(depth) + "]".repeat(depth);
  if (kind === "{}") return '{"a":'.repeat(depth) + "1" + "}".repeat(depth);
  return '[{"a":'.repeat(depth) + "1" + "}]".repeat(depth);
});

/** A dotted /kv key path as a client would put it in a URL, with deliberately broken escapes. */
const pathSegment = fc.oneof(
  text.map(urlEncode),
  fc.stringMatching(/^[A-Za-z0-9_~%.-]{0,6}$/),
  fc.constantFrom("%", "%Z1", "%E2%82", "%2E", "%00", "%ff", "", "..", "%252E"),
);
const keyPath = fc.array(pathSegment, { minLength: 0, maxLength: 4 }).map((s) => s.join("."));

// ---- multipart bodies as the Cloudflare SDK and others send them ----

interface Part {
  name: string;
  filename: string | null;
  type: string | null;
  data: string | Uint8Array;
}
const BENIGN_SEGMENTS = ["a", "b", "0", "1", "2", "", "x y", "é", "length"];
const DANGEROUS_SEGMENTS = ["__proto__", "constructor", "prototype", "toString", "valueOf", "hasOwnProperty", "__defineGetter__"];
const bracketName = (segments: fc.Arbitrary<string>) => fc.array(segments, { minLength: 1, maxLength: 4 }).map((s) => `metadata${s.map((x) => `[${x}]`).join("")}`);
const benignSegment = fc.oneof(fc.constantFrom(...BENIGN_SEGMENTS), fc.stringMatching(/^[a-z0-9]{1,4}$/));
const part = (names: fc.Arbitrary<string>): fc.Arbitrary<Part> =>
  fc.record({
    name: names,
    filename: fc.option(fc.constantFrom("blob", "v.bin", 'q"uote')),
    type: fc.option(fc.constantFrom("text/plain", "application/octet-stream", "application/json", "x/y; charset=latin1")),
    data: fc.oneof(text, jsonText, fc.uint8Array({ maxLength: 16 })),
  });

function multipartBody(boundary: string, parts: Part[], close: boolean): Uint8Array {
  const chunks: Uint8Array[] = [];
  for (const p of parts) {
    let head = `--${boundary}\r\nContent-Disposition: form-data; name="${p.name}"`;
    if (p.filename !== null) head += `; filename="${p.filename}"`;
    head += "\r\n";
    if (p.type !== null) head += `Content-Type: ${p.type}\r\n`;
    chunks.push(utf8.encode(head + "\r\n"), typeof p.data === "string" ? utf8.encode(p.data) : p.data, utf8.encode("\r\n"));
  }
  if (close) chunks.push(utf8.encode(`--${boundary}--\r\n`));
  return Buffer.concat(chunks);
}

const boundary = fc.oneof(fc.constantFrom("----formdata-undici-0123456789", "b", "x".repeat(70)), fc.stringMatching(/^[A-Za-z0-9'()+_,./:=?-]{1,20}$/));
function multipartInput(names: fc.Arbitrary<string>) {
  const wellFormed = fc
    .tuple(boundary, fc.array(part(names), { maxLength: 5 }), fc.boolean(), fc.boolean())
    .map(([b, parts, withValue, close]) => ({
      body: multipartBody(b, withValue ? [{ name: "value", filename: null, type: null, data: "v" }, ...parts] : parts, close),
      contentType: `multipart/form-data; boundary=${b}`,
    }));
  return fc.oneof(
    { arbitrary: wellFormed, weight: 4 },
    { arbitrary: wellFormed.chain((w) => bytesAround(fc.constant(w.body)).map((body) => ({ body, contentType: w.contentType }))), weight: 2 },
    {
      arbitrary: fc.record({
        body: fc.uint8Array({ maxLength: 64 }),
        contentType: fc.oneof(fc.constantFrom("multipart/form-data", "multipart/form-data; boundary=", "multipart/form-data; boundary=\"\""), text.map((t) => `multipart/form-data; ${t}`)),
      }),
      weight: 1,
    },
  );
}

/** Parses; a CfError is the clean refusal, the prototypes must be untouched either way. */
async function parseMultipart(input: { body: Uint8Array; contentType: string }): Promise<void> {
  await guardPrototypes(async () => {
    try {
      await parseMultipartValue(input.body, input.contentType);
    } catch (e) {
      if (!(e instanceof CfError && e.status === 400)) throw e;
    }
  });
}

/** Bodies for the bulk routes: pairs, key names and bulk-get requests with any field values, deep JSON. */
const bulkBody = fc.oneof(
  fc
    .array(
      fc.record(
        { key: fc.oneof(text, anyJsonish), value: fc.oneof(text, anyJsonish), base64: anyJsonish, expiration: anyJsonish, expiration_ttl: anyJsonish, metadata: anyJsonish, name: fc.oneof(text, anyJsonish) },
        { requiredKeys: [] },
      ),
      { maxLength: 6 },
    )
    .map((items) => JSON.stringify(items)),
  fc.array(fc.oneof(text, anyJsonish), { maxLength: 6 }).map((a) => JSON.stringify(a)),
  fc
    .record({ keys: fc.oneof(fc.array(fc.oneof(fc.constantFrom("a", "b"), text), { maxLength: 4 }), anyJsonish), type: fc.oneof(fc.constantFrom("text", "json", "arrayBuffer", "stream"), anyJsonish), withMetadata: anyJsonish }, { requiredKeys: [] })
    .map((b) => JSON.stringify(b)),
  jsonText,
  fc.tuple(deepJson, fc.boolean()).map(([d, wrapped]) => (wrapped ? `[${d}]` : d)),
);

// ---- targets ----

const multipartApp = appHolder();
const valuesApp = appHolder();
const bulkApp = appHolder();
const restApp = appHolder();
const restStoredApp = appHolder();
const kvConnectApp = appHolder();
const kvConnectStoredApp = appHolder();

export const httpTargets: FuzzTarget[] = [
  target({
    name: "cloudflare/multipart",
    about: "multipart bodies (well-formed, mutated, random; bracket metadata fields) → a value, or CfError 400",
    input: multipartInput(fc.oneof(fc.constantFrom("value", "metadata", "other", ""), bracketName(benignSegment), text)),
    expected: noErrors,
    run: parseMultipart,
  }),
  target({
    name: "cloudflare/multipart-prototype",
    about: "metadata[__proto__][x], metadata[constructor][prototype][x]… → a value or CfError, built-in prototypes untouched",
    input: multipartInput(bracketName(fc.oneof(fc.constantFrom(...DANGEROUS_SEGMENTS), benignSegment))),
    expected: noErrors,
    run: parseMultipart,
  }),
  target({
    name: "cloudflare/multipart-depth",
    about: "PUT values/:key with bracket metadata fields nested up to 150,000 levels → below 500",
    input: depth,
    ciRuns: 300,
    close: () => multipartApp.close(),
    expected: noErrors,
    async run(levels) {
      const app = await multipartApp.get();
      const parts: Part[] = [
        { name: "value", filename: null, type: null, data: "v" },
        { name: `metadata${"[a]".repeat(levels)}`, filename: null, type: null, data: "1" },
      ];
      await send(app, { method: "PUT", url: await app.cloudflarePath("/values/deep"), headers: { "content-type": "multipart/form-data; boundary=b" }, body: multipartBody("b", parts, true) });
    },
  }),
  target({
    name: "cloudflare/metadata-json-depth",
    about: "PUT values/:key with a JSON metadata part nested up to 150,000 levels → below 500",
    input: deepJson,
    ciRuns: 300,
    close: () => multipartApp.close(),
    expected: noErrors,
    async run(json) {
      const app = await multipartApp.get();
      const parts: Part[] = [
        { name: "value", filename: null, type: null, data: "v" },
        { name: "metadata", filename: null, type: null, data: json },
      ];
      await send(app, { method: "PUT", url: await app.cloudflarePath("/values/deep"), headers: { "content-type": "multipart/form-data; boundary=b" }, body: multipartBody("b", parts, true) });
    },
  }),
  target({
    name: "cloudflare/values",
    about: "REST v4 values and metadata: any key name, query, content type and (multipart) body → below 500",
    input: fc.record({
      method: fc.constantFrom("GET", "PUT", "PUT", "DELETE", "GET"),
      what: fc.constantFrom("values", "metadata", "keys"),
      key: fc.oneof(text.map(urlEncode), fc.constantFrom("%", "%zz", ".", "..", "%2F", "a".repeat(600))),
      query: fc.array(fc.tuple(fc.constantFrom("expiration", "expiration_ttl", "limit", "prefix", "cursor"), fc.oneof(numberish.map(String), text)), { maxLength: 3 }),
      body: fc.oneof(
        multipartInput(fc.oneof(fc.constantFrom("value", "metadata"), bracketName(benignSegment))),
        fc.record({ body: fc.oneof(fc.uint8Array({ maxLength: 32 }), jsonText.map((t) => utf8.encode(t))), contentType: fc.constantFrom("text/plain", "application/octet-stream", "text/plain; charset=utf-8", "") }),
      ),
    }),
    close: () => valuesApp.close(),
    expected: noErrors,
    async run(r) {
      const app = await valuesApp.get();
      const query = r.query.map(([k, v]) => `${k}=${urlEncode(v)}`).join("&");
      const path = r.what === "keys" ? "/keys" : `/${r.what}/${r.key}`;
      const method = r.what === "values" ? r.method : "GET";
      await send(app, {
        method,
        url: (await app.cloudflarePath(path)) + (query ? `?${query}` : ""),
        headers: r.body.contentType ? { "content-type": r.body.contentType } : {},
        ...(method === "PUT" ? { body: r.body.body } : {}),
      });
    },
  }),
  target({
    name: "cloudflare/key-names",
    about: "REST v4: a key name a write accepted reads back and lists under its own name",
    input: fc.oneof(text, fc.constantFrom("\uFEFF", "\uFEFFk", "a\u0000b", "%", "..a", " ", "\u00e9", "\u{1F600}")).map((t) => t.toWellFormed()),
    close: () => valuesApp.close(),
    expected: noErrors,
    async run(name) {
      const app = await valuesApp.get();
      const path = await app.cloudflarePath(`/values/${urlEncode(name)}`);
      const put = await send(app, { method: "PUT", url: path, headers: { "content-type": "text/plain" }, body: utf8.encode("v") });
      if (put.status !== 200) return;
      assert.equal((await send(app, { method: "GET", url: path })).body, "v");
      const listed = JSON.parse((await send(app, { method: "GET", url: await app.cloudflarePath(`/keys?prefix=${urlEncode(name)}`) })).body) as { result: { name: string }[] };
      assert.ok(listed.result.some((k) => k.name === name), `${JSON.stringify(name)} listed as ${JSON.stringify(listed.result.map((k) => k.name))}`);
      await send(app, { method: "DELETE", url: path });
    },
  }),
  target({
    name: "cloudflare/bulk-write",
    about: "REST v4 bulk write (PUT …/bulk): any body → below 500, then the namespace lists below 500",
    input: bulkBody,
    close: () => bulkApp.close(),
    expected: noErrors,
    async run(body) {
      const app = await bulkApp.get();
      await send(app, { method: "PUT", url: await app.cloudflarePath("/bulk"), headers: { "content-type": "application/json" }, body: utf8.encode(body) });
      // Whatever the bulk write stored must list back.
      await send(app, { method: "GET", url: await app.cloudflarePath("/keys?limit=1000") });
    },
  }),
  target({
    name: "cloudflare/bulk-get",
    about: "REST v4 bulk get (POST …/bulk/get) over stored text: any body → below 500",
    input: bulkBody,
    close: () => bulkApp.close(),
    expected: noErrors,
    async run(body) {
      const app = await bulkApp.get();
      // Values that are not JSON: a bulk get of type "json" over them answers 400, not 500.
      await send(app, { method: "PUT", url: await app.cloudflarePath("/bulk"), body: utf8.encode('[{"key":"a","value":"not json"},{"key":"b","value":"[1]"}]') });
      await send(app, { method: "POST", url: await app.cloudflarePath("/bulk/get"), headers: { "content-type": "application/json" }, body: utf8.encode(body) });
    },
  }),
  target({
    name: "cloudflare/bulk-delete",
    about: "REST v4 bulk delete (POST …/bulk/delete, DELETE …/bulk): any body → below 500",
    input: fc.record({ route: fc.constantFrom(["POST", "/bulk/delete"], ["DELETE", "/bulk"]), body: bulkBody }),
    close: () => bulkApp.close(),
    expected: noErrors,
    async run({ route: [method, path], body }) {
      const app = await bulkApp.get();
      await send(app, { method, url: await app.cloudflarePath(path), headers: { "content-type": "application/json" }, body: utf8.encode(body) });
    },
  }),
  target({
    name: "rest/keypath",
    about: "parseKeyPath(any text) → non-empty string parts or KvError(invalid_key); keyToPath round-trips",
    input: fc.oneof(keyPath, text, fc.array(fc.string({ unit: "binary", minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 4 })),
    expected: (e) => e instanceof KvError && e.code === "invalid_key",
    run(input) {
      if (Array.isArray(input)) {
        const path = keyToPath(input);
        assert.ok(path !== null);
        assert.deepStrictEqual(parseKeyPath(path), input);
        return;
      }
      const parts = parseKeyPath(input as string, true);
      for (const p of parts) assert.ok(typeof p === "string" && p.length > 0);
    },
  }),
  target({
    name: "rest/requests",
    about: "/kv GET, list, PUT and DELETE: any key path, query, If-Match/If-None-Match and body → below 500",
    input: fc.record({
      method: fc.constantFrom("GET", "PUT", "DELETE", "GET"),
      ns: fc.constantFrom("/kv", "/ns/fuzz/kv", "/ns/%zz/kv"),
      path: keyPath,
      query: fc.array(fc.tuple(fc.constantFrom("list", "limit", "cursor", "reverse"), fc.oneof(fc.constantFrom("true", "false", "1", "1000", "1001", "0", "-1", "1e3", "AQ", "AgBhAA", ""), text)), { maxLength: 4 }),
      headers: fc.record({ "if-match": fc.oneof(fc.constantFrom('"00000000000000000001"', "*", 'W/"x"', '"zz"'), text), "if-none-match": fc.oneof(fc.constant("*"), text) }, { requiredKeys: [] }),
      body: fc.oneof(
        fc.record({ value: anyJsonish, ttl: fc.oneof(numberish, anyJsonish) }, { requiredKeys: ["value"] }).map((b) => JSON.stringify(b)),
        jsonText,
        fc.uint8Array({ maxLength: 32 }).map((b) => Buffer.from(b).toString("latin1")),
      ),
    }),
    close: () => restApp.close(),
    expected: noErrors,
    async run(r) {
      const app = await restApp.get();
      const query = r.query.map(([k, v]) => `${k}=${urlEncode(v)}`).join("&");
      await send(app, {
        method: r.method,
        url: `${r.ns}/${r.path}${query ? `?${query}` : ""}`,
        headers: r.headers as Record<string, string>,
        ...(r.method === "PUT" ? { body: utf8.encode(r.body) } : {}),
      });
    },
  }),
  target({
    name: "rest/stored-readable",
    about: "/kv PUT of deep values and far ttls: refused below 500, or stored and then read and listed below 500",
    input: fc.tuple(
      fc.oneof(deepJson, json.map((v) => JSON.stringify(v))),
      fc.option(fc.oneof(fc.constantFrom(1, 2 ** 53 - 1, 9007199254740000, 2 ** 62, 1e300), fc.integer({ min: 1 }))),
    ),
    ciRuns: 200,
    close: () => restStoredApp.close(),
    expected: noErrors,
    async run([value, ttl]) {
      const app = await restStoredApp.get();
      const body = utf8.encode(`{"value":${value}${ttl === null ? "" : `,"ttl":${ttl}`}}`);
      const put = await send(app, { method: "PUT", url: "/kv/fuzz.stored", body });
      if (put.status !== 200) return;
      await send(app, { method: "GET", url: "/kv/fuzz.stored" });
      await send(app, { method: "GET", url: "/kv/fuzz?list=true" });
      await send(app, { method: "DELETE", url: "/kv/fuzz.stored" });
    },
  }),
  target({
    name: "kv-connect/routes",
    about: "POST snapshot_read, atomic_write, watch, queue listen/ack/nack and the metadata exchange: any body and headers → below 500",
    input: fc.record({
      endpoint: fc.constantFrom("snapshot_read", "atomic_write", "watch", "queue/listen", "queue/ack", "queue/nack", "metadata"),
      headers: fc.constantFrom("v3", "v2", "v1", "bad-version", "bad-id", "none"),
      body: fc.oneof(
        protoBytes(fc.oneof(validBodies.snapshotRead, validBodies.atomicWrite, validBodies.watch)),
        protoBytes(fc.oneof(
          fc.string({ maxLength: 40 }).map((leaseId) => toBinary(QueueSettleSchema, create(QueueSettleSchema, { leaseId }))),
          fc.constant(toBinary(QueueListenSchema, create(QueueListenSchema, {}))),
        )),
        jsonText.map((t) => utf8.encode(t)),
        fc.array(fc.oneof(fc.integer(), text, anyJsonish)).map((v) => utf8.encode(JSON.stringify({ supportedVersions: v }))),
      ),
    }),
    close: () => kvConnectApp.close(),
    expected: noErrors,
    async run(r) {
      const app = await kvConnectApp.get();
      const { path, headers } = await app.kvConnect();
      const h: Record<string, string> =
        r.headers === "v3" ? headers
        : r.headers === "v2" ? { ...headers, "x-denokv-version": "2" }
        : r.headers === "v1" ? { "x-transaction-domain-id": headers["x-denokv-database-id"]! }
        : r.headers === "bad-version" ? { ...headers, "x-denokv-version": "4" }
        : r.headers === "bad-id" ? { ...headers, "x-denokv-database-id": "00000000-0000-0000-0000-000000000000" }
        : {};
      const url = r.endpoint === "metadata" ? path : `${path}/${r.endpoint}`;
      await send(app, { method: "POST", url, headers: { ...h, "content-type": "application/x-protobuf" }, body: r.body });
    },
  }),
  target({
    name: "kv-connect/stored-readable",
    about: "atomic_write of any value bytes, encodings and expiries: refused below 500, or read back by /kv and REST v4 below 500",
    input: fc.record({
      encoding: fc.constantFrom(1, 2, 3),
      data: fc.oneof(
        fc.uint8Array({ maxLength: 16 }),
        fc.constant(new Uint8Array(0)),
        fc.constant(serializeV8("text")),
        bytesAround(fc.constant(serializeV8({ a: [1, 2n, "x"] }))),
        fc.constant(Uint8Array.of(0xff, 0x0f, 0x6f, 0x22, 0x01, 0x61, 0x5e, 0x00, 0x7b, 0x01)), // {a: <itself>}
      ),
      expireAtMs: fc.oneof(fc.constantFrom(0n, -1n, 2n ** 53n, 2n ** 62n, 2n ** 63n - 1n, 8_640_000_000_000_001n), fc.bigInt({ min: 0n, max: 2n ** 63n - 1n })),
    }),
    ciRuns: 500,
    close: () => kvConnectStoredApp.close(),
    expected: noErrors,
    async run(m) {
      const app = await kvConnectStoredApp.get();
      const { path, headers } = await app.kvConnect();
      const ns = await app.namespace();
      const key = encodeKey(["fuzz"]);
      const body = toBinary(AtomicWriteSchema, create(AtomicWriteSchema, { mutations: [{ key, mutationType: 1, value: { data: m.data, encoding: m.encoding }, expireAtMs: m.expireAtMs }] }));
      const write = await send(app, { method: "POST", url: `${path}/atomic_write`, headers, body });
      if (write.status !== 200) return;
      await send(app, { method: "GET", url: `/ns/${ns.id}/kv/fuzz` });
      await send(app, { method: "GET", url: `/ns/${ns.id}/kv?list=true` });
      await send(app, { method: "DELETE", url: `/ns/${ns.id}/kv/fuzz` });
    },
  }),
];
