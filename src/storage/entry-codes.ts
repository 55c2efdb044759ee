/**
 * How the SQL backends (SQLite, PostgreSQL) keep an entry's encoding in one small integer column, and
 * read an entry back from a row of `key, value, encoding, versionstamp, expires_at, metadata`. Both
 * stores write the same codes, so a copy between them (`openkv migrate`) needs no translation.
 */
import type { Entry, ValueEncoding } from "../core/types.ts";
import { versionstampFromNumber } from "../core/versionstamp.ts";

const ENCODING_CODE: Record<ValueEncoding, number> = { v8: 1, le64: 2, bytes: 3 };
const CODE_ENCODING: Record<number, ValueEncoding> = { 1: "v8", 2: "le64", 3: "bytes" };
/** Set in the encoding column when the row's value and metadata are sealed (Entry.sealed). */
export const SEALED = 0x10;

/** The encoding column's value for an entry: its encoding, with SEALED when it is sealed. */
export function encodingCode(e: { readonly encoding: ValueEncoding; readonly sealed?: boolean }): number {
  return ENCODING_CODE[e.encoding] | (e.sealed ? SEALED : 0);
}

/**
 * An entry from its stored fields; `code` is the encoding column. `versionstamp` is its 10 bytes, or (the
 * SQLite store since its migration 6) the commit counter of a `counter ‖ 0000` versionstamp.
 */
export function storedEntry(
  key: Uint8Array,
  data: Uint8Array,
  code: number,
  versionstamp: Uint8Array | number,
  expiresAt: number | null | undefined,
  metadata: string | null | undefined,
): Entry {
  return {
    key,
    data,
    encoding: CODE_ENCODING[code & ~SEALED]!,
    versionstamp: typeof versionstamp === "number" ? versionstampFromNumber(versionstamp) : versionstamp,
    expiresAt: expiresAt ?? null,
    metadata: metadata ?? null,
    sealed: (code & SEALED) !== 0,
  };
}

/** A row of `key, value, encoding, versionstamp, expires_at, metadata` read as an array. */
export function arrayToEntry(r: unknown[]): Entry {
  return storedEntry(r[0] as Uint8Array, r[1] as Uint8Array, r[2] as number, r[3] as Uint8Array | number, r[4] as number | null, r[5] as string | null);
}

/** A row with named columns `key, value, encoding, versionstamp, expires_at, metadata`; `key` when the row has none. */
export function rowToEntry(r: Record<string, unknown>, key?: Uint8Array): Entry {
  return storedEntry(
    key ?? (r.key as Uint8Array),
    r.value as Uint8Array,
    r.encoding as number,
    r.versionstamp as Uint8Array | number,
    r.expires_at as number | null,
    r.metadata as string | null,
  );
}
