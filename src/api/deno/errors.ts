/**
 * The error shapes Deno's `Deno.Kv` throws, reproduced exactly (class and message) so that code written
 * against Deno behaves the same here. Observed with deno 2.9.6; see test/conformance/deno-kv.case.ts.
 */
import { types } from "node:util";
import { KvError } from "../../core/errors.ts";

/**
 * Deno's `Deno.errors.BadResource`: what every method of a closed `Kv` throws.
 *
 * @example
 * ```ts
 * kv.close();
 * await kv.get(["a"]).catch((e) => e instanceof BadResource); // true
 * ```
 */
export class BadResource extends Error {
  constructor(message = "Bad resource ID") {
    super(message);
    this.name = "BadResource";
  }
}

/**
 * The type name serde_v8 prints in "invalid type; expected: …, got: <name>" (its `value_to_type_str`):
 * Deno validates op arguments with serde_v8, so these are the words users see.
 */
export function serdeTypeName(v: unknown): string {
  if (types.isModuleNamespaceObject(v)) return "Module";
  if (types.isProxy(v)) return "Proxy";
  if (types.isSharedArrayBuffer(v)) return "SharedArrayBuffer";
  if (types.isDataView(v)) return "DataView";
  if (types.isTypedArray(v)) {
    const tag = Object.prototype.toString.call(v).slice(8, -1);
    return tag;
  }
  if (types.isArrayBuffer(v)) return "ArrayBuffer";
  if (types.isWeakSet(v)) return "WeakSet";
  if (types.isWeakMap(v)) return "WeakMap";
  if (types.isSetIterator(v)) return "Set Iterator";
  if (types.isMapIterator(v)) return "Map Iterator";
  if (types.isSet(v)) return "Set";
  if (types.isMap(v)) return "Map";
  if (types.isPromise(v)) return "Promise";
  if (types.isGeneratorFunction(v)) return "Generator function";
  if (types.isAsyncFunction(v)) return "Async function";
  if (types.isRegExp(v)) return "RegExp";
  if (types.isDate(v)) return "Date";
  switch (typeof v) {
    case "number":
      return "Number";
    case "boolean":
      return "Boolean";
    case "bigint":
      return "bigint";
    case "function":
      return "function";
    case "symbol":
      return "symbol";
    case "string":
      return "string";
    case "undefined":
      return "undefined";
  }
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  return "unknown";
}

/** serde_v8's type mismatch error, e.g. `serde_v8 error: invalid type; expected: array, got: string`. */
export function serdeTypeError(expected: string, got: unknown): TypeError {
  return new TypeError(`serde_v8 error: invalid type; expected: ${expected}, got: ${serdeTypeName(got)}`);
}

/**
 * Maps an engine error to what Deno throws: a closed engine is a BadResource, a rejected mutation
 * (sum on a non-U64 value, …) a TypeError with the engine's message; anything else passes through.
 */
export function toDenoError(e: unknown): unknown {
  if (!(e instanceof KvError)) return e;
  if (e.code === "closed") return new BadResource();
  return new TypeError(e.message);
}
