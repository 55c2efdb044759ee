/**
 * `openkv backup <file>`: a consistent snapshot of a live store, taken with SQLite's online backup API
 * inside one read transaction, so writers (a running server) carry on and the copy is the store as of
 * one moment.
 */
import { existsSync, rmSync } from "node:fs";
import { backup, DatabaseSync } from "node:sqlite";
import { sqlitePath } from "../../config/data-dir.ts";
import { defineCommand, type CommandContext } from "../command.ts";
import { localStore } from "../data/local-target.ts";
import { summarize } from "../data/sqlite-file.ts";
import { copyStore } from "../data/copy-store.ts";
import { SqliteBackend } from "../../storage/index.ts";
import { UserError } from "../errors.ts";
import { locationArgs } from "../kv/args.ts";
import { formatNumber } from "../output.ts";

interface Args {
  file: string;
  force?: boolean;
  local?: boolean;
  remote?: boolean;
  persistTo?: string;
  store?: string;
  encryptionKeyFile?: string;
}

export const storeBackupCommand = defineCommand<Args>({
  command: ["backup"],
  description: "Copy the whole store (every namespace, entry, versionstamp and queue) to a SQLite file, while it runs",
  positionals: ["file"],
  args: {
    file: { type: "string", demandOption: true, describe: "The backup file to write" },
    force: { type: "boolean", alias: "f", describe: "Overwrite the file if it exists" },
    ...locationArgs,
  },
  behaviour: { resourceLocation: "stdout" },
  async handler(args, ctx) {
    // A backup copies the store's pages as they are: an encrypted store's stay sealed, and need no key.
    const store = await localStore("backup", args, ctx, { allowLocked: true });
    const dest = ctx.resolve(args.file);
    if (existsSync(dest)) {
      if (!args.force) throw new UserError(`${args.file} already exists: pass --force to overwrite it.`);
      for (const suffix of ["", "-wal", "-shm"]) rmSync(dest + suffix, { force: true });
    }
    const url = ctx.storeUrl(args);
    if (url) {
      // A shared store is copied entry by entry, as of one snapshot, into the same portable file.
      const target = new SqliteBackend(dest);
      try {
        await copyStore(store.engine.backend, target, ctx);
      } finally {
        await target.close();
      }
    } else {
      await copyPages(sqlitePath(ctx.dataDir(args)), dest, ctx);
    }
    // The copy carries the store's WAL mode; a backup is one self-contained file, so switch it to a
    // rollback journal (which also folds and removes the -wal and -shm files).
    const copy = new DatabaseSync(dest);
    copy.exec("PRAGMA journal_mode = DELETE");
    copy.close();
    const summary = summarize(dest)!;
    ctx.out.log(
      `✨ Backed up ${store.where} (${formatNumber(summary.namespaces)} namespaces, ${formatNumber(summary.entries)} entries) to ${args.file}.`,
    );
    ctx.out.log(`Restore it with: openkv restore ${args.file} ${url ? "--store <an empty database>" : "--persist-to <directory>"}`);
  },
});

/** SQLite's online backup of the data directory's store into `dest`, page by page. */
async function copyPages(source: string, dest: string, ctx: CommandContext): Promise<void> {
  const db = new DatabaseSync(source, { readOnly: true });
  const bar = ctx.progress("Copying pages", 0);
  let copied = 0;
  try {
    // Holding a read transaction pins one snapshot (WAL): other connections' commits during the copy
    // neither restart the backup nor leak into it.
    db.exec("BEGIN");
    db.prepare("SELECT count(*) FROM namespaces").get();
    const pages = await backup(db, dest, {
      rate: 1024,
      progress: ({ totalPages, remainingPages }) => {
        bar.setTotal(totalPages);
        const done = totalPages - remainingPages;
        bar.tick(done - copied);
        copied = done;
      },
    });
    // A store smaller than one step is copied without a progress call: finish the bar from the result.
    bar.setTotal(pages);
    bar.tick(pages - copied);
    db.exec("COMMIT");
  } finally {
    bar.done();
    db.close();
  }
}

