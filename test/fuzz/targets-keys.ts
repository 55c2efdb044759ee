/**
 * The Deno KV tuple key codec (src/core/keys.ts): round trips, the byte order of encoded keys against
 * Deno's tuple order (the order the conformance suite checks against real Deno: bytes < string < bigint
 * < number < false < true; -0 before 0, NaN last; strings by UTF-8 bytes), and decoding of any bytes.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { KvError } from "../../src/core/errors.ts";
import { compareBytes, decodeKey, encodeKey, type KvKeyPart } from "../../src/core/keys.ts";
import { utf16Unit } from "./arbitraries.ts";
import { bytesAround } from "./mutate.ts";
import { target, type FuzzTarget } from "./target.ts";

/** 255 magnitude bytes is the codec's limit (one length byte). */
const BIGINT_LIMIT = 2n ** 2040n;
const BIGINT_EDGES = [0n, 1n, -1n, 255n, 256n, -256n, 2n ** 64n - 1n, 2n ** 64n, -(2n ** 64n), BIGINT_LIMIT - 1n, BIGINT_LIMIT, -(BIGINT_LIMIT - 1n), -BIGINT_LIMIT];

const nulHeavyUnit = fc.constantFrom("\0", "\0\u00ff", "a", "\u00ff", "é", "€", "😀", "\uffff", "\ud800");

const bytesPart = fc.oneof(
  fc.uint8Array({ maxLength: 16 }),
  fc.array(fc.constantFrom(0x00, 0x01, 0xfe, 0xff), { maxLength: 8 }).map((a) => Uint8Array.from(a)),
);
const stringPart = fc.oneof(fc.string({ unit: "binary", maxLength: 12 }), fc.string({ unit: utf16Unit, maxLength: 8 }), fc.string({ unit: nulHeavyUnit, maxLength: 6 }));
const bigintPart = fc.oneof(
  fc.constantFrom(...BIGINT_EDGES),
  fc.bigInt({ min: -(2n ** 80n), max: 2n ** 80n }),
  fc.bigInt({ min: -BIGINT_LIMIT + 1n, max: BIGINT_LIMIT - 1n }),
);
const numberPart = fc.oneof(fc.double(), fc.constantFrom(0, -0, NaN, Infinity, -Infinity, Number.MIN_VALUE, -Number.MIN_VALUE, Number.MAX_VALUE), fc.integer());
const keyPart: fc.Arbitrary<KvKeyPart> = fc.oneof(bytesPart, stringPart, bigintPart, numberPart, fc.boolean());
export const anyKey = fc.array(keyPart, { maxLength: 5 });
const nonEmptyKey = fc.array(keyPart, { minLength: 1, maxLength: 5 });

/** What a part decodes to: strings lose lone surrogates to U+FFFD (UTF-8 cannot hold them), all else is exact. */
const decodedForm = (p: KvKeyPart): KvKeyPart => (typeof p === "string" ? p.toWellFormed() : p);

const RANK = { bytes: 0, string: 1, bigint: 2, number: 3, false: 4, true: 5 } as const;
function rank(p: KvKeyPart): number {
  if (p instanceof Uint8Array) return RANK.bytes;
  if (typeof p === "boolean") return p ? RANK.true : RANK.false;
  return RANK[typeof p as "string" | "bigint" | "number"];
}

function compareCodePoints(a: string, b: string): number {
  const x = [...a.toWellFormed()].map((c) => c.codePointAt(0)!);
  const y = [...b.toWellFormed()].map((c) => c.codePointAt(0)!);
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return x.length - y.length;
}

function compareNumbers(a: number, b: number): number {
  if (Number.isNaN(a) || Number.isNaN(b)) return Number(Number.isNaN(a)) - Number(Number.isNaN(b));
  if (a === b) return Number(Object.is(b, -0)) - Number(Object.is(a, -0));
  return a < b ? -1 : 1;
}

function comparePartsRef(a: KvKeyPart, b: KvKeyPart): number {
  const r = rank(a) - rank(b);
  if (r !== 0) return r;
  if (a instanceof Uint8Array) {
    const y = b as Uint8Array;
    for (let i = 0; i < Math.min(a.length, y.length); i++) if (a[i] !== y[i]) return a[i]! - y[i]!;
    return a.length - y.length;
  }
  if (typeof a === "string") return compareCodePoints(a, b as string);
  if (typeof a === "bigint") return a < (b as bigint) ? -1 : a > (b as bigint) ? 1 : 0;
  if (typeof a === "number") return compareNumbers(a, b as number);
  return 0;
}

/** Deno's tuple order, written from its definition rather than from the codec. */
export function compareKeysRef(a: readonly KvKeyPart[], b: readonly KvKeyPart[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const c = comparePartsRef(a[i]!, b[i]!);
    if (c !== 0) return c;
  }
  return a.length - b.length;
}

const isKvError = (e: unknown) => e instanceof KvError && e.code === "invalid_key";
const noErrors = () => false;

export const keyTargets: FuzzTarget[] = [
  target({
    name: "keys/roundtrip",
    about: "any tuple → encodeKey → decodeKey gives it back; bigints past 255 bytes are refused",
    input: anyKey,
    expected: noErrors,
    run(key) {
      if (key.some((p) => typeof p === "bigint" && (p >= BIGINT_LIMIT || p <= -BIGINT_LIMIT))) {
        assert.throws(() => encodeKey(key), (e: unknown) => isKvError(e) && (e as Error).message === "BigInt key part is too large");
        return;
      }
      assert.deepStrictEqual(decodeKey(encodeKey(key)), key.map(decodedForm));
    },
  }),
  target({
    name: "keys/order",
    about: "bytewise order of two encoded keys = Deno's tuple order of the keys",
    input: fc.oneof(
      fc.tuple(anyKey, anyKey),
      // Shared prefixes: the interesting comparisons are the ones decided late.
      fc.tuple(anyKey, anyKey, anyKey).map(([p, a, b]) => [[...p, ...a], [...p, ...b]] as [KvKeyPart[], KvKeyPart[]]),
    ),
    expected: noErrors,
    run([a, b]) {
      if ([...a, ...b].some((p) => typeof p === "bigint" && (p >= BIGINT_LIMIT || p <= -BIGINT_LIMIT))) return;
      assert.equal(Math.sign(compareBytes(encodeKey(a), encodeKey(b))), Math.sign(compareKeysRef(a, b)));
    },
  }),
  target({
    name: "keys/truncated",
    about: "a valid encoding cut inside a part never decodes: KvError(invalid_key)",
    input: fc.tuple(nonEmptyKey, fc.nat()),
    expected: noErrors,
    run([key, at]) {
      if (key.some((p) => typeof p === "bigint" && (p >= BIGINT_LIMIT || p <= -BIGINT_LIMIT))) return;
      const bytes = encodeKey(key);
      const boundaries = new Set(key.map((_, i) => encodeKey(key.slice(0, i)).length));
      const cut = 1 + (at % (bytes.length - 1 || 1));
      // Cutting between the 0x00 and 0xFF of an escaped zero leaves a complete, shorter part.
      if (boundaries.has(cut) || cut >= bytes.length || (bytes[cut - 1] === 0x00 && bytes[cut] === 0xff)) return;
      assert.throws(() => decodeKey(bytes.subarray(0, cut)), isKvError, `cut at ${cut} of ${Buffer.from(bytes).toString("hex")}`);
    },
  }),
  target({
    name: "keys/decode",
    about: "any bytes → decodeKey returns a key that re-encodes and decodes to itself, or throws KvError(invalid_key)",
    input: bytesAround(anyKey.filter((k) => !k.some((p) => typeof p === "bigint" && (p >= BIGINT_LIMIT || p <= -BIGINT_LIMIT))).map(encodeKey)),
    expected: isKvError,
    run(bytes) {
      const copy = Uint8Array.from(bytes);
      const key = decodeKey(bytes);
      assert.deepStrictEqual(Uint8Array.from(bytes), copy, "decodeKey changed its input");
      // Past this point nothing may throw, not even a KvError: what decodes must encode.
      let again: KvKeyPart[];
      try {
        again = decodeKey(encodeKey(key));
      } catch (e) {
        throw new assert.AssertionError({ message: `a decoded key does not re-encode: ${String(e)}` });
      }
      assert.deepStrictEqual(again, key);
    },
  }),
];
