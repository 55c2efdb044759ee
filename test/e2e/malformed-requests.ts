/**
 * Generators (fast-check) of malformed and hostile requests for every route of `builtinRoutes()`, used
 * by malformed-http.test.ts. A request starts well-formed for its route — method, path parameters,
 * query, token, headers and body as a real client sends them — and then zero to three of those
 * dimensions are broken: another method, odd characters and broken percent-encoding in the path,
 * nonsense queries, bad tokens, wrong KV Connect headers, bodies of the wrong shape or with hostile
 * values (JSON, multipart forms, protobuf built from the KV Connect schema), bytes flipped or cut, and
 * the HTTP/1.1 head itself broken. Breaking one thing at a time reaches past the first check.
 */
import { create, toBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import { encodeKey, type KvKeyPart } from "../../src/core/keys.ts";
import { serializeV8 } from "../../src/core/v8.ts";
import type { Route } from "../../src/http/route.ts";
import { AtomicWriteSchema, SnapshotReadSchema, WatchSchema } from "../../src/wire/kv-connect/gen/kv-connect_pb.ts";
import { QueueListenSchema, QueueSettleSchema } from "../../src/wire/kv-connect/gen/openkv-queue_pb.ts";
import { databaseIdOf } from "../../src/wire/kv-connect/metadata.ts";

export interface FuzzContext {
  accountId: string;
  /** Namespaces that exist (ids and titles), the first being `default`. */
  namespaces: { id: string; title: string }[];
  /** The token this phase sends when it sends a good one; null: none. */
  token: string | null;
  /** Key names that exist, so reads and conditional writes meet real entries. */
  keys: readonly string[];
}

export interface FuzzRequest {
  route: string;
  /** The dimensions broken on purpose ([] = a well-formed request). */
  broken: Dimension[];
  method: string;
  /** The request target as it goes on the wire. */
  path: string;
  headers: [string, string][];
  body: Uint8Array;
  transport: "h1" | "h2";
  /** Changes to the HTTP/1.1 head (ignored over HTTP/2): at a fraction of its length, remove, insert. */
  headMutations: { at: number; remove: number; insert: string }[];
}

const DIMENSIONS = ["method", "path", "account", "namespace", "key", "query", "auth", "headers", "body", "head"] as const;
export type Dimension = (typeof DIMENSIONS)[number];

const enc = new TextEncoder();
const HEX = "0123456789abcdef";
const LOWER = "abcdefghijklmnopqrstuvwxyz";

/** `minLength`..`maxLength` characters of `alphabet` (fc.stringMatching is far slower to sample). */
function chars(alphabet: string, minLength: number, maxLength: number): fc.Arbitrary<string> {
  return fc.string({ unit: fc.constantFrom(...alphabet), minLength, maxLength });
}

const cache = new Map<string, fc.Arbitrary<unknown>>();
/** Building an arbitrary costs more than sampling it: each is built once per distinct key. */
function memo<T>(key: string, make: () => fc.Arbitrary<T>): fc.Arbitrary<T> {
  let arb = cache.get(key) as fc.Arbitrary<T> | undefined;
  if (!arb) cache.set(key, (arb = make()));
  return arb;
}

function tryEncode(s: string, how: "component" | "uri" | "raw"): string {
  try {
    if (how === "component") return encodeURIComponent(s);
    if (how === "uri") return encodeURI(s);
  } catch {
    // A lone surrogate cannot be encoded: it goes raw.
  }
  return s;
}

// ---------------------------------------------------------------------------------------------- values

const NASTY = [
  "", ".", "..", "...", "%", "%2", "%zz", "%00", "%2F", "%2f", "%25", "a%2Fb", "%F0%9F%98%80", "%C0%AF", "%FF%FE", "%E2%82",
  "__proto__", "constructor", "prototype", "hasOwnProperty", "toString", "x".repeat(513), "y".repeat(2100), "\u0000", "a b", "?",
  "#", "%3F", "%23", ";", "*", "\\", "..%2F..%2Fetc", "%2e%2e", "\u202e", "\ud800", "🙂", "NaN", "-0", "1e309", "null", "undefined",
] as const;

const oddText = fc.oneof(fc.string({ unit: "grapheme-ascii", maxLength: 12 }), fc.string({ unit: "binary", maxLength: 12 }), fc.constantFrom(...NASTY));
/** Text a well-behaved client might use as a name. */
const plainText = chars(LOWER + "0123456789-_", 1, 16);
/** A segment as a broken client writes it: raw, half-encoded or encoded. */
const oddSegment = fc.tuple(oddText, fc.constantFrom<"component" | "uri" | "raw">("component", "raw", "uri")).map(([s, how]) => tryEncode(s, how));

const json = fc.jsonValue({ maxDepth: 4 });
const smallJson = fc.jsonValue({ maxDepth: 2 });
const numberText = fc.oneof(
  fc.integer().map(String),
  fc.double().map(String),
  fc.constantFrom("", "0", "-1", "1", "10", "11", "60", "1000", "1001", "abc", "NaN", "Infinity", "1e309", "9007199254740993", "0x10", " 5", "5 "),
);
/** Numbers a validator has to think about. */
const oddNumber = fc.oneof(fc.integer(), fc.double(), fc.constantFrom(-1, 0, 1, 59, 2 ** 31, 9007199254740000, 9007199254740991, 2 ** 62, 1e308, -1e308));

// ---------------------------------------------------------------------------------------------- KV Connect values

const keyPart: fc.Arbitrary<KvKeyPart> = fc.oneof(fc.string({ maxLength: 10 }), fc.integer(), fc.double(), fc.bigInt(), fc.boolean(), fc.uint8Array({ maxLength: 8 }));
const tupleKey = fc.array(keyPart, { minLength: 1, maxLength: 4 }).map((k) => encodeKey(k));
const oddKey: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ maxLength: 40 }),
  fc.constantFrom(new Uint8Array(0), new Uint8Array(3000).fill(2), Uint8Array.of(2, 0x61), Uint8Array.of(0xff), Uint8Array.of(0x21, 1, 2)),
);
const v8Value = fc.oneof(json.map((v) => serializeV8(v)), fc.bigInt().map((v) => serializeV8(v)));
const oddV8 = fc.oneof(fc.uint8Array({ maxLength: 30 }), fc.constantFrom(new Uint8Array(0), Uint8Array.of(0xff, 0x0f), Uint8Array.of(0xff, 0x0f, 0x6f, 0x7b, 0x00)));
const le64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map((n) => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, n, true);
  return b;
});
const int64 = fc.oneof(fc.constantFrom(0n, -1n, 1n, 2n ** 62n, 2n ** 53n, BigInt(Date.now() + 3_600_000)), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }));
const futureMs = fc.integer({ min: 60_000, max: 86_400_000 }).map((ms) => BigInt(Date.now() + ms));

function atomicWrite(bad: boolean): fc.Arbitrary<Uint8Array> {
  const key = bad ? fc.oneof({ weight: 3, arbitrary: tupleKey }, { weight: 1, arbitrary: oddKey }) : tupleKey;
  const value = bad
    ? fc.oneof(
        fc.record({ data: oddV8, encoding: fc.constant(1) }),
        fc.record({ data: fc.uint8Array({ maxLength: 12 }), encoding: fc.constantFrom(0, 2, 7) }),
        fc.record({ data: v8Value, encoding: fc.constantFrom(1, 3) }),
      )
    : fc.oneof(fc.record({ data: v8Value, encoding: fc.constant(1) }), fc.record({ data: fc.uint8Array({ maxLength: 64 }), encoding: fc.constant(3) }));
  const mutation = fc.oneof(
    fc.record({ key, value, mutationType: bad ? fc.constantFrom(0, 1, 9, 42) : fc.constantFrom(1, 9), expireAtMs: bad ? int64 : fc.oneof(fc.constant(0n), futureMs) }),
    fc.record({ key, mutationType: fc.constant(2) }),
    fc.record({
      key,
      value: bad ? value : fc.record({ data: le64, encoding: fc.constant(2) }),
      mutationType: fc.constantFrom(3, 4, 5),
      ...(bad ? { sumMin: fc.oneof(fc.constant(new Uint8Array(0)), v8Value, oddV8), sumMax: fc.oneof(fc.constant(new Uint8Array(0)), v8Value), sumClamp: fc.boolean() } : {}),
    }),
  );
  const check = fc.record({ key, versionstamp: bad ? fc.uint8Array({ maxLength: 12 }) : fc.oneof(fc.constant(new Uint8Array(0)), fc.uint8Array({ minLength: 10, maxLength: 10 })) });
  const enqueue = fc.record({
    payload: bad ? fc.oneof(v8Value, oddV8) : v8Value,
    deadlineMs: bad ? int64 : futureMs,
    keysIfUndelivered: fc.array(key, { maxLength: 2 }),
    backoffSchedule: fc.array(bad ? fc.nat() : fc.integer({ min: 1000, max: 60_000 }), { maxLength: 3 }),
  });
  // Random versionstamps fail their checks and nothing is written: most hostile writes carry none.
  const checks = bad ? fc.oneof({ weight: 3, arbitrary: fc.constant([]) }, { weight: 1, arbitrary: fc.array(check, { maxLength: 3 }) }) : fc.array(check, { maxLength: 3 });
  return fc
    .record({ checks, mutations: fc.array(mutation, { minLength: 1, maxLength: bad ? 12 : 4 }), enqueues: fc.array(enqueue, { maxLength: bad ? 3 : 1 }) })
    // Enum fields take values outside their enums on purpose (an unknown mutation type, encoding 7).
    .map((m) => toBinary(AtomicWriteSchema, create(AtomicWriteSchema, m as never)));
}

function snapshotRead(bad: boolean): fc.Arbitrary<Uint8Array> {
  const key = bad ? fc.oneof(tupleKey, oddKey) : tupleKey;
  // Deno caps a read at 1000 entries over all its ranges.
  const limit = bad ? fc.oneof(fc.integer({ min: -5, max: 2000 }), fc.constantFrom(2 ** 31 - 1, -(2 ** 31))) : fc.integer({ min: 1, max: 100 });
  return fc
    .array(fc.record({ start: key, end: key, limit, reverse: fc.boolean() }), { minLength: 1, maxLength: bad ? 12 : 10 })
    .map((ranges) => toBinary(SnapshotReadSchema, create(SnapshotReadSchema, { ranges })));
}

function watch(bad: boolean): fc.Arbitrary<Uint8Array> {
  return fc
    .array(bad ? fc.oneof(tupleKey, oddKey) : tupleKey, { minLength: bad ? 0 : 1, maxLength: bad ? 12 : 10 })
    .map((keys) => toBinary(WatchSchema, create(WatchSchema, { keys: keys.map((key) => ({ key })) })));
}

// ---------------------------------------------------------------------------------------------- bodies

type Body = { contentType: string | null; body: Uint8Array };
const asJson = (v: unknown): Body => ({ contentType: "application/json", body: enc.encode(JSON.stringify(v) ?? "null") });
const protobuf = (body: Uint8Array): Body => ({ contentType: "application/x-protobuf", body });

const garbage: fc.Arbitrary<Body> = fc.tuple(
  fc.oneof(
    fc.uint8Array({ maxLength: 200 }),
    fc.string({ unit: "binary", maxLength: 200 }).map((s) => enc.encode(s)),
    fc.constantFrom("", "{", "[", '{"value":', "null", "[]", "{}", "\u0000", '"\\ud800"', "1e999").map((s) => enc.encode(s)),
  ),
  fc.constantFrom("application/json", "text/plain", "application/x-protobuf", "multipart/form-data", "multipart/form-data; boundary=", "application/octet-stream", "*/*", ""),
).map(([body, contentType]) => ({ contentType, body }));

/** Rare and costly: JSON nested deeper than any parser's comfort, and a big value. */
const extreme: fc.Arbitrary<Body> = fc
  .constantFrom(
    () => `{"value":${"[".repeat(2000)}${"]".repeat(2000)}}`,
    () => `{"value":${'{"a":'.repeat(2000)}1${"}".repeat(2000)}}`,
    () => JSON.stringify({ value: "v".repeat(1 << 20) }),
  )
  .map((make) => ({ contentType: "application/json", body: enc.encode(make()) }));

const metadataFieldName = fc.oneof(
  fc.constantFrom(
    "metadata[a]", "metadata[a][b]", "metadata[a][]", "metadata[]", "metadata[0]", "metadata[0][1]", "metadata[__proto__][polluted]",
    "metadata[constructor][prototype][polluted]", "metadata[a][__proto__]", "metadata[[]", "metadata]",
  ),
  fc.array(fc.constantFrom("a", "0", "", "__proto__", "x y"), { minLength: 1, maxLength: 6 }).map((p) => `metadata[${p.join("][")}]`),
);

function multipart(bad: boolean): fc.Arbitrary<Body> {
  const value = fc.record({ name: fc.constant("value"), value: bad ? oddText : plainText, file: fc.boolean() });
  const metadata = fc.record({ name: fc.constant("metadata"), value: (bad ? json : smallJson).map((j) => JSON.stringify(j)), file: fc.constant(false) });
  const odd = fc.oneof(
    { weight: 4, arbitrary: fc.record({ name: metadataFieldName, value: fc.oneof(json.map((j) => JSON.stringify(j)), oddText), file: fc.constant(false) }) },
    { weight: 1, arbitrary: fc.record({ name: fc.oneof(metadataFieldName, fc.constant("metadata")), value: oddText, file: fc.constant(true) }) },
    { weight: 1, arbitrary: fc.record({ name: oddText, value: oddText, file: fc.boolean() }) },
    { weight: 1, arbitrary: value },
  );
  // Hostile forms mostly keep their value part, so the metadata fields behind it get parsed.
  const hostile = fc.oneof(
    { weight: 3, arbitrary: fc.tuple(value, fc.array(odd, { minLength: 1, maxLength: 4 })).map(([v, rest]) => [v, ...rest]) },
    { weight: 1, arbitrary: fc.array(odd, { maxLength: 5 }) },
  );
  const parts = bad ? hostile : fc.tuple(value, fc.option(metadata, { nil: undefined })).map(([v, m]) => (m ? [v, m] : [v]));
  const shape = bad ? fc.constantFrom("ok", "ok", "no-final", "wrong-boundary", "no-boundary-param", "quoted") : fc.constant("ok");
  return fc.tuple(parts, shape).map(([ps, sh]) => {
    const b = "b0undary";
    let text = "";
    for (const p of ps) {
      const disposition = `form-data; name="${p.name.replaceAll('"', "%22")}"${p.file ? '; filename="f.bin"' : ""}`;
      text += `--${b}\r\nContent-Disposition: ${disposition}\r\n${p.file ? "Content-Type: application/octet-stream\r\n" : ""}\r\n${p.value}\r\n`;
    }
    if (sh !== "no-final") text += `--${b}--\r\n`;
    const contentType = sh === "wrong-boundary" ? "multipart/form-data; boundary=other" : sh === "no-boundary-param" ? "multipart/form-data" : sh === "quoted" ? `multipart/form-data; boundary="${b}"` : `multipart/form-data; boundary=${b}`;
    return { contentType, body: enc.encode(text) };
  });
}

function bulkItems(ctx: FuzzContext, bad: boolean): fc.Arbitrary<Body> {
  const key = bad ? fc.oneof(oddText, json) : fc.oneof(fc.constantFrom(...ctx.keys), plainText);
  const good = fc.record(
    { key, value: bad ? fc.oneof(oddText, json) : plainText, base64: fc.boolean(), expiration_ttl: bad ? fc.oneof(oddNumber, numberText) : fc.integer({ min: 60, max: 86_400 }), metadata: bad ? json : smallJson },
    { requiredKeys: ["key", "value"] },
  );
  return fc.oneof({ weight: 5, arbitrary: fc.array(good, { maxLength: bad ? 12 : 6 }) }, { weight: bad ? 1 : 0, arbitrary: json }).map(asJson);
}

/** A body and its content type for `route`: what a real client sends (`bad`: of the wrong shape or with hostile values). */
function bodyFor(route: Route, method: string, ctx: FuzzContext, bad: boolean): fc.Arbitrary<Body> {
  const p = route.path;
  const names = fc.oneof(fc.constantFrom(...ctx.keys), plainText);
  const kvPath = !p.startsWith("/kv-connect") && (p.startsWith("/kv") || p.startsWith("/ns/"));
  if (kvPath && method === "PUT") {
    if (!bad) return fc.record({ value: json, ttl: fc.integer({ min: 1000, max: 86_400_000 }) }, { requiredKeys: ["value"] }).map(asJson);
    return fc.oneof(
      { weight: 4, arbitrary: fc.record({ value: json, ttl: fc.oneof(oddNumber, json) }, { requiredKeys: ["value"] }).map(asJson) },
      { weight: 2, arbitrary: json.map(asJson) },
      { weight: 1, arbitrary: extreme },
    );
  }
  if (p.endsWith("/values/:key_name") && method === "PUT") {
    if (bad) return multipart(true);
    return fc.oneof(
      multipart(false),
      plainText.map((s) => ({ contentType: "text/plain", body: enc.encode(s) })),
      fc.uint8Array({ maxLength: 100 }).map((body) => ({ contentType: "application/octet-stream", body })),
    );
  }
  if (p.endsWith("/bulk") && method === "PUT") return bulkItems(ctx, bad);
  if (p.endsWith("/bulk") || p.endsWith("/bulk/delete")) {
    return (bad ? fc.oneof(fc.array(fc.oneof(oddText, fc.record({ name: json }), json), { maxLength: 6 }), json) : fc.array(fc.oneof(names, names.map((name) => ({ name }))), { maxLength: 6 })).map(asJson);
  }
  if (p.endsWith("/bulk/get")) {
    if (!bad) return fc.record({ keys: fc.array(names, { minLength: 1, maxLength: 20 }), type: fc.constantFrom("text", "json"), withMetadata: fc.boolean() }, { requiredKeys: ["keys"] }).map(asJson);
    return fc.oneof(fc.record({ keys: fc.oneof(fc.array(fc.oneof(oddText, json), { maxLength: 120 }), json), type: fc.oneof(fc.constantFrom("arrayBuffer", "stream", "JSON"), json), withMetadata: json }, { requiredKeys: [] }), json).map(asJson);
  }
  if (p.endsWith("/namespaces") || p.endsWith("/:namespace_id")) return (bad ? fc.oneof(fc.record({ title: fc.oneof(oddText, json) }), json) : fc.record({ title: plainText.map((t) => `fuzz-${t}`) })).map(asJson);
  if (p === "/admin/tokens") {
    if (!bad) return fc.record({ name: plainText, permission: fc.constantFrom("read", "write"), namespaces: fc.option(fc.constant(["fuzz-b"]), { nil: undefined }) }, { requiredKeys: ["name", "permission"] }).map(asJson);
    return fc.oneof(fc.record({ name: fc.oneof(oddText, json), namespaces: fc.oneof(fc.array(oddText, { maxLength: 3 }), json), permission: fc.oneof(fc.constantFrom("admin", "READ"), json) }, { requiredKeys: [] }), json).map(asJson);
  }
  if (p === "/kv-connect" || p === "/kv-connect/:namespace") {
    return (bad ? fc.oneof(fc.record({ supportedVersions: fc.oneof(fc.array(fc.integer({ min: -1, max: 5 }), { maxLength: 4 }), json) }), json) : fc.constantFrom({ supportedVersions: [1, 2, 3] }, { supportedVersions: [2, 3] }, { supportedVersions: [3] })).map(asJson);
  }
  if (p.endsWith("/snapshot_read")) return snapshotRead(bad).map(protobuf);
  if (p.endsWith("/atomic_write")) return atomicWrite(bad).map(protobuf);
  if (p.endsWith("/watch")) return watch(bad).map(protobuf);
  if (p.endsWith("/queue/listen")) return bad ? fc.uint8Array({ maxLength: 20 }).map(protobuf) : fc.constant(protobuf(toBinary(QueueListenSchema, create(QueueListenSchema, {}))));
  if (p.endsWith("/queue/ack") || p.endsWith("/queue/nack")) return (bad ? oddText : plainText).map((leaseId) => protobuf(toBinary(QueueSettleSchema, create(QueueSettleSchema, { leaseId }))));
  // GET and DELETE: no body, or one that should not be there.
  return bad ? fc.uint8Array({ minLength: 1, maxLength: 50 }).map((body) => ({ contentType: "application/octet-stream", body })) : fc.constant({ contentType: null, body: new Uint8Array(0) });
}

/** Flips, cuts or inserts bytes. */
function mutated(body: fc.Arbitrary<Body>): fc.Arbitrary<Body> {
  const edit = fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.integer({ min: 0, max: 255 }), fc.constantFrom("flip", "cut", "insert"));
  return fc.tuple(body, fc.array(edit, { minLength: 1, maxLength: 3 })).map(([b, edits]) => {
    let out = Uint8Array.from(b.body);
    for (const [where, byte, how] of edits) {
      const at = Math.floor(where * out.length);
      if (how === "flip" && out.length > 0) out[Math.min(at, out.length - 1)] = byte;
      else if (how === "cut") out = out.subarray(0, at);
      else out = Uint8Array.from([...out.subarray(0, at), byte, ...out.subarray(at)]);
    }
    return { contentType: b.contentType, body: out };
  });
}

function bodies(route: Route, method: string, ctx: FuzzContext, bad: boolean): fc.Arbitrary<Body> {
  return memo(`body ${method} ${route.path} ${bad} ${ctx.keys.join()}`, () => makeBodies(route, method, ctx, bad));
}

function makeBodies(route: Route, method: string, ctx: FuzzContext, bad: boolean): fc.Arbitrary<Body> {
  if (!bad) return bodyFor(route, method, ctx, false);
  return fc.oneof({ weight: 6, arbitrary: bodyFor(route, method, ctx, true) }, { weight: 3, arbitrary: mutated(bodyFor(route, method, ctx, false)) }, { weight: 2, arbitrary: garbage });
}

// ---------------------------------------------------------------------------------------------- request parts

const METHODS = ["GET", "PUT", "POST", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE", "CONNECT", "FOO", "get", "M-SEARCH", "PRI"] as const;

function authHeaders(ctx: FuzzContext, bad: boolean): fc.Arbitrary<[string, string][]> {
  const t = ctx.token ?? "okv_none";
  if (!bad) {
    if (ctx.token === null) return fc.constant([]);
    return fc.constantFrom<[string, string][]>([["authorization", `Bearer ${t}`]], [["authorization", `Bearer ${t}`]], [["x-auth-key", t], ["x-auth-email", "a@b.c"]]);
  }
  return fc.oneof(
    fc.constantFrom<[string, string][]>(
      [],
      [["authorization", "Bearer"]],
      [["authorization", "Bearer "]],
      [["authorization", "Basic dXNlcjpwYXNz"]],
      [["authorization", `bearer   ${t}  `]],
      [["authorization", `Bearer ${t}x`]],
      [["x-auth-key", t]],
      [["authorization", "Bearer okv_" + "a".repeat(5000)]],
      [["authorization", `Bearer ${t}`], ["authorization", "Bearer other"]],
    ),
    oddText.map((s): [string, string][] => [["authorization", `Bearer ${s}`]]),
  );
}

function queryFor(route: Route, method: string, bad: boolean): fc.Arbitrary<string> {
  const p = route.path;
  const kv = !p.startsWith("/kv-connect") && (p.startsWith("/kv") || p.startsWith("/ns/"));
  const render = (pairs: readonly (readonly [string, string])[]) => (pairs.length === 0 ? "" : "?" + pairs.map(([k, v]) => `${k}=${tryEncode(v, "component")}`).join("&"));
  if (bad) {
    const names = kv ? ["list", "limit", "cursor", "reverse"] : p.endsWith("/keys") ? ["limit", "prefix", "cursor"] : p.endsWith("/namespaces") ? ["page", "per_page", "order", "direction"] : ["expiration", "expiration_ttl"];
    const value = fc.oneof(numberText, fc.constantFrom("true", "asc", "title", "AAAA", "_w8", "%"), oddText);
    return fc.array(fc.tuple(fc.constantFrom(...names, "x", "__proto__"), value), { minLength: 1, maxLength: 4 }).map(render);
  }
  if (kv && method === "GET") {
    return fc.oneof(fc.constant(""), fc.record({ list: fc.constant("true"), limit: fc.integer({ min: 1, max: 1000 }).map(String), reverse: fc.constantFrom("true", "false") }, { requiredKeys: ["list"] }).map((q) => render(Object.entries(q))));
  }
  if (p.endsWith("/keys")) return fc.record({ limit: fc.integer({ min: 10, max: 1000 }).map(String), prefix: fc.constantFrom("k", "a", "") }, { requiredKeys: [] }).map((q) => render(Object.entries(q)));
  if (p.endsWith("/namespaces") && method === "GET") {
    return fc.record({ page: fc.integer({ min: 1, max: 3 }).map(String), per_page: fc.integer({ min: 1, max: 100 }).map(String), order: fc.constantFrom("id", "title"), direction: fc.constantFrom("asc", "desc") }, { requiredKeys: [] }).map((q) => render(Object.entries(q)));
  }
  if (p.endsWith("/values/:key_name") && method === "PUT") return fc.oneof(fc.constant(""), fc.integer({ min: 60, max: 86_400 }).map((s) => render([["expiration_ttl", String(s)]])));
  return fc.constant("");
}

function kvConnectHeaders(ctx: FuzzContext, namespaceId: string, bad: boolean): fc.Arbitrary<[string, string][]> {
  const named = ctx.namespaces.find((n) => n.id === namespaceId || encodeURIComponent(n.title) === namespaceId);
  const dbId = databaseIdOf(named?.id ?? ctx.namespaces[0]!.id);
  if (!bad) return fc.constantFrom<[string, string][]>([["x-denokv-version", "3"], ["x-denokv-database-id", dbId]], [["x-denokv-version", "2"], ["x-denokv-database-id", dbId]], [["x-transaction-domain-id", dbId]]);
  return fc.oneof(
    fc.constant<[string, string][]>([]),
    fc.tuple(fc.constantFrom("1", "2", "4", "", "3 ", "x"), fc.oneof(fc.constant(dbId), fc.uuid(), oddText)).map(([v, id]): [string, string][] => [["x-denokv-version", v], ["x-denokv-database-id", id]]),
  );
}

function otherHeaders(bad: boolean): fc.Arbitrary<[string, string][]> {
  const good = fc.oneof(fc.constant<[string, string][]>([]), fc.constant<[string, string][]>([["if-none-match", "*"]]), fc.constant<[string, string][]>([["accept", "application/json"]]));
  if (!bad) return good;
  const header = fc.oneof(
    fc.tuple(fc.constant("if-match"), fc.oneof(chars(HEX, 20, 20).map((h) => `"${h}"`), oddText, fc.constant('W/"00000000000000000000"'))),
    fc.tuple(fc.constant("if-none-match"), oddText),
    fc.tuple(fc.constantFrom("accept", "accept-encoding", "user-agent", "x-forwarded-for", "cookie", "range", "content-encoding"), oddText),
    fc.tuple(chars(LOWER, 1, 1), chars(LOWER + "0123456789-", 0, 15), fc.string({ unit: "grapheme-ascii", maxLength: 30 })).map(([a, b, v]): [string, string] => [a + b, v]),
  );
  return fc.array(header, { minLength: 1, maxLength: 4 });
}

const HEAD_MUTATION = fc.record({
  at: fc.double({ min: 0, max: 1, noNaN: true }),
  remove: fc.integer({ min: 0, max: 3 }),
  insert: fc.constantFrom<string>("", " ", "\r\n", "\n", "\r", "\0", "%", ":", "\x7f", "\xff", "\t", "HTTP/1.1", "\r\n\r\n", "é"),
});

function fill(pattern: string, params: Record<string, string>): string {
  return pattern.replace(/:([a-z_]+)|\*/g, (m, name: string | undefined) => params[name ?? "*"] ?? m);
}

/**
 * Which dimensions to break: none in a quarter of requests, one in most others (the body, the richest,
 * as often as all the rest together), sometimes two or three.
 */
const BROKEN: fc.Arbitrary<Dimension[]> = fc.oneof(
  { weight: 3, arbitrary: fc.constant<Dimension[]>([]) },
  { weight: 4, arbitrary: fc.constant<Dimension[]>(["body"]) },
  { weight: 4, arbitrary: fc.constantFrom(...DIMENSIONS).map((d) => [d]) },
  { weight: 2, arbitrary: fc.subarray([...DIMENSIONS], { minLength: 2, maxLength: 3 }) },
);

/** One request aimed at `route`. */
export function requestFor(route: Route, ctx: FuzzContext): fc.Arbitrary<FuzzRequest> {
  const own = [route.method].flat();
  const pool = (p: fc.Arbitrary<string>, bad: boolean) => (bad ? oddSegment : p);
  const namespace = (bad: boolean) => pool(fc.constantFrom(...ctx.namespaces.flatMap((n) => [n.id, n.id, encodeURIComponent(n.title)])), bad);
  const keyName = (bad: boolean) => pool(fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...ctx.keys) }, { weight: 1, arbitrary: plainText }).map((k) => encodeURIComponent(k)), bad);
  const keyPath = (bad: boolean) =>
    fc.array(bad ? fc.oneof(oddSegment, fc.constantFrom("%2E", "a%2Eb", "%", "", "..", "x".repeat(3000)), plainText) : fc.oneof(fc.constantFrom(...ctx.keys).map(encodeURIComponent), plainText), { minLength: bad ? 0 : 1, maxLength: 4 }).map((parts) => parts.join("."));
  return BROKEN.chain((broken) => memo(`request ${route.path} ${ctx.token} ${broken.join()}`, () => requestShaped(route, ctx, broken, own, namespace, keyName, keyPath)));
}

function requestShaped(
  route: Route,
  ctx: FuzzContext,
  broken: Dimension[],
  own: string[],
  namespace: (bad: boolean) => fc.Arbitrary<string>,
  keyName: (bad: boolean) => fc.Arbitrary<string>,
  keyPath: (bad: boolean) => fc.Arbitrary<string>,
): fc.Arbitrary<FuzzRequest> {
  {
    const is = (d: Dimension) => broken.includes(d);
    const method = is("method") ? fc.constantFrom(...METHODS) : fc.constantFrom(...own);
    const params = fc.record({
      account_id: is("account") ? oddSegment : fc.constant(ctx.accountId),
      namespace_id: namespace(is("namespace")),
      namespace: namespace(is("namespace")),
      key_name: keyName(is("key")),
      id: is("key") ? oddSegment : plainText,
      "*": keyPath(is("key")),
    });
    const shape = is("path") ? fc.constantFrom("trailing-slash", "double-slash", "dot-segment", "absolute-form", "odd-suffix") : fc.constant("as-is");
    const transport = fc.oneof({ weight: 4, arbitrary: fc.constant<"h1" | "h2">("h1") }, { weight: 1, arbitrary: fc.constant<"h1" | "h2">("h2") });
    const mutations = is("head") ? fc.array(HEAD_MUTATION, { minLength: 1, maxLength: 3 }) : fc.constant<FuzzRequest["headMutations"]>([]);
    return fc.tuple(method, params, shape, transport, mutations, oddSegment).chain(([m, p, s, t, headMutations, suffix]) =>
      fc
        .tuple(
          memo(`query ${m} ${route.path} ${is("query")}`, () => queryFor(route, m, is("query"))),
          bodies(route, m, ctx, is("body")),
          memo(`auth ${ctx.token} ${is("auth")}`, () => authHeaders(ctx, is("auth"))),
          route.path.startsWith("/kv-connect/:namespace/") ? memo(`kvc ${p.namespace} ${is("headers")}`, () => kvConnectHeaders(ctx, p.namespace, is("headers"))) : fc.constant<[string, string][]>([]),
          memo(`other ${is("headers")}`, () => otherHeaders(is("headers"))),
        )
        .map(([q, b, auth, kvc, other]): FuzzRequest => {
          let path = fill(route.path, p);
          if (s === "trailing-slash") path += "/";
          else if (s === "double-slash") path = path.replace("/", "//");
          else if (s === "dot-segment") path = path.replace(/\/([^/]*)$/, "/../$1");
          else if (s === "absolute-form") path = `http://127.0.0.1${path}`;
          else if (s === "odd-suffix") path += `/${suffix}`;
          const headers: [string, string][] = [...auth, ...kvc, ...other];
          if (b.contentType !== null) headers.push(["content-type", b.contentType]);
          return { route: `${own.join(",")} ${route.path}`, broken, method: m, path: path + q, headers, body: b.body, transport: t, headMutations: is("head") ? headMutations : [] };
        }),
    );
  }
}

/** Any route of `routes`, or a path that matches none. */
export function anyRequest(routes: readonly Route[], ctx: FuzzContext): fc.Arbitrary<FuzzRequest> {
  const stray: Route = { method: "GET", path: "/:id", access: "public", api: "none", errors: () => {}, handle: () => {} };
  return fc.oneof(...[...routes, stray].map((r) => requestFor(r, ctx)));
}

/**
 * Requests found harmful before (issue 8): each is sent as is at the start of the admin phase, and what
 * they stored is read back with everything else.
 */
export function knownHostile(ctx: FuzzContext): FuzzRequest[] {
  const ns = ctx.namespaces[0]!;
  const values = `/client/v4/accounts/${ctx.accountId}/storage/kv/namespaces/${ns.id}/values`;
  const auth: [string, string][] = [["authorization", `Bearer ${ctx.token}`]];
  const kvc: [string, string][] = [...auth, ["x-denokv-version", "3"], ["x-denokv-database-id", databaseIdOf(ns.id)], ["content-type", "application/x-protobuf"]];
  const form = (fields: [string, string][]) => {
    const b = "b0undary";
    const text = fields.map(([name, value]) => `--${b}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`).join("") + `--${b}--\r\n`;
    return { headers: [...auth, ["content-type", `multipart/form-data; boundary=${b}`]] as [string, string][], body: enc.encode(text) };
  };
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  const set = (key: string, data: Uint8Array, encoding: number, expireAtMs = 0n) =>
    toBinary(AtomicWriteSchema, create(AtomicWriteSchema, { mutations: [{ key: encodeKey([key]), value: { data, encoding }, mutationType: 1, expireAtMs }] } as never));
  const req = (route: string, method: string, path: string, headers: [string, string][], body: Uint8Array): FuzzRequest => ({ route, broken: ["body"], method, path, headers, body, transport: "h1", headMutations: [] });
  const bigValue = 25 * 1024 * 1024 + 1;
  return [
    req("PUT values", "PUT", `${values}/proto-pollution`, form([["value", "v"], ["metadata[__proto__][polluted]", "1"]]).headers, form([["value", "v"], ["metadata[__proto__][polluted]", "1"]]).body),
    req("PUT values", "PUT", `${values}/deep-metadata`, form([["value", "v"], ["metadata" + "[a]".repeat(100_000), "1"]]).headers, form([["value", "v"], ["metadata" + "[a]".repeat(100_000), "1"]]).body),
    req("PUT /kv", "PUT", "/kv/deep", [...auth, ["content-type", "application/json"]], enc.encode(`{"value":${"[".repeat(1001)}${"]".repeat(1001)}}`)),
    req("PUT /kv", "PUT", "/kv/far-expiry", [...auth, ["content-type", "application/json"]], enc.encode('{"value":1,"ttl":9007199254740000}')),
    req("PUT /kv", "PUT", "/kv/too-big", [...auth, ["content-type", "application/json"]], enc.encode(`{"value":"${"v".repeat(bigValue)}"}`)),
    req("PUT values", "PUT", `${values}/too-big`, [...auth, ["content-type", "application/octet-stream"]], new Uint8Array(bigValue)),
    req("atomic_write", "POST", `/kv-connect/${ns.id}/atomic_write`, kvc, set("v8-random", Uint8Array.of(0x13, 0x37, 0xff, 0x00, 0x42), 1)),
    req("atomic_write", "POST", `/kv-connect/${ns.id}/atomic_write`, kvc, set("v8-empty", new Uint8Array(0), 1)),
    req("atomic_write", "POST", `/kv-connect/${ns.id}/atomic_write`, kvc, set("v8-cyclic", serializeV8(cyclic), 1)),
    req("atomic_write", "POST", `/kv-connect/${ns.id}/atomic_write`, kvc, set("expiry-2^62", serializeV8(1), 1, 2n ** 62n)),
  ];
}

/** The HTTP/1.1 bytes of a request: the head as generated (and mutated), then a correct framing. */
export function http1Bytes(req: FuzzRequest): Buffer {
  let head = `${req.method} ${req.path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${req.headers.map(([k, v]) => `${k}: ${v}\r\n`).join("")}`;
  for (const m of req.headMutations) {
    const at = Math.floor(m.at * head.length);
    head = head.slice(0, at) + m.insert + head.slice(at + m.remove);
  }
  // The framing stays right, so a request the server does not answer is a hang, never a short body.
  return Buffer.concat([Buffer.from(`${head}Content-Length: ${req.body.byteLength}\r\nConnection: close\r\n\r\n`, "utf8"), req.body]);
}

/** The request as HTTP/2 headers, or null when Node's client would refuse to send them. */
export function http2Headers(req: FuzzRequest): Record<string, string> | null {
  if (!/^[A-Za-z-]+$/.test(req.method) || req.method === "CONNECT" || req.path === "" || /[\r\n\0]/.test(req.path)) return null;
  const headers: Record<string, string> = { ":method": req.method, ":path": req.path };
  for (const [k, v] of req.headers) {
    if (!/^[a-z0-9-]+$/.test(k) || /[\r\n\0]/.test(v) || k in headers) return null;
    headers[k] = v;
  }
  return headers;
}

/** A short, printable description of a request, for a failure report. */
export function describe(req: FuzzRequest): string {
  const body = Buffer.from(req.body);
  const preview = body.length > 300 ? `${body.subarray(0, 300).toString("latin1")}… (${body.length} bytes)` : body.toString("latin1");
  return (
    `${req.transport} ${JSON.stringify(req.method)} ${JSON.stringify(req.path.length > 300 ? req.path.slice(0, 300) + "…" : req.path)} ` +
    `(route ${req.route}; broken: ${req.broken.join(", ") || "nothing"})\nheaders: ${JSON.stringify(req.headers).slice(0, 600)}\n` +
    `head mutations: ${JSON.stringify(req.headMutations)}\nbody: ${JSON.stringify(preview)}`
  );
}
