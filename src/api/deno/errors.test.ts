import { test } from "node:test";
import assert from "node:assert/strict";
import { KvError } from "../../core/errors.ts";
import { BadResource, serdeTypeName, toDenoError } from "./errors.ts";

test("serde type names follow serde_v8's value_to_type_str", () => {
  const cases: [unknown, string][] = [
    ["s", "string"],
    [1, "Number"],
    [true, "Boolean"],
    [1n, "bigint"],
    [Symbol(), "symbol"],
    [() => 1, "function"],
    [async () => 1, "Async function"],
    [function* () {}, "Generator function"],
    [null, "null"],
    [undefined, "undefined"],
    [[], "array"],
    [{}, "unknown"],
    [new String("s"), "unknown"],
    [new Date(0), "Date"],
    [/x/, "RegExp"],
    [new Map(), "Map"],
    [new Set(), "Set"],
    [new WeakMap(), "WeakMap"],
    [Promise.resolve(), "Promise"],
    [new Uint8Array(1), "Uint8Array"],
    [new Float64Array(1), "Float64Array"],
    [new DataView(new ArrayBuffer(1)), "DataView"],
    [new ArrayBuffer(1), "ArrayBuffer"],
    [new Proxy({}, {}), "Proxy"],
  ];
  for (const [v, name] of cases) assert.equal(serdeTypeName(v), name, String(name));
});

test("engine errors become Deno errors", () => {
  const closed = toDenoError(new KvError("closed", "The database is closed"));
  assert.ok(closed instanceof BadResource);
  assert.equal((closed as Error).message, "Bad resource ID");
  const bad = toDenoError(new KvError("invalid_mutation", "unsupported value type"));
  assert.ok(bad instanceof TypeError);
  assert.equal((bad as Error).message, "unsupported value type");
  const other = new Error("internal");
  assert.equal(toDenoError(other), other);
});
