/**
 * Mutation-based inputs: a valid encoding with a few byte-level edits reaches far deeper into a decoder
 * than random bytes, which mostly fail on the first byte. Edits are the classic ones of coverage-guided
 * fuzzers (bit flips, interesting bytes, inserts, deletes, truncation, duplicated ranges, varint-sized
 * splices), applied in order, positions taken modulo the current length.
 */
import fc from "fast-check";

/** Bytes that sit on the edges of tags, varints and lengths. */
export const INTERESTING_BYTES = [0x00, 0x01, 0x7f, 0x80, 0x81, 0xfe, 0xff] as const;

type Edit =
  | { kind: "flip"; at: number; bit: number }
  | { kind: "set"; at: number; byte: number }
  | { kind: "insert"; at: number; bytes: Uint8Array }
  | { kind: "delete"; at: number; length: number }
  | { kind: "truncate"; at: number }
  | { kind: "duplicate"; at: number; length: number; to: number };

const position = fc.nat({ max: 1 << 20 });
const interestingByte = fc.oneof(fc.constantFrom(...INTERESTING_BYTES), fc.integer({ min: 0, max: 255 }));
/** Runs of 0x80–0xff continue a varint: they turn a small length into a huge one. */
const varintRun = fc.array(fc.integer({ min: 0x80, max: 0xff }), { minLength: 1, maxLength: 10 }).chain((run) =>
  interestingByte.map((last) => Uint8Array.from([...run, last])),
);

const edit: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ kind: fc.constant("flip" as const), at: position, bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant("set" as const), at: position, byte: interestingByte }),
  fc.record({
    kind: fc.constant("insert" as const),
    at: position,
    bytes: fc.oneof(fc.uint8Array({ minLength: 1, maxLength: 8 }), varintRun),
  }),
  fc.record({ kind: fc.constant("delete" as const), at: position, length: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ kind: fc.constant("truncate" as const), at: position }),
  fc.record({ kind: fc.constant("duplicate" as const), at: position, length: fc.integer({ min: 1, max: 16 }), to: position }),
);

function apply(bytes: Uint8Array, e: Edit): Uint8Array {
  const n = bytes.length;
  const at = n === 0 ? 0 : e.at % (n + 1);
  switch (e.kind) {
    case "flip":
    case "set": {
      if (n === 0) return bytes;
      const out = bytes.slice();
      const i = e.at % n;
      out[i] = e.kind === "flip" ? out[i]! ^ (1 << e.bit) : e.byte;
      return out;
    }
    case "insert":
      return concat(bytes.subarray(0, at), e.bytes, bytes.subarray(at));
    case "delete":
      return concat(bytes.subarray(0, at), bytes.subarray(at + e.length));
    case "truncate":
      return bytes.slice(0, at);
    case "duplicate": {
      const range = bytes.subarray(at, at + e.length);
      const to = n === 0 ? 0 : e.to % (n + 1);
      return concat(bytes.subarray(0, to), range, bytes.subarray(to));
    }
  }
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

/** `valid` with one to `maxEdits` edits applied. */
export function mutated(valid: fc.Arbitrary<Uint8Array>, maxEdits = 4): fc.Arbitrary<Uint8Array> {
  return fc.tuple(valid, fc.array(edit, { minLength: 1, maxLength: maxEdits })).map(([bytes, edits]) => edits.reduce(apply, bytes));
}

/**
 * Valid encodings, mutated encodings and random bytes, in about equal parts; half of them in a pooled
 * Buffer (a view at an offset into shared memory), which is how HTTP bodies and protobuf fields arrive.
 */
export function bytesAround(valid: fc.Arbitrary<Uint8Array>, maxRandom = 64): fc.Arbitrary<Uint8Array> {
  return fc
    .tuple(fc.oneof(valid, mutated(valid), fc.uint8Array({ maxLength: maxRandom })), fc.boolean())
    .map(([bytes, pooled]) => (pooled ? Buffer.from(bytes) : bytes));
}

const utf8 = new TextEncoder();
const latin1 = new TextDecoder("latin1");

/**
 * Text variants for text formats: the edits run on the UTF-8 bytes, read back as UTF-8 (invalid
 * sequences become U+FFFD, as `readFileSync(…, "utf8")` does) or as Latin-1 (raw bytes as characters).
 */
export function mutatedText(valid: fc.Arbitrary<string>, maxEdits = 4): fc.Arbitrary<string> {
  const decoder = new TextDecoder();
  return fc.tuple(mutated(valid.map((s) => utf8.encode(s)), maxEdits), fc.boolean()).map(([b, asLatin1]) => (asLatin1 ? latin1.decode(b) : decoder.decode(b)));
}
