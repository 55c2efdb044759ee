// Regenerates test/fixtures/v8-deno.json: V8 ValueSerializer bytes written by
// the real Deno binary (Deno.core.serialize with forStorage, which is what
// Deno KV stores), each with a description of what Deno itself decodes them to.
//
//   node_modules/.bin/deno run --no-config --no-lock --unstable-kv \
//     --v8-flags=--js-immutable-arraybuffer --allow-read --allow-write \
//     scripts/gen-v8-fixtures.ts
//
// (run from the repository root; the V8 flag only exposes
// ArrayBuffer.prototype.transferToImmutable for the one fixture that needs it).
// Every fixture except bare Uint8Arrays (which Deno KV stores as raw bytes) is
// also written with kv.set to a temporary SQLite KV file and its stored bytes
// are checked to be identical, so the fixtures are exactly what Deno KV keeps.
//
// `deno run --no-config --no-lock scripts/gen-v8-fixtures.ts --decode` is the
// Deno half of src/core/v8.test.ts: it reads {"hex": [...], "throw": [...]}
// on stdin, decodes each hex with Deno's deserializer, evaluates each `throw`
// source and serializes it to capture Deno's error text, and prints JSON.
//
// describeValue() is shared with the Node tests so both runtimes describe
// decoded values the same way; it must stay runtime-neutral.

export type Description = null | boolean | number | string | Description[];

const toHex = (bytes: Uint8Array): string => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
const tagOf = (o: object): string => Object.prototype.toString.call(o).slice(8, -1);

interface RabLike {
  resizable?: boolean;
  maxByteLength?: number;
  resize?: (n: number) => void;
  immutable?: boolean;
}

// A JSON-able, canonical picture of a decoded value: every object gets an id
// in visit order and repeats become ["ref", id], so shared and circular
// structure is compared too, not just contents.
export function describeValue(value: unknown): Description {
  const ids = new Map<object, number>();
  const d = (v: unknown): Description => {
    switch (typeof v) {
      case "undefined": return ["undefined"];
      case "boolean": return ["boolean", v];
      case "number": return ["number", Object.is(v, -0) ? "-0" : String(v)];
      case "bigint": return ["bigint", v.toString()];
      case "string": return ["string", v];
      case "symbol": case "function": return ["unexpected", typeof v];
    }
    if (v === null) return ["null"];
    const o = v as object;
    const seen = ids.get(o);
    if (seen !== undefined) return ["ref", seen];
    const id = ids.size;
    ids.set(o, id);
    const props = (keys: string[]): Description[] => keys.map((k) => [k, d((o as Record<string, unknown>)[k])]);
    if (o instanceof ArrayBuffer) {
      const b = o as ArrayBuffer & RabLike;
      return ["ArrayBuffer", id, toHex(new Uint8Array(b)), b.resizable === true ? b.maxByteLength! : null, b.immutable === true];
    }
    if (ArrayBuffer.isView(o)) {
      const buffer = o.buffer as ArrayBuffer & RabLike;
      let tracking = false;
      // Length tracking is only observable by resizing; these are throwaway
      // decoded values, so grow by one byte and shrink back.
      if (buffer.resizable === true && buffer.byteLength < buffer.maxByteLength!) {
        const before = o.byteLength;
        buffer.resize!(buffer.byteLength + 1);
        tracking = o.byteLength !== before;
        buffer.resize!(buffer.byteLength - 1);
      }
      return [tagOf(o), id, d(buffer), o.byteOffset, o.byteLength, tracking];
    }
    if (o instanceof Date) return ["Date", id, String(o.getTime())];
    if (o instanceof RegExp) return ["RegExp", id, o.source, o.flags];
    if (o instanceof Map) return ["Map", id, [...o].map(([k, x]) => [d(k), d(x)])];
    if (o instanceof Set) return ["Set", id, [...o].map((x) => d(x))];
    if (o instanceof Error) {
      const own = (k: string): Description => Object.prototype.hasOwnProperty.call(o, k) ? d((o as unknown as Record<string, unknown>)[k]) : ["absent"];
      return ["Error", id, o.name, Object.getPrototypeOf(o)?.constructor?.name ?? "?", own("message"), d(o.stack), own("cause")];
    }
    const tag = tagOf(o);
    if (["Number", "String", "Boolean", "BigInt"].includes(tag)) return [tag, id, d((o as { valueOf(): unknown }).valueOf())];
    const proto = Object.getPrototypeOf(o) as { constructor?: { name?: string } } | null;
    if (Array.isArray(o)) {
      return ["Array", id, o.length, proto === Array.prototype ? "Array" : "foreign", props(Object.keys(o))];
    }
    const protoName = proto === Object.prototype ? "Object" : proto === null ? "null" : `foreign:${proto.constructor?.name}`;
    return ["Object", id, protoName, props(Object.keys(o))];
  };
  return d(value);
}

interface DenoCore {
  serialize(v: unknown, o: { forStorage: boolean }): Uint8Array;
  deserialize(b: Uint8Array, o: { forStorage: boolean }): unknown;
}
interface DenoKv {
  set(key: unknown[], value: unknown): Promise<unknown>;
  close(): void;
}
interface DenoNs {
  internal: symbol;
  version: { deno: string; v8: string };
  args: string[];
  stdin: { readable: ReadableStream<Uint8Array> };
  openKv(path: string): Promise<DenoKv>;
  makeTempFile(o: { suffix: string }): Promise<string>;
  remove(path: string): Promise<void>;
  writeTextFile(path: string, text: string): Promise<void>;
}

// Values for the fixtures. Errors get a fixed stack so regenerating does not
// churn the file with line numbers.
function fixtureValues(): Array<[string, unknown]> {
  const err = <E extends Error>(e: E): E => {
    e.stack = `${e.name}: ${e.message}\n    at fixture`;
    return e;
  };
  const circular: Record<string, unknown> = { name: "root" };
  circular["self"] = circular;
  const shared = { s: 1 };
  const selfArray: unknown[] = [1];
  selfArray.push(selfArray);
  const selfMap = new Map<unknown, unknown>();
  selfMap.set("me", selfMap);
  const buf = new ArrayBuffer(8);
  new Uint8Array(buf).set([1, 2, 3, 4, 5, 6, 7, 8]);
  const rab = new ArrayBuffer(4, { maxByteLength: 16 } as never);
  new Uint8Array(rab).set([9, 8, 7, 6]);
  const u8 = new Uint8Array([1, 2, 3]);
  const denseProp: unknown[] & { extra?: string } = [1, 2];
  denseProp.extra = "x";
  const sparseProp: unknown[] & { extra?: string } = [, "b"];
  sparseProp.extra = "y";
  const causeLoop = err(new Error("loop"));
  (causeLoop as { cause?: unknown }).cause = causeLoop;
  class Point { x = 1; y = 2; }
  class MyError extends Error { override name = "MyError"; }
  const G = globalThis as unknown as Record<string, new (a: unknown) => unknown>;
  const immutable = (new ArrayBuffer(2) as ArrayBuffer & { transferToImmutable?: () => ArrayBuffer }).transferToImmutable?.();
  const values: Array<[string, unknown]> = [
    ["undefined", undefined], ["null", null], ["true", true], ["false", false],
    ["int 0", 0], ["int 1", 1], ["int -1", -1], ["int 63", 63], ["int 64", 64], ["int -65", -65],
    ["int 2^30", 2 ** 30], ["int 2^31-1", 2 ** 31 - 1], ["int -2^31", -(2 ** 31)],
    ["double 2^31", 2 ** 31], ["double 2^53", 2 ** 53], ["double 1.5", 1.5], ["double -0", -0],
    ["double NaN", NaN], ["double Infinity", Infinity], ["double -Infinity", -Infinity],
    ["double MIN_VALUE", Number.MIN_VALUE], ["double MAX_VALUE", Number.MAX_VALUE], ["double 0.1", 0.1],
    ["bigint 0", 0n], ["bigint 1", 1n], ["bigint -1", -1n], ["bigint 2^63-1", 2n ** 63n - 1n],
    ["bigint 2^64", 2n ** 64n], ["bigint -(2^100)", -(2n ** 100n)],
    ["string empty", ""], ["string ascii", "hello"], ["string latin1", "café ÿ"],
    ["string two-byte", "€"], ["string cjk", "日本語"], ["string emoji", "😀"],
    ["string lone surrogate", "a\ud800b"], ["string NUL", "a\u0000b"], ["string long one-byte", "x".repeat(300)],
    ["string long two-byte", "€".repeat(70)], ["string BOM", "\ufeffbom"],
    ["array padding before two-byte", ["a", "€"]], ["array padding none", ["ab", "€"]],
    ["object empty", {}], ["object simple", { a: 1, b: "two", c: null }],
    ["object nested", { a: { b: { c: [1, { d: true }] } } }],
    ["object index keys", { 1: "a", b: 2, 0: "z" }], ["object key 2^31", { [2 ** 31]: 1 }],
    ["object key 4294967294", { 4294967294: 1 }], ["object key 4294967295", { 4294967295: 1 }],
    ["object key -1 and 01", { "-1": 1, "01": 2, "1.5": 3 }], ["object two-byte key", { "€uro": 1 }],
    ["object __proto__ key", JSON.parse('{"__proto__": {"polluted": true}, "ok": 1}')],
    ["object null prototype", Object.assign(Object.create(null), { a: 1 })],
    ["object class instance", new Point()], ["object getter", { get g() { return 7; } }],
    ["object symbol key skipped", { [Symbol("s")]: 1, a: 2 }],
    ["object non-enumerable skipped", Object.defineProperty({ v: 1 }, "hidden", { value: 2, enumerable: false })],
    ["array empty", []], ["array dense", [1, 2, 3]], ["array mixed", [1, "a", null, undefined, true, 1.5]],
    ["array holes", [1, , 3]], ["array all holes", new Array(5)], ["array dense with property", denseProp],
    ["array sparse with property", sparseProp], ["array large sparse", Object.assign(new Array(1000), { 999: "last" })],
    ["array nested", [[1, [2, [3]]], []]], ["array undefined element", [undefined]],
    ["date epoch", new Date(0)], ["date 2024", new Date(Date.UTC(2024, 1, 29, 12, 30, 0, 123))],
    ["date negative", new Date(-1e12)], ["date invalid", new Date(NaN)],
    ["regexp simple", /a.b/], ["regexp all flags", /a.b/dgimsy], ["regexp unicode", /\u{1F600}/u],
    ["regexp v flag", /[\p{L}--[a-z]]/v], ["regexp two-byte source", /€+/], ["regexp slash", /\/x\//g],
    ["map empty", new Map()], ["map mixed", new Map<unknown, unknown>([[1, "one"], ["two", 2], [{ k: 1 }, [1]], [null, undefined]])],
    ["map nested", new Map([["inner", new Map([["x", new Set([1])]])]])],
    ["set empty", new Set()], ["set mixed", new Set<unknown>([1, "1", 1n, null, { o: 1 }])],
    ["arraybuffer empty", new ArrayBuffer(0)], ["arraybuffer bytes", buf],
    ["arraybuffer resizable", rab],
    ["uint8array", u8], ["uint8array empty", new Uint8Array(0)],
    ["int8array", new Int8Array([-128, 127])], ["uint8clampedarray", new Uint8ClampedArray([0, 255])],
    ["int16array", new Int16Array([-2, 300])], ["uint16array", new Uint16Array([65535])],
    ["int32array", new Int32Array([-1, 2 ** 31 - 1])], ["uint32array", new Uint32Array([2 ** 32 - 1])],
    ["float32array", new Float32Array([1.5, -0])], ["float64array", new Float64Array([Math.PI, NaN])],
    ["bigint64array", new BigInt64Array([-1n, 2n ** 63n - 1n])], ["biguint64array", new BigUint64Array([2n ** 64n - 1n])],
    ["float16array", G["Float16Array"] ? new G["Float16Array"]([1.5, -2]) : new Uint8Array()],
    ["dataview", new DataView(buf, 2, 4)],
    ["typed array subarray", new Uint8Array(buf, 3, 2)],
    ["views sharing a buffer", [new Uint8Array(buf), new Uint16Array(buf, 2, 2), new DataView(buf, 1, 3)]],
    ["buffer then its view", [buf, new Uint32Array(buf, 4, 1)]],
    ["same view twice", [u8, u8]],
    ["length-tracking view on resizable buffer", new Uint8Array(rab)],
    ["fixed view on resizable buffer", new Uint8Array(rab, 1, 2)],
    ["number object", new Number(1.5)], ["string object", new String("abc")],
    ["string object two-byte", new String("é€")], ["boolean object true", new Boolean(true)],
    ["boolean object false", new Boolean(false)], ["bigint object", Object(-5n)],
    ["error", err(new Error("boom"))], ["error no message", err(new Error())],
    ["typeerror with cause", err(new TypeError("bad", { cause: { code: 42 } }))],
    ["rangeerror", err(new RangeError("range"))], ["evalerror", err(new EvalError("e"))],
    ["referenceerror", err(new ReferenceError("r"))], ["syntaxerror", err(new SyntaxError("s"))],
    ["urierror", err(new URIError("u"))], ["custom error class", err(new MyError("mine"))],
    ["error cause loop", causeLoop],
    ["circular object", circular], ["shared object", { a: shared, b: shared, c: [shared] }],
    ["circular array", selfArray], ["circular map", selfMap],
    ["map key is value", (() => { const k = { k: 1 }; return new Map([[k, k]]); })()],
    ["deep nesting", JSON.parse("[".repeat(100) + "]".repeat(100))],
  ];
  if (immutable !== undefined) values.push(["immutable arraybuffer", immutable]);
  return values;
}

async function generate(Deno: DenoNs, core: DenoCore): Promise<void> {
  const values = fixtureValues();
  const sqlitePath = await Deno.makeTempFile({ suffix: ".sqlite" });
  const kv = await Deno.openKv(sqlitePath);
  const fixtures = [];
  const storedAsBytes = new Set<string>();
  for (const [name, value] of values) {
    const bytes = core.serialize(value, { forStorage: true });
    fixtures.push({ name, hex: toHex(bytes), expected: describeValue(core.deserialize(bytes, { forStorage: true })) });
    if (value instanceof Uint8Array) storedAsBytes.add(name);
    else await kv.set([name], value);
  }
  kv.close();
  const { DatabaseSync } = await import("node:sqlite");
  const db = new DatabaseSync(sqlitePath);
  const encoder = new TextEncoder();
  const stored = db.prepare("SELECT v, v_encoding FROM kv WHERE k = ?");
  for (const f of fixtures) {
    if (storedAsBytes.has(f.name)) continue;
    // A one-string key encodes as 0x02, the UTF-8 bytes, 0x00.
    const row = stored.get(Uint8Array.of(2, ...encoder.encode(f.name), 0)) as { v: Uint8Array; v_encoding: number } | undefined;
    if (row === undefined || row.v_encoding !== 1 || toHex(row.v) !== f.hex) {
      throw new Error(`kv.set stored different bytes for ${f.name}: ${row ? toHex(row.v) : "nothing"} vs ${f.hex}`);
    }
  }
  db.close();
  await Deno.remove(sqlitePath);
  const header = {
    generator: "scripts/gen-v8-fixtures.ts",
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    note: "hex = Deno.core.serialize(value, {forStorage: true}), identical to what kv.set stores (checked except bare Uint8Arrays, which Deno KV keeps as raw bytes); expected = describeValue(Deno's own deserialize(hex))",
  };
  // One fixture per line keeps the file reviewable and diffs small.
  const head = JSON.stringify(header).slice(0, -1);
  const text = `${head},"fixtures":[\n${fixtures.map((f) => JSON.stringify(f)).join(",\n")}\n]}\n`;
  const path = new URL("../test/fixtures/v8-deno.json", import.meta.url).pathname;
  await Deno.writeTextFile(path, text);
  console.log(`wrote ${fixtures.length} fixtures to ${path}`);
}

async function decodeStdin(Deno: DenoNs, core: DenoCore): Promise<void> {
  const input = JSON.parse(await new Response(Deno.stdin.readable).text()) as { hex: string[]; throw: string[] };
  const fromHex = (h: string): Uint8Array => Uint8Array.from(h.match(/../g) ?? [], (x) => parseInt(x, 16));
  const decoded = input.hex.map((h) => {
    try {
      return describeValue(core.deserialize(fromHex(h), { forStorage: true }));
    } catch (e) {
      return { error: String(e) };
    }
  });
  const errors = input.throw.map((src) => {
    try {
      core.serialize((0, eval)(src), { forStorage: true });
      return "(no error)";
    } catch (e) {
      return (e as Error).message;
    }
  });
  console.log(JSON.stringify({ decoded, errors }));
}

const Deno = (globalThis as { Deno?: DenoNs }).Deno;
if (Deno !== undefined && import.meta.main) {
  const core = (Deno as unknown as Record<symbol, { core: DenoCore }>)[Deno.internal]!.core;
  if (Deno.args.includes("--decode")) await decodeStdin(Deno, core);
  else await generate(Deno, core);
}
