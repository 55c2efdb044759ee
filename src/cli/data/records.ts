/**
 * What moves in and out of a store: namespaces and their entries, exactly as the engine keeps them
 * (key bytes, value bytes with their encoding, expiry, Workers metadata, versionstamp).
 */
export type { EntryRecord, ImportRecord, NamespaceRecordLine } from "../../api/export-format.ts";
import type { ImportRecord } from "../../api/export-format.ts";

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
