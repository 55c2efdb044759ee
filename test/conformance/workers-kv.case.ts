/**
 * The Workers KV binding's conformance suite: one list of cases run UNCHANGED against every
 * implementation of `KVNamespace` — OpenKV's `openNamespace` (memory, SQLite) and Miniflare's real
 * workerd binding (test/workers-kv.test.ts). Each case asserts the exact expected behaviour (values,
 * ordering, error class and whole message, as observed on Miniflare 4 / workerd) and returns an
 * observation: a JSON-able summary of everything it saw, which the runner compares across
 * implementations so that any drift from Miniflare shows up even where a case asserts loosely.
 *
 * Every case gets a fresh, empty namespace from the factory. Time-dependent values (expirations) are
 * asserted against the real clock and observed relative to it, so observations stay identical.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import type { KVNamespace } from "../../src/api/workers/types.ts";

export interface WorkersKvHandle {
  readonly kv: KVNamespace;
  close(): Promise<void>;
}

/** A fresh, empty namespace per call. */
export type WorkersKvFactory = () => Promise<WorkersKvHandle>;

export interface WorkersKvCase {
  readonly name: string;
  /** Moves tens of MiB; still run everywhere, flagged so a runner can report it. */
  readonly heavy?: boolean;
  run(kv: KVNamespace): Promise<unknown>;
}

export interface SuiteOptions {
  /** Receives each case's observation (for cross-implementation comparison). */
  observe?(caseName: string, observation: unknown): void;
  /** Cases not run here, each with its reason. */
  skip?: Readonly<Record<string, string>>;
  /** How many cases may run at once (each has its own namespace). Default 1. */
  concurrency?: number;
}

// ---------------------------------------------------------------------------------------------------
// Helpers

/** The binding's methods with loose argument types, for the cases that pass what TypeScript forbids. */
interface LooseKv {
  get(key: unknown, arg?: unknown): Promise<unknown>;
  getWithMetadata(key: unknown, arg?: unknown): Promise<unknown>;
  put(key: unknown, value: unknown, options?: unknown): Promise<unknown>;
  delete(key: unknown): Promise<unknown>;
  list(options?: unknown): Promise<unknown>;
}
const loose = (kv: KVNamespace) => kv as unknown as LooseKv;

const utf8 = new TextEncoder();
const MiB = 1024 * 1024;
const MAX_VALUE = 25 * MiB;
const nowSeconds = () => Math.floor(Date.now() / 1000);

type Outcome = { ok: unknown } | { error: { type: string; message: string } };

function isStream(v: unknown): v is ReadableStream<Uint8Array> {
  return typeof v === "object" && v !== null && typeof (v as { getReader?: unknown }).getReader === "function";
}

function isArrayBuffer(v: unknown): v is ArrayBuffer {
  return Object.prototype.toString.call(v) === "[object ArrayBuffer]";
}

async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let n = 0;
  for await (const c of stream as unknown as AsyncIterable<Uint8Array>) {
    chunks.push(c);
    n += c.byteLength;
  }
  const out = new Uint8Array(n);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.byteLength;
  }
  return out;
}

const hex = (b: Uint8Array | ArrayBuffer) => Buffer.from(b instanceof Uint8Array ? b : new Uint8Array(b)).toString("hex");
const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** A JSON-able snapshot of a binding result (streams are read, buffers hex-encoded). */
async function snap(v: unknown): Promise<unknown> {
  if (v instanceof Map) return { map: await Promise.all([...v].map(async ([k, x]) => [k, await snap(x)])) };
  if (isArrayBuffer(v)) return { arrayBuffer: hex(v) };
  if (isStream(v)) return { stream: hex(await readAll(v)) };
  if (Array.isArray(v)) return Promise.all(v.map(snap));
  if (v !== null && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = await snap(x);
    return out;
  }
  return v;
}

async function outcome(f: () => Promise<unknown>): Promise<Outcome> {
  try {
    return { ok: await snap(await f()) };
  } catch (e) {
    assert.ok(e instanceof Error, `expected an Error, got ${String(e)}`);
    return { error: { type: Object.getPrototypeOf(e).constructor.name as string, message: e.message } };
  }
}

/** Asserts that `f` rejects with exactly this class and message; returns the observation. */
async function fails(f: () => Promise<unknown>, type: "TypeError" | "Error" | "SyntaxError", message: string): Promise<Outcome> {
  const got = await outcome(f);
  assert.deepEqual(got, { error: { type, message } });
  return got;
}

const kvFailed = (op: string, status: number, message: string) => `KV ${op} failed: ${status} ${message}`;

function streamOf(chunks: unknown[]): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(c) {
      for (const x of chunks) c.enqueue(x as Uint8Array);
      c.close();
    },
  });
}

/** `total` bytes with a recognisable pattern, produced 1 MiB at a time (never one big source buffer). */
function patternStream(total: number): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream({
    pull(c) {
      if (offset >= total) return c.close();
      const chunk = new Uint8Array(Math.min(MiB, total - offset));
      for (let i = 0; i < chunk.length; i += 4096) chunk[i] = ((offset + i) / 4096) & 0xff;
      offset += chunk.length;
      c.enqueue(chunk);
    },
  });
}

function patternBytes(total: number): Uint8Array {
  const out = new Uint8Array(total);
  for (let i = 0; i < total; i += 4096) out[i] = (i / 4096) & 0xff;
  return out;
}

async function names(kv: KVNamespace, options?: Parameters<KVNamespace["list"]>[0]): Promise<string[]> {
  return (await kv.list(options)).keys.map((k) => k.name);
}

async function listedExpiration(kv: KVNamespace, key: string): Promise<number | undefined> {
  const { keys } = await kv.list({ prefix: key });
  const found = keys.find((k) => k.name === key);
  assert.ok(found, `${key} is listed`);
  return found.expiration;
}

const M = {
  emptyKey: "Key name cannot be empty.",
  dotKey: (k: string) => `"${k}" is not allowed as a key name.`,
  int32: "Value out of range. Must be between -2147483648 and 2147483647 (inclusive).",
  putType: "KV put() accepts only strings, ArrayBuffers, ArrayBufferViews, and ReadableStreams as values.",
  getType: 'Unknown response type. Possible types are "text", "arrayBuffer", "json", and "stream".',
  keyLong: (n: number) => `UTF-8 encoded length of ${n} exceeds key length limit of 512.`,
  valueLong: (n: number) => `Value length of ${n} exceeds limit of 26214400.`,
  metaLong: (n: number) => `Metadata length of ${n} exceeds limit of 1024.`,
  ttlPositive: (n: number) => `Invalid expiration_ttl of ${n}. Please specify integer greater than 0.`,
  ttlMin: (n: number) => `Invalid expiration_ttl of ${n}. Expiration TTL must be at least 60.`,
  expPast: (n: number) =>
    `Invalid expiration of ${n}. Please specify integer greater than the current number of seconds since the UNIX epoch.`,
  expSoon: (n: number) => `Invalid expiration of ${n}. Expiration times must be at least 60 seconds in the future.`,
  cacheTtl: (n: number) => `Invalid cache_ttl of ${n}. Cache TTL must be at least 30.`,
  listLimit: (n: number) => `Invalid key_count_limit of ${n}. Please specify an integer less than 1000.`,
  bulkMax: "You can request a maximum of 100 keys",
  bulkMin: "You must request a minimum of 1 key",
  bulkType: (t: string) => `"${t}" is not a valid type. Use "json" or "text"`,
  bulkNotJson: "At least one of the requested keys corresponds to a non-json value",
  bulkEmpty: "Key names must not be empty",
  bulkDot: (k: string) => `Illegal key name "${k}". Please use a different name.`,
  bulkTotal: "Total size of request exceeds the limit of 25MB",
} as const;

// ---------------------------------------------------------------------------------------------------
// The cases

const cases: WorkersKvCase[] = [];
const def = (name: string, run: WorkersKvCase["run"], heavy = false) => void cases.push({ name, run, heavy });

// --- get / put: values and types

def("put a string; get reads text by default and for every way of asking for text", async (kv) => {
  await kv.put("k", "value");
  const l = loose(kv);
  const reads = [await kv.get("k"), await kv.get("k", "text"), await kv.get("k", { type: "text" }), await l.get("k", {}), await l.get("k", null)];
  assert.deepEqual(reads, ["value", "value", "value", "value", "value"]);
  return reads;
});

def("a missing key reads as null for every type", async (kv) => {
  const reads = [
    await kv.get("nope"),
    await kv.get("nope", "json"),
    await kv.get("nope", "arrayBuffer"),
    await kv.get("nope", "stream"),
    await kv.getWithMetadata("nope"),
    await kv.getWithMetadata("nope", "stream"),
  ];
  assert.deepEqual(reads.slice(0, 4), [null, null, null, null]);
  assert.deepEqual(reads[4], { value: null, metadata: null, cacheStatus: null });
  assert.deepEqual(reads[5], { value: null, metadata: null, cacheStatus: null });
  return reads;
});

def("json: a JSON text round-trips as a value, by type string and by options", async (kv) => {
  const value = { a: [1, "x", null], b: true, c: { d: 1.5 } };
  await kv.put("j", JSON.stringify(value));
  assert.deepEqual(await kv.get("j", "json"), value);
  assert.deepEqual(await kv.get("j", { type: "json" }), value);
  await kv.put("n", "null");
  await kv.put("z", "0");
  assert.equal(await kv.get("n", "json"), null);
  assert.equal(await kv.get("z", "json"), 0);
  return [await kv.get("j", "json"), await kv.get("z", "json")];
});

def("json of a value that is not JSON throws the parser's SyntaxError", async (kv) => {
  await kv.put("n", "not json");
  await kv.put("e", "");
  return [
    await fails(() => kv.get("n", "json"), "SyntaxError", `Unexpected token 'o', "not json" is not valid JSON`),
    await fails(() => kv.get("e", "json"), "SyntaxError", "Unexpected end of JSON input"),
  ];
});

def("a string read as arrayBuffer and as stream is its UTF-8", async (kv) => {
  const text = "héllo € 😀";
  await kv.put("u", text);
  const ab = await kv.get("u", "arrayBuffer");
  assert.ok(isArrayBuffer(ab));
  assert.equal(hex(ab), hex(utf8.encode(text)));
  const stream = await kv.get("u", "stream");
  assert.ok(isStream(stream));
  const streamed = await readAll(stream);
  assert.equal(Buffer.from(streamed).toString("utf8"), text);
  return [hex(ab), hex(streamed)];
});

def("an ArrayBuffer value round-trips exactly", async (kv) => {
  const buf = Uint8Array.of(0, 1, 2, 255).buffer;
  await kv.put("b", buf);
  const ab = await kv.get("b", "arrayBuffer");
  assert.ok(isArrayBuffer(ab));
  assert.equal(ab.byteLength, 4);
  assert.equal(hex(ab), "000102ff");
  return hex(ab);
});

def("an ArrayBufferView stores only its own bytes (offset and length respected)", async (kv) => {
  const base = Uint8Array.of(10, 11, 12, 13, 14, 15);
  await kv.put("sub", base.subarray(2, 4));
  await kv.put("dv", new DataView(base.buffer, 1, 2));
  await kv.put("u16", new Uint16Array([0x4142, 0x4344, 0x4546]).subarray(1, 2));
  const got = [
    hex((await kv.get("sub", "arrayBuffer"))!),
    hex((await kv.get("dv", "arrayBuffer"))!),
    hex((await kv.get("u16", "arrayBuffer"))!),
  ];
  assert.deepEqual(got, ["0c0d", "0b0c", "4443"]);
  return got;
});

def("binary values keep all 256 byte values through arrayBuffer, stream and getWithMetadata", async (kv) => {
  const all = Uint8Array.from({ length: 256 }, (_, i) => i);
  await kv.put("bin", all);
  const ab = hex((await kv.get("bin", "arrayBuffer"))!);
  const st = hex(await readAll((await kv.get("bin", "stream"))!));
  const wm = await kv.getWithMetadata("bin", "arrayBuffer");
  assert.equal(ab, hex(all));
  assert.equal(st, hex(all));
  assert.equal(hex(wm.value!), hex(all));
  return [ab, st];
});

def("bytes that are not UTF-8 read as text with replacement characters", async (kv) => {
  await kv.put("bad", Uint8Array.of(0xff, 0xfe, 0x41, 0xc3));
  const text = await kv.get("bad");
  assert.equal(text, "\ufffd\ufffdA\ufffd");
  return text;
});

def("unicode and NUL characters in values round-trip", async (kv) => {
  const text = "日本語 😀 \u0000 nul \uffff";
  await kv.put("u", text);
  assert.equal(await kv.get("u"), text);
  assert.equal((await kv.get("u", "arrayBuffer"))!.byteLength, utf8.encode(text).byteLength);
  return await kv.get("u");
});

def("a ReadableStream value is stored as the concatenation of its chunks", async (kv) => {
  await kv.put("s", streamOf([utf8.encode("he"), utf8.encode("llo"), new Uint8Array(0), utf8.encode(" world")]));
  assert.equal(await kv.get("s"), "hello world");
  return await kv.get("s");
});

def("string chunks of a stream are stored as their UTF-8", async (kv) => {
  await kv.put("s", streamOf(["ab", "é"]));
  assert.equal(await kv.get("s"), "abé");
  return await kv.get("s", "arrayBuffer").then((b) => hex(b!));
});

def("empty values: string, ArrayBuffer and stream", async (kv) => {
  await kv.put("s", "");
  await kv.put("b", new ArrayBuffer(0));
  await kv.put("st", streamOf([]));
  const got = [
    await kv.get("s"),
    (await kv.get("b", "arrayBuffer"))!.byteLength,
    await kv.get("st"),
    await kv.getWithMetadata("s"),
    await snap(await kv.get("s", "stream")),
  ];
  assert.deepEqual(got, ["", 0, "", { value: "", metadata: null, cacheStatus: null }, { stream: "" }]);
  return got;
});

def("put converts other primitives to strings", async (kv) => {
  const l = loose(kv);
  await l.put("n", 1);
  await l.put("t", true);
  await l.put("nl", null);
  await l.put("u", undefined);
  await l.put("bi", 5n);
  const got = await Promise.all(["n", "t", "nl", "u", "bi"].map((k) => kv.get(k)));
  assert.deepEqual(got, ["1", "true", "null", "undefined", "5"]);
  return got;
});

def("put rejects objects that are not a string, buffer or stream", async (kv) => {
  const l = loose(kv);
  const got = [];
  for (const v of [{ a: 1 }, [1], new Date(0), new Blob(["x"])]) got.push(await fails(() => l.put("k", v), "TypeError", M.putType));
  assert.equal(await kv.get("k"), null);
  return got;
});

def("overwriting replaces the value, the metadata and the expiration", async (kv) => {
  await kv.put("k", "one", { metadata: { v: 1 }, expiration: nowSeconds() + 3600 });
  await kv.put("k", "two");
  const got = [await kv.getWithMetadata("k"), await kv.list()];
  assert.deepEqual(got[0], { value: "two", metadata: null, cacheStatus: null });
  assert.deepEqual(got[1], { keys: [{ name: "k" }], list_complete: true, cacheStatus: null });
  return got;
});

def("delete removes a key; deleting a missing key resolves to undefined", async (kv) => {
  await kv.put("k", "v", { metadata: 1 });
  assert.equal(await kv.delete("k"), undefined);
  assert.equal(await kv.delete("never"), undefined);
  const got = [await kv.get("k"), await kv.getWithMetadata("k"), await kv.list()];
  assert.deepEqual(got, [null, { value: null, metadata: null, cacheStatus: null }, { keys: [], list_complete: true, cacheStatus: null }]);
  return got;
});

def("concurrent puts to one key: the last one wins", async (kv) => {
  await Promise.all([kv.put("c", "1"), kv.put("c", "2")]);
  assert.equal(await kv.get("c"), "2");
  return await kv.get("c");
});

// --- keys

def("unicode keys round-trip", async (kv) => {
  const keys = ["ключ", "🔑", "é", "日本", "a b", "\uffff"];
  for (const k of keys) await kv.put(k, `v:${k}`);
  const got = await Promise.all(keys.map((k) => kv.get(k)));
  assert.deepEqual(got, keys.map((k) => `v:${k}`));
  return got;
});

def("keys with URL-special, control and NUL characters round-trip", async (kv) => {
  const keys = ["/", "a/b", "a?b", "a#b", "a%2Fb", "%", "a+b", "\\", "a\nb", "\t", "\u0000", "a\u0000b", " ", "...", ".a", "a."];
  for (const k of keys) await kv.put(k, JSON.stringify(k));
  const got = await Promise.all(keys.map((k) => kv.get(k, "json")));
  assert.deepEqual(got, keys);
  assert.deepEqual((await names(kv)).length, keys.length);
  return got;
});

def("keys that are not strings are converted to strings", async (kv) => {
  const l = loose(kv);
  await l.put(12, "twelve");
  await l.put(null, "null!");
  await l.put(undefined, "undefined!");
  const got = [await kv.get("12"), await l.get(12), await kv.get("null"), await l.get(undefined), await names(kv)];
  assert.deepEqual(got, ["twelve", "twelve", "null!", "undefined!", ["12", "null", "undefined"]]);
  await l.delete(12);
  assert.equal(await kv.get("12"), null);
  return got;
});

def("a key of exactly 512 UTF-8 bytes is accepted", async (kv) => {
  const key = "é".repeat(256);
  await kv.put(key, "x");
  assert.equal(await kv.get(key), "x");
  assert.deepEqual(await names(kv), [key]);
  await kv.delete(key);
  return await kv.get(key);
});

def("a key over 512 bytes fails on every method with 414", async (kv) => {
  const key = "a".repeat(513);
  return [
    await fails(() => kv.get(key), "Error", kvFailed("GET", 414, M.keyLong(513))),
    await fails(() => kv.getWithMetadata(key), "Error", kvFailed("GET", 414, M.keyLong(513))),
    await fails(() => kv.put(key, "x"), "Error", kvFailed("PUT", 414, M.keyLong(513))),
    await fails(() => kv.delete(key), "Error", kvFailed("DELETE", 414, M.keyLong(513))),
  ];
});

def("key length counts UTF-8 bytes, not characters", async (kv) => {
  const key = "é".repeat(256) + "a";
  const bigger = "😀".repeat(200);
  return [
    await fails(() => kv.put(key, "x"), "Error", kvFailed("PUT", 414, M.keyLong(513))),
    await fails(() => kv.get(bigger), "Error", kvFailed("GET", 414, M.keyLong(800))),
  ];
});

def("an empty key is a TypeError on every method", async (kv) => {
  return [
    await fails(() => kv.get(""), "TypeError", M.emptyKey),
    await fails(() => kv.get("", "json"), "TypeError", M.emptyKey),
    await fails(() => kv.getWithMetadata(""), "TypeError", M.emptyKey),
    await fails(() => kv.put("", "x"), "TypeError", M.emptyKey),
    await fails(() => kv.delete(""), "TypeError", M.emptyKey),
  ];
});

def('"." and ".." are TypeErrors on every method', async (kv) => {
  const got = [];
  for (const k of [".", ".."]) {
    got.push(await fails(() => kv.get(k), "TypeError", M.dotKey(k)));
    got.push(await fails(() => kv.getWithMetadata(k), "TypeError", M.dotKey(k)));
    got.push(await fails(() => kv.put(k, "x"), "TypeError", M.dotKey(k)));
    got.push(await fails(() => kv.delete(k), "TypeError", M.dotKey(k)));
  }
  return got;
});

// --- get options

def("an unknown response type is a TypeError once a value exists", async (kv) => {
  await kv.put("k", "v");
  const l = loose(kv);
  return [
    await fails(() => l.get("k", "blob"), "TypeError", M.getType),
    await fails(() => l.get("k", { type: "blob" }), "TypeError", M.getType),
    await fails(() => l.get("k", "TEXT"), "TypeError", M.getType),
    await fails(() => l.get("k", 5), "TypeError", M.getType),
    await fails(() => l.get("k", { type: null }), "TypeError", M.getType),
    await fails(() => l.getWithMetadata("k", "blob"), "TypeError", M.getType),
  ];
});

def("an unknown response type on a missing key is just null", async (kv) => {
  const l = loose(kv);
  const got = [await l.get("missing", "blob"), await l.getWithMetadata("missing", { type: "blob" })];
  assert.deepEqual(got, [null, { value: null, metadata: null, cacheStatus: null }]);
  return got;
});

def("cacheTtl of 30 or more is accepted", async (kv) => {
  await kv.put("k", "v");
  const l = loose(kv);
  const got = [
    await kv.get("k", { type: "text", cacheTtl: 30 }),
    await kv.get("k", { type: "json", cacheTtl: 3600 }).catch(() => "json-error"),
    await l.get("k", { cacheTtl: "60" }),
    await kv.getWithMetadata("k", { type: "text", cacheTtl: 30.9 }),
    await l.get("k", { cacheTtl: undefined }),
  ];
  assert.deepEqual(got, ["v", "json-error", "v", { value: "v", metadata: null, cacheStatus: null }, "v"]);
  return got;
});

def("cacheTtl under 30 fails with the service's message (converted to an integer first)", async (kv) => {
  await kv.put("k", "v");
  const l = loose(kv);
  return [
    await fails(() => l.get("k", { cacheTtl: 29 }), "Error", kvFailed("GET", 400, M.cacheTtl(29))),
    await fails(() => l.get("k", { cacheTtl: 29.9 }), "Error", kvFailed("GET", 400, M.cacheTtl(29))),
    await fails(() => l.get("k", { cacheTtl: 0 }), "Error", kvFailed("GET", 400, M.cacheTtl(0))),
    await fails(() => l.get("k", { cacheTtl: -5 }), "Error", kvFailed("GET", 400, M.cacheTtl(-5))),
    await fails(() => l.get("k", { cacheTtl: NaN }), "Error", kvFailed("GET", 400, M.cacheTtl(0))),
    await fails(() => l.get("k", { cacheTtl: Infinity }), "Error", kvFailed("GET", 400, M.cacheTtl(0))),
    await fails(() => l.get("k", { cacheTtl: null }), "Error", kvFailed("GET", 400, M.cacheTtl(0))),
    await fails(() => l.get("missing", { type: "json", cacheTtl: 10 }), "Error", kvFailed("GET", 400, M.cacheTtl(10))),
    await fails(() => l.getWithMetadata("k", { type: "json", cacheTtl: 29 }), "Error", kvFailed("GET", 400, M.cacheTtl(29))),
  ];
});

def("get checks the key name, then the key length, then cacheTtl, then the type", async (kv) => {
  await kv.put("k", "v");
  const l = loose(kv);
  return [
    await fails(() => l.get("", "blob"), "TypeError", M.emptyKey),
    await fails(() => l.get("", { cacheTtl: 5 }), "TypeError", M.emptyKey),
    await fails(() => l.get("a".repeat(513), { cacheTtl: 5 }), "Error", kvFailed("GET", 414, M.keyLong(513))),
    await fails(() => l.get("a".repeat(513), "blob"), "Error", kvFailed("GET", 414, M.keyLong(513))),
    await fails(() => l.get("k", { type: "blob", cacheTtl: 5 }), "Error", kvFailed("GET", 400, M.cacheTtl(5))),
  ];
});

// --- getWithMetadata

def("getWithMetadata returns value, metadata and a null cacheStatus", async (kv) => {
  await kv.put("k", '{"x":1}', { metadata: { owner: "ada", tags: ["a", "b"] } });
  const got = [
    await kv.getWithMetadata("k"),
    await kv.getWithMetadata("k", "json"),
    await kv.getWithMetadata("k", { type: "json" }),
    await snap(await kv.getWithMetadata("k", "arrayBuffer")),
    await snap(await kv.getWithMetadata("k", "stream")),
  ];
  const metadata = { owner: "ada", tags: ["a", "b"] };
  assert.deepEqual(got[0], { value: '{"x":1}', metadata, cacheStatus: null });
  assert.deepEqual(got[1], { value: { x: 1 }, metadata, cacheStatus: null });
  assert.deepEqual(got[2], got[1]);
  assert.deepEqual(got[3], { value: { arrayBuffer: hex(utf8.encode('{"x":1}')) }, metadata, cacheStatus: null });
  assert.deepEqual(got[4], { value: { stream: hex(utf8.encode('{"x":1}')) }, metadata, cacheStatus: null });
  return got;
});

def("getWithMetadata of a key without metadata has metadata null", async (kv) => {
  await kv.put("k", "v");
  const got = await kv.getWithMetadata("k");
  assert.deepEqual(got, { value: "v", metadata: null, cacheStatus: null });
  return got;
});

def("metadata may be any JSON value", async (kv) => {
  const values: unknown[] = [{ a: { b: [1, 2] } }, [1, "a", null], "str", 0, false, 1.5, "", { "": "" }];
  for (const [i, m] of values.entries()) await kv.put(`m${i}`, "v", { metadata: m });
  const read = await Promise.all(values.map((_, i) => kv.getWithMetadata(`m${i}`).then((r) => r.metadata)));
  const listed = (await kv.list()).keys.map((k) => k.metadata);
  assert.deepEqual(read, values);
  assert.deepEqual(listed, values);
  return [read, listed];
});

def("metadata null is the same as no metadata", async (kv) => {
  await kv.put("k", "v", { metadata: null });
  await kv.put("u", "v", { metadata: undefined });
  const got = [await kv.getWithMetadata("k"), await kv.list(), await kv.getWithMetadata(["k"])];
  assert.deepEqual(got[0], { value: "v", metadata: null, cacheStatus: null });
  assert.deepEqual(got[1], { keys: [{ name: "k" }, { name: "u" }], list_complete: true, cacheStatus: null });
  assert.deepEqual([...(got[2] as Map<string, unknown>)], [["k", { value: "v", metadata: null }]]);
  return snap(got);
});

def("metadata is serialised with JSON.stringify: undefined members dropped, toJSON applied", async (kv) => {
  await kv.put("k", "v", { metadata: { a: undefined, b: 1, d: new Date(0), n: [undefined, 2] } });
  const got = await kv.getWithMetadata("k");
  assert.deepEqual(got.metadata, { b: 1, d: "1970-01-01T00:00:00.000Z", n: [null, 2] });
  return got;
});

def("metadata of exactly 1024 JSON bytes is accepted; 1025 is 413", async (kv) => {
  await kv.put("ok", "v", { metadata: "a".repeat(1022) });
  assert.equal(((await kv.getWithMetadata("ok")).metadata as string).length, 1022);
  return [
    await fails(() => kv.put("no", "v", { metadata: "a".repeat(1023) }), "Error", kvFailed("PUT", 413, M.metaLong(1025))),
    await fails(() => kv.put("no", "v", { metadata: { a: "x".repeat(1017) } }), "Error", kvFailed("PUT", 413, M.metaLong(1025))),
    await kv.get("no"),
  ];
});

def("metadata size counts UTF-8 bytes of its JSON", async (kv) => {
  return fails(() => kv.put("k", "v", { metadata: "é".repeat(600) }), "Error", kvFailed("PUT", 413, M.metaLong(1202)));
});

def("metadata JSON cannot represent is JSON.stringify's TypeError", async (kv) => {
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  return [
    await fails(() => kv.put("k", "v", { metadata: 1n }), "TypeError", "Do not know how to serialize a BigInt"),
    await fails(() => kv.put("k", "v", { metadata: { deep: { n: 2n } } }), "TypeError", "Do not know how to serialize a BigInt"),
    await fails(
      () => kv.put("k", "v", { metadata: cyclic }),
      "TypeError",
      "Converting circular structure to JSON\n    --> starting at object with constructor 'Object'\n    --- property 'self' closes the circle",
    ),
    await kv.get("k"),
  ];
});

// --- value size

def("a value over 25 MiB is 413 (ArrayBuffer)", async (kv) => {
  return [
    await fails(() => kv.put("big", new Uint8Array(MAX_VALUE + 1)), "Error", kvFailed("PUT", 413, M.valueLong(MAX_VALUE + 1))),
    await kv.get("big"),
  ];
});

def("a string value is measured in UTF-8 bytes", async (kv) => {
  const text = "é".repeat(MAX_VALUE / 2 + 1); // 13107201 characters, 26214402 bytes
  return fails(() => kv.put("big", text), "Error", kvFailed("PUT", 413, M.valueLong(MAX_VALUE + 2)));
}, true);

def("a stream over 25 MiB is 413 with its full length", async (kv) => {
  const got = await fails(
    () => kv.put("big", streamOf([new Uint8Array(MAX_VALUE), new Uint8Array(1)])),
    "Error",
    kvFailed("PUT", 413, M.valueLong(MAX_VALUE + 1)),
  );
  assert.equal(await kv.get("big"), null);
  return got;
}, true);

def("a 25 MiB value put from a stream reads back whole as a stream", async (kv) => {
  await kv.put("big", patternStream(MAX_VALUE), { metadata: { size: MAX_VALUE } });
  const expected = sha256(patternBytes(MAX_VALUE));
  // Only as a stream: Miniflare's proxy takes seconds to return 25 MiB as an ArrayBuffer.
  const streamed = await readAll((await kv.get("big", "stream"))!);
  const withMetadata = await kv.getWithMetadata("big", "stream");
  const streamedAgain = await readAll(withMetadata.value!);
  const listed = await kv.list();
  assert.equal(streamed.byteLength, MAX_VALUE);
  assert.equal(sha256(streamed), expected);
  assert.equal(sha256(streamedAgain), expected);
  assert.deepEqual(withMetadata.metadata, { size: MAX_VALUE });
  assert.deepEqual(listed.keys, [{ name: "big", metadata: { size: MAX_VALUE } }]);
  return [streamed.byteLength, sha256(streamed), listed];
}, true);

// --- expiration

def("expirationTtl sets the expiration to now + ttl seconds", async (kv) => {
  const before = nowSeconds();
  await kv.put("k", "v", { expirationTtl: 3600 });
  const after = nowSeconds();
  const exp = await listedExpiration(kv, "k");
  assert.ok(exp! >= before + 3600 && exp! <= after + 3600, `expiration ${exp} within [${before + 3600}, ${after + 3600}]`);
  assert.equal(await kv.get("k"), "v");
  return [typeof exp, await kv.getWithMetadata("k")];
});

def("expirationTtl is converted to an integer: fractions truncate, numeric strings count", async (kv) => {
  const l = loose(kv);
  const before = nowSeconds();
  await kv.put("frac", "v", { expirationTtl: 60.9 });
  await l.put("str", "v", { expirationTtl: "120.7" });
  const after = nowSeconds();
  const frac = (await listedExpiration(kv, "frac"))!;
  const str = (await listedExpiration(kv, "str"))!;
  const inRange = [frac >= before + 60 && frac <= after + 60, str >= before + 120 && str <= after + 120];
  assert.deepEqual(inRange, [true, true], `expirations ${frac}, ${str} after ${before}..${after}`);
  return inRange;
});

def("expirationTtl of 0 or less (and NaN, Infinity, null) is 'greater than 0'", async (kv) => {
  const l = loose(kv);
  const got = [];
  for (const [ttl, shown] of [[0, 0], [-1, -1], [0.5, 0], [NaN, 0], [Infinity, 0], [-Infinity, 0], [null, 0], ["abc", 0], [{}, 0], [-2147483648, -2147483648]] as const) {
    got.push(await fails(() => l.put("k", "v", { expirationTtl: ttl }), "Error", kvFailed("PUT", 400, M.ttlPositive(shown))));
  }
  return got;
});

def("expirationTtl under 60 is 'at least 60'", async (kv) => {
  const l = loose(kv);
  const got = [];
  for (const [ttl, shown] of [[59, 59], [59.9, 59], [1, 1], [true, 1], ["30", 30]] as const) {
    got.push(await fails(() => l.put("k", "v", { expirationTtl: ttl }), "Error", kvFailed("PUT", 400, M.ttlMin(shown))));
  }
  assert.equal(await kv.get("k"), null);
  return got;
});

def("expiration is kept exactly as given, in epoch seconds", async (kv) => {
  const at = nowSeconds() + 3600;
  await kv.put("k", "v", { expiration: at });
  await kv.put("f", "v", { expiration: at + 0.9 });
  const got = [(await listedExpiration(kv, "k"))! - at, (await listedExpiration(kv, "f"))! - at, await kv.get("k")];
  assert.deepEqual(got, [0, 0, "v"]);
  return got;
});

def("an expiration not after now is 'greater than the current number of seconds'", async (kv) => {
  const l = loose(kv);
  const got = [];
  for (const [exp, shown] of [[0, 0], [-5, -5], [1000, 1000], [NaN, 0], [null, 0], [1.9, 1]] as const) {
    got.push(await fails(() => l.put("k", "v", { expiration: exp }), "Error", kvFailed("PUT", 400, M.expPast(shown))));
  }
  const past = nowSeconds() - 10;
  const r = await fails(() => kv.put("k", "v", { expiration: past }), "Error", kvFailed("PUT", 400, M.expPast(past)));
  got.push(JSON.stringify(r).replace(String(past), "<past>"));
  return got;
});

def("an expiration less than 60 s ahead is 'at least 60 seconds in the future'", async (kv) => {
  const soon = nowSeconds() + 30;
  const r = await fails(() => kv.put("k", "v", { expiration: soon }), "Error", kvFailed("PUT", 400, M.expSoon(soon)));
  assert.equal(await kv.get("k"), null);
  return JSON.stringify(r).replace(String(soon), "<soon>");
});

def("expirationTtl wins over expiration", async (kv) => {
  const before = nowSeconds();
  await kv.put("a", "v", { expiration: 1, expirationTtl: 3600 });
  await kv.put("b", "v", { expiration: before + 7200, expirationTtl: 3600 });
  const after = nowSeconds();
  const got = [];
  for (const k of ["a", "b"]) {
    const exp = (await listedExpiration(kv, k))!;
    assert.ok(exp >= before + 3600 && exp <= after + 3600, `${k}: ${exp}`);
    got.push(exp <= after + 3600);
  }
  const r = await fails(() => kv.put("c", "v", { expiration: before + 7200, expirationTtl: 10 }), "Error", kvFailed("PUT", 400, M.ttlMin(10)));
  return [got, r];
});

def("numeric options outside the int32 range are a TypeError", async (kv) => {
  const l = loose(kv);
  return [
    await fails(() => l.put("k", "v", { expiration: 2 ** 31 }), "TypeError", M.int32),
    await fails(() => l.put("k", "v", { expiration: 1e10 }), "TypeError", M.int32),
    await fails(() => l.put("k", "v", { expirationTtl: 2 ** 32 + 5 }), "TypeError", M.int32),
    await fails(() => l.put("k", "v", { expirationTtl: 2147483647.5 }), "TypeError", M.int32),
    await fails(() => l.put("k", "v", { expirationTtl: -2147483649 }), "TypeError", M.int32),
    await fails(() => l.list({ limit: 2 ** 32 + 1 }), "TypeError", M.int32),
    await fails(() => l.put("k", "v", { expirationTtl: 10n }), "TypeError", "Cannot convert a BigInt value to a number"),
  ];
});

def("put options may be null and unknown option fields are ignored", async (kv) => {
  const l = loose(kv);
  await l.put("a", "v", null);
  await l.put("b", "v", { foo: 1 });
  await l.put("c", "v", {});
  const got = await kv.list();
  assert.deepEqual(got, { keys: [{ name: "a" }, { name: "b" }, { name: "c" }], list_complete: true, cacheStatus: null });
  return got;
});

def("put checks in workerd's order: conversions, key name, metadata JSON, value type, then the service", async (kv) => {
  const l = loose(kv);
  const long = "a".repeat(513);
  // Streams, not 25 MiB strings: the service rejects the options before reading a body.
  const huge = () => patternStream(MAX_VALUE + 1);
  return [
    await fails(() => l.put("", "x", { expirationTtl: 1e12 }), "TypeError", M.int32),
    await fails(() => l.put("k", {}, { expirationTtl: 1e12 }), "TypeError", M.int32),
    await fails(() => l.put("", {}), "TypeError", M.emptyKey),
    await fails(() => l.put(".", "x", { metadata: 1n }), "TypeError", M.dotKey(".")),
    await fails(() => l.put("k", {}, { metadata: 1n }), "TypeError", "Do not know how to serialize a BigInt"),
    await fails(() => l.put(long, "x", { expirationTtl: 5 }), "Error", kvFailed("PUT", 414, M.keyLong(513))),
    await fails(() => l.put("k", "x", { expirationTtl: 5, metadata: "a".repeat(2000) }), "Error", kvFailed("PUT", 400, M.ttlMin(5))),
    await fails(() => l.put("k", "x", { expiration: 5, metadata: "a".repeat(2000) }), "Error", kvFailed("PUT", 400, M.expPast(5))),
    await fails(() => l.put("k", huge(), { metadata: "a".repeat(2000) }), "Error", kvFailed("PUT", 413, M.metaLong(2002))),
    await fails(() => l.put("k", huge(), { expirationTtl: 5 }), "Error", kvFailed("PUT", 400, M.ttlMin(5))),
    await fails(() => l.put("k", "x".repeat(2000), { metadata: "a".repeat(2000) }), "Error", kvFailed("PUT", 413, M.metaLong(2002))),
  ];
});

// --- list

def("list of an empty namespace", async (kv) => {
  const got = await kv.list();
  assert.deepEqual(got, { keys: [], list_complete: true, cacheStatus: null });
  return got;
});

def("list returns every key in UTF-8 byte order", async (kv) => {
  const keys = ["z", "é", "ü", "😀", "\uffff", "a b", "a/b", "a#b", "\u0000", "a\u0000b", "B", "a", "a\u0000", "aa"];
  for (const k of keys) await kv.put(k, "v");
  const got = await names(kv);
  assert.deepEqual(got, ["\u0000", "B", "a", "a\u0000", "a\u0000b", "a b", "a#b", "a/b", "aa", "z", "é", "ü", "\uffff", "😀"]);
  return got;
});

def("list with a prefix returns only keys starting with it", async (kv) => {
  for (const k of ["user:1", "user:2", "user:10", "users", "use", "admin", "user;", "user:"]) await kv.put(k, "v");
  const got = [await names(kv, { prefix: "user:" }), await names(kv, { prefix: "use" }), await names(kv, { prefix: "user:1" })];
  assert.deepEqual(got, [["user:", "user:1", "user:10", "user:2"], ["use", "user:", "user:1", "user:10", "user:2", "user;", "users"], ["user:1", "user:10"]]);
  return got;
});

def("list prefixes with multi-byte characters match whole UTF-8 sequences", async (kv) => {
  for (const k of ["é", "éa", "e", "ê", "a", "ab", "Ã"]) await kv.put(k, "v");
  const got = [await names(kv, { prefix: "é" }), await names(kv, { prefix: "\u00c3" }), await names(kv, { prefix: "e" })];
  assert.deepEqual(got, [["é", "éa"], ["Ã"], ["e"]]);
  return got;
});

def("a list prefix containing NUL", async (kv) => {
  for (const k of ["a", "a\u0000", "a\u0000b", "a\u0001", "ab"]) await kv.put(k, "v");
  const got = await names(kv, { prefix: "a\u0000" });
  // Only what every implementation agrees on (see the deliberate differences in workers-kv.test.ts).
  for (const k of got) assert.ok(k.startsWith("a\u0000"), JSON.stringify(k));
  return got;
});

def("list with a prefix that matches nothing", async (kv) => {
  await kv.put("a", "v");
  const got = [await kv.list({ prefix: "b" }), await kv.list({ prefix: "aa" })];
  assert.deepEqual(got, [
    { keys: [], list_complete: true, cacheStatus: null },
    { keys: [], list_complete: true, cacheStatus: null },
  ]);
  return got;
});

def("list entries carry expiration and metadata only when set", async (kv) => {
  const at = nowSeconds() + 3600;
  await kv.put("both", "v", { expiration: at, metadata: { m: 1 } });
  await kv.put("exp", "v", { expiration: at });
  await kv.put("meta", "v", { metadata: "x" });
  await kv.put("none", "v");
  const got = await kv.list();
  assert.deepEqual(got, {
    keys: [{ name: "both", expiration: at, metadata: { m: 1 } }, { name: "exp", expiration: at }, { name: "meta", metadata: "x" }, { name: "none" }],
    list_complete: true,
    cacheStatus: null,
  });
  return JSON.stringify(got).replaceAll(String(at), "<at>");
});

def("pagination: limit, a cursor on every page but the last", async (kv) => {
  const keys = Array.from({ length: 25 }, (_, i) => `k${String(i).padStart(2, "0")}`);
  for (const k of keys) await kv.put(k, "v");
  const pages = [];
  let cursor: string | undefined;
  for (;;) {
    const page = await kv.list({ limit: 10, cursor: cursor ?? null });
    pages.push(page);
    if (page.list_complete) break;
    assert.equal(typeof page.cursor, "string");
    cursor = page.cursor;
  }
  assert.deepEqual(pages.map((p) => p.keys.length), [10, 10, 5]);
  assert.deepEqual(pages.flatMap((p) => p.keys.map((k) => k.name)), keys);
  assert.equal("cursor" in pages[2]!, false);
  return pages;
});

def("a page that ends exactly at the last key is complete", async (kv) => {
  for (let i = 0; i < 20; i++) await kv.put(`k${String(i).padStart(2, "0")}`, "v");
  const first = await kv.list({ limit: 10 });
  assert.equal(first.list_complete, false);
  const second = await kv.list({ limit: 10, cursor: (first as { cursor: string }).cursor });
  assert.equal(second.list_complete, true);
  assert.equal(second.keys.length, 10);
  assert.equal("cursor" in second, false);
  return [first, second];
});

def("a cursor means 'after this key': keys inserted ahead are seen, behind are not", async (kv) => {
  for (const k of ["a", "b", "c", "d", "e", "f"]) await kv.put(k, "v");
  const first = await kv.list({ limit: 3 });
  assert.deepEqual(first.keys.map((k) => k.name), ["a", "b", "c"]);
  await kv.put("bb", "v");
  await kv.put("cc", "v");
  await kv.delete("e");
  await kv.delete("c");
  const second = await kv.list({ limit: 3, cursor: (first as { cursor: string }).cursor });
  assert.deepEqual(second.keys.map((k) => k.name), ["cc", "d", "f"]);
  assert.equal(second.list_complete, true);
  return [first, second];
});

def("pagination keeps the prefix", async (kv) => {
  for (const k of ["a1", "b1", "b2", "b3", "b4", "c1"]) await kv.put(k, "v");
  const first = await kv.list({ prefix: "b", limit: 2 });
  const second = await kv.list({ prefix: "b", limit: 2, cursor: (first as { cursor: string }).cursor });
  const third = await kv.list({ prefix: "b", limit: 3, cursor: (first as { cursor: string }).cursor });
  assert.deepEqual([first, second, third].map((p) => p.keys.map((k) => k.name)), [["b1", "b2"], ["b3", "b4"], ["b3", "b4"]]);
  assert.deepEqual([first.list_complete, second.list_complete, third.list_complete], [false, true, true]);
  return [first, second, third];
});

def("pagination over unicode keys continues in byte order", async (kv) => {
  const keys = ["a", "z", "é", "ü", "\uffff", "😀", "😁"];
  for (const k of keys) await kv.put(k, "v");
  const seen: string[] = [];
  const cursors: string[] = [];
  let cursor: string | undefined;
  for (;;) {
    const page = await kv.list({ limit: 2, ...(cursor ? { cursor } : {}) });
    seen.push(...page.keys.map((k) => k.name));
    if (page.list_complete) break;
    cursors.push(page.cursor);
    cursor = page.cursor;
  }
  assert.deepEqual(seen, keys);
  return [seen, cursors];
});

def("list limit: positive integers up to 1000; 0, negatives, NaN and Infinity mean the default; fractions truncate", async (kv) => {
  for (const k of ["a", "b", "c", "d"]) await kv.put(k, "v");
  const l = loose(kv);
  const counts = [];
  for (const limit of [1, 1.5, 2.9, "2", 1000, 0, -1, NaN, Infinity, null, undefined, "abc"]) {
    const page = (await l.list({ limit })) as { keys: unknown[]; list_complete: boolean };
    counts.push([page.keys.length, page.list_complete]);
  }
  assert.deepEqual(counts, [[1, false], [1, false], [2, false], [2, false], [4, true], [4, true], [4, true], [4, true], [4, true], [4, true], [4, true], [4, true]]);
  return counts;
});

def("list limit over 1000 is 400, checked before the prefix length", async (kv) => {
  return [
    await fails(() => kv.list({ limit: 1001 }), "Error", kvFailed("GET", 400, M.listLimit(1001))),
    await fails(() => kv.list({ limit: 5000, prefix: "a".repeat(513) }), "Error", kvFailed("GET", 400, M.listLimit(5000))),
  ];
});

def("a list prefix over 512 bytes is 414", async (kv) => {
  return [
    await fails(() => kv.list({ prefix: "a".repeat(513) }), "Error", kvFailed("GET", 414, M.keyLong(513))),
    await fails(() => kv.list({ prefix: "é".repeat(300) }), "Error", kvFailed("GET", 414, M.keyLong(600))),
  ];
});

def("list options may be absent or null; prefix and cursor may be null or empty", async (kv) => {
  await kv.put("a", "v");
  await kv.put("b", "v");
  const l = loose(kv);
  const got = [await kv.list(), await l.list(null), await kv.list({}), await kv.list({ prefix: null, cursor: null }), await kv.list({ prefix: "", cursor: "" })];
  for (const r of got) assert.deepEqual(r, { keys: [{ name: "a" }, { name: "b" }], list_complete: true, cacheStatus: null });
  return got;
});

def("a list prefix that is not a string is converted to one", async (kv) => {
  await kv.put("55", "v");
  await kv.put("5", "v");
  await kv.put("6", "v");
  const got = await loose(kv).list({ prefix: 55 });
  assert.deepEqual(got, { keys: [{ name: "55" }], list_complete: true, cacheStatus: null });
  return got;
});

def("list, get and put agree after deletes and overwrites", async (kv) => {
  for (const k of ["a", "b", "c"]) await kv.put(k, k);
  await kv.delete("b");
  await kv.put("c", "C", { metadata: "m" });
  await kv.put("b2", "x");
  const got = [await kv.list(), await kv.get(["a", "b", "c", "b2"])];
  assert.deepEqual(got[0], { keys: [{ name: "a" }, { name: "b2" }, { name: "c", metadata: "m" }], list_complete: true, cacheStatus: null });
  assert.deepEqual([...(got[1] as Map<string, unknown>)], [["a", "a"], ["b", null], ["c", "C"], ["b2", "x"]]);
  return snap(got);
});

// --- bulk get

def("bulk get returns a Map in request order with null for missing keys", async (kv) => {
  for (const k of ["a", "b", "c"]) await kv.put(k, k.toUpperCase());
  const got = await kv.get(["b", "a", "zz", "c"]);
  assert.ok(got instanceof Map);
  assert.deepEqual([...got], [["b", "B"], ["a", "A"], ["zz", null], ["c", "C"]]);
  return snap(got);
});

def("bulk get collapses duplicate keys, keeping the first position", async (kv) => {
  await kv.put("a", "A");
  await kv.put("b", "B");
  const got = await kv.get(["b", "a", "b", "zz", "a", "zz"]);
  assert.deepEqual([...got], [["b", "B"], ["a", "A"], ["zz", null]]);
  return snap(got);
});

def("bulk get json parses every value", async (kv) => {
  await kv.put("o", '{"a":1}');
  await kv.put("n", "null");
  await kv.put("z", "0");
  const got = [await kv.get(["o", "n", "z", "missing"], "json"), await kv.get(["o"], { type: "json" })];
  assert.deepEqual([...got[0]!], [["o", { a: 1 }], ["n", null], ["z", 0], ["missing", null]]);
  assert.deepEqual([...got[1]!], [["o", { a: 1 }]]);
  return snap(got);
});

def("bulk get reads text for 'text', no type, null, undefined and ''", async (kv) => {
  await kv.put("k", '{"a":1}');
  const l = loose(kv);
  const got = [await l.get(["k"], "text"), await l.get(["k"]), await l.get(["k"], null), await l.get(["k"], { type: undefined }), await l.get(["k"], "")];
  for (const m of got) assert.deepEqual([...(m as Map<string, unknown>)], [["k", '{"a":1}']]);
  return snap(got);
});

def("bulk get of binary values decodes them as text", async (kv) => {
  await kv.put("b", Uint8Array.of(0x68, 0x69, 0xff));
  const got = await kv.get(["b"]);
  assert.deepEqual([...got], [["b", "hi\ufffd"]]);
  return snap(got);
});

def("bulk get accepts only text and json (checked before the key count)", async (kv) => {
  const l = loose(kv);
  const many = Array.from({ length: 101 }, (_, i) => `k${i}`);
  return [
    await fails(() => l.get(["k"], "arrayBuffer"), "Error", kvFailed("GET_BULK", 400, M.bulkType("arrayBuffer"))),
    await fails(() => l.get(["k"], "stream"), "Error", kvFailed("GET_BULK", 400, M.bulkType("stream"))),
    await fails(() => l.get(["k"], "TEXT"), "Error", kvFailed("GET_BULK", 400, M.bulkType("TEXT"))),
    await fails(() => l.get(["k"], { type: "blob" }), "Error", kvFailed("GET_BULK", 400, M.bulkType("blob"))),
    await fails(() => l.get(["k"], 5), "Error", kvFailed("GET_BULK", 400, M.bulkType("5"))),
    await fails(() => l.getWithMetadata(["k"], "arrayBuffer"), "Error", kvFailed("GET_BULK", 400, M.bulkType("arrayBuffer"))),
    await fails(() => l.get(many, "arrayBuffer"), "Error", kvFailed("GET_BULK", 400, M.bulkType("arrayBuffer"))),
    await fails(() => l.get([], "stream"), "Error", kvFailed("GET_BULK", 400, M.bulkType("stream"))),
  ];
});

def("bulk get takes 1 to 100 keys", async (kv) => {
  const hundred = Array.from({ length: 100 }, (_, i) => `k${i}`);
  await kv.put("k7", "seven");
  const got = await kv.get(hundred);
  assert.equal(got.size, 100);
  assert.equal(got.get("k7"), "seven");
  return [
    got.size,
    await fails(() => kv.get([...hundred, "one-more"]), "Error", kvFailed("GET_BULK", 400, M.bulkMax)),
    await fails(() => kv.get([]), "Error", kvFailed("GET_BULK", 400, M.bulkMin)),
    await fails(() => kv.getWithMetadata([]), "Error", kvFailed("GET_BULK", 400, M.bulkMin)),
  ];
});

def("bulk json of a value that is not JSON is 400", async (kv) => {
  await kv.put("ok", "1");
  await kv.put("nj", "not json");
  await kv.put("empty", "");
  return [
    await fails(() => kv.get(["ok", "nj"], "json"), "Error", kvFailed("GET_BULK", 400, M.bulkNotJson)),
    await fails(() => kv.get(["empty"], "json"), "Error", kvFailed("GET_BULK", 400, M.bulkNotJson)),
    await fails(() => kv.getWithMetadata(["nj"], "json"), "Error", kvFailed("GET_BULK", 400, M.bulkNotJson)),
  ];
});

def("bulk get validates each key itself, in request order", async (kv) => {
  await kv.put("nj", "no");
  return [
    await fails(() => kv.get([""]), "Error", kvFailed("GET_BULK", 400, M.bulkEmpty)),
    await fails(() => kv.get(["ok", "."]), "Error", kvFailed("GET_BULK", 400, M.bulkDot("."))),
    await fails(() => kv.get([".."]), "Error", kvFailed("GET_BULK", 400, M.bulkDot(".."))),
    await fails(() => kv.get(["a".repeat(513)]), "Error", kvFailed("GET_BULK", 414, M.keyLong(513))),
    await fails(() => kv.get(["nj", ""], "json"), "Error", kvFailed("GET_BULK", 400, M.bulkNotJson)),
    await fails(() => kv.get(["", "nj"], "json"), "Error", kvFailed("GET_BULK", 400, M.bulkEmpty)),
  ];
});

def("bulk get cacheTtl: 30 or more, and keys are checked first", async (kv) => {
  await kv.put("k", "v");
  const l = loose(kv);
  const ok = await kv.get(["k"], { type: "text", cacheTtl: 30 });
  assert.deepEqual([...ok], [["k", "v"]]);
  return [
    await snap(ok),
    await fails(() => l.get(["k"], { type: "text", cacheTtl: 29 }), "Error", kvFailed("GET_BULK", 400, M.cacheTtl(29))),
    await fails(() => l.get(["k"], { cacheTtl: null }), "Error", kvFailed("GET_BULK", 400, M.cacheTtl(0))),
    await fails(() => l.get(["", "k"], { type: "text", cacheTtl: 5 }), "Error", kvFailed("GET_BULK", 400, M.bulkEmpty)),
  ];
});

def("bulk getWithMetadata returns { value, metadata } or null per key", async (kv) => {
  await kv.put("m", "v1", { metadata: { x: 1 } });
  await kv.put("p", "v2");
  await kv.put("j", '{"a":[1]}', { metadata: 7 });
  const text = await kv.getWithMetadata(["m", "p", "zz", "m"]);
  const json = await kv.getWithMetadata(["j", "zz"], "json");
  assert.deepEqual([...text], [["m", { value: "v1", metadata: { x: 1 } }], ["p", { value: "v2", metadata: null }], ["zz", null]]);
  assert.deepEqual([...json], [["j", { value: { a: [1] }, metadata: 7 }], ["zz", null]]);
  return snap([text, json]);
});

def("bulk getWithMetadata of empty, zero, false and null values", async (kv) => {
  await kv.put("e", "", { metadata: "m" });
  await kv.put("z", "0");
  await kv.put("f", "false");
  await kv.put("n", "null");
  const text = await kv.getWithMetadata(["e", "z"]);
  const json = await kv.getWithMetadata(["z", "f", "n"], "json");
  // Only what every implementation agrees on (see the deliberate differences in workers-kv.test.ts).
  assert.deepEqual([...text.keys()], ["e", "z"]);
  assert.deepEqual(text.get("z"), { value: "0", metadata: null });
  assert.deepEqual([...json.keys()], ["z", "f", "n"]);
  return snap([text, json]);
});

def("bulk get of key names that look like array indices", async (kv) => {
  await kv.put("1", "one");
  await kv.put("b", "B");
  await kv.put("07", "seven");
  const got = await kv.get(["b", "1", "07"]);
  assert.equal(got.get("b"), "B");
  assert.equal(got.get("07"), "seven");
  return snap(got);
});

def("bulk get fails with 413 when the values total more than 25 MB", async (kv) => {
  // Streamed in, and never read back whole: 13 MiB each, 26 MiB of text together.
  await kv.put("a", patternStream(13 * MiB));
  await kv.put("b", patternStream(13 * MiB));
  await kv.put("small", "s");
  const one = await kv.get(["small", "missing"]);
  return [
    await snap(one),
    await fails(() => kv.get(["a", "b"]), "Error", kvFailed("GET_BULK", 413, M.bulkTotal)),
    await fails(() => kv.getWithMetadata(["a", "b"]), "Error", kvFailed("GET_BULK", 413, M.bulkTotal)),
  ];
}, true);

/** Every case, in order. */
export const WORKERS_KV_CASES: readonly WorkersKvCase[] = cases;

/**
 * Registers one node:test per case, each on a fresh namespace from `factory`.
 *
 * @example
 * defineWorkersKvSuite("memory", async () => {
 *   const kv = await openNamespace(":memory:");
 *   return { kv, close: () => kv.close() };
 * });
 */
export function defineWorkersKvSuite(label: string, factory: WorkersKvFactory, options: SuiteOptions = {}): void {
  describe(`workers kv: ${label}`, { concurrency: options.concurrency ?? 1 }, () => {
    for (const c of WORKERS_KV_CASES) {
      const reason = options.skip?.[c.name];
      test(c.name, reason ? { skip: reason } : {}, async () => {
        const handle = await factory();
        try {
          const observation = await c.run(handle.kv);
          options.observe?.(c.name, observation);
        } finally {
          await handle.close();
        }
      });
    }
  });
}
