// V8 ValueSerializer codec for the structured-clone subset that Deno KV stores
// (value encoding VE_V8). Pure JS on purpose: the server must read values that
// Deno wrote and write values that both Deno and Node's `v8.deserialize` read,
// from any runtime, without node:v8 (Node's serializer writes typed arrays as
// Node-only host objects, and Node cannot read Deno's format version 16).
//
// Format versions this reader accepts (from V8's value-serializer.cc history):
//   13  host objects got an explicit tag '\' (older data delegated every
//       unknown tag to the embedder, so we do not read < 13)
//   14  ArrayBufferView ('V') gained a trailing flags varint
//       (bit 0 = length-tracking, bit 1 = backed by a resizable buffer)
//   15  shared objects got an explicit tag 'p'
//   16  ArrayBuffer/view lengths and offsets are size_t varints instead of
//       uint32; the bytes are the same for values < 2^32 (what Deno 2.9 writes)
// We write 15: the newest version that Node 24 (V8 13.6) still accepts.
//
// Where V8 sees things JS cannot, we differ: a view's length tracking on a
// resizable buffer is unobservable (we write it fixed-length), Proxies cannot
// be detected (V8 refuses them; we clone through their traps), and embedder
// host objects are opaque (we read only Node's typed-array ones).

import { SHORT_STRING_MAX, shortLatin1 } from "./short-strings.ts";

export class V8CodecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "V8CodecError";
  }
}

const WRITE_VERSION = 15;
const MIN_READ_VERSION = 13;
const MAX_READ_VERSION = 16;
// Bounded so hostile input fails cleanly instead of overflowing the JS stack:
// 1000 levels use about half of Node's default stack. (Deno itself gives up
// somewhere near 3000, so only pathological values fall in between.)
const MAX_DEPTH = 1000;
// Resizable buffers reserve their maximum up front; Deno KV values are at most
// 64 KiB, so anything past 4 GiB is garbage, not data. The bound is on the sum
// over one value: 7 bytes per 4 GiB buffer would otherwise exhaust the address
// space (40,000 of them fail with a RangeError, and starve the process meanwhile).
const MAX_RESIZABLE_BYTES = 2 ** 32;

const T = {
  version: 0xff, padding: 0x00, verifyObjectCount: 0x3f /* ? */,
  hole: 0x2d /* - */, undefined: 0x5f /* _ */, null: 0x30 /* 0 */,
  true: 0x54 /* T */, false: 0x46 /* F */, int32: 0x49 /* I */,
  uint32: 0x55 /* U */, double: 0x4e /* N */, bigint: 0x5a /* Z */,
  utf8: 0x53 /* S */, oneByte: 0x22 /* " */, twoByte: 0x63 /* c */,
  ref: 0x5e /* ^ */, beginObject: 0x6f /* o */, endObject: 0x7b /* { */,
  beginSparse: 0x61 /* a */, endSparse: 0x40 /* @ */,
  beginDense: 0x41 /* A */, endDense: 0x24 /* $ */, date: 0x44 /* D */,
  trueObject: 0x79 /* y */, falseObject: 0x78 /* x */,
  numberObject: 0x6e /* n */, bigintObject: 0x7a /* z */,
  stringObject: 0x73 /* s */, regexp: 0x52 /* R */,
  beginMap: 0x3b /* ; */, endMap: 0x3a /* : */,
  beginSet: 0x27 /* ' */, endSet: 0x2c /* , */,
  arrayBuffer: 0x42 /* B */, resizableBuffer: 0x7e /* ~ */,
  immutableBuffer: 0x43 /* C */, view: 0x56 /* V */, error: 0x72 /* r */,
  hostObject: 0x5c /* \ */,
} as const;

// Tags we recognise but cannot materialise outside the isolate that wrote them.
const UNSUPPORTED_TAGS: Record<number, string> = {
  0x74: "transferred ArrayBuffer", 0x75: "SharedArrayBuffer",
  0x70: "shared object", 0x77: "WebAssembly.Module", 0x6d: "WebAssembly.Memory",
};

interface ViewType {
  readonly tag: number; // V8 ArrayBufferViewTag
  readonly name: string; // global constructor name
  readonly size: number; // BYTES_PER_ELEMENT
}
const VIEW_TYPES: readonly ViewType[] = [
  ["b", "Int8Array", 1], ["B", "Uint8Array", 1], ["C", "Uint8ClampedArray", 1],
  ["w", "Int16Array", 2], ["W", "Uint16Array", 2], ["d", "Int32Array", 4],
  ["D", "Uint32Array", 4], ["h", "Float16Array", 2], ["f", "Float32Array", 4],
  ["F", "Float64Array", 8], ["q", "BigInt64Array", 8],
  ["Q", "BigUint64Array", 8], ["?", "DataView", 1],
].map(([c, name, size]) => ({ tag: (c as string).charCodeAt(0), name: name as string, size: size as number }));
const VIEW_BY_TAG = new Map(VIEW_TYPES.map((t) => [t.tag, t]));
const VIEW_BY_NAME = new Map(VIEW_TYPES.map((t) => [t.name, t]));
// Node's v8.serialize writes views as host objects: varint index into this
// table (10 is Node's Buffer), varint byteLength, raw bytes. Values written by
// @deno/kv on Node contain them, so we read them; we never write them.
const NODE_HOST_VIEWS = [
  "Int8Array", "Uint8Array", "Uint8ClampedArray", "Int16Array", "Uint16Array",
  "Int32Array", "Uint32Array", "Float32Array", "Float64Array", "DataView",
  "Uint8Array", "BigInt64Array", "BigUint64Array", "Float16Array",
];

// RegExp flag bits as V8 stores them (bit 6 is V8's internal "linear" flag),
// with the built-in getter that reads each one.
const REGEXP_FLAGS = ([
  ["g", 1, "global"], ["i", 2, "ignoreCase"], ["m", 4, "multiline"],
  ["y", 8, "sticky"], ["u", 16, "unicode"], ["s", 32, "dotAll"],
  ["d", 128, "hasIndices"], ["v", 256, "unicodeSets"],
] as const).map(([ch, bit, prop]) => [ch, bit, Object.getOwnPropertyDescriptor(RegExp.prototype, prop)?.get] as const);
const ERROR_TYPES: ReadonlyArray<readonly [number, string]> = [
  [0x45, "EvalError"], [0x52, "RangeError"], [0x46, "ReferenceError"],
  [0x53, "SyntaxError"], [0x54, "TypeError"], [0x55, "URIError"],
];

// Brand checks go through the built-in getters/methods captured at load time:
// unlike instanceof or Symbol.toStringTag they cannot be fooled by prototypes,
// and they work across realms. Each throws a TypeError for a foreign receiver.
type AnyFn = (this: unknown, ...args: unknown[]) => unknown;
const getterOf = (proto: object | undefined, key: PropertyKey): AnyFn | undefined =>
  proto === undefined ? undefined : (Object.getOwnPropertyDescriptor(proto, key)?.get as AnyFn | undefined);
const G = globalThis as unknown as Record<string, { prototype?: object } | undefined>;
const typedArrayProto = Object.getPrototypeOf(Uint8Array.prototype) as object;
const brand = {
  typedArrayName: getterOf(typedArrayProto, Symbol.toStringTag)!,
  typedArrayBuffer: getterOf(typedArrayProto, "buffer")!,
  typedArrayOffset: getterOf(typedArrayProto, "byteOffset")!,
  typedArrayLength: getterOf(typedArrayProto, "byteLength")!,
  dataViewBuffer: getterOf(DataView.prototype, "buffer")!,
  dataViewOffset: getterOf(DataView.prototype, "byteOffset")!,
  dataViewLength: getterOf(DataView.prototype, "byteLength")!,
  bufferLength: getterOf(ArrayBuffer.prototype, "byteLength")!,
  bufferResizable: getterOf(ArrayBuffer.prototype, "resizable"),
  bufferMaxLength: getterOf(ArrayBuffer.prototype, "maxByteLength"),
  bufferDetached: getterOf(ArrayBuffer.prototype, "detached"),
  sharedLength: getterOf(G["SharedArrayBuffer"]?.prototype, "byteLength"),
  mapSize: getterOf(Map.prototype, "size")!,
  setSize: getterOf(Set.prototype, "size")!,
  regexpSource: getterOf(RegExp.prototype, "source")!,
  regexpGlobal: getterOf(RegExp.prototype, "global")!,
};
const BOXED_VALUE_OF = [Number, String, Boolean, BigInt].map((c) => c.prototype.valueOf as AnyFn);
const BOXED_BY_TAG = new Map([Number, String, Boolean, BigInt].map((c) => [`[object ${c.name}]`, c.prototype.valueOf as AnyFn]));
const dateGetTime = Date.prototype.getTime as AnyFn;
const mapEntries = Map.prototype.entries as AnyFn;
const mapSet = Map.prototype.set as AnyFn;
const setValues = Set.prototype.values as AnyFn;
const setAdd = Set.prototype.add as AnyFn;
const fnToString = Function.prototype.toString as AnyFn;
const objToString = Object.prototype.toString as AnyFn;
const isErrorBuiltin = (Error as unknown as { isError?: (v: unknown) => boolean }).isError;

function passes(fn: AnyFn | undefined, v: unknown, ...args: unknown[]): boolean {
  if (fn === undefined) return false;
  try {
    fn.call(v, ...args);
    return true;
  } catch {
    return false;
  }
}

// Objects V8 refuses to clone (it checks instance types we cannot see from JS):
// brand-checked where a side-effect-free check exists, by built-in tag otherwise.
const REJECTED_BRANDS: ReadonlyArray<readonly [string, string, unknown[]]> = [
  ["WeakMap", "has", [{}]], ["WeakSet", "has", [{}]], ["WeakRef", "deref", []],
  ["FinalizationRegistry", "unregister", [{}]], ["Symbol", "valueOf", []],
];
const REJECTED_TAGS = new Set([
  "Arguments", "Promise", "Generator", "AsyncGenerator", "Map Iterator", "Set Iterator",
  "Array Iterator", "String Iterator", "RegExp String Iterator", "Iterator Helper",
  "Segmenter String Iterator", "Module", "WeakMap", "WeakSet", "WeakRef",
  "FinalizationRegistry", "SharedArrayBuffer",
]);

function isRejectedObject(o: object): boolean {
  for (const [name, method, args] of REJECTED_BRANDS) {
    const proto = G[name]?.prototype as Record<string, AnyFn> | undefined;
    if (proto !== undefined && passes(proto[method], o, ...args)) return true;
  }
  if (passes(brand.sharedLength, o)) return true;
  const tag = (objToString.call(o) as string).slice(8, -1);
  return REJECTED_TAGS.has(tag) || tag.startsWith("Intl.");
}

// The `global` getter throws for non-RegExps and answers undefined only for
// RegExp.prototype, which V8 clones as an ordinary object.
function isRegExp(o: object): boolean {
  try {
    return brand.regexpGlobal.call(o) !== undefined;
  } catch {
    return false;
  }
}

// Own data property lookup along the prototype chain without running getters.
function dataProperty(o: object, key: PropertyKey): unknown {
  for (let p: object | null = o; p !== null; p = Object.getPrototypeOf(p)) {
    const d = Object.getOwnPropertyDescriptor(p, key);
    if (d !== undefined) return "value" in d ? d.value : undefined;
  }
  return undefined;
}

// Mirrors V8's side-effect-free rendering (Object::NoSideEffectsToString) so
// the message matches what Deno's kv.set throws, e.g. "#<WeakMap> could not be cloned."
function cloneError(v: unknown): V8CodecError {
  let text: string;
  if (typeof v === "function") {
    text = fnToString.call(v) as string;
    if (text.length > 128) text = `${text.slice(0, 111)}...<omitted>...${text.slice(-2)}`;
  } else if (typeof v === "symbol") {
    text = v.toString();
  } else {
    const o = v as object;
    const ctor = dataProperty(o, "constructor");
    const name = typeof ctor === "function" ? dataProperty(ctor, "name") : undefined;
    if (dataProperty(o, "toString") === Object.prototype.toString && typeof name === "string" && name !== "") {
      text = `#<${name}>`;
    } else {
      const tag = dataProperty(o, Symbol.toStringTag);
      text = `[object ${typeof tag === "string" ? tag : Array.isArray(o) ? "Array" : "Object"}]`;
    }
  }
  return new V8CodecError(`${text} could not be cloned.`);
}

const INDEX_KEY = /^(?:0|[1-9][0-9]{0,9})$/;
const isIndexKey = (k: string): boolean => {
  // Most keys are names: one character code settles them without the regex.
  const c = k.charCodeAt(0);
  return c >= 0x30 && c <= 0x39 && INDEX_KEY.test(k) && Number(k) < 4294967295;
};
const hex = (n: number): string => `0x${n.toString(16).padStart(2, "0")}`;

class Writer {
  buf = new Uint8Array(256);
  dv = new DataView(this.buf.buffer);
  len = 0;
  ids = new Map<object, number>();
  bufferCopies = new Map<Uint8Array, Uint8Array>();
  depth = 0;

  reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
    this.dv = new DataView(next.buffer);
  }
  byte(b: number): void {
    this.reserve(1);
    this.buf[this.len++] = b;
  }
  varint(n: number): void {
    this.reserve(10);
    while (n >= 0x80) {
      this.buf[this.len++] = (n % 0x80) | 0x80;
      n = Math.floor(n / 0x80);
    }
    this.buf[this.len++] = n;
  }
  double(n: number): void {
    this.reserve(8);
    this.dv.setFloat64(this.len, n, true);
    this.len += 8;
  }
  raw(bytes: Uint8Array): void {
    this.reserve(bytes.length);
    this.buf.set(bytes, this.len);
    this.len += bytes.length;
  }

  /** Drops what this writer holds so that the next serializeV8 can take it (see `spare`). */
  reset(): void {
    this.len = 0;
    this.depth = 0;
    if (this.ids.size > 0) this.ids.clear();
    if (this.bufferCopies.size > 0) this.bufferCopies.clear();
    if (this.buf.length > SPARE_BYTES) {
      this.buf = new Uint8Array(256);
      this.dv = new DataView(this.buf.buffer);
    }
  }

  string(s: string): void {
    // One byte per character while every character fits one (most text); else back to the start, two.
    const start = this.len;
    const n = s.length;
    this.byte(T.oneByte);
    this.varint(n);
    this.reserve(n);
    const buf = this.buf;
    let len = this.len;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c > 0xff) {
        len = -1;
        break;
      }
      buf[len++] = c;
    }
    if (len >= 0) {
      this.len = len;
      return;
    }
    this.len = start;
    const byteLength = s.length * 2;
    // V8 keeps UTF-16 payloads 2-byte aligned relative to the buffer start
    // (header included) and emits one padding byte when they would not be.
    const varintSize = byteLength < 0x80 ? 1 : byteLength < 0x4000 ? 2 : byteLength < 0x200000 ? 3 : byteLength < 0x10000000 ? 4 : 5;
    if ((this.len + 1 + varintSize) & 1) this.byte(T.padding);
    this.byte(T.twoByte);
    this.varint(byteLength);
    this.reserve(byteLength);
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      this.buf[this.len++] = c & 0xff;
      this.buf[this.len++] = c >>> 8;
    }
  }

  bigintBody(v: bigint): void {
    const negative = v < 0n;
    let digits = (negative ? -v : v).toString(16);
    if (digits === "0") digits = "";
    // V8 stores whole 64-bit digits, least significant byte first.
    const byteLength = Math.ceil(digits.length / 16) * 8;
    digits = digits.padStart(byteLength * 2, "0");
    this.varint(byteLength * 2 + (negative ? 1 : 0));
    this.reserve(byteLength);
    for (let i = byteLength - 1; i >= 0; i--) this.buf[this.len++] = parseInt(digits.substr(i * 2, 2), 16);
  }

  key(k: string): void {
    // V8 writes integer-index keys as numbers (Smi range as 'I', beyond as 'N').
    if (isIndexKey(k)) this.value(Number(k));
    else this.string(k);
  }

  value(v: unknown): void {
    switch (typeof v) {
      case "undefined": return this.byte(T.undefined);
      case "boolean": return this.byte(v ? T.true : T.false);
      case "number":
        if ((v | 0) === v && !Object.is(v, -0)) {
          this.byte(T.int32);
          return this.varint(((v << 1) ^ (v >> 31)) >>> 0);
        }
        this.byte(T.double);
        return this.double(v);
      case "bigint":
        this.byte(T.bigint);
        return this.bigintBody(v);
      case "string": return this.string(v);
      case "object":
        if (v === null) return this.byte(T.null);
        return this.objectOrView(v);
      default: throw cloneError(v);
    }
  }

  objectOrView(v: object): void {
    if (isNodeBuffer(v)) {
      // A Node Buffer usually sits in a shared 8 KiB pool: writing its whole backing buffer (as V8
      // would) stores unrelated bytes. Write an exact copy (read back as a Uint8Array, as in Node).
      let copy = this.bufferCopies.get(v);
      if (!copy) this.bufferCopies.set(v, (copy = new Uint8Array(v)));
      v = copy;
    }
    if (ArrayBuffer.isView(v) && !this.ids.has(v)) {
      // Views follow their buffer (or a back-reference to it); the buffer
      // takes the object id before the view does, exactly as V8 numbers them.
      this.receiver(viewInfo(v).buffer);
    }
    return this.receiver(v);
  }

  receiver(o: object): void {
    const seen = this.ids.get(o);
    if (seen !== undefined) {
      this.byte(T.ref);
      return this.varint(seen);
    }
    this.ids.set(o, this.ids.size);
    if (++this.depth > MAX_DEPTH) throw new V8CodecError(`value nests deeper than ${MAX_DEPTH} levels`);
    this.object(o);
    this.depth--;
  }

  object(o: object): void {
    if (Array.isArray(o)) return this.array(o);
    // Hot path: plain objects and views skip the exception-based brand checks below, which cost
    // microseconds each. (`arguments` also has Object.prototype: the tag check sends it the slow way.)
    const proto = Object.getPrototypeOf(o) as unknown;
    const tag = objToString.call(o) as string;
    if ((proto === Object.prototype || proto === null) && tag === "[object Object]") return this.plainObject(o);
    if (ArrayBuffer.isView(o)) return this.view(o);
    // The built-in tag names the one brand check that can pass, so Maps, Sets, boxed primitives and
    // errors need not fail through the ones before it (a spoofed tag fails that check and takes the
    // full chain below).
    if (tag === "[object Map]" && passes(brand.mapSize, o)) return this.map(o);
    if (tag === "[object Set]" && passes(brand.setSize, o)) return this.set(o);
    const boxedValueOf = BOXED_BY_TAG.get(tag);
    if (boxedValueOf !== undefined && passes(boxedValueOf, o)) return this.boxed(boxedValueOf.call(o));
    if (tag === "[object Error]" && isErrorBuiltin?.(o) === true) return this.error(o);
    if (passes(dateGetTime, o)) {
      this.byte(T.date);
      return this.double(dateGetTime.call(o) as number);
    }
    if (isRegExp(o)) return this.regexp(o);
    if (passes(brand.mapSize, o)) return this.map(o);
    if (passes(brand.setSize, o)) return this.set(o);
    if (passes(brand.bufferLength, o)) return this.arrayBuffer(o as ArrayBuffer);
    if (ArrayBuffer.isView(o)) return this.view(o);
    for (const valueOf of BOXED_VALUE_OF) {
      if (passes(valueOf, o)) return this.boxed(valueOf.call(o));
    }
    if (isErrorBuiltin !== undefined ? isErrorBuiltin(o) : objToString.call(o) === "[object Error]") return this.error(o);
    if (isRejectedObject(o)) throw cloneError(o);
    // Everything else, class instances included, clones as a plain object of
    // its own enumerable string-keyed properties: that is what V8 (and so
    // Deno's kv.set) does.
    return this.plainObject(o);
  }

  map(o: object): void {
    const entries = [...(mapEntries.call(o) as Iterable<[unknown, unknown]>)];
    this.byte(T.beginMap);
    for (const [k, val] of entries) {
      this.value(k);
      this.value(val);
    }
    this.byte(T.endMap);
    this.varint(entries.length * 2);
  }

  set(o: object): void {
    const values = [...(setValues.call(o) as Iterable<unknown>)];
    this.byte(T.beginSet);
    for (const val of values) this.value(val);
    this.byte(T.endSet);
    this.varint(values.length);
  }

  /** A Boolean, Number, BigInt or String object, given the primitive inside it. */
  boxed(inner: unknown): void {
    switch (typeof inner) {
      case "boolean": return this.byte(inner ? T.trueObject : T.falseObject);
      case "number": this.byte(T.numberObject); return this.double(inner);
      case "bigint": this.byte(T.bigintObject); return this.bigintBody(inner);
      default: this.byte(T.stringObject); return this.string(inner as string);
    }
  }

  plainObject(o: object): void {
    this.byte(T.beginObject);
    const keys = Object.keys(o);
    for (const k of keys) {
      this.key(k);
      this.value((o as Record<string, unknown>)[k]);
    }
    this.byte(T.endObject);
    this.varint(keys.length);
  }

  array(a: unknown[]): void {
    const keys = Object.keys(a);
    const length = a.length;
    let indexCount = 0;
    // Own keys list indices first, in order: as many keys as the length, the last of them index
    // length - 1, means every index is there and nothing else is (no per-key test).
    const last = keys[length - 1];
    if (keys.length === length && (length === 0 || last === String(length - 1))) indexCount = length;
    else for (const k of keys) if (isIndexKey(k)) indexCount++;
    if (indexCount === length) {
      this.byte(T.beginDense);
      this.varint(length);
      for (let i = 0; i < length; i++) this.value(a[i]);
      for (const k of keys) {
        if (isIndexKey(k)) continue;
        this.string(k);
        this.value((a as unknown as Record<string, unknown>)[k]);
      }
      this.byte(T.endDense);
    } else {
      // Holes only survive in the sparse form, which lists present keys.
      this.byte(T.beginSparse);
      this.varint(length);
      for (const k of keys) {
        this.key(k);
        this.value((a as unknown as Record<string, unknown>)[k]);
      }
      this.byte(T.endSparse);
      this.varint(keys.length);
      return this.varint(length);
    }
    this.varint(keys.length - indexCount);
    this.varint(length);
  }

  regexp(o: object): void {
    let flags = 0;
    for (const [, bit, get] of REGEXP_FLAGS) if (get?.call(o) === true) flags |= bit;
    this.byte(T.regexp);
    this.string(brand.regexpSource.call(o) as string);
    this.varint(flags);
  }

  arrayBuffer(b: ArrayBuffer): void {
    if (brand.bufferDetached?.call(b) === true) throw new V8CodecError("An ArrayBuffer is detached and could not be cloned.");
    const bytes = new Uint8Array(b);
    if (brand.bufferResizable?.call(b) === true) {
      this.byte(T.resizableBuffer);
      this.varint(bytes.length);
      this.varint(brand.bufferMaxLength!.call(b) as number);
    } else {
      // Immutable buffers (tag 'C') are newer than format 15; a plain copy is
      // the closest thing every reader accepts.
      this.byte(T.arrayBuffer);
      this.varint(bytes.length);
    }
    this.raw(bytes);
  }

  view(v: ArrayBufferView): void {
    const info = viewInfo(v);
    const type = VIEW_BY_NAME.get(info.name);
    if (type === undefined) throw cloneError(v);
    this.byte(T.view);
    this.byte(type.tag);
    this.varint(info.offset);
    this.varint(info.length);
    // Whether a view tracks its buffer's length is not observable from JS, so
    // views on resizable buffers are written as fixed-length (bit 1 only).
    this.varint(brand.bufferResizable?.call(info.buffer) === true ? 2 : 0);
  }

  error(o: object): void {
    this.byte(T.error);
    const name = String((o as { name?: unknown }).name);
    const proto = ERROR_TYPES.find(([, n]) => n === name);
    if (proto !== undefined) this.byte(proto[0]);
    const message = Object.getOwnPropertyDescriptor(o, "message");
    if (message !== undefined && "value" in message) {
      this.byte(0x6d /* m */);
      this.string(String(message.value));
    }
    const stack = (o as { stack?: unknown }).stack;
    if (typeof stack === "string") {
      this.byte(0x73 /* s */);
      this.string(stack);
    }
    const cause = Object.getOwnPropertyDescriptor(o, "cause");
    if (cause !== undefined && "value" in cause) {
      this.byte(0x63 /* c */);
      this.value(cause.value);
    }
    this.byte(0x2e /* . */);
  }
}

// Read through the built-in getters so own properties named "buffer" etc. on
// the instance cannot change what gets written.
function viewInfo(v: ArrayBufferView): { name: string; buffer: ArrayBuffer; offset: number; length: number } {
  const name = brand.typedArrayName.call(v) as string | undefined;
  if (name !== undefined) {
    const buffer = brand.typedArrayBuffer.call(v) as ArrayBuffer;
    return { name, buffer, offset: brand.typedArrayOffset.call(v) as number, length: brand.typedArrayLength.call(v) as number };
  }
  const buffer = brand.dataViewBuffer.call(v) as ArrayBuffer;
  return { name: "DataView", buffer, offset: brand.dataViewOffset.call(v) as number, length: brand.dataViewLength.call(v) as number };
}

// Callers that are already deep in the stack can still run out before
// MAX_DEPTH; report that as a codec error rather than a bare RangeError.
function guardStack<R>(fn: () => R): R {
  try {
    return fn();
  } catch (e) {
    if (e instanceof RangeError && /call stack/i.test(e.message)) throw new V8CodecError("value nests too deeply for the JS stack");
    throw e;
  }
}

function isNodeBuffer(v: object): v is Uint8Array {
  return v instanceof Uint8Array && v.constructor !== Uint8Array && v.constructor?.name === "Buffer";
}

/** Outputs of `serializeV8` in this process: valid by construction, so write validation skips decoding them. */
const ownEncodings = new WeakSet<Uint8Array>();

/** True when `bytes` is an unmodified-by-reference output of `serializeV8` from this process. */
export function isOwnEncoding(bytes: Uint8Array): boolean {
  return ownEncodings.has(bytes);
}

/** A writer's buffer above this size is not kept for the next call. */
const SPARE_BYTES = 64 * 1024;
/** The writer the next serializeV8 takes (one per call otherwise: a getter may serialize from inside one). */
let spare: Writer | null = null;

export function serializeV8(value: unknown): Uint8Array {
  const w = spare ?? new Writer();
  spare = null;
  try {
    return guardStack(() => {
      w.byte(T.version);
      w.varint(WRITE_VERSION);
      w.value(value);
      const out = w.buf.slice(0, w.len);
      ownEncodings.add(out);
      return out;
    });
  } finally {
    w.reset();
    spare = w;
  }
}

const utf8 = new TextDecoder("utf-8", { ignoreBOM: true });

function charCodes(units: Uint8Array | Uint16Array): string {
  if (units.length <= 8192) return String.fromCharCode.apply(null, units as unknown as number[]);
  let out = "";
  // Chunked because fromCharCode.apply has an engine-specific argument limit.
  for (let i = 0; i < units.length; i += 8192) {
    out += String.fromCharCode.apply(null, units.subarray(i, i + 8192) as unknown as number[]);
  }
  return out;
}

function define(o: object, key: string, value: unknown): void {
  // A "__proto__" key must stay a plain data property (assignment would set the prototype); every
  // other key is assigned, which is several times faster than defineProperty and, on the plain
  // objects and arrays the reader creates, runs no setter.
  if (key === "__proto__") Object.defineProperty(o, key, { value, writable: true, enumerable: true, configurable: true });
  else (o as Record<string, unknown>)[key] = value;
}

class Reader {
  pos = 0;
  version = 0;
  depth = 0;
  ids = new Map<number, object>();
  nextId = 0;
  reserved = 0;
  bytes: Uint8Array;
  /** Made at the first double: most values have none, and for a small array made in JS, asking for its
   * ArrayBuffer copies it out of the heap. */
  #dv: DataView | null = null;
  readonly v13ViewFlags: boolean;

  constructor(input: Uint8Array, v13ViewFlags: boolean) {
    // A Buffer's slice() is a view into its (often pooled) memory: copies below must be real copies.
    const bytes = input.constructor === Uint8Array ? input : new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
    this.bytes = bytes;
    this.v13ViewFlags = v13ViewFlags;
  }

  fail(what: string, at: number = this.pos): never {
    throw new V8CodecError(`${what} at offset ${at}`);
  }
  need(n: number, what: string): void {
    if (n > this.bytes.length - this.pos) {
      this.fail(`truncated input: ${what} needs ${n} bytes but ${this.bytes.length - this.pos} remain`);
    }
  }
  tag(): number {
    while (this.pos < this.bytes.length && this.bytes[this.pos] === T.padding) this.pos++;
    if (this.pos >= this.bytes.length) this.fail("unexpected end of input");
    return this.bytes[this.pos++]!;
  }
  peekTag(): number | undefined {
    let p = this.pos;
    while (p < this.bytes.length && this.bytes[p] === T.padding) p++;
    return this.bytes[p];
  }
  varint(max: number = 0xffffffff): number {
    const start = this.pos;
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.bytes.length) this.fail("truncated varint", start);
      const b = this.bytes[this.pos++]!;
      result += (b & 0x7f) * scale;
      if (b < 0x80) {
        if (result > max) this.fail(`varint ${result} exceeds ${max}`, start);
        return result;
      }
      scale *= 0x80;
    }
    return this.fail("varint longer than 10 bytes", start);
  }
  size(): number {
    // Version 16 widened these to size_t; the encoding is the same varint.
    return this.varint(this.version >= 16 ? Number.MAX_SAFE_INTEGER : 0xffffffff);
  }
  double(): number {
    this.need(8, "double");
    const bytes = this.bytes;
    const v = (this.#dv ??= new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)).getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }
  rawString(tag: number): string {
    const length = this.varint();
    this.need(length, "string");
    const start = this.pos;
    this.pos += length;
    if (tag === T.oneByte) return charCodes(this.bytes.subarray(start, start + length));
    if (tag === T.utf8) return utf8.decode(this.bytes.subarray(start, start + length));
    if (length % 2 !== 0) this.fail(`two-byte string has odd byte length ${length}`, start);
    const units = new Uint16Array(length / 2);
    for (let i = 0; i < units.length; i++) units[i] = this.bytes[start + 2 * i]! | (this.bytes[start + 2 * i + 1]! << 8);
    return charCodes(units);
  }
  string(what: string): string {
    const at = this.pos;
    const v = this.value();
    if (typeof v !== "string") this.fail(`expected a string for ${what}`, at);
    return v;
  }
  bigint(): bigint {
    const bitfield = this.varint();
    const length = Math.floor(bitfield / 2);
    this.need(length, "BigInt digits");
    let digits = "";
    for (let i = length - 1; i >= 0; i--) digits += this.bytes[this.pos + i]!.toString(16).padStart(2, "0");
    this.pos += length;
    const magnitude = digits === "" ? 0n : BigInt(`0x${digits}`);
    return bitfield & 1 ? -magnitude : magnitude;
  }
  register<V extends object>(id: number, o: V): V {
    this.ids.set(id, o);
    return o;
  }

  value(): unknown {
    const at = this.pos;
    const tag = this.tag();
    const v = this.tagged(tag, at);
    // A view is written right after its buffer (or a reference to it), so any
    // buffer may be the head of a view.
    if (v instanceof ArrayBuffer && this.peekTag() === T.view) {
      this.tag();
      return this.view(v);
    }
    return v;
  }

  tagged(tag: number, at: number): unknown {
    switch (tag) {
      case T.verifyObjectCount: this.varint(); return this.value();
      case T.undefined: return undefined;
      case T.null: return null;
      case T.true: return true;
      case T.false: return false;
      case T.int32: { const u = this.varint(); return (u >>> 1) ^ -(u & 1); }
      case T.uint32: return this.varint();
      case T.double: return this.double();
      case T.bigint: return this.bigint();
      case T.oneByte: case T.twoByte: case T.utf8: return this.rawString(tag);
      case T.ref: {
        const id = this.varint();
        const o = this.ids.get(id);
        if (o === undefined) this.fail(`reference to unknown object id ${id}`, at);
        return o;
      }
      case T.date: { const time = this.double(); return this.register(this.nextId++, new Date(time)); }
      case T.trueObject: return this.register(this.nextId++, Object(true));
      case T.falseObject: return this.register(this.nextId++, Object(false));
      case T.numberObject: { const id = this.nextId++; return this.register(id, Object(this.double())); }
      case T.bigintObject: { const id = this.nextId++; return this.register(id, Object(this.bigint())); }
      case T.stringObject: { const id = this.nextId++; return this.register(id, Object(this.string("String object"))); }
      case T.regexp: return this.regexp(at);
      case T.arrayBuffer: case T.immutableBuffer: case T.resizableBuffer: return this.arrayBuffer(tag);
      case T.hostObject: return this.hostObject(at);
      case T.view: return this.fail("ArrayBuffer view without a preceding ArrayBuffer", at);
    }
    if (++this.depth > MAX_DEPTH) this.fail(`input nests deeper than ${MAX_DEPTH} levels`, at);
    let v: unknown;
    switch (tag) {
      case T.beginObject: v = this.object(); break;
      case T.beginDense: v = this.denseArray(at); break;
      case T.beginSparse: v = this.sparseArray(); break;
      case T.beginMap: v = this.collection(true); break;
      case T.beginSet: v = this.collection(false); break;
      case T.error: v = this.error(at); break;
      default: {
        // 'p' only became a tag in version 15; before that it is just unknown.
        const name = tag === 0x70 && this.version < 15 ? undefined : UNSUPPORTED_TAGS[tag];
        if (name !== undefined) this.fail(`unsupported ${name} (tag ${hex(tag)})`, at);
        const ch = tag >= 0x20 && tag < 0x7f ? ` '${String.fromCharCode(tag)}'` : "";
        this.fail(`unknown tag ${hex(tag)}${ch}`, at);
      }
    }
    this.depth--;
    return v;
  }

  properties(o: object, endTag: number): number {
    let count = 0;
    while (this.peekTag() !== endTag) {
      const at = this.pos;
      const key = this.value();
      if (typeof key !== "string" && typeof key !== "number") this.fail("property key is not a string or number", at);
      const val = this.value();
      try {
        define(o, String(key), val);
      } catch (e) {
        this.fail(`cannot define property ${JSON.stringify(String(key))}: ${(e as Error).message}`, at);
      }
      count++;
    }
    this.tag();
    return count;
  }
  expectCount(actual: number, what: string): void {
    const at = this.pos;
    const expected = this.varint();
    if (expected !== actual) this.fail(`${what} mismatch: read ${actual}, trailer says ${expected}`, at);
  }

  object(): object {
    const o = this.register(this.nextId++, {});
    this.expectCount(this.properties(o, T.endObject), "object property count");
    return o;
  }
  denseArray(at: number): unknown[] {
    const length = this.varint();
    // Every element takes at least one byte, so a longer length is a lie.
    if (length > this.bytes.length - this.pos) this.fail(`dense array length ${length} exceeds remaining input`, at);
    const a = this.register(this.nextId++, new Array<unknown>(length));
    for (let i = 0; i < length; i++) {
      if (this.peekTag() === T.hole) {
        this.tag();
        continue;
      }
      define(a, String(i), this.value());
    }
    this.expectCount(this.properties(a, T.endDense), "array property count");
    this.expectCount(length, "dense array length");
    return a;
  }
  sparseArray(): unknown[] {
    const length = this.varint();
    const a = this.register(this.nextId++, new Array<unknown>(length));
    this.expectCount(this.properties(a, T.endSparse), "array property count");
    this.expectCount(length, "sparse array length");
    return a;
  }
  collection(isMap: boolean): Map<unknown, unknown> | Set<unknown> {
    const c = this.register(this.nextId++, isMap ? new Map() : new Set());
    const end = isMap ? T.endMap : T.endSet;
    let count = 0;
    while (this.peekTag() !== end) {
      if (isMap) {
        const k = this.value();
        mapSet.call(c, k, this.value());
        count += 2;
      } else {
        setAdd.call(c, this.value());
        count++;
      }
    }
    this.tag();
    this.expectCount(count, isMap ? "Map entry count" : "Set size");
    return c;
  }
  regexp(at: number): RegExp {
    const id = this.nextId++;
    const source = this.string("RegExp source");
    const bits = this.varint();
    // Bits past 'v' are unassigned and bit 6 is V8's internal linear-engine flag.
    if (bits & ~0x1bf) this.fail(`invalid RegExp flags ${hex(bits)}`, at);
    let flags = "";
    for (const [ch, bit] of REGEXP_FLAGS) if (bits & bit) flags += ch;
    try {
      return this.register(id, new RegExp(source, flags));
    } catch (e) {
      return this.fail(`invalid RegExp /${source}/${flags}: ${(e as Error).message}`, at);
    }
  }
  arrayBuffer(tag: number): ArrayBuffer {
    const id = this.nextId++;
    const at = this.pos;
    const length = this.size();
    let buffer: ArrayBuffer;
    if (tag === T.resizableBuffer) {
      const max = this.size();
      if (length > max) this.fail(`resizable ArrayBuffer length ${length} exceeds its maximum ${max}`, at);
      if (max > MAX_RESIZABLE_BYTES) this.fail(`resizable ArrayBuffer maximum ${max} exceeds ${MAX_RESIZABLE_BYTES}`, at);
      this.reserved += max;
      if (this.reserved > MAX_RESIZABLE_BYTES) this.fail(`resizable ArrayBuffers reserve more than ${MAX_RESIZABLE_BYTES} bytes in total`, at);
      this.need(length, "ArrayBuffer");
      type Ctor = new (n: number, o: { maxByteLength: number }) => ArrayBuffer;
      buffer = new (ArrayBuffer as unknown as Ctor)(length, { maxByteLength: max });
    } else {
      this.need(length, "ArrayBuffer");
      buffer = new ArrayBuffer(length);
    }
    new Uint8Array(buffer).set(this.bytes.subarray(this.pos, this.pos + length));
    this.pos += length;
    if (tag === T.immutableBuffer) {
      const toImmutable = (buffer as unknown as { transferToImmutable?: () => ArrayBuffer }).transferToImmutable;
      if (toImmutable !== undefined) buffer = toImmutable.call(buffer);
    }
    return this.register(id, buffer);
  }
  view(buffer: ArrayBuffer): ArrayBufferView {
    const at = this.pos;
    const subtag = this.varint(0xff);
    const offset = this.size();
    const length = this.size();
    if (offset > buffer.byteLength || length > buffer.byteLength - offset) {
      this.fail(`view [${offset}, +${length}) outside its ${buffer.byteLength}-byte buffer`, at);
    }
    const flags = this.version >= 14 || this.v13ViewFlags ? this.varint() : 0;
    const id = this.nextId++;
    const type = VIEW_BY_TAG.get(subtag);
    if (type === undefined) this.fail(`unknown view type ${hex(subtag)}`, at);
    if (offset % type.size !== 0 || length % type.size !== 0) this.fail(`misaligned ${type.name} (offset ${offset}, length ${length})`, at);
    const tracking = (flags & 1) !== 0;
    const resizable = brand.bufferResizable?.call(buffer) === true;
    if (((flags & 2) !== 0) !== resizable || (tracking && !resizable)) this.fail(`view flags ${flags} do not match its buffer`, at);
    const Ctor = G[type.name] as unknown as (new (b: ArrayBuffer, o: number, l?: number) => ArrayBufferView) | undefined;
    if (Ctor === undefined) this.fail(`${type.name} is not available in this runtime`, at);
    const v = tracking ? new Ctor(buffer, offset) : new Ctor(buffer, offset, length / type.size);
    return this.register(id, v);
  }
  hostObject(at: number): ArrayBufferView {
    const id = this.nextId++;
    const index = this.varint();
    const name = NODE_HOST_VIEWS[index];
    if (name === undefined) this.fail(`unsupported host object (not a Node.js ArrayBufferView, type ${index})`, at);
    const type = VIEW_BY_NAME.get(name)!;
    const length = this.varint();
    this.need(length, "host object");
    if (length % type.size !== 0) this.fail(`misaligned ${name} host object (length ${length})`, at);
    const Ctor = G[name] as unknown as (new (b: ArrayBuffer, o: number, l: number) => ArrayBufferView) | undefined;
    if (Ctor === undefined) this.fail(`${name} is not available in this runtime`, at);
    const copy = this.bytes.slice(this.pos, this.pos + length).buffer;
    this.pos += length;
    return this.register(id, new Ctor(copy, 0, length / type.size));
  }
  error(at: number): Error {
    const id = this.nextId++;
    let sub = this.varint(0xff);
    let Ctor: ErrorConstructor = Error;
    const proto = ERROR_TYPES.find(([t]) => t === sub);
    if (proto !== undefined) {
      Ctor = G[proto[1]] as unknown as ErrorConstructor;
      sub = this.varint(0xff);
    }
    let message: string | undefined;
    if (sub === 0x6d /* m */) {
      message = this.string("Error message");
      sub = this.varint(0xff);
    }
    let stack: string | undefined;
    if (sub === 0x73 /* s */) {
      stack = this.string("Error stack");
      sub = this.varint(0xff);
    }
    const e = this.register(id, message === undefined ? new Ctor() : new Ctor(message));
    Object.defineProperty(e, "stack", { value: stack, writable: true, enumerable: false, configurable: true });
    if (sub === 0x63 /* c */) {
      Object.defineProperty(e, "cause", { value: this.value(), writable: true, enumerable: false, configurable: true });
      sub = this.varint(0xff);
    }
    if (sub !== 0x2e /* . */) this.fail(`unexpected Error field tag ${hex(sub)}`, at);
    return e;
  }
}

function decode(bytes: Uint8Array, v13ViewFlags: boolean): unknown {
  const r = new Reader(bytes, v13ViewFlags);
  if (bytes.length === 0) r.fail("empty input");
  if (bytes[0] !== T.version) r.fail(`missing version header (expected 0xff, got ${hex(bytes[0]!)})`);
  r.pos = 1;
  r.version = r.varint();
  if (r.version < MIN_READ_VERSION || r.version > MAX_READ_VERSION) {
    r.fail(`unsupported format version ${r.version} (readable: ${MIN_READ_VERSION}-${MAX_READ_VERSION})`, 1);
  }
  const value = r.value();
  if (r.peekTag() !== undefined) r.fail(`unexpected trailing data (${bytes.length - r.pos} bytes)`);
  return value;
}

// ---- fast path ----
// Most Deno values are plain objects, dense arrays, strings, numbers, booleans and null. `fastDecode`
// reads exactly that subset with no Reader, no id table and no per-call closures; on anything else
// (references, holes, Maps, views, a "__proto__" key, deep nesting, any malformation) it gives up with
// BAIL and the full Reader decodes the value from the start, so every error and every other type keeps
// the one implementation above. For the subset both build the same value (v8.test.ts checks them).
const BAIL: unique symbol = Symbol("bail");
const FAST_MAX_DEPTH = 64;
const scratch = new Uint8Array(8);
const scratchDouble = new Float64Array(scratch.buffer);
const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
let fb: Uint8Array = scratch;
let fp = 0;
let fdepth = 0;

function fastVarint(): number {
  let result = 0;
  let scale = 1;
  for (let i = 0; i < 5; i++) {
    const b = fb[fp++];
    if (b === undefined) return -1;
    result += (b & 0x7f) * scale;
    if (b < 0x80) return result > 0xffffffff ? -1 : result;
    scale *= 0x80;
  }
  return -1;
}

function fastTag(): number {
  let tag = fb[fp++];
  while (tag === T.padding) tag = fb[fp++];
  return tag === undefined ? -1 : tag;
}

function fastLatin1(start: number, length: number): string {
  return length > SHORT_STRING_MAX ? charCodes(fb.subarray(start, start + length)) : shortLatin1(fb, start, length);
}

function fastValue(): unknown {
  const tag = fastTag();
  switch (tag) {
    case T.undefined: return undefined;
    case T.null: return null;
    case T.true: return true;
    case T.false: return false;
    case T.int32: { const u = fastVarint(); return u < 0 ? BAIL : (u >>> 1) ^ -(u & 1); }
    case T.uint32: { const u = fastVarint(); return u < 0 ? BAIL : u; }
    case T.double: {
      if (!littleEndian || fp + 8 > fb.length) return BAIL;
      for (let i = 0; i < 8; i++) scratch[i] = fb[fp + i]!;
      fp += 8;
      return scratchDouble[0];
    }
    case T.oneByte: case T.utf8: {
      const length = fastVarint();
      if (length < 0 || length > fb.length - fp) return BAIL;
      const start = fp;
      fp += length;
      if (tag === T.oneByte) return fastLatin1(start, length);
      for (let i = start; i < fp; i++) if (fb[i]! >= 0x80) return utf8.decode(fb.subarray(start, fp));
      return fastLatin1(start, length);
    }
    case T.beginObject: {
      if (++fdepth > FAST_MAX_DEPTH) return BAIL;
      const o: Record<string, unknown> = {};
      let count = 0;
      for (;;) {
        const at = fp;
        const next = fastTag();
        if (next === T.endObject) break;
        fp = at;
        const key = fastValue();
        if (typeof key !== "string" && typeof key !== "number") return BAIL;
        const k = typeof key === "string" ? key : String(key);
        if (k === "__proto__") return BAIL;
        const v = fastValue();
        if (v === BAIL) return BAIL;
        o[k] = v;
        count++;
      }
      if (fastVarint() !== count) return BAIL;
      fdepth--;
      return o;
    }
    case T.beginDense: {
      if (++fdepth > FAST_MAX_DEPTH) return BAIL;
      const length = fastVarint();
      if (length < 0 || length > fb.length - fp) return BAIL;
      const a = new Array<unknown>(length);
      for (let i = 0; i < length; i++) {
        const v = fastValue();
        // A hole ('-') is not in the subset: fastValue bails on its tag.
        if (v === BAIL) return BAIL;
        a[i] = v;
      }
      // Extra named properties on an array are not in the subset either.
      if (fastTag() !== T.endDense || fastVarint() !== 0 || fastVarint() !== length) return BAIL;
      fdepth--;
      return a;
    }
    default:
      return BAIL;
  }
}

/** The value, or BAIL when it is outside the fast subset (or malformed): then the Reader decides. */
function fastDecode(bytes: Uint8Array): unknown {
  if (bytes[0] !== T.version) return BAIL;
  fb = bytes;
  fp = 1;
  fdepth = 0;
  try {
    const version = fastVarint();
    if (version < MIN_READ_VERSION || version > MAX_READ_VERSION) return BAIL;
    const v = fastValue();
    if (v === BAIL) return BAIL;
    while (fp < fb.length && fb[fp] === T.padding) fp++;
    return fp === fb.length ? v : BAIL;
  } finally {
    fb = scratch;
  }
}

export function deserializeV8(bytes: Uint8Array): unknown {
  const fast = fastDecode(bytes);
  if (fast !== BAIL) return fast;
  try {
    return guardStack(() => decode(bytes, false));
  } catch (e) {
    // V8 once wrote view flags while still claiming version 13
    // (crbug.com/1284506); like V8 we retry such data with flags before failing.
    if (e instanceof V8CodecError && bytes[0] === T.version && bytes[1] === 13) {
      try {
        return guardStack(() => decode(bytes, true));
      } catch {
        throw e;
      }
    }
    throw e;
  }
}
