/** Shared by export, import, backup and restore: they act on a local data directory only. */
import type { Engine } from "../../core/engine.ts";
import { KvError } from "../../core/errors.ts";
import type { NamespaceInfo } from "../../core/types.ts";
import type { CommandContext, LocationArgs } from "../command.ts";
import { isLocal } from "../context.ts";
import { UserError } from "../errors.ts";
import type { LocalStore } from "../store/local.ts";

/** The local store, or a UserError explaining why these commands need one. */
export async function localStore(command: string, args: LocationArgs, ctx: CommandContext, options: { allowLocked?: boolean } = {}): Promise<LocalStore> {
  if (!isLocal(args)) {
    throw new UserError(
      [
        `\`openkv ${command}\` works on a data directory, not over the network: its point is to keep every value exactly (encodings, versionstamps, Deno keys), which the Workers REST API cannot carry.`,
        `Run it on the server's machine with --persist-to <the server's --data directory>; it is safe while the server runs.`,
      ].join("\n"),
    );
  }
  return (await ctx.store(args, options)) as LocalStore;
}

const HEX_ID = /^[0-9a-f]{32}$/;

/**
 * The namespace an import writes a source namespace into: the one with that id, else the one with that
 * title (e.g. every store's `default`), else a new one with that id (when it is 32 hex, as Cloudflare's
 * are) and title. A non-hex id (wrangler allows any) is looked up and created as a title.
 */
export async function importNamespace(engine: Engine, id: string, title: string): Promise<NamespaceInfo> {
  const existing = (await engine.findNamespace(id)) ?? (await engine.findNamespace(title));
  if (existing) return existing;
  try {
    return HEX_ID.test(id) ? await engine.createNamespace(title, id) : await engine.createNamespace(id);
  } catch (e) {
    // Another writer created it in between.
    if (e instanceof KvError && e.code === "namespace_exists") {
      const again = (await engine.findNamespace(id)) ?? (await engine.findNamespace(title));
      if (again) return again;
    }
    throw e;
  }
}
