/**
 * What moves in and out of a store: namespaces and their entries, exactly as the engine keeps them
 * (key bytes, value bytes with their encoding, expiry, Workers metadata, versionstamp).
 */
import type { ValueEncoding } from "../../core/types.ts";

export interface NamespaceRecordLine {
  readonly kind: "namespace";
  readonly id: string;
  readonly title: string;
}

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

/** A source to import: its records, how many entries it holds (for the progress bar), and what it is. */
export interface ImportSource {
  /** E.g. `OpenKV export (NDJSON)`, `Deno KV SQLite file`, `wrangler local state`. */
  readonly kind: string;
  /** Entries, if known up front. */
  readonly total: number | null;
  /** True when the source names its namespaces (a multi-namespace export, wrangler state). */
  readonly namespaced: boolean;
  records(): AsyncIterable<ImportRecord>;
  close(): void;
}
