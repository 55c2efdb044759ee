import { test } from "node:test";
import assert from "node:assert/strict";
import { encodeKey } from "../../core/keys.ts";
import { encodeCursor, scanBounds, selectorFromKeys } from "./list-selector.ts";

const k = (...parts: (string | number)[]) => encodeKey(parts);
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

test("a prefix scans [prefix‖00, prefix‖ff)", () => {
  const { start, end } = scanBounds(selectorFromKeys(k("a"), null, null), false, null);
  assert.equal(hex(start), "026100" + "00");
  assert.equal(hex(end), "026100" + "ff");
});

test("a point read (start only) scans [key, key‖00)", () => {
  const { start, end } = scanBounds(selectorFromKeys(null, k("a"), null), false, null);
  assert.equal(hex(start), "026100");
  assert.equal(hex(end), "02610000");
});

test("cursors are padded base64url of the key after the common prefix", () => {
  assert.equal(encodeCursor(selectorFromKeys(k("a"), null, null), k("a", "b")), "AmIA");
  assert.equal(encodeCursor(selectorFromKeys(null, k("a", "b"), k("a", "z")), k("a", "c")), "YwA=");
  assert.throws(() => encodeCursor(selectorFromKeys(k("a"), null, null), k("b")), { name: "TypeError", message: "Invalid boundary key" });
});

test("a cursor continues after its key, or before it in reverse", () => {
  const sel = selectorFromKeys(k("a"), null, null);
  const fwd = scanBounds(sel, false, "AmIA");
  assert.equal(hex(fwd.start), hex(k("a", "b")) + "00");
  assert.equal(hex(fwd.end), "026100ff");
  const rev = scanBounds(sel, true, "AmIA");
  assert.equal(hex(rev.start), "02610000");
  assert.equal(hex(rev.end), hex(k("a", "b")));
});

test("malformed cursors are rejected: bad alphabet, missing or non-canonical padding", () => {
  const sel = selectorFromKeys(k("a"), null, null);
  for (const c of ["AQ", "Am+/", "AmJ=", "A===", "!!!!", "AmIA="]) {
    assert.throws(() => scanBounds(sel, false, c), { name: "TypeError", message: "invalid cursor" }, c);
  }
  assert.doesNotThrow(() => scanBounds(sel, false, "AmI="));
});

test("selector shapes are validated with Deno's messages", () => {
  assert.throws(() => selectorFromKeys(k("a"), k("a"), null), { message: "Start key is not in the keyspace defined by prefix" });
  assert.throws(() => selectorFromKeys(k("a"), null, k("b")), { message: "End key is not in the keyspace defined by prefix" });
  assert.throws(() => selectorFromKeys(null, k("b"), k("a")), { message: "Start key is greater than end key" });
  assert.throws(() => selectorFromKeys(null, null, null), { message: "Invalid range" });
  assert.throws(() => selectorFromKeys(null, null, k("a")), { message: "Invalid range" });
});
