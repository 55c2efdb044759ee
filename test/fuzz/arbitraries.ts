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
