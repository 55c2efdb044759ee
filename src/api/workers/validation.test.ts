import { test } from "node:test";
import assert from "node:assert/strict";
import {
  checkBulkKey,
  checkKeyLength,
  checkKeyName,
  decodeCursor,
  encodeCursor,
  listOptions,
  metadataJson,
  putOptions,
  readOptions,
  resolveExpiration,
  toInt32,
} from "./validation.ts";

const RANGE = "Value out of range. Must be between -2147483648 and 2147483647 (inclusive).";

test("toInt32 converts like workerd: ToNumber, non-finite → 0, range-checked, truncated", () => {
  assert.equal(toInt32(59.9), 59);
  assert.equal(toInt32(-1.5), -1);
  assert.equal(toInt32("120"), 120);
  assert.equal(toInt32(true), 1);
  assert.equal(toInt32(null), 0);
  assert.equal(toInt32({}), 0);
  assert.equal(toInt32(NaN), 0);
  assert.equal(toInt32(Infinity), 0);
  assert.equal(Object.is(toInt32(-0.5), 0), true);
  assert.equal(toInt32(2147483647), 2147483647);
  assert.equal(toInt32(-2147483648), -2147483648);
  assert.throws(() => toInt32(2147483647.5), { name: "TypeError", message: RANGE });
  assert.throws(() => toInt32(-2147483649), { name: "TypeError", message: RANGE });
  assert.throws(() => toInt32(1n), { name: "TypeError", message: "Cannot convert a BigInt value to a number" });
});

test("key names: empty and dot names are TypeErrors; length is UTF-8 bytes", () => {
  assert.throws(() => checkKeyName(""), { name: "TypeError", message: "Key name cannot be empty." });
  assert.throws(() => checkKeyName(".."), { name: "TypeError", message: '".." is not allowed as a key name.' });
  checkKeyName("...");
  checkKeyLength("GET", "é".repeat(256));
  assert.throws(() => checkKeyLength("DELETE", "é".repeat(256) + "a"), {
    name: "Error",
    message: "KV DELETE failed: 414 UTF-8 encoded length of 513 exceeds key length limit of 512.",
  });
  assert.throws(() => checkBulkKey("."), { message: 'KV GET_BULK failed: 400 Illegal key name ".". Please use a different name.' });
});

test("readOptions: a type string, an options object, or nothing", () => {
  assert.deepEqual(readOptions(undefined), { type: "text", cacheTtl: undefined });
  assert.deepEqual(readOptions(null), { type: "text", cacheTtl: undefined });
  assert.deepEqual(readOptions("json"), { type: "json", cacheTtl: undefined });
  assert.deepEqual(readOptions({ cacheTtl: 30.5 }), { type: "text", cacheTtl: 30 });
  assert.deepEqual(readOptions({ type: null }), { type: "null", cacheTtl: undefined });
  assert.deepEqual(readOptions(5), { type: "5", cacheTtl: undefined });
});

test("resolveExpiration: TTL wins, both need 60 s, all in whole seconds", () => {
  const now = 1_900_000_000;
  const opts = (expiration?: number, expirationTtl?: number) => putOptions({ expiration, expirationTtl });
  assert.equal(resolveExpiration(now, opts()), null);
  assert.equal(resolveExpiration(now, opts(undefined, 60.9)), now + 60);
  assert.equal(resolveExpiration(now, opts(1, 3600)), now + 3600);
  assert.equal(resolveExpiration(now, opts(now + 60)), now + 60);
  assert.throws(() => resolveExpiration(now, opts(now + 59)), /Expiration times must be at least 60 seconds in the future/);
  assert.throws(() => resolveExpiration(now, opts(now)), /greater than the current number of seconds/);
  assert.throws(() => resolveExpiration(now, opts(undefined, 0)), { message: "KV PUT failed: 400 Invalid expiration_ttl of 0. Please specify integer greater than 0." });
  assert.throws(() => resolveExpiration(now, opts(undefined, 59)), { message: "KV PUT failed: 400 Invalid expiration_ttl of 59. Expiration TTL must be at least 60." });
});

test("metadataJson drops undefined members; null is 'null'; undefined is none", () => {
  assert.equal(metadataJson({ a: undefined, b: 1 }), '{"b":1}');
  assert.equal(metadataJson(null), "null");
  assert.equal(metadataJson(undefined), undefined);
  assert.equal(metadataJson(() => 1), undefined);
});

test("listOptions: defaults, limit rules, prefix length, cursor decoding", () => {
  assert.deepEqual(listOptions(undefined), { prefix: "", limit: 1000, cursor: undefined });
  assert.deepEqual(listOptions({ limit: 0, prefix: null, cursor: "" }), { prefix: "", limit: 1000, cursor: undefined });
  assert.deepEqual(listOptions({ limit: 2.9, prefix: 5, cursor: encodeCursor("é") }), { prefix: "5", limit: 2, cursor: "é" });
  assert.throws(() => listOptions({ limit: 1001 }), { message: "KV GET failed: 400 Invalid key_count_limit of 1001. Please specify an integer less than 1000." });
  assert.throws(() => listOptions({ prefix: "a".repeat(513) }), /414/);
  assert.equal(decodeCursor(encodeCursor("a\u0000😀")), "a\u0000😀");
});
