/**
 * The V8 value codec (src/core/v8.ts) against V8 itself: what we write, node:v8 must read as we do;
 * what node:v8 writes, we must read as it does; and any bytes at all decode to a value or a
 * V8CodecError — never another error, a stack overflow, a hang or a huge allocation.
 */
import assert from "node:assert/strict";
import v8 from "node:v8";
import fc from "fast-check";
import { deserializeV8, serializeV8, V8CodecError } from "../../src/core/v8.ts";
import { describeValue, type Description } from "../../scripts/gen-v8-fixtures.ts";
import { utf16Unit } from "./arbitraries.ts";
import { bytesAround, INTERESTING_BYTES } from "./mutate.ts";
import { target, type FuzzTarget } from "./target.ts";

const VIEW_TYPES = [
  Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array,
  Float16Array, Float32Array, Float64Array, BigInt64Array, BigUint64Array, DataView,
] as const;
type ViewCtor = (typeof VIEW_TYPES)[number];
const elementSize = (c: ViewCtor): number => ("BYTES_PER_ELEMENT" in c ? c.BYTES_PER_ELEMENT : 1);

const text = fc.oneof(fc.string({ maxLength: 8 }), fc.string({ unit: "binary", maxLength: 8 }), fc.string({ unit: utf16Unit, maxLength: 8 }));
const propertyName = fc.oneof(
  text,
  fc.constantFrom("__proto__", "0", "1", "7", "4294967294", "4294967295", "-1", "01", "length", "constructor", "toString", ""),
);

const regexp = fc
  .tuple(fc.constantFrom("", "a.b", "\\d+", "[a-z]*", "€/", "(?<n>x)", "\\p{L}", "^$"), fc.subarray(["d", "g", "i", "m", "s", "y"]), fc.constantFrom("", "u", "v"))
  .map(([source, flags, mode]) => {
    try {
      return new RegExp(source, flags.join("") + mode);
    } catch {
      return new RegExp(source, flags.join(""));
    }
  });

/** A buffer (fixed or resizable) and views on it: buffers shared between views exercise object ids. */
const buffersAndViews = fc
  .tuple(
    fc.uint8Array({ maxLength: 24 }),
    fc.option(fc.integer({ min: 0, max: 16 })),
    fc.array(fc.tuple(fc.constantFrom(...VIEW_TYPES), fc.nat(), fc.nat()), { maxLength: 3 }),
    fc.boolean(),
  )
  .map(([bytes, extra, specs, withBuffer]) => {
    const buffer = extra === null ? new ArrayBuffer(bytes.length) : new ArrayBuffer(bytes.length, { maxByteLength: bytes.length + extra });
    new Uint8Array(buffer).set(bytes);
    const views = specs.map(([Ctor, a, b]) => {
      const size = elementSize(Ctor);
      const slots = Math.floor(bytes.length / size);
      const offset = (a % (slots + 1)) * size;
      const length = b % (slots - offset / size + 1);
      // Fixed-length views only: whether a view tracks a resizable buffer is not observable from JS.
      return Ctor === DataView ? new DataView(buffer, offset, length) : new (Ctor as typeof Uint8Array)(buffer, offset, length);
    });
    return withBuffer ? [buffer, ...views] : views;
  });

const leaf = fc.oneof(
  fc.constantFrom(undefined, null, true, false, 0, -0, NaN, Infinity, -Infinity, 2 ** 31, -(2 ** 31) - 1, 2 ** 53),
  fc.integer(),
  fc.double(),
  fc.bigInt(),
  fc.bigInt({ min: -(2n ** 200n), max: 2n ** 200n }),
  text,
  fc.date({ noInvalidDate: false }),
  regexp,
  fc.oneof(fc.double().map((n) => Object(n)), text.map((s) => Object(s)), fc.boolean().map((b) => Object(b)), fc.bigInt().map((n) => Object(n))),
  buffersAndViews,
);

const ERRORS = [Error, EvalError, RangeError, ReferenceError, SyntaxError, TypeError, URIError] as const;

/** An own data property even for "__proto__" (which assignment would turn into a prototype change), as V8 makes them. */
function define<O extends object>(o: O, key: string, value: unknown): O {
  return Object.defineProperty(o, key, { value, writable: true, enumerable: true, configurable: true });
}

function objectOf(entries: [string, unknown][], nullProto: boolean): object {
  const o = nullProto ? Object.create(null) : {};
  for (const [k, v] of entries) define(o, k, v);
  return o;
}

/** Structured-clonable values: containers nest `leaf`s, may share children and may contain themselves. */
export const cloneable: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown; container: unknown }>((tie) => ({
  value: fc.oneof({ depthSize: "small", withCrossShrink: true }, leaf, tie("container")),
  container: fc
    .tuple(
      fc.oneof(
        fc.array(tie("value"), { maxLength: 4 }),
        fc.sparseArray(tie("value"), { maxLength: 12, maxNumElements: 3 }),
        fc.tuple(fc.array(tie("value"), { maxLength: 3 }), propertyName.filter((k) => k !== "length"), tie("value")).map(([a, k, v]) => define(a, k, v)),
        fc.tuple(fc.array(fc.tuple(propertyName, tie("value")), { maxLength: 4 }), fc.boolean()).map(([e, nullProto]) => objectOf(e, nullProto)),
        fc.array(fc.tuple(tie("value"), tie("value")), { maxLength: 3 }).map((e) => new Map(e)),
        fc.array(tie("value"), { maxLength: 3 }).map((e) => new Set(e)),
        fc.tuple(fc.constantFrom(...ERRORS), fc.option(text), fc.option(tie("value"))).map(([E, message, cause]) =>
          message === null ? new E() : cause === null ? new E(message) : new E(message, { cause }),
        ),
      ),
      fc.constantFrom("plain", "self", "shared"),
    )
    .map(([c, how]) => {
      if (how === "shared") return [c, c];
      if (how === "self") {
        if (c instanceof Map) c.set(c, c);
        else if (c instanceof Set) c.add(c);
        else if (c instanceof Error) c.cause = c;
        else (c as Record<string, unknown>).self = c;
      }
      return c;
    }),
})).value;

/**
 * describeValue, but a view is its type and its bytes: node:v8 writes views as host objects holding a
 * copy of their bytes, and reads them back as views over the input buffer, so which buffer a view sits
 * on (and at what offset) is node's business, not the value's.
 */
function describeByContent(value: unknown): Description {
  const replaced = new Map<object, unknown>();
  const swap = (v: unknown): unknown => {
    if (typeof v !== "object" || v === null) return v;
    if (ArrayBuffer.isView(v)) {
      if (!replaced.has(v)) replaced.set(v, [Object.prototype.toString.call(v), Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("hex")]);
      return replaced.get(v);
    }
    return v;
  };
  // Only containers can hold views: rebuild the graph with views swapped, keeping identities.
  const copies = new Map<object, unknown>();
  const copy = (v: unknown): unknown => {
    const s = swap(v);
    if (typeof s !== "object" || s === null || s !== v) return s;
    const o = v as object;
    if (copies.has(o)) return copies.get(o);
    if (Array.isArray(o)) {
      const out: unknown[] = new Array(o.length);
      copies.set(o, out);
      for (const k of Object.keys(o)) define(out, k, copy((o as unknown as Record<string, unknown>)[k]));
      return out;
    }
    if (o instanceof Map) {
      const out = new Map();
      copies.set(o, out);
      for (const [k, x] of o) out.set(copy(k), copy(x));
      return out;
    }
    if (o instanceof Set) {
      const out = new Set();
      copies.set(o, out);
      for (const x of o) out.add(copy(x));
      return out;
    }
    if (o instanceof Error || o instanceof Date || o instanceof RegExp || o instanceof ArrayBuffer || ["Number", "String", "Boolean", "BigInt"].includes(Object.prototype.toString.call(o).slice(8, -1))) {
      if (o instanceof Error && "cause" in o) {
        const e = Object.create(Object.getPrototypeOf(o) as object) as Error;
        copies.set(o, e);
        // Read through the original: V8 may keep `stack` as an accessor bound to the error it made.
        for (const k of ["message", "stack"] as const) if (Object.hasOwn(o, k)) Object.defineProperty(e, k, { value: o[k], writable: true, enumerable: false, configurable: true });
        Object.defineProperty(e, "cause", { value: copy(o.cause), writable: true, enumerable: false, configurable: true });
        return e;
      }
      return o;
    }
    const out = Object.create(Object.getPrototypeOf(o) as object | null) as Record<string, unknown>;
    copies.set(o, out);
    for (const k of Object.keys(o)) define(out, k, copy((o as Record<string, unknown>)[k]));
    return out;
  };
  return describeValue(copy(value));
}

/** V8-ish byte streams built from the format's own tokens: tags, varints on the edges, raw runs. */
const TAGS = [0x00, 0x3f, 0x2d, 0x5f, 0x30, 0x54, 0x46, 0x49, 0x55, 0x4e, 0x5a, 0x53, 0x22, 0x63, 0x5e, 0x6f, 0x7b, 0x61, 0x40, 0x41, 0x24, 0x44, 0x79, 0x78, 0x6e, 0x7a, 0x73, 0x52, 0x3b, 0x3a, 0x27, 0x2c, 0x42, 0x7e, 0x43, 0x56, 0x72, 0x5c, 0x74, 0x75, 0x70, 0x77, 0x6d, 0x2e];
const EDGE_NUMBERS = [0, 1, 2, 3, 7, 8, 10, 13, 63, 64, 127, 128, 255, 256, 16383, 16384, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1];
function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
  return out;
}
const token = fc.oneof(
  fc.constantFrom(...TAGS).map((t) => [t]),
  fc.oneof(fc.constantFrom(...EDGE_NUMBERS), fc.nat()).map(varint),
  fc.array(fc.constantFrom(...INTERESTING_BYTES), { minLength: 1, maxLength: 4 }),
  fc.uint8Array({ maxLength: 8 }).map((b) => [...b]),
  cloneable.map((v) => [...serializeV8(v).subarray(2)]),
);
/** A dense array of one token repeated thousands of times: costs that only add up over many items. */
const repeated = fc.tuple(token.filter((t) => t.length <= 16), fc.integer({ min: 1000, max: 60_000 })).map(([t, n]) => {
  const head = [0x41, ...varint(n)];
  const tail = [0x24, 0x00, ...varint(n)];
  const out = new Uint8Array(head.length + t.length * n + tail.length);
  out.set(head);
  for (let i = 0, at = head.length; i < n; i++, at += t.length) out.set(t, at);
  out.set(tail, out.length - tail.length);
  return out;
});
const version = fc.constantFrom(13, 14, 15, 16, 12, 17, 0xff);
const tokenStream = fc.oneof(
  { arbitrary: fc.tuple(version, fc.array(token, { minLength: 1, maxLength: 24 })).map(([v, tokens]) => Uint8Array.from([0xff, ...varint(v), ...tokens.flat()])), weight: 40 },
  { arbitrary: fc.tuple(version, repeated).map(([v, body]) => Buffer.concat([Uint8Array.from([0xff, ...varint(v)]), body])), weight: 1 },
);

const isCodecError = (e: unknown) => e instanceof V8CodecError;
const noErrors = () => false;

export const v8Targets: FuzzTarget[] = [
  target({
    name: "v8/ours→node",
    about: "serializeV8(value): node:v8 reads what we read, and both equal structuredClone(value)",
    input: cloneable,
    expected: noErrors,
    run(value) {
      const bytes = serializeV8(value);
      const ours = describeValue(deserializeV8(bytes));
      assert.deepStrictEqual(ours, describeValue(v8.deserialize(bytes)));
      assert.deepStrictEqual(ours, describeValue(structuredClone(value)));
    },
  }),
  target({
    name: "v8/node→ours",
    about: "v8.serialize(value) (node's host-object views included): we read what node:v8 reads",
    input: cloneable,
    expected: noErrors,
    run(value) {
      const bytes = v8.serialize(value);
      assert.deepStrictEqual(describeByContent(deserializeV8(bytes)), describeByContent(v8.deserialize(bytes)));
    },
  }),
  target({
    name: "v8/decode",
    about: "any bytes → deserializeV8 returns a value we can write again, or throws V8CodecError",
    input: fc.oneof(bytesAround(fc.oneof(cloneable.map(serializeV8), cloneable.map((v) => new Uint8Array(v8.serialize(v))))), tokenStream),
    expected: isCodecError,
    run(bytes) {
      const copy = Uint8Array.from(bytes);
      const decoded = deserializeV8(bytes);
      assert.deepStrictEqual(Uint8Array.from(bytes), copy, "deserializeV8 changed its input");
      // Whatever a store holds must survive export and import: a decoded value re-encodes.
      try {
        serializeV8(decoded);
      } catch (e) {
        throw new assert.AssertionError({ message: `a decoded value does not re-encode: ${String(e)}` });
      }
    },
  }),
];
