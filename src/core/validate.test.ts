import { test } from "node:test";
import assert from "node:assert/strict";
import { KvError } from "./errors.ts";
import { encodeV8String } from "./values.ts";
import { serializeV8 } from "./v8.ts";
import { checkMetadata, checkValue, validateWrite, valueSize } from "./validate.ts";
import type { AtomicWrite, Mutation } from "./types.ts";

const key = new Uint8Array([2, 0x61, 0]);
const write = (m: Partial<Mutation> & { type: Mutation["type"] }): AtomicWrite => ({
  checks: [],
  mutations: [{ key, ...m } as Mutation],
  enqueues: [],
});
const rejects = (w: AtomicWrite, code: string, message: string | RegExp) =>
  assert.throws(() => validateWrite(w), (e: unknown) => e instanceof KvError && e.code === code && (typeof message === "string" ? e.message === message : message.test(e.message)));

test("a value's size is what its user sees: text bytes, raw bytes, or a structure less its 2-byte header", () => {
  assert.equal(valueSize({ encoding: "v8", data: encodeV8String("héllo") }), 6);
  assert.equal(valueSize({ encoding: "bytes", data: new Uint8Array(10) }), 10);
  assert.equal(valueSize({ encoding: "v8", data: serializeV8({ a: 1 }) }), serializeV8({ a: 1 }).byteLength - 2);
});

test("V8 bytes are checked unless this process encoded them; our own encodings skip the decode", () => {
  checkValue({ encoding: "v8", data: serializeV8(new Map([[1, new Set([2n])]])) });
  // A copy is no longer known to be ours: it is decoded, and valid.
  checkValue({ encoding: "v8", data: new Uint8Array(serializeV8([1, "x"])) });
  for (const data of [new Uint8Array(0), new Uint8Array([0xff]), new Uint8Array([0xff, 0x0f, 0x6f, 0x7b])]) {
    assert.throws(() => checkValue({ encoding: "v8", data }), (e: unknown) => e instanceof KvError && e.code === "invalid_value" && /^The value is not valid V8 serialized data: /.test(e.message));
  }
  assert.throws(() => checkValue({ encoding: "zip" as "v8", data: new Uint8Array(1) }), { message: 'Unknown value encoding "zip": expected "v8", "bytes" or "le64"' });
});

test("expiry and delivery times must fit a JS date; metadata must be small JSON", () => {
  rejects(write({ type: "set", value: { encoding: "bytes", data: new Uint8Array(1) }, expiresAt: 2 ** 62 }), "invalid_expiration", /^Invalid expiration 4611686018427388000: /);
  rejects(write({ type: "set", value: { encoding: "bytes", data: new Uint8Array(1) }, expiresAt: Number.NaN }), "invalid_expiration", /^Invalid expiration NaN: /);
  validateWrite(write({ type: "set", value: { encoding: "bytes", data: new Uint8Array(1) }, expiresAt: 8_640_000_000_000_000 }));
  rejects(
    { checks: [], mutations: [], enqueues: [{ payload: serializeV8(1), readyAt: Infinity, keysIfUndelivered: [] }] },
    "invalid_expiration",
    /^Invalid delivery time Infinity: /,
  );
  rejects({ checks: [], mutations: [], enqueues: [{ payload: new Uint8Array([9]), readyAt: 1, keysIfUndelivered: [] }] }, "invalid_value", /^The queue message is not valid V8/);
  rejects(
    { checks: [], mutations: [], enqueues: [{ payload: serializeV8(1), readyAt: 1, keysIfUndelivered: [], backoffSchedule: [-1] }] },
    "invalid_argument",
    "Invalid backoffSchedule delay -1: expected whole milliseconds, 0 or more",
  );
  assert.throws(() => checkMetadata("{"), { message: "Metadata must be JSON text" });
  assert.throws(() => checkMetadata("x".repeat(1025)), { message: "Metadata too large (max 1024 bytes, got 1025)" });
  checkMetadata('{"a":"[[[[["}');
});

test("sum, min and max operands keep Deno's wording", () => {
  rejects(write({ type: "min", value: { encoding: "le64", data: new Uint8Array(7) } }), "invalid_mutation", "Failed to perform 'min' mutation on a non-U64 operand");
  rejects(write({ type: "max", value: { encoding: "v8", data: serializeV8(1) } }), "invalid_mutation", "Failed to perform 'max' mutation on a non-U64 operand");
  rejects(write({ type: "sum", value: { encoding: "v8", data: new Uint8Array([1]) } }), "invalid_mutation", "Some of the parameters are not valid V8 values");
});
