/**
 * The wire conversions on hand-built protobuf bytes: what real clients send is not always what our
 * encoder would write (@deno/kv sends backoff_schedule unpacked; encoders may write default values
 * explicitly), and the decoders must take every valid form.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { encodeKey } from "../../core/keys.ts";
import { DEFAULT_BACKOFF_SCHEDULE } from "../../core/types.ts";
import { decodeAtomicWrite, decodeAtomicWriteOutput, decodeSnapshotRead, decodeWatchOutput, encodeAtomicWrite, encodeWatchOutput } from "./wire.ts";

function varint(n: number | bigint): number[] {
  let v = BigInt.asUintN(64, BigInt(n));
  const out: number[] = [];
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v) b |= 0x80;
    out.push(b);
  } while (v);
  return out;
}
const tag = (field: number, wire: number) => varint((field << 3) | wire);
/** A varint field. */
const vf = (field: number, n: number | bigint) => [...tag(field, 0), ...varint(n)];
/** A length-delimited field. */
const ld = (field: number, bytes: ArrayLike<number>) => [...tag(field, 2), ...varint(bytes.length), ...Array.from(bytes)];

const key = Array.from(encodeKey(["k"]));

test("an Enqueue's backoff_schedule decodes from packed and from unpacked encodings alike", () => {
  const payload = [0xff, 0x0f, 0x49, 0x02]; // V8 int 1
  const common = [...ld(1, payload), ...vf(2, 1234), ...ld(3, key)];
  const unpacked = [...common, ...vf(4, 100), ...vf(4, 200), ...vf(4, 400)];
  const packed = [...common, ...ld(4, [...varint(100), ...varint(200), ...varint(400)])];
  for (const enqueue of [unpacked, packed]) {
    const write = decodeAtomicWrite(Uint8Array.from(ld(3, enqueue)));
    assert.equal(write.enqueues.length, 1);
    const q = write.enqueues[0]!;
    assert.deepEqual(q.backoffSchedule, [100, 200, 400]);
    assert.equal(q.readyAt, 1234);
    assert.deepEqual(q.keysIfUndelivered.map((k) => Array.from(k)), [key]);
    assert.deepEqual(Array.from(q.payload), payload);
  }
  // An empty schedule on the wire means "no retry", never the default.
  assert.deepEqual(decodeAtomicWrite(Uint8Array.from(ld(3, ld(1, payload)))).enqueues[0]!.backoffSchedule, []);
});

test("explicitly written default values decode like absent ones", () => {
  const value = [...ld(1, [1, 2]), ...vf(2, 3)]; // KvValue{data, VE_BYTES}
  const mutation = [
    ...ld(1, key),
    ...ld(2, value),
    ...vf(3, 1), // M_SET
    ...vf(4, 0), // expire_at_ms 0 (never), written out
    ...ld(5, []), // sum_min empty
    ...ld(6, []),
    ...vf(7, 0), // sum_clamp false
  ];
  const check = [...ld(1, key), ...ld(2, [])]; // versionstamp empty: must not exist
  const write = decodeAtomicWrite(Uint8Array.from([...ld(1, check), ...ld(2, mutation)]));
  assert.deepEqual(write.checks, [{ key: Uint8Array.from(key), versionstamp: null }]);
  assert.equal(write.mutations.length, 1);
  const m = write.mutations[0]!;
  assert.equal(m.type, "set");
  assert.equal(m.type === "set" && m.expiresAt, null);
  // -1 also means never (Deno writes it for "no expiry" in some versions).
  const minusOne = decodeAtomicWrite(Uint8Array.from(ld(2, [...ld(1, key), ...ld(2, value), ...vf(3, 1), ...vf(4, -1)])));
  assert.equal(minusOne.mutations[0]!.type === "set" && minusOne.mutations[0]!.expiresAt, null);
  // A range with reverse=false and limit written out.
  const ranges = decodeSnapshotRead(Uint8Array.from(ld(1, [...ld(1, key), ...ld(2, [...key, 0]), ...vf(3, 5), ...vf(4, 0)])));
  assert.deepEqual(ranges, [{ start: Uint8Array.from(key), end: Uint8Array.from([...key, 0]), limit: 5, reverse: false }]);
});

test("failed_checks decodes packed and unpacked; an unknown status is an error", () => {
  const packed = [...vf(1, 2), ...ld(4, [0, 3])];
  const unpacked = [...vf(1, 2), ...vf(4, 0), ...vf(4, 3)];
  for (const out of [packed, unpacked]) assert.deepEqual(decodeAtomicWriteOutput(Uint8Array.from(out)), { ok: false, failedChecks: [0, 3] });
  assert.equal(decodeAtomicWriteOutput(Uint8Array.from(vf(1, 5))), "write_disabled");
  assert.throws(() => decodeAtomicWriteOutput(Uint8Array.from(vf(1, 0))), /Unspecified write error/);
});

test("mutations are validated: value encodings, kinds, versionstamp lengths", () => {
  const m = (fields: number[]) => Uint8Array.from(ld(2, fields));
  assert.throws(() => decodeAtomicWrite(m([...ld(1, key), ...ld(2, [...ld(1, [1]), ...vf(2, 9)]), ...vf(3, 1)])), { message: "The value encoding 9 is unknown." });
  assert.throws(() => decodeAtomicWrite(m([...ld(1, key), ...vf(3, 1)])), { message: "Invalid mutation kind or arguments." });
  assert.throws(() => decodeAtomicWrite(m([...ld(1, key), ...vf(3, 7)])), { message: "Invalid mutation kind or arguments." });
  assert.throws(() => decodeAtomicWrite(Uint8Array.from(ld(1, [...ld(1, key), ...ld(2, [1, 2, 3])]))), { message: "Invalid versionstamp." });
  // Deno's delete carries {data: '', encoding: VE_BYTES}; @deno/kv's carries none: both are deletes.
  assert.equal(decodeAtomicWrite(m([...ld(1, key), ...ld(2, vf(2, 3)), ...vf(3, 2)])).mutations[0]!.type, "delete");
  assert.equal(decodeAtomicWrite(m([...ld(1, key), ...vf(3, 2)])).mutations[0]!.type, "delete");
});

test("client and server conversions round-trip", () => {
  const write = {
    checks: [{ key: encodeKey(["a"]), versionstamp: null }],
    mutations: [
      { type: "set" as const, key: encodeKey(["a"]), value: { encoding: "v8" as const, data: Uint8Array.of(0xff, 0x0f, 0x5f) }, expiresAt: 5000 },
      { type: "sum" as const, key: encodeKey(["n"]), value: { encoding: "v8" as const, data: Uint8Array.of(0xff, 0x0f, 0x49, 0x02) }, sumMin: Uint8Array.of(1), sumMax: new Uint8Array(0), sumClamp: true },
      { type: "delete" as const, key: encodeKey(["b"]) },
    ],
    enqueues: [{ payload: Uint8Array.of(1), readyAt: 9, keysIfUndelivered: [] }],
  };
  const back = decodeAtomicWrite(encodeAtomicWrite(write, DEFAULT_BACKOFF_SCHEDULE));
  assert.deepEqual(back.checks, write.checks);
  assert.deepEqual(back.mutations, write.mutations);
  assert.deepEqual(back.enqueues, [{ ...write.enqueues[0], backoffSchedule: [...DEFAULT_BACKOFF_SCHEDULE] }]);
  const entry = { key: encodeKey(["a"]), encoding: "bytes" as const, data: Uint8Array.of(1), versionstamp: new Uint8Array(10), expiresAt: null, metadata: null };
  assert.deepEqual(decodeWatchOutput(encodeWatchOutput([entry, null], [true, false])), [entry, undefined]);
});
