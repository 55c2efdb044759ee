/**
 * The local OpenKV data directory, the one `openkv serve --data DIR` uses: `DIR/openkv.sqlite` (WAL, so a
 * CLI or a test may open it while a server is running), `DIR/account-id`, `DIR/admin-token`,
 * `DIR/tokens.json` (and `tokens.json.lock`, which orders its writers), `DIR/server.lock` (held by running
 * servers; see src/storage/sqlite/data-dir-lock.ts).
 */
import { mkdirSync } from "node:fs";
import { join, relative, resolve, isAbsolute } from "node:path";
import { Engine } from "../core/engine.ts";
import { KvError } from "../core/errors.ts";
import type { NamespaceInfo } from "../core/types.ts";
import { isPostgresUrl, openBackend } from "../storage/index.ts";

/** The data directory `openkv serve` uses by default, relative to where it runs. */
export const DEFAULT_DATA_DIR = ".openkv";

export const DATA_FILES = {
  sqlite: "openkv.sqlite",
  accountId: "account-id",
  adminToken: "admin-token",
  tokens: "tokens.json",
  serverLock: "server.lock",
} as const;

export function sqlitePath(dir: string): string {
  return join(dir, DATA_FILES.sqlite);
}

/** `dir` as a person would type it from `cwd`: `./.openkv`, `../data`, or absolute when far away. */
export function displayPath(dir: string, cwd: string = process.cwd()): string {
  const rel = relative(cwd, resolve(cwd, dir));
  if (rel === "") return ".";
  if (isAbsolute(rel) || rel.startsWith("../../")) return resolve(cwd, dir);
  return rel.startsWith("..") ? rel : `./${rel}`;
}

/**
 * Opens the store in a data directory (created when missing) — or, given a postgres:// URL, that shared
 * store — with the `default` namespace the server also creates, so a store looks the same whoever opened
 * it first.
 */
export async function openDataDir(dir: string, options: { encryptionKey?: Uint8Array; allowLocked?: boolean } = {}): Promise<Engine> {
  // Private, as `openkv serve` makes it: it holds the admin token and the tokens file.
  if (!isPostgresUrl(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 });
  const engine = await Engine.open(openBackend(isPostgresUrl(dir) ? dir : sqlitePath(dir)), options);
  try {
    await engine.ensureNamespace("default");
  } catch (e) {
    await engine.close();
    throw e;
  }
  return engine;
}

const HEX_ID = /^[0-9a-f]{32}$/;

/**
 * The local namespace a wrangler-style namespace id stands for: the namespace with that id, else the one
 * with that title. With `create`, an absent one is created — with that id when it is 32 hex characters
 * (a real Cloudflare id copied from a config file), titled by the id, so `--namespace-id X` keeps working
 * the way it does against wrangler's local state, where any id exists once written to.
 */
export async function localNamespace(engine: Engine, id: string, options: { create: boolean }): Promise<NamespaceInfo | null> {
  const found = await engine.findNamespace(id);
  if (found || !options.create) return found;
  try {
    return await engine.createNamespace(id, HEX_ID.test(id) ? id : undefined);
  } catch (e) {
    // Another process created it in between, or the title is taken by a namespace with another id.
    if (e instanceof KvError && e.code === "namespace_exists") {
      const again = await engine.findNamespace(id);
      if (again) return again;
    }
    throw e;
  }
}
