import { test } from "node:test";
import assert from "node:assert/strict";
import { KvError } from "./errors.ts";
import { bytesToHex, compareBytes, decodeKey, encodeKey, hexToBytes, type KvKey } from "./keys.ts";

// Byte vectors produced by real Deno (see shared/reference/deno-kv-and-kv-connect.md).
const VECTORS: [KvKey, string][] = [
  [[""], "0200"],
  [["a\0b"], "026100ff6200"],
  [[Uint8Array.of(0, 1, 255)], "0100ff01ff00"],
  [[0], "218000000000000000"],
  [[1], "21bff0000000000000"],
  [[-1], "21400fffffffffffff"],
  [[0n], "14"],
  [[1n], "1501"],
  [[-1n], "13fe"],
  [[256n], "160100"],
  [[-256n], "12feff"],
  [[2n ** 64n], "1d09010000000000000000"],
  [[true], "27"],
  [[1n, "x", true], "150102780027"],
];

test("key vectors from real Deno encode and decode exactly", () => {
  for (const [key, hex] of VECTORS) {
    assert.equal(bytesToHex(encodeKey(key)), hex, `encode ${String(key)}`);
    assert.deepEqual(decodeKey(hexToBytes(hex)), key, `decode ${hex}`);
  }
});

test("byte order is Deno's sort order across and within types", () => {
  const ordered: KvKey[] = [
    [Uint8Array.of()],
    [Uint8Array.of(0)],
    [Uint8Array.of(1)],
    [""],
    ["a"],
    ["a", "b"],
    ["a\0"],
    ["b"],
    [-(2n ** 70n)],
    [-(2n ** 64n)],
    [-256n],
    [-1n],
    [0n],
    [1n],
    [255n],
    [256n],
    [2n ** 64n],
    [2n ** 70n],
    [-Infinity],
    [-1e300],
    [-1],
    [-Number.MIN_VALUE],
    [0],
    [Number.MIN_VALUE],
    [1],
    [1.5],
    [Infinity],
    [NaN],
    [false],
    [true],
  ];
  for (let i = 1; i < ordered.length; i++) {
    const a = encodeKey(ordered[i - 1]!);
    const b = encodeKey(ordered[i]!);
    assert.ok(compareBytes(a, b) < 0, `${bytesToHex(a)} < ${bytesToHex(b)}`);
  }
  for (const k of ordered) assert.deepEqual(decodeKey(encodeKey(k)), k);
});

test("large bigints round-trip in both signs", () => {
  for (const n of [2n ** 63n, 2n ** 64n - 1n, 2n ** 200n, -(2n ** 200n), -(2n ** 64n) + 1n]) {
    assert.equal(decodeKey(encodeKey([n]))[0], n);
  }
});

test("invalid parts and malformed bytes are rejected with a message", () => {
  assert.throws(() => encodeKey([{} as unknown as string]), { message: "Invalid key part type" });
  assert.throws(() => decodeKey(Uint8Array.of(0x02, 0x61)), { message: "Unterminated key part" });
  assert.throws(() => decodeKey(Uint8Array.of(0x99)), { message: "Unknown key part tag 0x99" });
  assert.throws(() => decodeKey(Uint8Array.of(0x21, 1, 2)), { message: "Truncated number key part" });
});

test("malformed bytes found by fuzzing are KvErrors with a message", () => {
  const invalidKey = (message: string) => (e: unknown) => e instanceof KvError && e.code === "invalid_key" && e.message === message;
  assert.throws(() => decodeKey(Uint8Array.of(0x02, 0xff, 0x00)), invalidKey("Invalid UTF-8 in string key part"));
  assert.throws(() => decodeKey(Uint8Array.of(0x02, 0xc3, 0x28, 0x00)), invalidKey("Invalid UTF-8 in string key part"));
  // A big integer's tag with its length byte cut off decoded as 0n.
  assert.throws(() => decodeKey(Uint8Array.of(0x1d)), invalidKey("Truncated integer key part"));
  assert.throws(() => decodeKey(Uint8Array.of(0x0b)), invalidKey("Truncated integer key part"));
});

test("a key in a pooled Buffer decodes exactly and is left as it was", () => {
  const key = [1.5, -3n, Uint8Array.of(0, 7), "s"];
  const encoded = encodeKey(key);
  // Small Buffers share one pool, so byteOffset is not 0: what an HTTP body or protobuf field holds.
  const pooled = Buffer.from(encoded);
  assert.notEqual(pooled.byteOffset, 0);
  const decoded = decodeKey(pooled);
  assert.deepEqual(decoded, key);
  assert.equal(Object.getPrototypeOf(decoded[2]), Uint8Array.prototype);
  assert.equal(bytesToHex(pooled), bytesToHex(encoded));
});

test("a string part that starts with U+FEFF keeps it", () => {
  // TextDecoder drops a leading byte order mark by default: ["\uFEFFx"] read back as ["x"] (found by test/fuzz).
  for (const key of [["\uFEFF懨"], ["a", "\uFEFF"], ["\uFEFF\uFEFFx".repeat(20)]]) assert.deepEqual(decodeKey(encodeKey(key)), key);
});

test("string and number parts round-trip through every decoding path (in place, escaped, non-ASCII, long)", () => {
  const long = "x".repeat(63) + "yz";
  const keys: KvKey[] = [
    ["", "a", "a\u0000b", "\u0000", "é", "a\u007f", long, "ascii then é"],
    [0, -0, 1.5, -1.5, Number.MAX_VALUE, -Infinity, Infinity, 2 ** 53],
    ["list", 123, "list", -7],
  ];
  for (const key of keys) assert.deepStrictEqual(decodeKey(encodeKey(key)), key);
  assert.ok(Number.isNaN(decodeKey(encodeKey([NaN]))[0]));
});
