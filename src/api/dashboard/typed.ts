/**
 * Deno keys and values as tagged JSON, for the dashboard: every part and value is `{type, value}`, so
 * what plain JSON cannot say (bigint, Map, Set, Date, bytes, KvU64, undefined, NaN) survives the round
 * trip to the browser and back.
 *
 * Key parts: `{"type":"string","value":"users"}`, `number` (a JSON number, or "NaN"/"Infinity"/
 * "-Infinity"), `bigint` (decimal text), `boolean`, `Uint8Array` (hex).
 *
 * Values: the part types plus `null`, `undefined`, `Date` (ISO text, null when invalid), `RegExp`
 * (`{source, flags}`), `Array`, `object` (`{name: typed}`), `Map` (`[[typed, typed], …]`), `Set`
 * (`[typed, …]`), `KvU64` (decimal text; stored le64), and, view only, `Error` (`{name, message}`),
 * `Circular` and other typed arrays (`{"type":"Int32Array","value":hex}`). A top-level `Uint8Array` is
 * stored as raw bytes, as Deno's `set(k, new Uint8Array(…))` stores it.
 */
import { KvError } from "../../core/errors.ts";
import type { KvKey, KvKeyPart } from "../../core/keys.ts";
import { ENGINE_LIMITS } from "../../core/limits.ts";
import type { StoredValue } from "../../core/types.ts";
import { deserializeV8, serializeV8, V8CodecError } from "../../core/v8.ts";
import { u64FromStored } from "../../core/values.ts";

export interface Typed {
  type: string;
  value?: unknown;
}

const MAX_U64 = 2n ** 64n - 1n;

function bad(message: string): never {
  throw new KvError("invalid_value", message);
}

const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");

function fromHex(text: unknown, what: string): Uint8Array {
  if (typeof text !== "string" || !/^(?:[0-9a-fA-F]{2})*$/.test(text.replace(/\s+/g, ""))) bad(`${what} must be hex digits in pairs`);
  return new Uint8Array(Buffer.from(text.replace(/\s+/g, ""), "hex"));
}

function numberOut(n: number): number | string {
  if (Number.isNaN(n)) return "NaN";
  if (n === Infinity) return "Infinity";
  if (n === -Infinity) return "-Infinity";
  if (Object.is(n, -0)) return "-0";
  return n;
}

function numberIn(v: unknown, what: string): number {
  if (typeof v === "number") return v;
  if (v === "NaN") return NaN;
  if (v === "Infinity") return Infinity;
  if (v === "-Infinity") return -Infinity;
  if (v === "-0") return -0;
  return bad(`${what}: a number must be a JSON number or "NaN", "Infinity", "-Infinity", "-0"`);
}

function bigintIn(v: unknown, what: string): bigint {
  if (typeof v !== "string" || !/^-?\d+$/.test(v.trim())) bad(`${what}: a bigint must be decimal digits as a string, e.g. "123"`);
  return BigInt(v.trim());
}

function tagged(input: unknown, what: string): Typed {
  if (typeof input !== "object" || input === null || Array.isArray(input) || typeof (input as Typed).type !== "string") {
    bad(`${what} must be {"type": …, "value": …}`);
  }
  return input as Typed;
}

export function keyPartToTyped(p: KvKeyPart): Typed {
  if (typeof p === "string") return { type: "string", value: p };
  if (typeof p === "number") return { type: "number", value: numberOut(p) };
  if (typeof p === "bigint") return { type: "bigint", value: p.toString() };
  if (typeof p === "boolean") return { type: "boolean", value: p };
  return { type: "Uint8Array", value: hex(p) };
}

export function keyPartFromTyped(input: unknown, what = "key part"): KvKeyPart {
  const t = tagged(input, what);
  switch (t.type) {
    case "string":
      if (typeof t.value !== "string") bad(`${what}: a string part needs a string value`);
      return t.value;
    case "number":
      return numberIn(t.value, what);
    case "bigint":
      return bigintIn(t.value, what);
    case "boolean":
      if (typeof t.value !== "boolean") bad(`${what}: a boolean part needs true or false`);
      return t.value;
    case "Uint8Array":
      return fromHex(t.value, what);
    default:
      return bad(`${what}: unknown key part type "${t.type}" (use string, number, bigint, boolean or Uint8Array)`);
  }
}

export function keyFromTyped(input: unknown, what = "key"): KvKey {
  if (!Array.isArray(input)) bad(`${what} must be an array of key parts like [{"type":"string","value":"users"}]`);
  return input.map((p, i) => keyPartFromTyped(p, `${what}[${i}]`));
}

/** A decoded V8 value as tagged JSON. Never throws: what cannot be written back is marked view only. */
function toTyped(v: unknown, ancestors: object[]): Typed {
  switch (typeof v) {
    case "string":
    case "boolean":
      return { type: typeof v, value: v };
    case "number":
      return { type: "number", value: numberOut(v) };
    case "bigint":
      return { type: "bigint", value: v.toString() };
    case "undefined":
      return { type: "undefined" };
  }
  if (v === null) return { type: "null" };
  if (typeof v !== "object") return { type: "undefined" };
  if (ancestors.includes(v)) return { type: "Circular" };
  ancestors.push(v);
  try {
    if (v instanceof Uint8Array) return { type: "Uint8Array", value: hex(v) };
    if (ArrayBuffer.isView(v)) return { type: v.constructor.name, value: hex(new Uint8Array(v.buffer, v.byteOffset, v.byteLength)) };
    if (v instanceof ArrayBuffer) return { type: "ArrayBuffer", value: hex(new Uint8Array(v)) };
    if (v instanceof Date) return { type: "Date", value: Number.isNaN(v.getTime()) ? null : v.toISOString() };
    if (v instanceof RegExp) return { type: "RegExp", value: { source: v.source, flags: v.flags } };
    if (v instanceof Error) return { type: "Error", value: { name: v.name, message: v.message } };
    if (v instanceof Map) return { type: "Map", value: [...v].map(([k, x]) => [toTyped(k, ancestors), toTyped(x, ancestors)]) };
    if (v instanceof Set) return { type: "Set", value: [...v].map((x) => toTyped(x, ancestors)) };
    if (Array.isArray(v)) return { type: "Array", value: Array.from(v, (x) => toTyped(x, ancestors)) };
    const out: Record<string, Typed> = {};
    for (const k of Object.keys(v)) Object.defineProperty(out, k, { value: toTyped((v as Record<string, unknown>)[k], ancestors), enumerable: true });
    return { type: "object", value: out };
  } finally {
    ancestors.pop();
  }
}

/** A stored value as tagged JSON (see the module comment). */
export function storedToTyped(v: StoredValue): Typed {
  if (v.encoding === "bytes") return { type: "Uint8Array", value: hex(v.data) };
  if (v.encoding === "le64") return v.data.byteLength === 8 ? { type: "KvU64", value: u64FromStored(v).toString() } : { type: "Uint8Array", value: hex(v.data) };
  try {
    return toTyped(deserializeV8(v.data), []);
  } catch {
    // Bytes no decoder reads (written before writes were validated) are shown as they are.
    return { type: "Uint8Array", value: hex(v.data) };
  }
}

function fromTyped(input: unknown, what: string, depth: number): unknown {
  if (depth > ENGINE_LIMITS.maxNestingDepth) bad(`The value nests more than ${ENGINE_LIMITS.maxNestingDepth} levels deep`);
  const t = tagged(input, what);
  const list = (x: unknown) => {
    if (!Array.isArray(x)) bad(`${what}: a ${t.type} needs an array value`);
    return x;
  };
  switch (t.type) {
    case "string":
    case "number":
    case "bigint":
    case "boolean":
    case "Uint8Array":
      return keyPartFromTyped(t, what);
    case "null":
      return null;
    case "undefined":
      return undefined;
    case "Date": {
      if (t.value === null) return new Date(NaN);
      const d = typeof t.value === "string" || typeof t.value === "number" ? new Date(t.value) : new Date(NaN);
      if (Number.isNaN(d.getTime())) bad(`${what}: a Date needs an ISO date like "2024-07-15T00:00:00.000Z"`);
      return d;
    }
    case "RegExp": {
      const r = t.value as { source?: unknown; flags?: unknown } | null;
      if (!r || typeof r.source !== "string" || typeof (r.flags ?? "") !== "string") bad(`${what}: a RegExp needs {"source": …, "flags": …}`);
      try {
        return new RegExp(r.source, (r.flags as string | undefined) ?? "");
      } catch (e) {
        return bad(`${what}: ${(e as Error).message}`);
      }
    }
    case "Array":
      return list(t.value).map((x, i) => fromTyped(x, `${what}[${i}]`, depth + 1));
    case "Set":
      return new Set(list(t.value).map((x, i) => fromTyped(x, `${what}[${i}]`, depth + 1)));
    case "Map":
      return new Map(
        list(t.value).map((pair, i) => {
          if (!Array.isArray(pair) || pair.length !== 2) bad(`${what}[${i}]: a Map entry is [key, value]`);
          return [fromTyped(pair[0], `${what}[${i}][0]`, depth + 1), fromTyped(pair[1], `${what}[${i}][1]`, depth + 1)];
        }),
      );
    case "object": {
      if (typeof t.value !== "object" || t.value === null || Array.isArray(t.value)) bad(`${what}: an object needs an object value`);
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(t.value)) Object.defineProperty(out, k, { value: fromTyped(x, `${what}.${k}`, depth + 1), enumerable: true, writable: true, configurable: true });
      return out;
    }
    case "KvU64":
      return bad(`${what}: a KvU64 can only be the whole value, not part of one`);
    default:
      return bad(`${what}: "${t.type}" values can be viewed but not written`);
  }
}

/** Tagged JSON as the value to store: top-level `Uint8Array` → bytes, `KvU64` → le64, anything else → V8. */
export function typedToStored(input: unknown): StoredValue {
  const t = tagged(input, "value");
  if (t.type === "Uint8Array") return { encoding: "bytes", data: fromHex(t.value, "value") };
  if (t.type === "KvU64") {
    const n = bigintIn(t.value, "value");
    if (n < 0n || n > MAX_U64) bad("value: a KvU64 is an integer from 0 to 2^64-1");
    const data = new Uint8Array(8);
    new DataView(data.buffer).setBigUint64(0, n, true);
    return { encoding: "le64", data };
  }
  const value = fromTyped(t, "value", 1);
  try {
    return { encoding: "v8", data: serializeV8(value) };
  } catch (e) {
    if (e instanceof V8CodecError) bad(`The value cannot be stored: ${e.message}`);
    throw e;
  }
}
