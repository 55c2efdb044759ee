import { test } from "node:test";
import assert from "node:assert/strict";
import { compareBytes, encodeKey, type KvKey } from "../../core/keys.ts";
import { keyAfter, prefixRange, scanKey, workersKey } from "./key-range.ts";

const inRange = (key: Uint8Array, r: { start: Uint8Array; end: Uint8Array }) =>
  compareBytes(key, r.start) >= 0 && compareBytes(key, r.end) < 0;

test("a Workers key is the one-part Deno key", () => {
  assert.deepEqual(workersKey("k"), encodeKey(["k"]));
  assert.deepEqual(workersKey("a\u0000b"), Uint8Array.of(0x02, 0x61, 0x00, 0xff, 0x62, 0x00));
});

test("encoded Workers keys sort in UTF-8 byte order", () => {
  const names = ["", "\u0000", "\u0000\u0000", "a", "a\u0000", "a\u0000b", "a\u0001", "ab", "é", "\uffff", "😀"];
  const byUtf8 = [...names].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  const byKey = [...names].sort((a, b) => compareBytes(workersKey(a), workersKey(b)));
  assert.deepEqual(byKey, byUtf8);
});

test("prefixRange holds exactly the keys starting with the prefix, NUL and multi-byte included", () => {
  const names = ["", "a", "a\u0000", "a\u0000b", "a\u0001", "ab", "b", "é", "éa", "e", "\u00c3", "\u0000", "\uffff", "😀"];
  for (const prefix of ["", "a", "a\u0000", "é", "\u00c3", "\u0000", "\uffff", "😀", "zz"]) {
    const r = prefixRange(prefix);
    const got = names.filter((n) => inRange(workersKey(n), r));
    assert.deepEqual(got, names.filter((n) => n.startsWith(prefix)), JSON.stringify(prefix));
  }
});

test("prefixRange also contains the tuples under matching first parts (list skips them)", () => {
  const r = prefixRange("a");
  assert.ok(inRange(encodeKey(["a", "b"]), r));
  assert.ok(inRange(encodeKey(["ab", 1]), r));
  assert.ok(!inRange(encodeKey(["b", "a"]), r));
  assert.ok(!inRange(encodeKey([1, "a"]), prefixRange("")));
  assert.ok(!inRange(encodeKey([new Uint8Array([0x61])]), prefixRange("")));
});

test("scanKey names single-string keys and resumes after a whole tuple group", () => {
  assert.deepEqual(scanKey(workersKey("a\u0000b")), { name: "a\u0000b" });
  assert.deepEqual(scanKey(workersKey("")), { name: "" });
  assert.deepEqual(scanKey(workersKey("日本😀")), { name: "日本😀" });
  const tuple = scanKey(encodeKey(["a\u0000", 1, "x"]));
  assert.ok(tuple && "resumeAt" in tuple);
  assert.deepEqual(tuple.resumeAt, Uint8Array.of(0x02, 0x61, 0x00, 0xff, 0x00, 0xff));
  // Every tuple under "a\0" sorts before resumeAt; the next single-string key does not.
  const group: KvKey[] = [["a\u0000", new Uint8Array([0xff])], ["a\u0000", "zzz"], ["a\u0000", true], ["a\u0000", 1n, 2]];
  for (const k of group) assert.ok(compareBytes(encodeKey(k), tuple.resumeAt) < 0, JSON.stringify(k.map(String)));
  assert.ok(compareBytes(workersKey("a\u0000\u0000"), tuple.resumeAt) >= 0);
  assert.equal(scanKey(encodeKey([1])), null);
  assert.equal(scanKey(Uint8Array.of(0x02, 0x61)), null); // unterminated
});

test("keyAfter is the immediate successor", () => {
  const k = workersKey("a");
  assert.ok(compareBytes(keyAfter(k), k) > 0);
  assert.ok(compareBytes(keyAfter(k), encodeKey(["a", 0n])) < 0);
});
