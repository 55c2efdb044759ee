/**
 * The KV Connect protobuf decoders (src/wire/kv-connect/wire.ts), both sides: what the server reads
 * (SnapshotRead, AtomicWrite, Watch) and what our remote client reads (their outputs). Inputs are valid
 * messages with any field values, those messages mutated, raw protobuf-shaped token streams and random
 * bytes. Every refusal must be a KvError (the routes answer it as a 4xx); anything else is a crash.
 */
import assert from "node:assert/strict";
import { create, toBinary, type DescMessage, type MessageInitShape } from "@bufbuild/protobuf";
import fc from "fast-check";
import { KvError } from "../../src/core/errors.ts";
import { encodeKey } from "../../src/core/keys.ts";
import {
  AtomicWriteOutputSchema,
  AtomicWriteSchema,
  SnapshotReadOutputSchema,
  SnapshotReadSchema,
  WatchOutputSchema,
  WatchSchema,
} from "../../src/wire/kv-connect/gen/kv-connect_pb.ts";
import {
  decodeAtomicWrite,
  decodeAtomicWriteOutput,
  decodeSnapshotRead,
  decodeSnapshotReadOutput,
  decodeWatch,
  decodeWatchOutput,
} from "../../src/wire/kv-connect/wire.ts";
import { anyKey } from "./targets-keys.ts";
import { bytesAround } from "./mutate.ts";
import { target, type FuzzTarget } from "./target.ts";

/** Encodes a message made of generated field values (enums as any number, which the wire allows). */
const encodeAs = <S extends DescMessage>(schema: S) => (fields: object): Uint8Array => toBinary(schema, create(schema, fields as MessageInitShape<S>));

// ---- field values on the edges of what the decoders check ----

const key = fc.oneof(anyKey.filter((k) => !k.some((p) => typeof p === "bigint" && (p >= 2n ** 2040n || p <= -(2n ** 2040n)))).map(encodeKey), fc.uint8Array({ maxLength: 12 }), fc.constant(new Uint8Array(2049)));
const versionstamp = fc.oneof(fc.uint8Array({ minLength: 10, maxLength: 10 }), fc.uint8Array({ maxLength: 12 }));
const enumValue = fc.oneof(fc.integer({ min: 0, max: 8 }), fc.integer({ min: -2, max: 2 ** 31 - 1 }));
const int32 = fc.oneof(fc.constantFrom(0, 1, -1, 10, 1000, 1001, 2 ** 31 - 1, -(2 ** 31)), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }));
const int64 = fc.oneof(fc.constantFrom(0n, -1n, 1n, 2n ** 53n, 2n ** 62n, 2n ** 63n - 1n, -(2n ** 63n)), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }));
const valueBytes = fc.oneof(fc.uint8Array({ maxLength: 16 }), fc.constant(new Uint8Array(65537)));
const kvValue = fc.record({ data: valueBytes, encoding: enumValue });
const list = <T>(a: fc.Arbitrary<T>, maxLength = 4) => fc.oneof({ arbitrary: fc.array(a, { maxLength }), weight: 8 }, { arbitrary: fc.array(a, { minLength: 0, maxLength: 1100 }), weight: 1 });
const entry = fc.record({ key, value: fc.uint8Array({ maxLength: 12 }), encoding: enumValue, versionstamp });

const snapshotRead = fc
  .record({ ranges: list(fc.record({ start: key, end: key, limit: int32, reverse: fc.boolean() })) })
  .map(encodeAs(SnapshotReadSchema));
const atomicWrite = fc
  .record({
    checks: list(fc.record({ key, versionstamp })),
    mutations: list(
      fc.record(
        { key, value: kvValue, mutationType: enumValue, expireAtMs: int64, sumMin: fc.uint8Array({ maxLength: 9 }), sumMax: fc.uint8Array({ maxLength: 9 }), sumClamp: fc.boolean() },
        { requiredKeys: ["key", "mutationType"] },
      ),
    ),
    enqueues: list(
      fc.record({
        payload: valueBytes,
        deadlineMs: int64,
        keysIfUndelivered: fc.array(key, { maxLength: 3 }),
        backoffSchedule: fc.array(fc.nat({ max: 2 ** 32 - 1 }), { maxLength: 4 }),
      }),
    ),
  })
  .map(encodeAs(AtomicWriteSchema));
const watch = fc.record({ keys: list(fc.record({ key })) }).map(encodeAs(WatchSchema));
const snapshotReadOutput = fc
  .record({ ranges: fc.array(fc.record({ values: fc.array(entry, { maxLength: 3 }) }), { maxLength: 3 }), readDisabled: fc.boolean(), readIsStronglyConsistent: fc.boolean(), status: enumValue })
  .map(encodeAs(SnapshotReadOutputSchema));
const atomicWriteOutput = fc
  .record({ status: enumValue, versionstamp, failedChecks: fc.array(fc.nat({ max: 2 ** 32 - 1 }), { maxLength: 4 }) })
  .map(encodeAs(AtomicWriteOutputSchema));
const watchOutput = fc
  .record({ status: enumValue, keys: fc.array(fc.record({ changed: fc.boolean(), entryIfChanged: fc.option(entry, { nil: undefined }) }, { requiredKeys: ["changed"] }), { maxLength: 3 }) })
  .map(encodeAs(WatchOutputSchema));

// ---- protobuf-shaped token streams: field keys with every wire type, lying lengths, nested groups ----

function varint(n: bigint): number[] {
  const out: number[] = [];
  let v = BigInt.asUintN(64, n);
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return out;
}
const fieldKey = fc.tuple(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 0, max: 7 })).map(([field, wire]) => varint(BigInt((field << 3) | wire)));
const protoField: fc.Arbitrary<number[]> = fc.letrec<{ field: number[]; fields: number[] }>((tie) => ({
  field: fc.oneof(
    { depthSize: "small" },
    fc.tuple(fieldKey, fc.oneof(int64, fc.constantFrom(2n ** 64n - 1n)).map(varint)).map(([k, v]) => [...k, ...v]),
    fc.tuple(fieldKey, fc.uint8Array({ minLength: 4, maxLength: 8 })).map(([k, b]) => [...k, ...b]),
    // Length-delimited, with a length that may lie in either direction.
    fc.tuple(fieldKey, tie("fields"), fc.integer({ min: -3, max: 3 })).map(([k, body, lie]) => [...k, ...varint(BigInt(Math.max(0, body.length + lie))), ...body]),
    fc.tuple(fieldKey, tie("fields")).map(([k, body]) => [...k, ...body, ...varint(BigInt(((k[0]! >> 3) << 3) | 4))]),
  ),
  fields: fc.array(tie("field"), { maxLength: 4 }).map((fs) => fs.flat()),
})).fields;
/** Deeply nested groups: a parser that skips them recursively meets its stack. */
const nestedGroups = fc.integer({ min: 100, max: 200_000 }).map((depth) => {
  const out = new Uint8Array(depth * 2);
  out.fill(0x0b, 0, depth); // field 1, start group
  out.fill(0x0c, depth); // field 1, end group
  return out;
});
const protoBytes = (valid: fc.Arbitrary<Uint8Array>) =>
  fc.oneof(
    { arbitrary: bytesAround(valid), weight: 30 },
    { arbitrary: protoField.map((b) => Uint8Array.from(b)), weight: 10 },
    { arbitrary: nestedGroups, weight: 1 },
  );

const isKvError = (e: unknown) => e instanceof KvError;

function decoderTarget(name: string, valid: fc.Arbitrary<Uint8Array>, decode: (b: Uint8Array) => unknown, about: string): FuzzTarget {
  return target({
    name,
    about,
    input: protoBytes(valid),
    expected: isKvError,
    run(bytes) {
      const before = Uint8Array.from(bytes);
      decode(bytes);
      assert.deepStrictEqual(Uint8Array.from(bytes), before, `${name} changed its input`);
    },
  });
}

export const wireTargets: FuzzTarget[] = [
  decoderTarget("kv-connect/snapshot_read", snapshotRead, decodeSnapshotRead, "server: any body → engine ranges within Deno's limits, or KvError"),
  decoderTarget("kv-connect/atomic_write", atomicWrite, decodeAtomicWrite, "server: any body → an atomic write within Deno's limits, or KvError"),
  decoderTarget("kv-connect/watch", watch, decodeWatch, "server: any body → the watched keys, or KvError"),
  decoderTarget("kv-connect/snapshot_read_output", snapshotReadOutput, decodeSnapshotReadOutput, "client: any answer → entries, or KvError"),
  decoderTarget("kv-connect/atomic_write_output", atomicWriteOutput, decodeAtomicWriteOutput, "client: any answer → a commit result, or KvError"),
  decoderTarget("kv-connect/watch_output", watchOutput, decodeWatchOutput, "client: any frame → per-key changes, or KvError"),
];

/** Valid bodies of each data-path message, for the route-level target. */
export const validBodies = { snapshotRead, atomicWrite, watch } as const;
export { protoBytes };
