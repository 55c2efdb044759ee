/** Facts about an OpenKV SQLite file (a store or a backup of one), read without changing it. */
import { existsSync } from "node:fs";
import { DatabaseSync } from "node:sqlite";
import { UserError } from "../errors.ts";

export interface StoreSummary {
  readonly namespaces: number;
  readonly entries: number;
  /** Namespaces other than an empty `default` (which every store starts with), or any entry. */
  readonly empty: boolean;
}

export function summarize(path: string): StoreSummary | null {
  if (!existsSync(path)) return null;
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    const names = new Set(db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all().map((r) => r.name as string));
    if (!names.has("entries") || !names.has("namespaces")) return { namespaces: 0, entries: 0, empty: true };
    const namespaces = db.prepare("SELECT count(*) AS n FROM namespaces").get()!.n as number;
    const others = db.prepare("SELECT count(*) AS n FROM namespaces WHERE title <> 'default'").get()!.n as number;
    const entries = db.prepare("SELECT count(*) AS n FROM entries").get()!.n as number;
    return { namespaces, entries, empty: entries === 0 && others === 0 };
  } finally {
    db.close();
  }
}

/** Throws unless `path` is an OpenKV store: what `restore` accepts. */
export function checkStoreFile(path: string, name: string): StoreSummary {
  if (!existsSync(path)) throw new UserError(`Could not read file: ${name}\nNo such file or directory: ${path}`);
  let summary: StoreSummary | null;
  try {
    summary = summarize(path);
  } catch (e) {
    throw new UserError(`${name} is not an OpenKV backup: ${(e as Error).message}`);
  }
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    const meta = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").get();
    const check = db.prepare("PRAGMA quick_check").get()?.quick_check;
    if (!meta || check !== "ok") throw new UserError(`${name} is not an OpenKV backup${check !== "ok" ? ` (integrity check: ${String(check)})` : " (no meta table)"}.`);
  } finally {
    db.close();
  }
  return summary!;
}
