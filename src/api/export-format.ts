/**
 * OpenKV's export format, shared by `openkv export`/`import` and the dashboard: NDJSON, one JSON
 * object per line, lossless for every value the engine holds.
 *
 * - A namespace line starts each namespace of a whole-store export:
 *   `{"namespace":{"id":"3f…","title":"sessions"}}`
 * - An entry line:
 *   `{"key":"AnVzZXJzAAJhZGEA","name":"users:ada","encoding":"v8","value":"/w8iBWhlbGxv","metadata":{"v":1},"expiration_ms":1795333124000,"versionstamp":"00000000000000020000"}`
 *   - `key`: the engine key bytes (Deno's key encoding), base64;
 *   - `name`: the Workers key name, present when the key is one (a single string part);
 *   - `encoding` (`v8` structured clone, `bytes`, `le64` for KvU64) and `value` (base64 of the stored bytes);
 *   - `metadata` (Workers metadata, JSON), `expiration_ms` (epoch ms), both only when set;
 *   - `versionstamp` (20 hex): informational — an import issues new versionstamps in the target store.
 */
import { encodeKey, decodeKey } from "../core/keys.ts";
import { versionstampToHex, versionstampFromHex } from "../core/versionstamp.ts";
import type { ValueEncoding } from "../core/types.ts";
import { scanKey } from "./workers/key-range.ts";

/** A namespace header line of a whole-store export. */
export interface NamespaceRecordLine {
  readonly kind: "namespace";
  readonly id: string;
  readonly title: string;
}

/** One entry exactly as the engine keeps it. */
export interface EntryRecord {
  readonly kind: "entry";
  /** The engine key (Deno's key encoding; a Workers key "k" is the Deno key ["k"]). */
  readonly key: Uint8Array;
  readonly encoding: ValueEncoding;
  readonly data: Uint8Array;
  /** Epoch milliseconds, or null. */
  readonly expiresAt: number | null;
  /** Workers metadata as JSON text, or null. */
  readonly metadata: string | null;
  /** 10 bytes as read from the source, when it has one (informational: the target issues its own). */
  readonly versionstamp?: Uint8Array;
}

export type ImportRecord = NamespaceRecordLine | EntryRecord;

/** A line that is not in the format; the message names the line (`where`) and what is wrong. */
export class ExportLineError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ExportLineError";
  }
}

const ENCODINGS: ReadonlySet<string> = new Set<ValueEncoding>(["v8", "bytes", "le64"]);

const b64 = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");

/** The Workers name of an engine key, or undefined when it is not one. */
export function workersName(key: Uint8Array): string | undefined {
  const scanned = scanKey(key);
  return scanned && "name" in scanned ? scanned.name : undefined;
}

export function namespaceLine(ns: { id: string; title: string }): string {
  return JSON.stringify({ namespace: { id: ns.id, title: ns.title } });
}

export function entryLine(e: Omit<EntryRecord, "kind">): string {
  const name = workersName(e.key);
  return JSON.stringify({
    key: b64(e.key),
    ...(name !== undefined ? { name } : {}),
    encoding: e.encoding,
    value: b64(e.data),
    ...(e.metadata !== null ? { metadata: JSON.parse(e.metadata) } : {}),
    ...(e.expiresAt !== null ? { expiration_ms: e.expiresAt } : {}),
    ...(e.versionstamp ? { versionstamp: versionstampToHex(e.versionstamp) } : {}),
  });
}

function fail(where: string, why: string): never {
  throw new ExportLineError(`${where}: ${why}`);
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function bytesField(value: unknown, where: string, field: string): Uint8Array {
  if (typeof value !== "string" || !BASE64.test(value)) fail(where, `"${field}" must be base64`);
  return new Uint8Array(Buffer.from(value, "base64"));
}

/** One line of an export file as a record; `where` (e.g. `dump.ndjson:12`) names it in errors. */
export function parseLine(line: string, where: string): ImportRecord {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(line) as Record<string, unknown>;
  } catch {
    fail(where, "not a JSON line");
  }
  if (o === null || typeof o !== "object" || Array.isArray(o)) fail(where, "expected a JSON object");
  if ("namespace" in o) {
    const ns = o.namespace as { id?: unknown; title?: unknown } | null;
    if (!ns || typeof ns.id !== "string" || typeof ns.title !== "string") fail(where, 'a namespace line is {"namespace":{"id":"…","title":"…"}}');
    return { kind: "namespace", id: ns.id, title: ns.title };
  }
  let key: Uint8Array;
  if (o.key !== undefined) {
    key = bytesField(o.key, where, "key");
    try {
      decodeKey(key);
    } catch {
      fail(where, '"key" is not a valid key encoding');
    }
  } else if (typeof o.name === "string") {
    key = encodeKey([o.name]);
  } else {
    fail(where, 'an entry needs "key" (base64 key bytes) or "name" (a Workers key)');
  }
  const encoding = o.encoding ?? "bytes";
  if (typeof encoding !== "string" || !ENCODINGS.has(encoding)) fail(where, '"encoding" must be "v8", "bytes" or "le64"');
  const data = bytesField(o.value, where, "value");
  if (encoding === "le64" && data.byteLength !== 8) fail(where, "an le64 value is 8 bytes");
  const expiresAt = o.expiration_ms === undefined || o.expiration_ms === null ? null : o.expiration_ms;
  if (expiresAt !== null && (typeof expiresAt !== "number" || !Number.isFinite(expiresAt))) fail(where, '"expiration_ms" must be a number (epoch milliseconds)');
  let versionstamp: Uint8Array | undefined;
  if (typeof o.versionstamp === "string") {
    try {
      versionstamp = versionstampFromHex(o.versionstamp);
    } catch {
      fail(where, '"versionstamp" must be 20 hex characters');
    }
  }
  return {
    kind: "entry",
    key,
    encoding: encoding as ValueEncoding,
    data,
    expiresAt: expiresAt as number | null,
    metadata: o.metadata === undefined || o.metadata === null ? null : JSON.stringify(o.metadata),
    ...(versionstamp ? { versionstamp } : {}),
  };
}
