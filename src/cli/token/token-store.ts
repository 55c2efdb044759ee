/**
 * Where `openkv token …` manages tokens: locally `<data dir>/tokens.json` through the server's own
 * TokenStore (hashes only; a server reads the file when it starts), remotely the server's
 * `/admin/tokens` endpoints with the admin token (OPENKV_ADMIN_TOKEN, else OPENKV_TOKEN).
 */
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import type { Engine } from "../../core/engine.ts";
import { DATA_FILES } from "../../config/data-dir.ts";
import { remoteSettings } from "../../config/remote.ts";
import { TokenStore, type Permission, type TokenRecord } from "../../auth/tokens.ts";
import type { CommandContext, LocationArgs } from "../command.ts";
import { isLocal } from "../context.ts";
import { UserError } from "../errors.ts";
import { LocalStore } from "../store/local.ts";
import { RestClient } from "../store/rest-client.ts";

export interface CreatedToken extends TokenRecord {
  readonly token: string;
}

export interface Tokens {
  readonly location: "local" | "remote";
  create(input: { name: string; namespaces: readonly string[] | null; permission: Permission }): Promise<CreatedToken>;
  list(): Promise<TokenRecord[]>;
  revoke(id: string): Promise<void>;
  /** Namespace titles by id, for display. */
  titles(): Promise<Map<string, string>>;
}

async function resolveNamespaces(engine: Engine, names: readonly string[]): Promise<string[]> {
  const ids: string[] = [];
  for (const n of names) {
    const ns = await engine.findNamespace(n);
    if (!ns) throw new UserError(`namespace not found: ${n}`);
    ids.push(ns.id);
  }
  return ids;
}

export async function openTokens(args: LocationArgs, ctx: CommandContext): Promise<Tokens> {
  if (isLocal(args)) {
    const store = (await ctx.store(args)) as LocalStore;
    // The admin token only matters for verifying requests, which the CLI never does.
    const tokens = new TokenStore(randomBytes(32).toString("hex"), join(ctx.dataDir(args), DATA_FILES.tokens));
    return {
      location: "local",
      async create(input) {
        const namespaces = input.namespaces ? await resolveNamespaces(store.engine, input.namespaces) : null;
        const { token, record } = tokens.create({ ...input, namespaces }, Date.now());
        return { token, ...record };
      },
      async list() {
        return tokens.list();
      },
      async revoke(id) {
        if (!tokens.revoke(id)) throw new UserError(`No token with id ${id}`);
      },
      async titles() {
        return new Map((await store.engine.listNamespaces()).map((ns) => [ns.id, ns.title]));
      },
    };
  }
  const settings = remoteSettings({ config: ctx.config(), env: ctx.env, ...(ctx.env.OPENKV_ADMIN_TOKEN ? { token: ctx.env.OPENKV_ADMIN_TOKEN } : {}) });
  const client = new RestClient(settings.url, settings.token, ctx.env.OPENKV_ACCOUNT_ID || undefined);
  return {
    location: "remote",
    async create(input) {
      return (await client.admin("/admin/tokens", { method: "POST", json: input })) as CreatedToken;
    },
    async list() {
      return ((await client.admin("/admin/tokens")) as { tokens: TokenRecord[] }).tokens;
    },
    async revoke(id) {
      await client.admin(`/admin/tokens/${encodeURIComponent(id)}`, { method: "DELETE" });
    },
    async titles() {
      const store = await ctx.store(args);
      try {
        return new Map((await store.listNamespaces()).map((ns) => [ns.id, ns.title]));
      } catch {
        return new Map();
      }
    },
  };
}

/** `default (id: 3f2…), logs (id: 9a1…)` or `every namespace`. */
export function describeScope(namespaces: readonly string[] | null, titles: Map<string, string>): string {
  if (namespaces === null) return "every namespace";
  if (namespaces.length === 0) return "no namespace";
  return namespaces.map((id) => (titles.has(id) ? `${titles.get(id)} (id: ${id})` : `id: ${id}`)).join(", ");
}

export const LOCAL_TOKENS_NOTE =
  "A server already running on this data directory read tokens.json when it started: restart it for this change to apply, or manage tokens with --remote.";
