/**
 * `openkv restore <file>`: puts a backup back as the store of a data directory, byte for byte
 * (namespaces, entries, versionstamps, queues). It refuses to replace a store that holds data unless
 * --force, and refuses a directory a server is running on: the server keeps what it knows of the store
 * in memory (namespaces, versionstamps, queue timers, open watches), which a store swapped underneath
 * would contradict. It holds the directory's lock while it copies, so no server starts meanwhile.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { backup, DatabaseSync } from "node:sqlite";
import { DATA_FILES, sqlitePath } from "../../config/data-dir.ts";
import { holdExclusive } from "../../storage/index.ts";
import { defineCommand } from "../command.ts";
import { isLocal } from "../context.ts";
import { localStore } from "../data/local-target.ts";
import { checkStoreFile, summarize } from "../data/sqlite-file.ts";
import { UserError } from "../errors.ts";
import { locationArgs } from "../kv/args.ts";
import { formatNumber } from "../output.ts";
import { maskPassword } from "../context.ts";
import { copyStore, prepareTarget } from "../data/copy-store.ts";
import { openBackend, SqliteBackend } from "../../storage/index.ts";
import type { CommandContext } from "../command.ts";
import { STORE_ID_SETTING } from "../../core/store-id.ts";

/** A restored store is a new store (src/core/store-id.ts): the next server to start gives it an id of its own. */
function forgetStoreId(path: string): void {
  const db = new DatabaseSync(path);
  try {
    const hasSettings = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'settings'").get();
    if (hasSettings) db.prepare("DELETE FROM settings WHERE name = ?").run(STORE_ID_SETTING);
  } finally {
    db.close();
  }
}

/**
 * A backup loaded into a shared store (PostgreSQL). Servers on it keep running: they read the store on
 * every request. A store that holds data is refused unless `force`, which empties it first.
 */
async function restoreIntoStore(file: string, url: string, force: boolean, ctx: CommandContext): Promise<void> {
  const target = openBackend(url);
  const source = new SqliteBackend(file);
  try {
    if (force) for (const ns of await target.listNamespaces()) await target.deleteNamespace(ns.id);
    try {
      await prepareTarget(target, maskPassword(url));
    } catch (e) {
      throw new UserError(`${(e as Error).message}\nPass --force to replace what it holds.`);
    }
    await copyStore(source, target, ctx);
  } finally {
    await source.close();
    await target.close();
  }
}

interface Args {
  file: string;
  force?: boolean;
  local?: boolean;
  remote?: boolean;
  persistTo?: string;
  store?: string;
}

export const storeRestoreCommand = defineCommand<Args>({
  command: ["restore"],
  description: "Replace the store of a data directory with a backup (refuses a store that holds data unless --force)",
  positionals: ["file"],
  args: {
    file: { type: "string", demandOption: true, describe: "A file written by `openkv backup`" },
    force: { type: "boolean", alias: "f", describe: "Replace a store that holds data" },
    ...locationArgs,
  },
  behaviour: { resourceLocation: "stdout" },
  async handler(args, ctx) {
    if (!isLocal(args)) await localStore("restore", args, ctx);
    const src = ctx.resolve(args.file);
    const incoming = checkStoreFile(src, args.file);
    const url = ctx.storeUrl(args);
    if (url) {
      await restoreIntoStore(src, url, args.force === true, ctx);
      ctx.out.log(`✨ Restored ${args.file} (${formatNumber(incoming.namespaces)} namespaces, ${formatNumber(incoming.entries)} entries) into ${maskPassword(url)}.`);
      return;
    }
    const dir = ctx.dataDir(args);
    const where = ctx.location(args).where;
    const target = sqlitePath(dir);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const lock = holdExclusive(join(dir, DATA_FILES.serverLock));
    if (!lock) {
      throw new UserError(
        `An OpenKV server is running on ${where}: restoring would replace its store underneath it.\nStop the server, run this again, then start the server; or restore into another directory with --persist-to and start a server there.`,
      );
    }
    try {
      const existing = summarize(target);
      if (existing && !existing.empty && !args.force) {
        throw new UserError(
          `The store in ${where} is not empty (${formatNumber(existing.namespaces)} namespaces, ${formatNumber(existing.entries)} entries): restoring would replace it.\nPass --force to replace it, or restore into another directory with --persist-to.`,
        );
      }
      const db = new DatabaseSync(src, { readOnly: true });
      const bar = ctx.progress("Copying pages", 0);
      let copied = 0;
      try {
        const pages = await backup(db, target, {
          rate: 1024,
          progress: ({ totalPages, remainingPages }) => {
            bar.setTotal(totalPages);
            bar.tick(totalPages - remainingPages - copied);
            copied = totalPages - remainingPages;
          },
        });
        // A store smaller than one step is copied without a progress call: finish the bar from the result.
        bar.setTotal(pages);
        bar.tick(pages - copied);
      } finally {
        bar.done();
        db.close();
      }
      forgetStoreId(target);
    } finally {
      lock.release();
    }
    ctx.out.log(`✨ Restored ${args.file} (${formatNumber(incoming.namespaces)} namespaces, ${formatNumber(incoming.entries)} entries) into ${where}.`);
  },
});
