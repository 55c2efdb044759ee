/** Input pieces several targets share. */
import fc from "fast-check";

/** Any UTF-16 code unit, lone surrogates included (legal in JS strings, not in UTF-8). */
export const utf16Unit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));

/** Short texts: printable, any code point, any code unit. */
export const text = fc.oneof(fc.string({ maxLength: 12 }), fc.string({ unit: "binary", maxLength: 8 }), fc.string({ unit: utf16Unit, maxLength: 6 }));

/**
 * Nesting depths: shallow, around the 1,000-level limits, and now and then far past them (the deep
 * ones cost milliseconds each, so they are the rarer kind).
 */
export const depth = fc.oneof(
  { arbitrary: fc.integer({ min: 1, max: 100 }), weight: 10 },
  { arbitrary: fc.integer({ min: 900, max: 1100 }), weight: 10 },
  { arbitrary: fc.integer({ min: 1100, max: 150_000 }), weight: 1 },
);

/** Keys that name things objects inherit: JSON may hold them, code that treats parsed JSON as a JS object trips on them. */
export const ODD_KEYS = ["toString", "valueOf", "__proto__", "constructor", "hasOwnProperty", "length", "then", "toJSON"] as const;

/** JSON text whose objects often carry ODD_KEYS (JSON.parse keeps "__proto__" an own property). */
export const oddJsonText: fc.Arbitrary<string> = fc.letrec<{ value: string; array: string; object: string }>((tie) => ({
  value: fc.oneof({ depthSize: "small" }, fc.jsonValue({ maxDepth: 0 }).map((v) => JSON.stringify(v)), tie("array"), tie("object")),
  array: fc.array(tie("value"), { maxLength: 4 }).map((items) => `[${items.join(",")}]`),
  object: fc
    .array(fc.tuple(fc.oneof(fc.constantFrom(...ODD_KEYS), fc.string({ maxLength: 6 })), tie("value")), { maxLength: 4 })
    .map((entries) => `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(",")}}`),
})).value;
