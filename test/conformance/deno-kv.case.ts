/**
 * The Deno KV conformance suite: one set of cases, modelled on the behaviours denoland/deno's
 * `tests/unit/kv_test.ts` covers, that runs UNCHANGED against the real `Deno.openKv(":memory:")` (see
 * test/deno/run-suite.deno.ts) and against OpenKV's `openKv` (test/deno-kv.test.ts). It therefore
 * imports nothing: no node:, no npm, no src. Runtime-specific things (the database factory, `KvU64`,
 * `AtomicOperation`) come in through `SuiteEnv`; assertions are written here.
 *
 * Errors are compared exactly: the error's `name` (TypeError, RangeError, Error, BadResource) and its
 * whole message. Timing-dependent cases (queues, watch) wait on events with bounded timeouts; only the
 * expiry case sleeps (150 ms).
 */

// ---------------------------------------------------------------------------------------------------
// The surface the suite drives (a structural subset of Deno.Kv).

export interface EntryLike {
  readonly key: readonly unknown[];
  readonly value: unknown;
  readonly versionstamp: string | null;
}

export interface ListIteratorLike extends AsyncIterableIterator<EntryLike> {
  readonly cursor: string;
}

export interface CommitLike {
  readonly ok: boolean;
  readonly versionstamp?: string;
}

export interface AtomicLike {
  check(...checks: unknown[]): AtomicLike;
  mutate(...mutations: unknown[]): AtomicLike;
  sum(key: unknown, n: bigint): AtomicLike;
  min(key: unknown, n: bigint): AtomicLike;
  max(key: unknown, n: bigint): AtomicLike;
  set(key: unknown, value: unknown, options?: unknown): AtomicLike;
  delete(key: unknown): AtomicLike;
  enqueue(value: unknown, options?: unknown): AtomicLike;
  commit(): Promise<CommitLike>;
}

export interface KvLike {
  get(key: unknown, options?: unknown): Promise<EntryLike>;
  getMany(keys: unknown, options?: unknown): Promise<EntryLike[]>;
  set(key: unknown, value: unknown, options?: unknown): Promise<CommitLike>;
  delete(key: unknown): Promise<void>;
  list(selector: unknown, options?: unknown): ListIteratorLike;
  atomic(): AtomicLike;
  commitVersionstamp(): symbol;
  enqueue(value: unknown, options?: unknown): Promise<CommitLike>;
  listenQueue(handler: (message: unknown) => unknown): Promise<void>;
  watch(keys: unknown, options?: unknown): ReadableStream<EntryLike[]>;
  close(): unknown;
  [Symbol.dispose](): void;
}

export interface KvU64Like {
  readonly value: bigint;
}

export interface SuiteEnv {
  /** A fresh, empty database. */
  open(): Promise<KvLike>;
  KvU64: new (value: bigint) => KvU64Like;
  AtomicOperation: abstract new (...args: never[]) => unknown;
}

export interface SuiteRunner {
  test(name: string, fn: () => Promise<void>): void;
}

/** Each case must finish within this (queues and watches wait on events, never longer). */
export const CASE_TIMEOUT_MS = 5000;

// ---------------------------------------------------------------------------------------------------
// A tiny assertion library (so the file runs anywhere).

export class AssertionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AssertionError";
  }
}

function tagOf(v: object): string {
  return Object.prototype.toString.call(v).slice(8, -1);
}

function bytesOf(v: ArrayBufferView | ArrayBuffer): number[] {
  if (v instanceof ArrayBuffer) return Array.from(new Uint8Array(v));
  return Array.from(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
}

/** A deterministic rendering (the same in every runtime), used in failure messages. */
export function show(v: unknown, seen: Set<unknown> = new Set()): string {
  switch (typeof v) {
    case "string":
      return JSON.stringify(v);
    case "bigint":
      return `${v}n`;
    case "number":
      return Object.is(v, -0) ? "-0" : String(v);
    case "symbol":
      return v.toString();
    case "undefined":
      return "undefined";
    case "function":
      return "[function]";
    case "boolean":
      return String(v);
  }
  if (v === null) return "null";
  const o = v as object;
  if (seen.has(o)) return "[circular]";
  seen.add(o);
  try {
    if (ArrayBuffer.isView(o) || o instanceof ArrayBuffer) return `${tagOf(o)}[${bytesOf(o).join(",")}]`;
    if (o instanceof Date) return `Date(${o.getTime()})`;
    if (o instanceof RegExp) return String(o);
    if (o instanceof Error) return `${o.name}(${JSON.stringify(o.message)})`;
    if (o instanceof Map) return `Map{${[...o].map(([k, val]) => `${show(k, seen)} => ${show(val, seen)}`).join(", ")}}`;
    if (o instanceof Set) return `Set{${[...o].map((x) => show(x, seen)).join(", ")}}`;
    if (Array.isArray(o)) {
      const items: string[] = [];
      for (let i = 0; i < o.length; i++) items.push(i in o ? show(o[i], seen) : "<hole>");
      return `[${items.join(", ")}]`;
    }
    const tag = tagOf(o);
    const body = Object.keys(o)
      .map((k) => `${k}: ${show((o as Record<string, unknown>)[k], seen)}`)
      .join(", ");
    return `${tag === "Object" ? "" : tag}{${body}}`;
  } finally {
    seen.delete(o);
  }
}

/** Structural equality: same prototypes, same own enumerable data, cycles allowed. */
export function equal(a: unknown, b: unknown, seen: Map<unknown, unknown> = new Map()): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  if (seen.get(a) === b) return true;
  seen.set(a, b);
  if (ArrayBuffer.isView(a) || a instanceof ArrayBuffer) {
    const x = bytesOf(a);
    const y = bytesOf(b as ArrayBufferView);
    return x.length === y.length && x.every((c, i) => c === y[i]);
  }
  if (a instanceof Date) return Object.is(a.getTime(), (b as Date).getTime());
  if (a instanceof RegExp) return String(a) === String(b);
  if (a instanceof Error) {
    const e = b as Error;
    if (a.name !== e.name || a.message !== e.message) return false;
  }
  if (a instanceof Map) {
    const m = b as Map<unknown, unknown>;
    if (a.size !== m.size) return false;
    for (const [k, v] of a) {
      let found = false;
      for (const [k2, v2] of m) {
        if (equal(k, k2, seen) && equal(v, v2, seen)) {
          found = true;
          break;
        }
      }
      if (!found) return false;
    }
    return true;
  }
  if (a instanceof Set) {
    const s = b as Set<unknown>;
    if (a.size !== s.size) return false;
    for (const v of a) if (![...s].some((w) => equal(v, w, seen))) return false;
    return true;
  }
  if (a instanceof Number || a instanceof String || a instanceof Boolean || a instanceof BigInt) {
    return Object.is(a.valueOf(), (b as { valueOf(): unknown }).valueOf());
  }
  if (Array.isArray(a)) {
    const arr = b as unknown[];
    if (a.length !== arr.length) return false;
    for (let i = 0; i < a.length; i++) {
      if (i in a !== i in arr) return false;
      if (!equal(a[i], arr[i], seen)) return false;
    }
  }
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (const k of ka) {
    if (!Object.hasOwn(b, k)) return false;
    if (!equal((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], seen)) return false;
  }
  return true;
}

export function assert(condition: unknown, message = "assertion failed"): asserts condition {
  if (!condition) throw new AssertionError(message);
}

export function assertEquals(actual: unknown, expected: unknown, what = "values"): void {
  if (!equal(actual, expected)) throw new AssertionError(`${what} differ: got ${show(actual)}, expected ${show(expected)}`);
}

function checkError(e: unknown, name: string, message: string | ((m: string) => boolean)): void {
  if (!(e instanceof Error)) throw new AssertionError(`expected an Error, got ${show(e)}`);
  const okMessage = typeof message === "string" ? e.message === message : message(e.message);
  if (e.name !== name || !okMessage) {
    throw new AssertionError(`expected ${name}(${typeof message === "string" ? JSON.stringify(message) : "…"}), got ${e.name}(${JSON.stringify(e.message)})`);
  }
}

/** `fn` must throw synchronously an error named `name` with exactly `message` (or a matching one). */
export function assertThrows(fn: () => unknown, name: string, message: string | ((m: string) => boolean)): void {
  let threw = false;
  let result: unknown;
  try {
    result = fn();
  } catch (e) {
    threw = true;
    checkError(e, name, message);
  }
  if (!threw) {
    if (result instanceof Promise) result.catch(() => {});
    throw new AssertionError(`expected a synchronous ${name}, but nothing was thrown`);
  }
}

/** `fn` must throw or reject with an error named `name` with exactly `message` (or a matching one). */
export async function assertRejects(fn: () => unknown, name: string, message: string | ((m: string) => boolean)): Promise<void> {
  try {
    await fn();
  } catch (e) {
    checkError(e, name, message);
    return;
  }
  throw new AssertionError(`expected ${name}(${typeof message === "string" ? JSON.stringify(message) : "…"}), but it resolved`);
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
}

function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** Resolves with `promise`, or rejects with an AssertionError naming `what` after `ms`. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new AssertionError(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Polls `probe` every 10 ms until it returns a non-undefined value (bounded by `ms`). */
async function eventually<T>(probe: () => Promise<T | undefined>, ms: number, what: string): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new AssertionError(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(10);
  }
}

async function collect(iter: AsyncIterable<EntryLike>): Promise<EntryLike[]> {
  const out: EntryLike[] = [];
  for await (const e of iter) out.push(e);
  return out;
}

async function keysOf(iter: AsyncIterable<EntryLike>): Promise<unknown[][]> {
  return (await collect(iter)).map((e) => [...e.key]);
}

const VERSIONSTAMP = /^[0-9a-f]{20}$/;
const INVALID_PART = "expected string, number, bigint, ArrayBufferView, boolean";
const anyValue = (v: unknown): unknown => v;

/** The data of denoland/deno's list tests, written in one commit; returns its versionstamp. */
async function setupData(kv: KvLike): Promise<string> {
  const res = await kv
    .atomic()
    .set(["a"], -1)
    .set(["a", "a"], 0)
    .set(["a", "b"], 1)
    .set(["a", "c"], 2)
    .set(["a", "d"], 3)
    .set(["a", "e"], 4)
    .set(["b"], 99)
    .set(["b", "a"], 100)
    .commit();
  assert(res.ok, "setup commit failed");
  return res.versionstamp!;
}

const entry = (key: unknown[], value: unknown, versionstamp: string | null) => ({ key, value, versionstamp });

// ---------------------------------------------------------------------------------------------------
// The cases.

type CaseFn = (kv: KvLike, env: SuiteEnv) => Promise<void>;
const CASES: [string, CaseFn][] = [];
const c = (name: string, fn: CaseFn) => {
  if (CASES.some(([n]) => n === name)) throw new Error(`duplicate case name ${name}`);
  CASES.push([name, fn]);
};

// ---- basics ----

c("get of a missing key returns a null entry holding the same key", async (kv) => {
  const key = ["missing"];
  const e = await kv.get(key);
  assertEquals(e, entry(["missing"], null, null));
  assert(e.key === key, "the missing entry's key is the caller's array");
});

c("set, get, overwrite and delete with increasing versionstamps", async (kv) => {
  const r1 = await kv.set(["a"], "b");
  assert(r1.ok && VERSIONSTAMP.test(r1.versionstamp!), "set result");
  assertEquals(await kv.get(["a"]), entry(["a"], "b", r1.versionstamp!));
  const r2 = await kv.set(["a"], "c");
  assert(r2.versionstamp! > r1.versionstamp!, "versionstamp grows");
  assertEquals(await kv.get(["a"]), entry(["a"], "c", r2.versionstamp!));
  assertEquals(await kv.delete(["a"]), undefined);
  assertEquals(await kv.get(["a"]), entry(["a"], null, null));
});

c("set resolves to exactly { ok, versionstamp }", async (kv) => {
  const r = await kv.set(["a"], 1);
  assertEquals(Object.keys(r), ["ok", "versionstamp"]);
  assertEquals(r.ok, true);
  assert(VERSIONSTAMP.test(r.versionstamp!), `versionstamp ${r.versionstamp}`);
});

c("every kind of commit gets a strictly larger versionstamp", async (kv) => {
  const stamps: string[] = [];
  stamps.push((await kv.set(["a"], 1)).versionstamp!);
  stamps.push((await kv.atomic().delete(["a"]).commit()).versionstamp!);
  stamps.push((await kv.atomic().commit()).versionstamp!);
  stamps.push((await kv.atomic().sum(["n"], 1n).commit()).versionstamp!);
  stamps.push((await kv.enqueue("m", { delay: 60_000 })).versionstamp!);
  stamps.push((await kv.set(["a"], 2)).versionstamp!);
  for (let i = 1; i < stamps.length; i++) assert(stamps[i]! > stamps[i - 1]!, `stamp ${i} ${stamps[i]} > ${stamps[i - 1]}`);
});

c("delete of a missing key succeeds", async (kv) => {
  assertEquals(await kv.delete(["nothing", "here"]), undefined);
  assertEquals((await kv.get(["nothing", "here"])).versionstamp, null);
});

c("getMany returns entries in request order, missing ones null", async (kv) => {
  const vs = await setupData(kv);
  assertEquals(await kv.getMany([["b", "a"], ["a"], ["c"]]), [entry(["b", "a"], 100, vs), entry(["a"], -1, vs), entry(["c"], null, null)]);
});

c("getMany of no keys returns an empty array", async (kv) => {
  assertEquals(await kv.getMany([]), []);
});

c("getMany accepts 10 keys and rejects 11", async (kv) => {
  assertEquals((await kv.getMany(Array.from({ length: 10 }, (_, i) => ["a", i]))).length, 10);
  await assertRejects(() => kv.getMany(Array.from({ length: 11 }, (_, i) => ["a", i])), "TypeError", "Too many ranges (max 10)");
});

c("getMany checks every key's parts before counting keys", async (kv) => {
  const keys: unknown[] = Array.from({ length: 11 }, (_, i) => [i]);
  keys.push([{}]);
  await assertRejects(() => kv.getMany(keys), "TypeError", INVALID_PART);
});

// ---- values ----

const VALUES: [string, () => unknown][] = [
  ["string", () => "hello"],
  ["empty string", () => ""],
  ["non-ASCII string", () => "héllo wörld ✓ 日本 🦕"],
  ["lone surrogate string", () => "a\ud800b"],
  ["integer", () => 42],
  ["float", () => -3.25],
  ["negative zero", () => -0],
  ["NaN", () => NaN],
  ["Infinity", () => -Infinity],
  ["large integer", () => 2 ** 53 - 1],
  ["bigint", () => 123456789012345678901234567890n],
  ["negative bigint", () => -42n],
  ["true", () => true],
  ["false", () => false],
  ["null", () => null],
  ["Date", () => new Date(1_700_000_000_000)],
  ["invalid Date", () => new Date(NaN)],
  ["RegExp with flags", () => /a+b*/giu],
  ["array", () => [1, "two", 3n, null, undefined]],
  ["sparse array", () => [1, , 3]],
  ["nested arrays", () => [[1, 2], [3, [4, [5]]]]],
  ["object", () => ({ a: 1, b: "x", c: { d: [true] } })],
  ["object with a numeric-like key", () => ({ 1: "a", b: 2, "01": 3 })],
  ["Map", () => new Map<unknown, unknown>([["a", 1], [2, { b: 3n }]])],
  ["Set", () => new Set(["a", 1, 2n])],
  ["Map nested in an object", () => ({ m: new Map([["k", new Set([1])]]) })],
  ["boxed primitives", () => [new Number(1), new String("s"), new Boolean(false), Object(5n)]],
  ["Uint8Array", () => new Uint8Array([1, 2, 3])],
  ["empty Uint8Array", () => new Uint8Array(0)],
  ["ArrayBuffer", () => new Uint8Array([9, 8, 7]).buffer],
  ["Uint16Array", () => new Uint16Array([1, 65535])],
  ["Float64Array", () => new Float64Array([1.5, -0])],
  ["BigInt64Array", () => new BigInt64Array([-1n, 2n])],
  ["a 60 KB string", () => "x".repeat(60_000)],
];

for (const [name, make] of VALUES) {
  c(`value round trip: ${name}`, async (kv) => {
    await kv.set(["v"], make());
    const e = await kv.get(["v"]);
    assertEquals(e.value, make(), "value");
    assert(e.versionstamp !== null, "stored");
  });
}

c("value round trip: undefined is stored (not absent)", async (kv) => {
  const r = await kv.set(["v"], undefined);
  assertEquals(await kv.get(["v"]), entry(["v"], undefined, r.versionstamp!));
});

c("value round trip: a Uint8Array view stores only its own bytes", async (kv) => {
  const view = new Uint8Array([0, 1, 2, 3, 4]).subarray(1, 3);
  await kv.set(["v"], view);
  const v = (await kv.get(["v"])).value as Uint8Array;
  assertEquals(v, new Uint8Array([1, 2]));
  assertEquals(v.byteLength, v.buffer.byteLength, "a fresh buffer");
});

c("value round trip: a stored Uint8Array is a copy", async (kv) => {
  const bytes = new Uint8Array([1, 2, 3]);
  await kv.set(["v"], bytes);
  bytes[0] = 99;
  assertEquals((await kv.get(["v"])).value, new Uint8Array([1, 2, 3]));
});

c("value round trip: circular object", async (kv) => {
  const value: { self?: unknown; n: number } = { n: 1 };
  value.self = value;
  await kv.set(["v"], value);
  const got = (await kv.get(["v"])).value as { self: unknown; n: number };
  assert(got.self === got && got.n === 1, "cycle preserved");
});

c("value round trip: shared references stay shared", async (kv) => {
  const inner = { x: 1 };
  await kv.set(["v"], { a: inner, b: inner });
  const got = (await kv.get(["v"])).value as { a: unknown; b: unknown };
  assert(got.a === got.b, "shared reference");
});

c("value round trip: Error keeps its class and message", async (kv) => {
  await kv.set(["v"], new RangeError("boom"));
  const got = (await kv.get(["v"])).value;
  assert(got instanceof RangeError, `got ${show(got)}`);
  assertEquals(got.message, "boom");
});

c("value round trip: class instances become plain objects", async (kv) => {
  class Point {
    x = 1;
    y = 2;
    norm() {
      return 0;
    }
  }
  await kv.set(["v"], new Point());
  const got = (await kv.get(["v"])).value;
  assertEquals(got, { x: 1, y: 2 });
});

c("value round trip: KvU64", async (kv, env) => {
  await kv.set(["v"], new env.KvU64(0xffffffffffffffffn));
  const got = (await kv.get(["v"])).value;
  assert(got instanceof env.KvU64, "a KvU64");
  assertEquals(got, new env.KvU64(0xffffffffffffffffn));
});

c("value round trip: a KvU64 inside an object is a plain object", async (kv, env) => {
  await kv.set(["v"], { n: new env.KvU64(3n) });
  assertEquals((await kv.get(["v"])).value, { n: { value: 3n } });
});

c("uncloneable values are rejected and nothing is written", async (kv) => {
  const endsCloned = (m: string) => m.endsWith(" could not be cloned.");
  await assertRejects(() => kv.set(["v"], () => 1), "TypeError", endsCloned);
  await assertRejects(() => kv.set(["v"], Symbol("x")), "TypeError", "Symbol(x) could not be cloned.");
  await assertRejects(() => kv.set(["v"], new WeakMap()), "TypeError", "#<WeakMap> could not be cloned.");
  await assertRejects(() => kv.set(["v"], new WeakSet()), "TypeError", "#<WeakSet> could not be cloned.");
  await assertRejects(() => kv.set(["v"], { nested: [Symbol()] }), "TypeError", "Symbol() could not be cloned.");
  await assertRejects(() => kv.set(["v"], new SharedArrayBuffer(3)), "Error", "#<SharedArrayBuffer> could not be cloned.");
  assertEquals(await kv.get(["v"]), entry(["v"], null, null));
});

c("atomic set of an uncloneable value throws synchronously", async (kv) => {
  assertThrows(() => kv.atomic().set(["v"], new WeakMap()), "TypeError", "#<WeakMap> could not be cloned.");
});

// ---- keys ----

const KEYS: unknown[][] = [
  ["a"],
  ["a", "b"],
  ["a", "b", "c"],
  [1],
  ["a", 1],
  ["a", 1, "b"],
  [1n],
  ["a", 1n],
  ["a", 1n, "b"],
  [true],
  [false],
  ["a", true, "b"],
  [new Uint8Array([1, 2, 3])],
  ["a", new Uint8Array([1, 2, 3]), "b"],
  [1, 1n, true, new Uint8Array([1, 2, 3]), "a"],
  [""],
  ["a\u0000b"],
  [new Uint8Array([0, 0xff, 0])],
  [-1.5, -0, 0, 2 ** 60],
  [-(2n ** 100n), 2n ** 64n],
];

c("every kind of key part round-trips through set, get and list", async (kv) => {
  for (const key of KEYS) {
    await kv.set(key, "value");
    assertEquals(await kv.get(key).then((e) => [[...e.key], e.value]), [key, "value"], `get ${show(key)}`);
  }
  const listed = await keysOf(kv.list({ prefix: [] }));
  assertEquals(listed.length, KEYS.length, "all listed");
  for (const key of KEYS) assert(listed.some((k) => equal(k, key)), `listed ${show(key)}`);
});

c("keys order bytes < strings < bigints < numbers < false < true", async (kv) => {
  await kv
    .atomic()
    .set([true], 0)
    .set([false], 0)
    .set([3.14], 0)
    .set([1n], 0)
    .set(["a"], 0)
    .set([new Uint8Array([1])], 0)
    .commit();
  assertEquals(await keysOf(kv.list({ prefix: [] })), [[new Uint8Array([1])], ["a"], [1n], [3.14], [false], [true]]);
});

c("numbers order numerically, -0 before 0, NaN last", async (kv) => {
  const nums = [NaN, Infinity, 1e300, 2, 1, 0.5, 0, -0, -0.5, -1, -2, -1e300, -Infinity];
  const op = kv.atomic();
  for (const n of nums) op.set([n], n);
  await op.commit();
  assertEquals(await keysOf(kv.list({ prefix: [] })), [...nums].reverse().map((n) => [n]));
});

c("bigints order numerically, beyond 64 bits too", async (kv) => {
  const nums = [-(2n ** 80n), -(2n ** 64n), -256n, -255n, -1n, 0n, 1n, 255n, 256n, 2n ** 63n, 2n ** 64n, 2n ** 80n];
  const op = kv.atomic();
  for (const n of [...nums].reverse()) op.set([n], 0);
  await op.commit();
  assertEquals(await keysOf(kv.list({ prefix: [] })), nums.map((n) => [n]));
});

c("strings order by their UTF-8 bytes", async (kv) => {
  const strs = ["", "\u0000", "\u0000\u0000", "A", "B", "a", "a\u0000", "aa", "b", "é", "😀", "\uffff"];
  const sortedByBytes = [...strs].sort((x, y) => {
    const bx = new TextEncoder().encode(x);
    const by = new TextEncoder().encode(y);
    for (let i = 0; i < Math.min(bx.length, by.length); i++) if (bx[i] !== by[i]) return bx[i]! - by[i]!;
    return bx.length - by.length;
  });
  const op = kv.atomic();
  for (const s of strs) op.set([s], 0);
  await op.commit();
  assertEquals(await keysOf(kv.list({ prefix: [] })), sortedByBytes.map((s) => [s]));
});

c("Uint8Array parts order bytewise and may contain zero bytes", async (kv) => {
  const parts = [[], [0], [0, 0], [0, 1], [1], [1, 0], [255], [255, 255]].map((b) => new Uint8Array(b));
  const op = kv.atomic();
  for (const p of [...parts].reverse()) op.set([p], 0);
  await op.commit();
  assertEquals(await keysOf(kv.list({ prefix: [] })), parts.map((p) => [p]));
});

c("shorter keys sort before their extensions", async (kv) => {
  await kv.atomic().set(["a", "b"], 0).set(["a"], 0).set(["a", "b", "c"], 0).set(["a", 1], 0).set(["b"], 0).commit();
  assertEquals(await keysOf(kv.list({ prefix: [] })), [["a"], ["a", "b"], ["a", "b", "c"], ["a", 1], ["b"]]);
});

c("any ArrayBufferView key part reads back as a Uint8Array", async (kv) => {
  await kv.set([new Int8Array([1, -1])], "i8");
  assertEquals((await kv.get([new Uint8Array([1, 255])])).value, "i8");
  await kv.set([new Uint16Array([0x0201])], "u16");
  assertEquals((await kv.get([new Uint8Array([1, 2])])).value, "u16");
  await kv.set([new DataView(new Uint8Array([7, 8, 9]).buffer, 1)], "dv");
  assertEquals((await kv.get([new Uint8Array([8, 9])])).value, "dv");
  const keys = await keysOf(kv.list({ prefix: [] }));
  assert(keys.every((k) => k[0] instanceof Uint8Array), "Uint8Array parts");
});

c("-0 and 0 are different keys, NaN is a key", async (kv) => {
  await kv.set([-0], "minus zero");
  assertEquals((await kv.get([0])).value, null);
  assertEquals((await kv.get([-0])).value, "minus zero");
  assert(Object.is((await kv.get([-0])).key[0], -0), "-0 key part read back");
  await kv.set([NaN], "nan");
  assertEquals((await kv.get([NaN])).value, "nan");
});

c("invalid key parts are rejected with Deno's message", async (kv) => {
  const invalid: unknown[] = [null, undefined, {}, new Date(), new ArrayBuffer(3), ["a", "b"], Symbol("s"), () => 1, new String("s")];
  for (const part of invalid) {
    await assertRejects(() => kv.set(["a", part], 1), "TypeError", INVALID_PART);
    await assertRejects(() => kv.get([part]), "TypeError", INVALID_PART);
    await assertRejects(() => kv.delete([part, "a"]), "TypeError", INVALID_PART);
  }
  // A hole in an array is undefined.
  await assertRejects(() => kv.set(anyValue([, 1]), 1), "TypeError", INVALID_PART);
});

c("a key must be an array (serde_v8's message names the type)", async (kv) => {
  const cases: [unknown, string][] = [
    ["a", "string"],
    [1, "Number"],
    [true, "Boolean"],
    [1n, "bigint"],
    [Symbol("x"), "symbol"],
    [() => 1, "function"],
    [{}, "unknown"],
    [new Date(0), "Date"],
    [new Map(), "Map"],
    [new Uint8Array(2), "Uint8Array"],
    [{ length: 1, 0: "a" }, "unknown"],
  ];
  for (const [key, name] of cases) {
    const message = `serde_v8 error: invalid type; expected: array, got: ${name}`;
    await assertRejects(() => kv.get(key), "TypeError", message);
    await assertRejects(() => kv.set(key, 1), "TypeError", message);
    await assertRejects(() => kv.delete(key), "TypeError", message);
    await assertRejects(() => kv.getMany([key]), "TypeError", message);
  }
});

c("null and undefined keys fail the way Deno's wrapper does", async (kv) => {
  await assertRejects(() => kv.get(null), "TypeError", "Invalid range");
  await assertRejects(() => kv.get(undefined), "TypeError", "Invalid range");
  await assertRejects(() => kv.getMany([undefined]), "TypeError", "Invalid range");
  await assertRejects(() => kv.set(null, 1), "TypeError", "Cannot read properties of null (reading 'length')");
  await assertRejects(() => kv.delete(undefined), "TypeError", "Cannot read properties of undefined (reading 'length')");
  await assertRejects(() => kv.getMany(null), "TypeError", "Array.prototype.map called on null or undefined");
});

c("the empty key cannot be written but can be read", async (kv) => {
  await assertRejects(() => kv.set([], 1), "TypeError", "key cannot be empty");
  await assertRejects(() => kv.delete([]), "TypeError", "key cannot be empty");
  await assertRejects(() => kv.atomic().check({ key: [], versionstamp: null }).commit(), "TypeError", "key cannot be empty");
  assertEquals(await kv.get([]), entry([], null, null));
  assertEquals(await kv.getMany([[]]), [entry([], null, null)]);
});

c("keys are limited to 2048 bytes on write and 2049 on read", async (kv) => {
  // 1 tag byte + 2046 bytes + 1 terminator = 2048.
  const lastValid = new Uint8Array(2046).fill(1);
  const firstInvalid = new Uint8Array(2047).fill(1);
  const res = await kv.set([lastValid], 1);
  assertEquals(await kv.get([lastValid]), entry([lastValid], 1, res.versionstamp!));
  await assertRejects(() => kv.set([firstInvalid], 1), "TypeError", "Key too large for write (max 2048 bytes)");
  await assertRejects(() => kv.delete([firstInvalid]), "TypeError", "Key too large for write (max 2048 bytes)");
  await assertRejects(() => kv.atomic().sum([firstInvalid], 1n).commit(), "TypeError", "Key too large for write (max 2048 bytes)");
  await assertRejects(() => kv.atomic().check({ key: [firstInvalid], versionstamp: null }).commit(), "TypeError", "Key too large for write (max 2048 bytes)");
  await assertRejects(() => kv.get([firstInvalid]), "TypeError", "Key too large for read (max 2049 bytes)");
  await assertRejects(() => kv.getMany([["a"], [firstInvalid]]), "TypeError", "Key too large for read (max 2049 bytes)");
});

c("zero bytes count twice toward the key size", async (kv) => {
  // Every 0x00 is escaped as 0x00 0xFF.
  await assertRejects(() => kv.set([new Uint8Array(1100)], 1), "TypeError", "Key too large for write (max 2048 bytes)");
  const ok = await kv.set([new Uint8Array(1023)], 1);
  assert(ok.ok, "1023 zero bytes fit");
});

c("returned keys are fresh arrays", async (kv) => {
  const key = ["a", 1];
  await kv.set(key, 1);
  const got = await kv.get(key);
  assert(got.key !== key, "a new array for an existing entry");
  assertEquals(got.key, key);
});

// ---- atomic ----

c("check with the current versionstamp succeeds, a stale one fails", async (kv) => {
  await kv.set(["t"], "1");
  const current = await kv.get(["t"]);
  const res = await kv.atomic().check({ key: ["t"], versionstamp: current.versionstamp }).set(["t"], "2").commit();
  assert(res.ok && res.versionstamp! > current.versionstamp!, "first commit");
  assertEquals(await kv.get(["t"]), entry(["t"], "2", res.versionstamp!));
  const stale = await kv.atomic().check({ key: ["t"], versionstamp: current.versionstamp }).set(["t"], "3").commit();
  assertEquals(stale, { ok: false });
  assertEquals((await kv.get(["t"])).value, "2");
});

c("check versionstamp null means the key must not exist", async (kv) => {
  const res = await kv.atomic().check({ key: ["t"], versionstamp: null }).set(["t"], "1").commit();
  assert(res.ok, "absent key passes");
  const again = await kv.atomic().check({ key: ["t"], versionstamp: null }).set(["t"], "2").commit();
  assertEquals(again, { ok: false });
  assertEquals((await kv.get(["t"])).value, "1");
});

c("check versionstamp undefined also means must not exist", async (kv) => {
  assert((await kv.atomic().check({ key: ["u"] }).commit()).ok, "absent");
  await kv.set(["u"], 1);
  assertEquals(await kv.atomic().check({ key: ["u"] }).commit(), { ok: false });
});

c("a failed check resolves to exactly { ok: false } and applies nothing", async (kv) => {
  await kv.set(["t"], 1);
  const res = await kv.atomic().check({ key: ["t"], versionstamp: null }).set(["x"], 1).delete(["t"]).sum(["n"], 1n).commit();
  assertEquals(Object.keys(res), ["ok"]);
  assertEquals(res, { ok: false });
  assertEquals(await kv.getMany([["t"], ["x"], ["n"]]).then((es) => es.map((e) => e.value)), [1, null, null]);
});

c("one failing check among several fails the whole operation", async (kv) => {
  const r1 = await kv.set(["t1"], "1");
  const r2 = await kv.set(["t2"], "2");
  const ok = await kv
    .atomic()
    .check({ key: ["t1"], versionstamp: r1.versionstamp }, { key: ["t2"], versionstamp: r2.versionstamp })
    .set(["t1"], "3")
    .set(["t2"], "4")
    .commit();
  assert(ok.ok, "both checks pass");
  assertEquals(await kv.getMany([["t1"], ["t2"]]), [entry(["t1"], "3", ok.versionstamp!), entry(["t2"], "4", ok.versionstamp!)]);
  const bad = await kv
    .atomic()
    .check({ key: ["t1"], versionstamp: ok.versionstamp })
    .check({ key: ["t2"], versionstamp: null })
    .set(["t1"], "5")
    .set(["t2"], "6")
    .commit();
  assertEquals(bad, { ok: false });
  assertEquals(await kv.getMany([["t1"], ["t2"]]).then((es) => es.map((e) => e.value)), ["3", "4"]);
});

c("a get result can be passed to check as is", async (kv) => {
  await kv.set(["t"], 1);
  const e = await kv.get(["t"]);
  assert((await kv.atomic().check(e).set(["t"], 2).commit()).ok, "live entry");
  assertEquals(await kv.atomic().check(e).set(["t"], 3).commit(), { ok: false });
  const missing = await kv.get(["m"]);
  assert((await kv.atomic().check(missing).set(["m"], 1).commit()).ok, "missing entry");
});

c("a well-formed but unknown versionstamp fails the check", async (kv) => {
  await kv.set(["t"], 1);
  assertEquals(await kv.atomic().check({ key: ["t"], versionstamp: "00000000000000000000" }).commit(), { ok: false });
  assertEquals(await kv.atomic().check({ key: ["none"], versionstamp: "00000000000000010000" }).commit(), { ok: false });
});

c("uppercase hex versionstamps are accepted in checks", async (kv) => {
  const r = await kv.set(["t"], 1);
  assert((await kv.atomic().check({ key: ["t"], versionstamp: r.versionstamp!.toUpperCase() }).commit()).ok, "uppercase");
});

c("malformed versionstamps in checks are rejected", async (kv) => {
  for (const vs of ["", "xx".repeat(10), "aa".repeat(11), "a".repeat(19)]) {
    await assertRejects(() => kv.atomic().check({ key: ["a"], versionstamp: vs }).commit(), "TypeError", "Invalid check");
  }
  await assertRejects(() => kv.atomic().check({ key: ["a"], versionstamp: 5 }).commit(), "TypeError", "serde_v8 error: invalid type; expected: string, got: Number");
  await assertRejects(() => kv.atomic().check({ key: "a", versionstamp: null }).commit(), "TypeError", "serde_v8 error: invalid type; expected: array, got: string");
  await assertRejects(() => kv.atomic().check({}).commit(), "TypeError", "serde_v8 error: invalid type; expected: array, got: undefined");
  assertThrows(() => kv.atomic().check(null), "TypeError", "Cannot read properties of null (reading 'key')");
});

c("mutations apply in order: set then delete deletes", async (kv) => {
  await kv.set(["a"], "1");
  assert((await kv.atomic().set(["a"], "2").delete(["a"]).commit()).ok, "commit");
  assertEquals((await kv.get(["a"])).value, null);
});

c("mutations apply in order: delete then set sets", async (kv) => {
  await kv.set(["a"], "1");
  assert((await kv.atomic().delete(["a"]).set(["a"], "2").commit()).ok, "commit");
  assertEquals((await kv.get(["a"])).value, "2");
});

c("later mutations see earlier ones in the same commit", async (kv, env) => {
  const res = await kv.atomic().set(["n"], new env.KvU64(1n)).sum(["n"], 2n).sum(["n"], 3n).max(["n"], 5n).commit();
  assert(res.ok, "commit");
  assertEquals((await kv.get(["n"])).value, new env.KvU64(6n));
});

c("all entries of one commit share its versionstamp", async (kv) => {
  const vs = await setupData(kv);
  const all = await collect(kv.list({ prefix: [] }));
  assertEquals(all.length, 8);
  assert(all.every((e) => e.versionstamp === vs), "shared versionstamp");
});

c("mutate set, overwrite and delete", async (kv) => {
  assert((await kv.atomic().mutate({ key: ["a"], value: "1", type: "set" }).commit()).ok, "set");
  assertEquals((await kv.get(["a"])).value, "1");
  await kv.atomic().mutate({ key: ["a"], value: "2", type: "set" }).commit();
  assertEquals((await kv.get(["a"])).value, "2");
  await kv.atomic().mutate({ key: ["a"], type: "delete" }).commit();
  assertEquals((await kv.get(["a"])).value, null);
  assert((await kv.atomic().mutate({ key: ["a"], type: "delete" }).commit()).ok, "delete missing");
});

c("mutate accepts several mutations in one call", async (kv) => {
  await kv
    .atomic()
    .mutate({ key: ["a"], type: "set", value: 1 }, { key: ["b"], type: "set", value: 2 }, { key: ["a"], type: "delete" })
    .commit();
  assertEquals(await kv.getMany([["a"], ["b"]]).then((es) => es.map((e) => e.value)), [null, 2]);
});

c("mutate rejects invalid type and value combinations synchronously", async (kv) => {
  assertThrows(() => kv.atomic().mutate({ key: ["a"], type: "set" }), "TypeError", "Invalid mutation 'set' without value");
  assertThrows(() => kv.atomic().mutate({ key: ["a"], type: "sum" }), "TypeError", "Invalid mutation 'sum' without value");
  assertThrows(() => kv.atomic().mutate({ key: ["a"], type: "delete", value: "123" }), "TypeError", "Invalid mutation 'delete' with value");
  assertThrows(() => kv.atomic().mutate({ key: ["a"], type: "foobar" }), "TypeError", "Invalid mutation type");
  assertThrows(() => kv.atomic().mutate({ key: ["a"], type: "foobar", value: "123" }), "TypeError", "Invalid mutation type");
  assertThrows(() => kv.atomic().mutate(null), "TypeError", "Cannot read properties of null (reading 'key')");
});

c("mutate delete with a falsy value is accepted", async (kv) => {
  await kv.set(["a"], 1);
  assert((await kv.atomic().mutate({ key: ["a"], type: "delete", value: 0 }).commit()).ok, "commit");
  assertEquals((await kv.get(["a"])).value, null);
});

c("mutate rejects a non-array key at commit", async (kv) => {
  const op = kv.atomic().mutate({ key: "a", type: "set", value: 1 });
  await assertRejects(() => op.commit(), "TypeError", "serde_v8 error: invalid type; expected: array, got: string");
});

c("an empty atomic operation commits", async (kv) => {
  const r = await kv.atomic().commit();
  assert(r.ok && VERSIONSTAMP.test(r.versionstamp!), "empty commit");
});

c("atomic() returns an AtomicOperation", async (kv, env) => {
  assert(kv.atomic() instanceof env.AtomicOperation, "instanceof AtomicOperation");
});

c("awaiting an AtomicOperation instead of commit() throws", async (kv) => {
  const message = "'Deno.AtomicOperation' is not a promise: did you forget to call 'commit()'";
  await assertRejects(async () => await kv.atomic().set(["a"], 1), "TypeError", message);
  assertEquals((await kv.get(["a"])).value, null);
});

c("an AtomicOperation can be committed twice", async (kv) => {
  const op = kv.atomic().sum(["n"], 1n);
  const r1 = await op.commit();
  const r2 = await op.commit();
  assert(r1.ok && r2.ok && r2.versionstamp! > r1.versionstamp!, "two commits");
  assertEquals(((await kv.get(["n"])).value as KvU64Like).value, 2n);
});

// ---- sum / min / max ----

c("sum adds to a KvU64", async (kv, env) => {
  await kv.set(["t"], new env.KvU64(42n));
  await kv.atomic().sum(["t"], 1n).commit();
  assertEquals((await kv.get(["t"])).value, new env.KvU64(43n));
});

c("sum, min and max on a missing key store the operand", async (kv, env) => {
  await kv.atomic().sum(["s"], 5n).min(["mi"], 6n).max(["ma"], 7n).commit();
  assertEquals(await kv.getMany([["s"], ["mi"], ["ma"]]).then((es) => es.map((e) => e.value)), [new env.KvU64(5n), new env.KvU64(6n), new env.KvU64(7n)]);
});

c("sum wraps around at 2^64", async (kv, env) => {
  await kv.set(["a"], new env.KvU64(0xffffffffffffffffn));
  await kv.atomic().mutate({ key: ["a"], value: new env.KvU64(10n), type: "sum" }).commit();
  assertEquals((await kv.get(["a"])).value, new env.KvU64(9n));
  await kv.atomic().mutate({ key: ["a"], value: new env.KvU64(0xffffffffffffffffn), type: "sum" }).commit();
  assertEquals((await kv.get(["a"])).value, new env.KvU64(8n));
});

c("min keeps the smaller value", async (kv, env) => {
  await kv.set(["t"], new env.KvU64(42n));
  await kv.atomic().min(["t"], 1n).commit();
  assertEquals((await kv.get(["t"])).value, new env.KvU64(1n));
  await kv.atomic().min(["t"], 2n).commit();
  assertEquals((await kv.get(["t"])).value, new env.KvU64(1n));
});

c("max keeps the larger value", async (kv, env) => {
  await kv.set(["t"], new env.KvU64(42n));
  await kv.atomic().max(["t"], 41n).commit();
  assertEquals((await kv.get(["t"])).value, new env.KvU64(42n));
  await kv.atomic().mutate({ key: ["t"], value: new env.KvU64(43n), type: "max" }).commit();
  assertEquals((await kv.get(["t"])).value, new env.KvU64(43n));
});

c("sum, min and max on a non-U64 stored value fail", async (kv, env) => {
  await kv.set(["a"], 1);
  for (const op of ["sum", "min", "max"]) {
    await assertRejects(
      () => kv.atomic().mutate({ key: ["a"], value: new env.KvU64(1n), type: op }).commit(),
      "TypeError",
      `Failed to perform '${op}' mutation on a non-U64 value in the database`,
    );
  }
  await kv.set(["b"], new Uint8Array(8));
  await assertRejects(() => kv.atomic().sum(["b"], 1n).commit(), "TypeError", "Failed to perform 'sum' mutation on a non-U64 value in the database");
  await kv.set(["c"], 1n);
  await assertRejects(() => kv.atomic().max(["c"], 1n).commit(), "TypeError", "Failed to perform 'max' mutation on a non-U64 value in the database");
});

c("min and max with a non-U64 operand fail", async (kv, env) => {
  await kv.set(["a"], new env.KvU64(1n));
  for (const op of ["min", "max"]) {
    await assertRejects(() => kv.atomic().mutate({ key: ["a"], value: 1, type: op }).commit(), "TypeError", `Failed to perform '${op}' mutation on a non-U64 operand`);
    await assertRejects(() => kv.atomic().mutate({ key: ["new"], value: 1n, type: op }).commit(), "TypeError", `Failed to perform '${op}' mutation on a non-U64 operand`);
  }
  await assertRejects(() => kv.atomic().mutate({ key: ["a"], value: new Uint8Array(8), type: "min" }).commit(), "TypeError", "Failed to perform 'min' mutation on a non-U64 operand");
});

c("a failed sum leaves the whole operation unapplied", async (kv) => {
  await kv.set(["s"], "text");
  await assertRejects(() => kv.atomic().set(["x"], 1).sum(["s"], 1n).commit(), "TypeError", "Failed to perform 'sum' mutation on a non-U64 value in the database");
  assertEquals((await kv.get(["x"])).value, null);
});

c("mutate sum adds V8 numbers and bigints", async (kv) => {
  await kv.atomic().mutate({ key: ["n"], type: "sum", value: 2.5 }).commit();
  assertEquals((await kv.get(["n"])).value, 2.5);
  await kv.atomic().mutate({ key: ["n"], type: "sum", value: -1 }).commit();
  assertEquals((await kv.get(["n"])).value, 1.5);
  await kv.set(["b"], 5n);
  await kv.atomic().mutate({ key: ["b"], type: "sum", value: 2n ** 70n }).commit();
  assertEquals((await kv.get(["b"])).value, 5n + 2n ** 70n);
  await kv.atomic().mutate({ key: ["b"], type: "sum", value: -(2n ** 71n) }).commit();
  assertEquals((await kv.get(["b"])).value, 5n - 2n ** 70n);
});

c("mutate sum of mismatched kinds fails", async (kv, env) => {
  await kv.set(["num"], 1);
  await kv.set(["big"], 1n);
  await kv.set(["u64"], new env.KvU64(1n));
  await assertRejects(() => kv.atomic().mutate({ key: ["num"], type: "sum", value: 1n }).commit(), "TypeError", "Cannot sum Number with BigInt");
  await assertRejects(() => kv.atomic().mutate({ key: ["big"], type: "sum", value: 1 }).commit(), "TypeError", "Cannot sum BigInt with Number");
  await assertRejects(() => kv.atomic().mutate({ key: ["u64"], type: "sum", value: 1 }).commit(), "TypeError", "Cannot sum KvU64 with Number");
  await assertRejects(() => kv.atomic().mutate({ key: ["u64"], type: "sum", value: -1n }).commit(), "TypeError", "Cannot sum KvU64 with BigInt");
  await assertRejects(() => kv.atomic().mutate({ key: ["u64"], type: "sum", value: 2n ** 64n }).commit(), "TypeError", "Cannot sum KvU64 with BigInt");
});

c("mutate sum of a bigint onto a KvU64 adds and wraps", async (kv, env) => {
  await kv.set(["u"], new env.KvU64(0xfffffffffffffffen));
  await kv.atomic().mutate({ key: ["u"], type: "sum", value: 1n }).commit();
  assertEquals((await kv.get(["u"])).value, new env.KvU64(0xffffffffffffffffn));
  await kv.atomic().mutate({ key: ["u"], type: "sum", value: 3n }).commit();
  assertEquals((await kv.get(["u"])).value, new env.KvU64(2n));
});

c("mutate sum with a non-numeric operand fails", async (kv, env) => {
  await kv.set(["u"], new env.KvU64(1n));
  for (const value of ["x", true, {}, new Number(1), new Uint8Array(8)]) {
    await assertRejects(() => kv.atomic().mutate({ key: ["new"], type: "sum", value }).commit(), "TypeError", "Some of the parameters are not valid V8 values");
  }
  await assertRejects(() => kv.atomic().mutate({ key: ["u"], type: "sum", value: new Uint8Array(8) }).commit(), "TypeError", "Some of the parameters are not valid V8 values");
});

c("mutate sum onto a non-numeric stored value fails", async (kv) => {
  for (const stored of ["s", true, null, undefined, { a: 1 }, new Date(0), new Uint8Array(8)]) {
    await kv.set(["v"], stored);
    await assertRejects(() => kv.atomic().mutate({ key: ["v"], type: "sum", value: 1 }).commit(), "TypeError", "unsupported value type");
  }
});

c("the sum, min and max helpers validate their operand synchronously", async (kv) => {
  assertThrows(() => kv.atomic().sum(["a"], anyValue(1) as bigint), "TypeError", "Value must be a bigint: received number");
  assertThrows(() => kv.atomic().min(["a"], -1n), "RangeError", "Value must be a positive bigint: received -1");
  assertThrows(() => kv.atomic().max(["a"], 2n ** 64n), "RangeError", "Value must fit in a 64-bit unsigned integer");
});

// ---- KvU64 ----

c("KvU64 holds a bigint and unboxes", async (_kv, env) => {
  const a = new env.KvU64(1n);
  assertEquals(a.value, 1n);
  assertEquals(a.valueOf(), 1n);
  assertEquals(String(a), "1");
  assertEquals((a as unknown as bigint) + 1n, 2n);
  assertEquals(new env.KvU64(0xffffffffffffffffn).toString(), "18446744073709551615");
});

c("KvU64 rejects out-of-range and non-bigint values", async (_kv, env) => {
  assertThrows(() => new env.KvU64(2n ** 64n), "RangeError", "Value must fit in a 64-bit unsigned integer");
  assertThrows(() => new env.KvU64(-1n), "RangeError", "Value must be a positive bigint: received -1");
  assertThrows(() => new env.KvU64(anyValue(1) as bigint), "TypeError", "Value must be a bigint: received number");
  assertThrows(() => new env.KvU64(anyValue("1") as bigint), "TypeError", "Value must be a bigint: received string");
  assertThrows(() => new env.KvU64(anyValue(undefined) as bigint), "TypeError", "Value must be a bigint: received undefined");
});

c("KvU64 is frozen, tagged, and compares by value", async (_kv, env) => {
  const a = new env.KvU64(5n);
  assert(Object.isFrozen(a), "frozen");
  assertEquals(Object.keys(a), ["value"]);
  assertEquals(Object.prototype.toString.call(a), "[object Deno.KvU64]");
  assertEquals(a, new env.KvU64(5n));
  assert(!equal(a, new env.KvU64(6n)), "different values differ");
  assert(!equal(a, { value: 5n }), "not a plain object");
});

// ---- commitVersionstamp ----

c("commitVersionstamp() returns one symbol", async (kv) => {
  const s = kv.commitVersionstamp();
  assertEquals(typeof s, "symbol");
  assert(s === kv.commitVersionstamp(), "the same symbol every time");
  assertEquals(String(s), "Symbol(KvCommitVersionstamp)");
});

c("set with commitVersionstamp() appends the commit's versionstamp to the key", async (kv) => {
  assertEquals(await collect(kv.list({ prefix: ["a"] })), []);
  const r1 = await kv.set(["a", kv.commitVersionstamp()], "b");
  const listed1 = await collect(kv.list({ prefix: ["a"] }));
  assertEquals(listed1, [entry(["a", r1.versionstamp!], "b", r1.versionstamp!)]);
  const r2 = await kv.atomic().set(["a", kv.commitVersionstamp()], "c").commit();
  assert(r2.versionstamp! > r1.versionstamp!, "later");
  const listed2 = await collect(kv.list({ prefix: ["a"] }));
  assertEquals(listed2[1], entry(["a", r2.versionstamp!], "c", r2.versionstamp!));
});

c("mutate set and expireIn work with commitVersionstamp()", async (kv) => {
  const r = await kv.atomic().mutate({ key: ["m", kv.commitVersionstamp()], type: "set", value: 1 }).commit();
  const r2 = await kv.set(["e", kv.commitVersionstamp()], 2, { expireIn: 60_000 });
  assertEquals(await collect(kv.list({ prefix: ["m"] })), [entry(["m", r.versionstamp!], 1, r.versionstamp!)]);
  assertEquals(await collect(kv.list({ prefix: ["e"] })), [entry(["e", r2.versionstamp!], 2, r2.versionstamp!)]);
});

c("two versionstamped sets of one prefix in one commit write one key", async (kv) => {
  const r = await kv.atomic().set(["v", kv.commitVersionstamp()], 1).set(["v", kv.commitVersionstamp()], 2).commit();
  assertEquals(await collect(kv.list({ prefix: ["v"] })), [entry(["v", r.versionstamp!], 2, r.versionstamp!)]);
});

c("commitVersionstamp() is only valid as the last part of a set key", async (kv) => {
  const vs = kv.commitVersionstamp();
  await assertRejects(() => kv.set(["a", vs, "a"], "x"), "TypeError", INVALID_PART);
  await assertRejects(() => kv.get(["a", vs]), "TypeError", INVALID_PART);
  await assertRejects(() => kv.delete(["a", vs]), "TypeError", INVALID_PART);
  await assertRejects(() => kv.atomic().sum(["a", vs], 1n).commit(), "TypeError", INVALID_PART);
  await assertRejects(() => kv.atomic().check({ key: ["a", vs], versionstamp: null }).commit(), "TypeError", INVALID_PART);
  await assertRejects(() => kv.set([vs], "x"), "TypeError", "key cannot be empty");
});

// ---- limits ----

c("values are limited to 65536 bytes", async (kv) => {
  const lastValid = new Uint8Array(65536);
  const res = await kv.set(["a"], lastValid);
  assertEquals(await kv.get(["a"]), entry(["a"], lastValid, res.versionstamp!));
  await assertRejects(() => kv.set(["b"], new Uint8Array(65537)), "TypeError", "Value too large (max 65536 bytes)");
  // A V8 string of 65536 characters is 65536 bytes plus a header.
  await assertRejects(() => kv.set(["b"], "x".repeat(65536)), "TypeError", "Value too large (max 65536 bytes)");
  await assertRejects(() => kv.atomic().set(["b"], new Uint8Array(65537)).commit(), "TypeError", "Value too large (max 65536 bytes)");
});

c("at most 100 checks per operation", async (kv) => {
  const checks = (n: number) => Array.from({ length: n }, (_, i) => ({ key: ["a", i], versionstamp: null }));
  assert((await kv.atomic().check(...checks(100)).commit()).ok, "100 checks");
  await assertRejects(() => kv.atomic().check(...checks(101)).commit(), "TypeError", "Too many checks (max 100)");
});

c("at most 1000 mutations and enqueues per operation", async (kv) => {
  const op = (n: number) => {
    const a = kv.atomic();
    for (let i = 0; i < n; i++) a.set(["a", i], 1);
    return a;
  };
  assert((await op(1000).commit()).ok, "1000 mutations");
  await assertRejects(() => op(1001).commit(), "TypeError", "Too many mutations (max 1000)");
  await assertRejects(() => op(1000).enqueue("m").commit(), "TypeError", "Too many mutations (max 1000)");
  assertEquals(await keysOf(kv.list({ prefix: ["a"] }, { limit: 1, reverse: true })), [["a", 999]]);
});

c("a commit's keys and values are limited to 819200 bytes in total", async (kv) => {
  const small = kv.atomic();
  for (let i = 0; i < 1000; i++) small.set(["a", i], "foo");
  assert((await small.commit()).ok, "small values");
  const big = kv.atomic();
  const value = "a".repeat(3000);
  for (let i = 0; i < 1000; i++) big.set(["a", i], value);
  await assertRejects(() => big.commit(), "TypeError", "Total mutation size too large (max 819200 bytes)");
});

c("a commit's keys are limited to 81920 bytes in total", async (kv) => {
  const longString = "a".repeat(1100);
  const op = kv.atomic();
  for (let i = 0; i < 80; i++) op.set([longString], "foo");
  await assertRejects(() => op.commit(), "TypeError", "Total key size too large (max 81920 bytes)");
});

c("limit errors come in Deno's order", async (kv) => {
  await assertRejects(() => kv.atomic().set(["x"], new Uint8Array(70000)).set([], 1).commit(), "TypeError", "key cannot be empty");
  await assertRejects(() => kv.atomic().set([new Uint8Array(2047).fill(1)], new Uint8Array(70000)).commit(), "TypeError", "Key too large for write (max 2048 bytes)");
  const many = kv.atomic();
  for (let i = 0; i < 1001; i++) many.set([i], 1);
  many.check(...Array.from({ length: 101 }, (_, i) => ({ key: [i], versionstamp: null })));
  await assertRejects(() => many.commit(), "TypeError", "Too many checks (max 100)");
  many.set([{}], 1);
  await assertRejects(() => many.commit(), "TypeError", INVALID_PART);
  await assertRejects(() => kv.atomic().check({ key: ["a"], versionstamp: "bad" }).set([], 1).commit(), "TypeError", "Invalid check");
});

c("enqueue payloads are limited to 65536 bytes", async (kv) => {
  await assertRejects(() => kv.enqueue(new Uint8Array(65537)), "TypeError", "enqueue payload too large (max 65536 bytes)");
  await assertRejects(() => kv.atomic().enqueue("x".repeat(65537)).commit(), "TypeError", "enqueue payload too large (max 65536 bytes)");
});

// ---- expiry ----

c("expireIn must be a non-negative integer", async (kv) => {
  const cases: [unknown, string][] = [
    [-1, "-1"],
    [1.5, "1.5"],
    [NaN, "NaN"],
    [Infinity, "Infinity"],
    [null, "null"],
    ["1", "1"],
  ];
  for (const [expireIn, shown] of cases) {
    const message = `expireIn must be a non-negative integer: received ${shown}`;
    await assertRejects(() => kv.set(["e"], 1, { expireIn }), "TypeError", message);
    assertThrows(() => kv.atomic().set(["e"], 1, { expireIn }), "TypeError", message);
  }
  assertThrows(() => kv.atomic().mutate({ key: ["e"], type: "set", value: 1, expireIn: -1 }), "TypeError", "expireIn must be a non-negative integer: received -1");
  assertEquals((await kv.get(["e"])).value, null);
});

c("mutate set ignores a non-number expireIn", async (kv) => {
  assert((await kv.atomic().mutate({ key: ["e"], type: "set", value: 1, expireIn: "5" }).commit()).ok, "accepted");
  assertEquals((await kv.get(["e"])).value, 1);
});

c("expireIn beyond the representable time is rejected", async (kv) => {
  await assertRejects(() => kv.set(["e"], 1, { expireIn: 1e16 }), "TypeError", "Invalid mutation: expireIn is too large: 10000000000000000");
  await assertRejects(() => kv.set(["e"], 1, { expireIn: 1e20 }), "TypeError", "Invalid mutation: expireIn is too large: 18446744073709551615");
  assert((await kv.set(["e"], 1, { expireIn: 1e15 })).ok, "31 000 years is fine");
});

c("expireIn 0 is accepted", async (kv) => {
  const r = await kv.set(["e"], 1, { expireIn: 0 });
  assert(r.ok, "accepted");
});

c("an entry with expireIn is readable right away", async (kv) => {
  const r = await kv.set(["e"], "v", { expireIn: 60_000 });
  assertEquals(await kv.get(["e"]), entry(["e"], "v", r.versionstamp!));
  await kv.atomic().set(["f"], "w", { expireIn: 60_000 }).commit();
  assertEquals(await keysOf(kv.list({ prefix: [] })), [["e"], ["f"]]);
});

c("an expired entry is no longer returned", async (kv) => {
  await kv.set(["gone"], 1, { expireIn: 50 });
  await kv.set(["kept"], 2);
  await sleep(150);
  assertEquals((await kv.get(["gone"])).value, null, "get after expiry");
  assertEquals(await keysOf(kv.list({ prefix: [] })), [["kept"]], "list after expiry");
});

// ---- list ----

c("list prefix", async (kv) => {
  const vs = await setupData(kv);
  assertEquals(await collect(kv.list({ prefix: ["a"] })), [
    entry(["a", "a"], 0, vs),
    entry(["a", "b"], 1, vs),
    entry(["a", "c"], 2, vs),
    entry(["a", "d"], 3, vs),
    entry(["a", "e"], 4, vs),
  ]);
});

c("list prefix excludes the prefix key itself", async (kv) => {
  await setupData(kv);
  assert(!(await keysOf(kv.list({ prefix: ["a"] }))).some((k) => k.length === 1), "no [a]");
});

c("list prefix with no matches", async (kv) => {
  await setupData(kv);
  assertEquals(await collect(kv.list({ prefix: ["c"] })), []);
  assertEquals(await collect(kv.list({ prefix: ["a", "f"] })), []);
});

c("list prefix with start", async (kv) => {
  const vs = await setupData(kv);
  assertEquals(await collect(kv.list({ prefix: ["a"], start: ["a", "c"] })), [entry(["a", "c"], 2, vs), entry(["a", "d"], 3, vs), entry(["a", "e"], 4, vs)]);
});

c("list prefix with start past the end", async (kv) => {
  await setupData(kv);
  assertEquals(await collect(kv.list({ prefix: ["a"], start: ["a", "f"] })), []);
});

c("list prefix with start equal to or outside the prefix fails", async (kv) => {
  await setupData(kv);
  await assertRejects(() => collect(kv.list({ prefix: ["a"], start: ["a"] })), "TypeError", "Start key is not in the keyspace defined by prefix");
  await assertRejects(() => collect(kv.list({ prefix: ["b"], start: ["a"] })), "TypeError", "Start key is not in the keyspace defined by prefix");
});

c("list prefix with end", async (kv) => {
  const vs = await setupData(kv);
  assertEquals(await collect(kv.list({ prefix: ["a"], end: ["a", "c"] })), [entry(["a", "a"], 0, vs), entry(["a", "b"], 1, vs)]);
});

c("list prefix with end before the first key", async (kv) => {
  await setupData(kv);
  assertEquals(await collect(kv.list({ prefix: ["a"], end: ["a", "a"] })), []);
});

c("list prefix with end equal to or outside the prefix fails", async (kv) => {
  await setupData(kv);
  await assertRejects(() => collect(kv.list({ prefix: ["a"], end: ["a"] })), "TypeError", "End key is not in the keyspace defined by prefix");
  await assertRejects(() => collect(kv.list({ prefix: ["a"], end: ["b"] })), "TypeError", "End key is not in the keyspace defined by prefix");
});

c("list with the empty prefix lists everything", async (kv) => {
  const vs = await setupData(kv);
  const all = await collect(kv.list({ prefix: [] }));
  assertEquals(all.map((e) => [...e.key]), [["a"], ["a", "a"], ["a", "b"], ["a", "c"], ["a", "d"], ["a", "e"], ["b"], ["b", "a"]]);
  assertEquals(all[0], entry(["a"], -1, vs));
});

c("list prefix reverse", async (kv) => {
  const vs = await setupData(kv);
  assertEquals(await collect(kv.list({ prefix: ["a"] }, { reverse: true })), [
    entry(["a", "e"], 4, vs),
    entry(["a", "d"], 3, vs),
    entry(["a", "c"], 2, vs),
    entry(["a", "b"], 1, vs),
    entry(["a", "a"], 0, vs),
  ]);
});

c("list prefix reverse with start", async (kv) => {
  await setupData(kv);
  assertEquals(await keysOf(kv.list({ prefix: ["a"], start: ["a", "c"] }, { reverse: true })), [["a", "e"], ["a", "d"], ["a", "c"]]);
  assertEquals(await keysOf(kv.list({ prefix: ["a"], start: ["a", "f"] }, { reverse: true })), []);
});

c("list prefix reverse with end", async (kv) => {
  await setupData(kv);
  assertEquals(await keysOf(kv.list({ prefix: ["a"], end: ["a", "c"] }, { reverse: true })), [["a", "b"], ["a", "a"]]);
  assertEquals(await keysOf(kv.list({ prefix: ["a"], end: ["a", "a"] }, { reverse: true })), []);
});

c("list prefix with limit", async (kv) => {
  await setupData(kv);
  assertEquals(await keysOf(kv.list({ prefix: ["a"] }, { limit: 2 })), [["a", "a"], ["a", "b"]]);
  assertEquals(await keysOf(kv.list({ prefix: ["a"] }, { limit: 2, reverse: true })), [["a", "e"], ["a", "d"]]);
});

c("list prefix with a small batch size", async (kv) => {
  const vs = await setupData(kv);
  assertEquals(await collect(kv.list({ prefix: ["a"] }, { batchSize: 2 })), [
    entry(["a", "a"], 0, vs),
    entry(["a", "b"], 1, vs),
    entry(["a", "c"], 2, vs),
    entry(["a", "d"], 3, vs),
    entry(["a", "e"], 4, vs),
  ]);
  assertEquals(await keysOf(kv.list({ prefix: ["a"] }, { batchSize: 2, reverse: true })), [["a", "e"], ["a", "d"], ["a", "c"], ["a", "b"], ["a", "a"]]);
});

c("list prefix with a small batch size and a limit", async (kv) => {
  await setupData(kv);
  assertEquals(await keysOf(kv.list({ prefix: ["a"] }, { batchSize: 2, limit: 3 })), [["a", "a"], ["a", "b"], ["a", "c"]]);
  assertEquals(await keysOf(kv.list({ prefix: ["a"] }, { batchSize: 2, limit: 3, reverse: true })), [["a", "e"], ["a", "d"], ["a", "c"]]);
});

c("list batch size 1 visits every entry", async (kv) => {
  await setupData(kv);
  assertEquals((await keysOf(kv.list({ prefix: [] }, { batchSize: 1 }))).length, 8);
});

c("list with a manual cursor continues after the last entry", async (kv) => {
  const vs = await setupData(kv);
  const it = kv.list({ prefix: ["a"] }, { limit: 2 });
  assertEquals(await collect(it), [entry(["a", "a"], 0, vs), entry(["a", "b"], 1, vs)]);
  assertEquals(it.cursor, "AmIA");
  assertEquals(await collect(kv.list({ prefix: ["a"] }, { cursor: it.cursor })), [entry(["a", "c"], 2, vs), entry(["a", "d"], 3, vs), entry(["a", "e"], 4, vs)]);
});

c("list with a manual cursor in reverse", async (kv) => {
  await setupData(kv);
  const it = kv.list({ prefix: ["a"] }, { limit: 2, reverse: true });
  assertEquals(await keysOf(it), [["a", "e"], ["a", "d"]]);
  assertEquals(it.cursor, "AmQA");
  assertEquals(await keysOf(kv.list({ prefix: ["a"] }, { cursor: it.cursor, reverse: true })), [["a", "c"], ["a", "b"], ["a", "a"]]);
});

c("list cursors continue prefix+start and prefix+end selectors", async (kv) => {
  await setupData(kv);
  const it = kv.list({ prefix: ["a"], start: ["a", "b"] }, { limit: 2 });
  assertEquals(await keysOf(it), [["a", "b"], ["a", "c"]]);
  assertEquals(it.cursor, "AmMA");
  assertEquals(await keysOf(kv.list({ prefix: ["a"], start: ["a", "b"] }, { cursor: it.cursor })), [["a", "d"], ["a", "e"]]);
  const rev = kv.list({ prefix: ["a"], end: ["a", "d"] }, { limit: 2, reverse: true });
  assertEquals(await keysOf(rev), [["a", "c"], ["a", "b"]]);
  assertEquals(await keysOf(kv.list({ prefix: ["a"], end: ["a", "d"] }, { cursor: rev.cursor, reverse: true })), [["a", "a"]]);
});

c("list cursor is readable mid-iteration and empty when exhausted", async (kv) => {
  await setupData(kv);
  const it = kv.list({ prefix: [] });
  await it.next();
  assertEquals(it.cursor, "AmEA");
  await it.next();
  assertEquals(it.cursor, "AmEAAmEA");
  await collect(it);
  assertEquals(it.cursor, "");
  const empty = kv.list({ prefix: ["zz"] });
  await collect(empty);
  assertEquals(empty.cursor, "");
});

c("list cursor before the first iteration throws", async (kv) => {
  const it = kv.list({ prefix: [] });
  assertThrows(() => it.cursor, "Error", "Cannot get cursor before first iteration");
  assertEquals(kv.list({ prefix: [] }, { cursor: "AmIA" }).cursor, "AmIA");
});

c("list range", async (kv) => {
  const vs = await setupData(kv);
  assertEquals(await collect(kv.list({ start: ["a", "a"], end: ["a", "z"] })), [
    entry(["a", "a"], 0, vs),
    entry(["a", "b"], 1, vs),
    entry(["a", "c"], 2, vs),
    entry(["a", "d"], 3, vs),
    entry(["a", "e"], 4, vs),
  ]);
});

c("list range reverse", async (kv) => {
  await setupData(kv);
  assertEquals(await keysOf(kv.list({ start: ["a", "a"], end: ["a", "z"] }, { reverse: true })), [["a", "e"], ["a", "d"], ["a", "c"], ["a", "b"], ["a", "a"]]);
});

c("list range with limit", async (kv) => {
  await setupData(kv);
  assertEquals(await keysOf(kv.list({ start: ["a", "a"], end: ["a", "z"] }, { limit: 3 })), [["a", "a"], ["a", "b"], ["a", "c"]]);
  assertEquals(await keysOf(kv.list({ start: ["a", "a"], end: ["a", "z"] }, { limit: 3, reverse: true })), [["a", "e"], ["a", "d"], ["a", "c"]]);
});

c("list range includes start and nested keys, excludes end", async (kv) => {
  const vs = await setupData(kv);
  assertEquals(await collect(kv.list({ start: ["a"], end: ["a", "d"] })), [entry(["a"], -1, vs), entry(["a", "a"], 0, vs), entry(["a", "b"], 1, vs), entry(["a", "c"], 2, vs)]);
  assertEquals(await keysOf(kv.list({ start: ["a", "b"], end: ["a", "d"] })), [["a", "b"], ["a", "c"]]);
});

c("list range with a manual cursor", async (kv) => {
  await setupData(kv);
  const it = kv.list({ start: ["a", "b"], end: ["a", "z"] }, { limit: 2 });
  assertEquals(await keysOf(it), [["a", "b"], ["a", "c"]]);
  assertEquals(it.cursor, "YwA=");
  assertEquals(await keysOf(kv.list({ start: ["a", "b"], end: ["a", "z"] }, { cursor: it.cursor })), [["a", "d"], ["a", "e"]]);
});

c("list range with a manual cursor in reverse", async (kv) => {
  await setupData(kv);
  const it = kv.list({ start: ["a", "b"], end: ["a", "z"] }, { limit: 2, reverse: true });
  assertEquals(await keysOf(it), [["a", "e"], ["a", "d"]]);
  assertEquals(await keysOf(kv.list({ start: ["a", "b"], end: ["a", "z"] }, { cursor: it.cursor, reverse: true })), [["a", "c"], ["a", "b"]]);
});

c("list range with start greater than end fails, equal is empty", async (kv) => {
  await setupData(kv);
  await assertRejects(() => collect(kv.list({ start: ["b"], end: ["a"] })), "TypeError", "Start key is greater than end key");
  assertEquals(await collect(kv.list({ start: ["a"], end: ["a"] })), []);
});

c("list selectors are validated synchronously", async (kv) => {
  assertThrows(() => kv.list({ prefix: ["a"], start: ["a", "b"], end: ["a", "c"] }), "TypeError", "Selector can not specify both 'start' and 'end' key when specifying 'prefix'");
  assertThrows(() => kv.list({ start: ["a", "b"] }), "TypeError", "Selector must specify either 'prefix' or both 'start' and 'end' key");
  assertThrows(() => kv.list({ end: ["a", "b"] }), "TypeError", "Selector must specify either 'prefix' or both 'start' and 'end' key");
  assertThrows(() => kv.list({}), "TypeError", "Selector must specify either 'prefix' or both 'start' and 'end' key");
  assertThrows(() => kv.list(null), "TypeError", "Cannot convert undefined or null to object");
});

c("list selector keys are checked on the first next()", async (kv) => {
  const it = kv.list({ prefix: [{}] });
  await assertRejects(() => it.next(), "TypeError", INVALID_PART);
  await assertRejects(() => collect(kv.list({ start: ["a"], end: [Symbol()] })), "TypeError", INVALID_PART);
});

c("list copies the selector when called", async (kv) => {
  await setupData(kv);
  const prefix: unknown[] = ["a"];
  const it = kv.list({ prefix });
  prefix.push("zzz");
  assertEquals((await keysOf(it)).length, 5);
  const undefinedPrefix = kv.list({ prefix: undefined, start: ["a", "b"], end: ["a", "d"] });
  assertEquals(await keysOf(undefinedPrefix), [["a", "b"], ["a", "c"]]);
});

c("list limit and batchSize must be positive integers", async (kv) => {
  for (const limit of [0, -1, 1.5, Infinity, null]) {
    assertThrows(() => kv.list({ prefix: [] }, { limit }), "Error", `Limit must be a positive integer: received ${limit}`);
  }
  for (const batchSize of [0, 1.5, "2"]) {
    assertThrows(() => kv.list({ prefix: [] }, { batchSize }), "Error", `batchSize must be a positive integer: received ${batchSize}`);
  }
});

c("list batchSize is at most 1000; a large limit is capped to 500 per batch", async (kv) => {
  await setupData(kv);
  assertEquals((await collect(kv.list({ prefix: ["a"] }, { batchSize: 1000 }))).length, 5);
  await assertRejects(() => collect(kv.list({ prefix: ["a"] }, { batchSize: 1001 })), "TypeError", "Too many entries (max 1000)");
  assertEquals((await collect(kv.list({ prefix: ["a"] }, { limit: 1001 }))).length, 5);
});

c("list over more than one batch returns everything once", async (kv) => {
  const op = kv.atomic();
  for (let i = 0; i < 250; i++) op.set(["n", i], i);
  await op.commit();
  const values = (await collect(kv.list({ prefix: ["n"] }))).map((e) => e.value);
  assertEquals(values, Array.from({ length: 250 }, (_, i) => i));
  const rev = (await collect(kv.list({ prefix: ["n"] }, { reverse: true, batchSize: 7 }))).map((e) => e.value);
  assertEquals(rev, Array.from({ length: 250 }, (_, i) => 249 - i));
});

c("list rejects malformed cursors", async (kv) => {
  await setupData(kv);
  for (const cursor of ["!!!", "AQ", "Am+/", "AmJ="]) {
    await assertRejects(() => collect(kv.list({ prefix: ["a"] }, { cursor })), "TypeError", "invalid cursor");
  }
  await assertRejects(() => collect(kv.list({ prefix: ["a"] }, { cursor: anyValue(5) })), "TypeError", "serde_v8 error: invalid type; expected: string, got: Number");
  assertEquals((await collect(kv.list({ prefix: ["a"] }, { cursor: "" }))).length, 5, "an empty cursor is no cursor");
});

c("list rejects cursors outside the selector", async (kv) => {
  await setupData(kv);
  await assertRejects(() => collect(kv.list({ start: ["a", "b"], end: ["a", "d"] }, { cursor: "AP8=" })), "TypeError", "cursor out of bounds");
  await assertRejects(() => collect(kv.list({ start: ["a", "b"], end: ["a", "d"] }, { cursor: "_w==", reverse: true })), "TypeError", "cursor out of bounds");
});

c("list consistency option", async (kv) => {
  await setupData(kv);
  assertEquals((await collect(kv.list({ prefix: ["a"] }, { consistency: "eventual" }))).length, 5);
  await assertRejects(() => collect(kv.list({ prefix: ["a"] }, { consistency: "x" })), "TypeError", "unknown variant `x`, expected `strong` or `eventual`");
  await assertRejects(() => kv.get(["a"], { consistency: "x" }), "TypeError", "unknown variant `x`, expected `strong` or `eventual`");
  await assertRejects(() => kv.getMany([["a"]], { consistency: 1 }), "TypeError", "serde_v8 error: invalid type; expected: enum, got: Number");
  assertEquals((await kv.get(["a"], { consistency: "eventual" })).value, -1);
});

c("a list iterator is its own async iterator", async (kv) => {
  await setupData(kv);
  const it = kv.list({ prefix: ["b"] });
  assert(it[Symbol.asyncIterator]() === it, "returns itself");
  const first = await it.next();
  assertEquals(first.done, false);
  assertEquals([...(first.value as EntryLike).key], ["b", "a"]);
  assertEquals(await it.next(), { done: true, value: undefined });
  assertEquals(await it.next(), { done: true, value: undefined });
});

c("list sees writes made between batches", async (kv) => {
  await kv.atomic().set(["k", 1], 1).set(["k", 2], 2).set(["k", 4], 4).commit();
  const it = kv.list({ prefix: ["k"] }, { batchSize: 2 });
  assertEquals((await it.next()).value?.value, 1);
  await kv.set(["k", 3], 3);
  const rest = [];
  for await (const e of it) rest.push(e.value);
  assertEquals(rest, [2, 3, 4]);
});

// ---- watch ----

async function readNext(reader: ReadableStreamDefaultReader<EntryLike[]>, what: string): Promise<EntryLike[]> {
  const r = await within(reader.read(), 2000, what);
  if (r.done) throw new AssertionError(`stream ended while waiting for ${what}`);
  return r.value;
}

c("watch first emits the current entries", async (kv) => {
  const r = await kv.set(["b"], 2);
  const reader = kv.watch([["a"], ["b"]]).getReader();
  assertEquals(await readNext(reader, "the first event"), [entry(["a"], null, null), entry(["b"], 2, r.versionstamp!)]);
  await reader.cancel();
});

c("watch emits when a watched key is set", async (kv) => {
  const reader = kv.watch([["key"]]).getReader();
  await readNext(reader, "the first event");
  const { versionstamp } = await kv.set(["key"], 1);
  assertEquals(await readNext(reader, "the change"), [entry(["key"], 1, versionstamp!)]);
  await reader.cancel();
});

c("watch emits when a watched key is deleted", async (kv) => {
  await kv.set(["key"], "v");
  const reader = kv.watch([["key"]]).getReader();
  assertEquals((await readNext(reader, "the first event"))[0]!.value, "v");
  await kv.delete(["key"]);
  assertEquals(await readNext(reader, "the delete"), [entry(["key"], null, null)]);
  await reader.cancel();
});

c("watch emits on a rewrite of the same value", async (kv) => {
  await kv.set(["key"], "same");
  const reader = kv.watch([["key"]]).getReader();
  await readNext(reader, "the first event");
  const r = await kv.set(["key"], "same");
  assertEquals(await readNext(reader, "the rewrite"), [entry(["key"], "same", r.versionstamp!)]);
  await reader.cancel();
});

c("watch does not emit for writes to other keys", async (kv) => {
  const reader = kv.watch([["watched"]]).getReader();
  await readNext(reader, "the first event");
  await kv.set(["other"], 1);
  await kv.set(["watched", "child"], 1);
  const r = await kv.set(["watched"], 2);
  assertEquals(await readNext(reader, "the change"), [entry(["watched"], 2, r.versionstamp!)]);
  await reader.cancel();
});

c("watch reports all watched keys in every event", async (kv) => {
  const reader = kv.watch([["x"], ["y"], ["z"]]).getReader();
  await readNext(reader, "the first event");
  const ry = await kv.set(["y"], "Y");
  assertEquals(await readNext(reader, "y"), [entry(["x"], null, null), entry(["y"], "Y", ry.versionstamp!), entry(["z"], null, null)]);
  const r = await kv.atomic().set(["x"], "X").set(["z"], "Z").commit();
  assertEquals(await readNext(reader, "x and z"), [entry(["x"], "X", r.versionstamp!), entry(["y"], "Y", ry.versionstamp!), entry(["z"], "Z", r.versionstamp!)]);
  await reader.cancel();
});

c("watch sees atomic sums", async (kv, env) => {
  const reader = kv.watch([["n"]]).getReader();
  await readNext(reader, "the first event");
  await kv.atomic().sum(["n"], 3n).commit();
  assertEquals((await readNext(reader, "the sum"))[0]!.value, new env.KvU64(3n));
  await reader.cancel();
});

c("watch accepts 10 keys and rejects 11 synchronously", async (kv) => {
  const ten = kv.watch(Array.from({ length: 10 }, (_, i) => [i]));
  const reader = ten.getReader();
  assertEquals((await readNext(reader, "the first event")).length, 10);
  await reader.cancel();
  assertThrows(() => kv.watch(Array.from({ length: 11 }, (_, i) => [i])), "TypeError", "Too many keys (max 10)");
});

c("watch validates keys synchronously", async (kv) => {
  assertThrows(() => kv.watch([["a", {}]]), "TypeError", INVALID_PART);
  assertThrows(() => kv.watch("a"), "TypeError", "serde_v8 error: invalid type; expected: array, got: string");
  assertThrows(() => kv.watch([new Uint8Array(3)]), "TypeError", "serde_v8 error: invalid type; expected: array, got: Uint8Array");
  assertThrows(() => kv.watch([[new Uint8Array(2100).fill(1)]]), "TypeError", "Key too large for read (max 2049 bytes)");
});

c("watch of no keys ends at once", async (kv) => {
  const reader = kv.watch([]).getReader();
  assertEquals(await within(reader.read(), 2000, "the end"), { done: true, value: undefined });
});

c("watch of the empty key", async (kv) => {
  const reader = kv.watch([[]]).getReader();
  assertEquals(await readNext(reader, "the first event"), [entry([], null, null)]);
  await reader.cancel();
});

c("a cancelled watch stays cancelled", async (kv) => {
  const stream = kv.watch([["a"]]);
  const reader = stream.getReader();
  await readNext(reader, "the first event");
  await reader.cancel();
  await kv.set(["a"], 1);
  assertEquals(await within(reader.read(), 2000, "the end"), { done: true, value: undefined });
});

c("closing the database ends its watch streams", async (kv) => {
  const reader = kv.watch([["a"]]).getReader();
  await readNext(reader, "the first event");
  const pending = reader.read();
  setTimeout(() => kv.close(), 20);
  assertEquals(await within(pending, 2000, "the end of the stream"), { done: true, value: undefined });
});

c("watch streams can be iterated with for await", async (kv) => {
  const seen: unknown[] = [];
  const done = (async () => {
    for await (const entries of kv.watch([["i"]])) {
      seen.push(entries[0]!.value);
      if (seen.length === 3) break;
    }
  })();
  await eventually(async () => (seen.length >= 1 ? true : undefined), 2000, "the first event");
  await kv.set(["i"], 1);
  await eventually(async () => (seen.length >= 2 ? true : undefined), 2000, "the second event");
  await kv.set(["i"], 2);
  await within(done, 2000, "the loop");
  assertEquals(seen, [null, 1, 2]);
});

// ---- queues ----

c("enqueue resolves to { ok, versionstamp }", async (kv) => {
  const r = await kv.enqueue("msg", { delay: 60_000 });
  assertEquals(Object.keys(r), ["ok", "versionstamp"]);
  assert(r.ok && VERSIONSTAMP.test(r.versionstamp!), "result");
});

c("listenQueue receives an enqueued message", async (kv) => {
  const got = deferred<unknown>();
  const listener = kv.listenQueue((msg) => got.resolve(msg));
  await kv.enqueue("test");
  assertEquals(await within(got.promise, 3000, "the message"), "test");
  kv.close();
  await within(listener, 2000, "listenQueue to resolve");
});

c("queue messages round-trip value types", async (kv, env) => {
  const values: unknown[] = ["s", 42, -0, 10n, true, null, undefined, new Date(5), new Uint8Array([1, 2]), [1, [2]], { a: { b: 1 } }, new Map([[1, 2]]), new Set([3])];
  const received: unknown[] = [];
  let next = deferred<void>();
  const listener = kv.listenQueue((msg) => {
    received.push(msg);
    next.resolve();
  });
  for (const v of values) {
    next = deferred<void>();
    await kv.enqueue(v);
    await within(next.promise, 3000, `message ${show(v)}`);
  }
  assertEquals(received, values);
  // A KvU64 goes through the queue as a structured clone: a plain object.
  next = deferred<void>();
  await kv.enqueue(new env.KvU64(7n));
  await within(next.promise, 3000, "the KvU64 message");
  assertEquals(received[received.length - 1], { value: 7n });
  kv.close();
  await listener;
});

c("an atomic enqueue is delivered with its commit", async (kv) => {
  const got = deferred<unknown>();
  const listener = kv.listenQueue((msg) => got.resolve(msg));
  await kv.set(["t"], "1");
  const current = await kv.get(["t"]);
  const res = await kv.atomic().check(current).set(["t"], "2").enqueue({ hello: "world" }).commit();
  assert(res.ok, "commit");
  assertEquals(await within(got.promise, 3000, "the message"), { hello: "world" });
  assertEquals((await kv.get(["t"])).value, "2");
  kv.close();
  await listener;
});

c("an enqueue in a failed atomic operation is never delivered", async (kv) => {
  const received: unknown[] = [];
  const got = deferred<void>();
  const listener = kv.listenQueue((msg) => {
    received.push(msg);
    got.resolve();
  });
  await kv.set(["t"], 1);
  assertEquals(await kv.atomic().check({ key: ["t"], versionstamp: null }).enqueue("never").commit(), { ok: false });
  await kv.enqueue("after");
  await within(got.promise, 3000, "the second message");
  await sleep(50);
  assertEquals(received, ["after"]);
  kv.close();
  await listener;
});

c("a handler can do atomic work and the message is retried when it throws", async (kv) => {
  const done = deferred<unknown>();
  let attempts = 0;
  const listener = kv.listenQueue(async (msg) => {
    attempts++;
    const nonce = await kv.get(["nonce"]);
    if (nonce.versionstamp === null) {
      done.resolve(msg);
      return;
    }
    const res = await kv.atomic().check(nonce).delete(["nonce"]).set(["out"], msg).commit();
    if (res.ok) throw new Error("injected failure");
  });
  await kv.atomic().check({ key: ["nonce"], versionstamp: null }).set(["nonce"], true).enqueue("payload", { backoffSchedule: [10] }).commit();
  assertEquals(await within(done.promise, 3000, "the redelivery"), "payload");
  assertEquals(attempts, 2);
  assertEquals((await kv.get(["out"])).value, "payload");
  kv.close();
  await listener;
});

c("a message whose handler throws goes to keysIfUndelivered", async (kv) => {
  let calls = 0;
  const listener = kv.listenQueue(() => {
    calls++;
    throw new TypeError("dequeue error");
  });
  await kv.enqueue({ id: 1 }, { keysIfUndelivered: [["dead", 1], ["dead", 2]], backoffSchedule: [] });
  const dead = await eventually(async () => {
    const es = await kv.getMany([["dead", 1], ["dead", 2]]);
    return es.every((e) => e.versionstamp !== null) ? es : undefined;
  }, 3000, "the undelivered keys");
  assertEquals(dead.map((e) => e.value), [{ id: 1 }, { id: 1 }]);
  assertEquals(calls, 1);
  kv.close();
  await listener;
});

c("a failing message is retried per its backoffSchedule", async (kv) => {
  let calls = 0;
  const listener = kv.listenQueue(() => {
    calls++;
    throw new Error("nope");
  });
  await kv.enqueue("m", { keysIfUndelivered: [["dead"]], backoffSchedule: [10, 10] });
  await eventually(async () => ((await kv.get(["dead"])).versionstamp !== null ? true : undefined), 3000, "the dead letter");
  assertEquals(calls, 3);
  kv.close();
  await listener;
});

c("several listenQueue handlers share the messages", async (kv) => {
  const received: unknown[] = [];
  const all = deferred<void>();
  const handler = (msg: unknown) => {
    received.push(msg);
    if (received.length === 4) all.resolve();
  };
  const listeners = [kv.listenQueue(handler), kv.listenQueue(handler)];
  for (let i = 0; i < 4; i++) await kv.enqueue(`msg_${i}`);
  await within(all.promise, 3000, "four messages");
  assertEquals([...received].sort(), ["msg_0", "msg_1", "msg_2", "msg_3"]);
  kv.close();
  await Promise.all(listeners);
});

c("a delayed message waits for its delay", async (kv) => {
  const got = deferred<number>();
  const start = Date.now();
  const listener = kv.listenQueue(() => got.resolve(Date.now()));
  await kv.atomic().enqueue("later", { delay: 200 }).commit();
  const at = await within(got.promise, 3000, "the delayed message");
  assert(at - start >= 190, `delivered after ${at - start} ms`);
  kv.close();
  await listener;
});

c("queue delay must be within 0 ms and 30 days", async (kv) => {
  await assertRejects(() => kv.enqueue("x", { delay: -100 }), "TypeError", "Delay must be >= 0: received -100");
  await assertRejects(() => kv.enqueue("x", { delay: NaN }), "TypeError", "Delay cannot be NaN");
  await assertRejects(() => kv.enqueue("x", { delay: 30 * 24 * 60 * 60 * 1000 + 1 }), "TypeError", "Delay cannot be greater than 30 days: received 2592000001");
  assertThrows(() => kv.atomic().enqueue("x", { delay: -1 }), "TypeError", "Delay must be >= 0: received -1");
  await assertRejects(() => kv.enqueue("x", { delay: "5" }), "TypeError", "serde_v8 error: invalid type; expected: integer, got: string");
  assert((await kv.enqueue("x", { delay: 30 * 24 * 60 * 60 * 1000 })).ok, "30 days is fine");
});

c("backoffSchedule has at most 5 intervals of at most an hour", async (kv) => {
  await assertRejects(() => kv.enqueue("foo", { backoffSchedule: [1, 1, 1, 1, 1, 1] }), "TypeError", "Invalid backoffSchedule, max 5 intervals allowed");
  await assertRejects(() => kv.enqueue("foo", { backoffSchedule: [3600001] }), "TypeError", "Invalid backoffSchedule, interval at index 0 is invalid");
  await assertRejects(() => kv.enqueue("foo", { backoffSchedule: [1, -1] }), "TypeError", "Invalid backoffSchedule, interval at index 1 is invalid");
  assertThrows(() => kv.atomic().enqueue("foo", { backoffSchedule: [NaN] }), "TypeError", "Invalid backoffSchedule, interval at index 0 is invalid");
  assert((await kv.enqueue("foo", { backoffSchedule: [1, 1, 1, 1, 3600000], delay: 60_000 })).ok, "valid schedule");
});

c("keysIfUndelivered must be valid keys", async (kv) => {
  await assertRejects(() => kv.enqueue("x", { keysIfUndelivered: [[{}]] }), "TypeError", INVALID_PART);
  await assertRejects(() => kv.enqueue("x", { keysIfUndelivered: ["a"] }), "TypeError", "serde_v8 error: invalid type; expected: array, got: string");
});

c("enqueue of an uncloneable value fails", async (kv) => {
  await assertRejects(() => kv.enqueue(Symbol("q")), "TypeError", "Symbol(q) could not be cloned.");
  assertThrows(() => kv.atomic().enqueue(new WeakSet()), "TypeError", "#<WeakSet> could not be cloned.");
});

c("listenQueue resolves when the database closes", async (kv) => {
  const listener = kv.listenQueue(() => {});
  kv.close();
  await within(listener, 2000, "listenQueue to resolve");
});

c("listenQueue on a closed database rejects", async (kv) => {
  kv.close();
  await assertRejects(() => kv.listenQueue(() => {}), "Error", "Queue already closed");
});

// ---- closed databases ----

c("every method of a closed database throws BadResource", async (kv) => {
  kv.close();
  const bad = "Bad resource ID";
  await assertRejects(() => kv.get(["a"]), "BadResource", bad);
  await assertRejects(() => kv.getMany([["a"]]), "BadResource", bad);
  await assertRejects(() => kv.set(["a"], 1), "BadResource", bad);
  await assertRejects(() => kv.delete(["a"]), "BadResource", bad);
  await assertRejects(() => collect(kv.list({ prefix: [] })), "BadResource", bad);
  await assertRejects(() => kv.atomic().set(["a"], 1).commit(), "BadResource", bad);
  await assertRejects(() => kv.enqueue("m"), "BadResource", bad);
  assertThrows(() => kv.watch([["a"]]), "BadResource", bad);
  assertThrows(() => kv.close(), "BadResource", bad);
});

c("argument errors win over BadResource on a closed database", async (kv) => {
  kv.close();
  await assertRejects(() => kv.set(["a", {}], 1), "TypeError", INVALID_PART);
  await assertRejects(() => kv.set("a", 1), "TypeError", "serde_v8 error: invalid type; expected: array, got: string");
  await assertRejects(() => kv.get([{}]), "TypeError", INVALID_PART);
  await assertRejects(() => kv.enqueue(1, { delay: -1 }), "TypeError", "Delay must be >= 0: received -1");
  assertThrows(() => kv.list({ prefix: [] }, { limit: 0 }), "Error", "Limit must be a positive integer: received 0");
  await assertRejects(() => kv.set([], 1), "BadResource", "Bad resource ID");
});

c("commitVersionstamp, atomic and list still work on a closed database", async (kv) => {
  kv.close();
  assertEquals(typeof kv.commitVersionstamp(), "symbol");
  const op = kv.atomic().set(["a"], 1);
  await assertRejects(() => op.commit(), "BadResource", "Bad resource ID");
  const it = kv.list({ prefix: [] });
  await assertRejects(() => it.next(), "BadResource", "Bad resource ID");
});

c("Symbol.dispose closes the database and is a no-op afterwards", async (kv) => {
  kv[Symbol.dispose]();
  await assertRejects(() => kv.get(["a"]), "BadResource", "Bad resource ID");
  kv[Symbol.dispose]();
});

// ---------------------------------------------------------------------------------------------------
// Running the cases.

/** The names of all cases, in definition order. */
export const CASE_NAMES: readonly string[] = CASES.map(([name]) => name);

async function closeQuietly(kv: KvLike): Promise<void> {
  try {
    await kv.close();
  } catch {
    // Already closed by the case.
  }
}

/** Runs one case on a fresh database; throws its failure. */
export async function runCase(name: string, env: SuiteEnv): Promise<void> {
  const found = CASES.find(([n]) => n === name);
  if (!found) throw new Error(`no case named ${name}`);
  const kv = await env.open();
  try {
    await within(found[1](kv, env), CASE_TIMEOUT_MS, `case "${name}"`);
  } finally {
    await closeQuietly(kv);
  }
}

/** Registers every case with a test runner (node:test, Deno.test, …). */
export function defineDenoKvSuite(runner: SuiteRunner, env: SuiteEnv): void {
  for (const name of CASE_NAMES) runner.test(name, () => runCase(name, env));
}

/** Runs every case in order and reports `"pass"` or `"fail: <message>"` per case name. */
export async function collectResults(env: SuiteEnv, only?: (name: string) => boolean): Promise<Record<string, string>> {
  const results: Record<string, string> = {};
  for (const name of CASE_NAMES) {
    if (only && !only(name)) continue;
    try {
      await runCase(name, env);
      results[name] = "pass";
    } catch (e) {
      results[name] = `fail: ${e instanceof Error ? e.message : String(e)}`;
    }
  }
  return results;
}
