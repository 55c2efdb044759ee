/**
 * `openkv migrate --from <dir | postgres://…> --to <dir | postgres://…>`: moves a whole store — every
 * namespace, entry (with its versionstamp, expiry and metadata), queue message and setting (an encrypted
 * store's keyring: values stay sealed, no key needed) — into another, typically a project's data
 * directory into PostgreSQL when it outgrows one machine. The source is read as of one snapshot while it
 * keeps running; writes made after that moment are not copied, so stop writers (or the server) before
 * the final run. The target must be empty. From a data directory into PostgreSQL, the account id, admin
 * token and API tokens kept beside the store come along, so clients keep working unchanged.
 */
import { openBackend, isPostgresUrl } from "../../storage/index.ts";
import { DATA_FILES, sqlitePath, displayPath } from "../../config/data-dir.ts";
import type { Backend } from "../../core/backend.ts";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ACCOUNT_ID_SETTING, ADMIN_TOKEN_SETTING, TOKENS_SETTING } from "../../auth/store-tokens.ts";
import { parseTokens, sha256 } from "../../auth/token-set.ts";
import { defineCommand, type CommandContext } from "../command.ts";
import { maskPassword } from "../context.ts";
import { copyStore, prepareTarget } from "../data/copy-store.ts";
import { UserError } from "../errors.ts";
import { formatNumber } from "../output.ts";

/**
 * What `openkv serve --data DIR` keeps beside the store — the account id, the admin token and
 * tokens.json — into the settings where `serve --store` reads them, so clients keep their URLs and
 * tokens. Only the admin token's hash is stored. A setting the target already has is left alone.
 */
async function carryServerFiles(dir: string, target: Backend): Promise<string[]> {
  const said: string[] = [];
  const carry = async (file: string, setting: string, value: (text: string) => string, what: string) => {
    const path = join(dir, file);
    if (!existsSync(path)) return;
    const text = readFileSync(path, "utf8").trim();
    if (await target.putSetting(setting, value(text), null)) said.push(`Carried over ${what} from ${file}.`);
    else said.push(`Kept the target's own ${what}: it already had one (${file} was not copied).`);
  };
  await carry(DATA_FILES.accountId, ACCOUNT_ID_SETTING, (t) => t, "the account id");
  await carry(DATA_FILES.adminToken, ADMIN_TOKEN_SETTING, (t) => sha256(t).toString("hex"), "the admin token (only its hash is stored)");
  await carry(DATA_FILES.tokens, TOKENS_SETTING, (t) => JSON.stringify(parseTokens(t, join(dir, DATA_FILES.tokens))), "the API tokens");
  return said;
}

interface Args {
  from: string;
  to: string;
}

function open(location: string, ctx: CommandContext, must: "exist" | "create"): { backend: Backend; where: string } {
  if (isPostgresUrl(location)) return { backend: openBackend(location), where: maskPassword(location) };
  const dir = ctx.resolve(location);
  if (must === "exist" && !existsSync(sqlitePath(dir))) {
    throw new UserError(`No OpenKV store in ${location} (no ${sqlitePath(location)}): pass the directory \`openkv serve --data\` uses.`);
  }
  return { backend: openBackend(sqlitePath(dir)), where: displayPath(dir, ctx.cwd) };
}

export const storeMigrateCommand = defineCommand<Args>({
  command: ["migrate"],
  description: "Copy a whole store into another (e.g. a data directory into PostgreSQL), versionstamps and all",
  args: {
    from: { type: "string", demandOption: true, requiresArg: true, describe: "The store to copy: a data directory or postgres://user@host:port/db" },
    to: { type: "string", demandOption: true, requiresArg: true, describe: "The empty store to copy into: a data directory or postgres://…" },
  },
  // Two stores, named in the first line it prints: no "Resource location" line for one of them.
  behaviour: { resourceLocation: "none" },
  async handler(args, ctx) {
    const from = open(args.from, ctx, "exist");
    ctx.onClose(() => from.backend.close());
    const to = open(args.to, ctx, "create");
    ctx.onClose(() => to.backend.close());
    await prepareTarget(to.backend, to.where);
    ctx.out.log(`Copying ${from.where} into ${to.where} (a snapshot of the source: writes after this moment are not copied).`);
    const copied = await copyStore(from.backend, to.backend, ctx);
    const count = (n: number, one: string, many: string) => `${formatNumber(n)} ${n === 1 ? one : many}`;
    ctx.out.log(
      `✨ Copied ${count(copied.namespaces, "namespace", "namespaces")}, ${count(copied.entries, "entry", "entries")} and ${count(copied.messages, "queue message", "queue messages")} into ${to.where}.`,
    );
    if (!isPostgresUrl(args.from) && isPostgresUrl(args.to)) {
      for (const line of await carryServerFiles(ctx.resolve(args.from), to.backend)) ctx.out.log(line);
    }
    if (isPostgresUrl(args.to)) ctx.out.log(`Serve it with: openkv serve --store '${maskPassword(args.to)}'`);
  },
});
