/**
 * Where `openkv token …` manages tokens: locally `<data dir>/tokens.json` through the server's own
 * TokenStore (hashes only, changed under a lock; a server running on that directory picks the change up
 * within a second), or with `--store URL` (or OPENKV_STORE) the shared store's tokens through StoreTokens
 * (its settings, changed by compare-and-set; every server on the store picks the change up within a
 * second); remotely the server's `/admin/tokens` endpoints with the admin token (OPENKV_ADMIN_TOKEN, else
 * OPENKV_TOKEN). Locally, creating and revoking append to the audit log given by `--audit-log` or
 * OPENKV_AUDIT_LOG, the variable `openkv serve` also reads; remotely the server logs.
 */
import { randomBytes } from "node:crypto";
import { userInfo } from "node:os";
import { join } from "node:path";
import type { Engine } from "../../core/engine.ts";
import { DATA_FILES } from "../../config/data-dir.ts";
import { remoteSettings } from "../../config/remote.ts";
import { AuditLog, type AuditActor, type AuditEvent } from "../../auth/audit-log.ts";
import { StoreTokens } from "../../auth/store-tokens.ts";
import { TokenStore, type Permission, type TokenRecord, type Tokens as TokenSource } from "../../auth/tokens.ts";
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
  create(input: { name: string; namespaces: readonly string[] | null; permission: Permission; analytics?: boolean }): Promise<CreatedToken>;
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

function localActor(): AuditActor {
  try {
    return { type: "local", user: userInfo().username };
  } catch {
    // No passwd entry (some containers): the uid still says who.
    return { type: "local", user: String(process.getuid?.() ?? "unknown") };
  }
}

export async function openTokens(args: LocationArgs & { auditLog?: string }, ctx: CommandContext): Promise<Tokens> {
  if (isLocal(args)) {
    const storeUrl = ctx.storeUrl(args);
    if (storeUrl && args.persistTo !== undefined) {
      throw new UserError(`--persist-to and --store${args.store === undefined ? " (OPENKV_STORE)" : ""} name two different stores: pass one.`);
    }
    const store = (await ctx.store(args)) as LocalStore;
    // The admin token only matters for verifying requests, which the CLI never does.
    const tokens: TokenSource = storeUrl
      ? await StoreTokens.open(store.engine.backend)
      : new TokenStore(randomBytes(32).toString("hex"), join(ctx.dataDir(args), DATA_FILES.tokens));
    const auditPath = args.auditLog ?? (ctx.env.OPENKV_AUDIT_LOG || undefined);
    // Opened before the change, so a log that cannot be written to stops it rather than missing it.
    const audited = async <T>(change: () => Promise<T>, event: (result: T) => AuditEvent | null): Promise<T> => {
      const audit = auditPath ? new AuditLog(ctx.resolve(auditPath)) : null;
      try {
        const result = await change();
        const line = audit && event(result);
        if (line) audit!.record(line);
        return result;
      } finally {
        audit?.close();
      }
    };
    return {
      location: "local",
      async create(input) {
        const namespaces = input.namespaces ? await resolveNamespaces(store.engine, input.namespaces) : null;
        const { token, record } = await audited(
          () => tokens.create({ ...input, namespaces }, Date.now()),
          ({ record: { id, name, permission, namespaces } }) => ({ action: "token.create", actor: localActor(), token: { id, name, permission, namespaces } }),
        );
        return { token, ...record };
      },
      async list() {
        return tokens.list();
      },
      async revoke(id) {
        const revoked = await audited(
          () => tokens.revoke(id),
          (r) => r && { action: "token.revoke", actor: localActor(), token: { id: r.id, name: r.name } },
        );
        if (!revoked) throw new UserError(`No token with id ${id}`);
      },
      async titles() {
        return new Map((await store.engine.listNamespaces()).map((ns) => [ns.id, ns.title]));
      },
    };
  }
  if (args.store !== undefined) throw new UserError("--store is where local commands find a shared store: with --remote, the server manages its own.");
  if (args.auditLog !== undefined) {
    throw new UserError("--audit-log is for tokens changed locally: with --remote the server writes its own audit log (openkv serve --audit-log).");
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

/** `--store` for the token commands: the tokens of a shared store (what `openkv serve --store` uses). */
export const storeArg = {
  store: {
    type: "string",
    requiresArg: true,
    describe: "Manage the tokens of a shared store, postgres://user@host:port/db, instead of the data directory's (default: $OPENKV_STORE)",
  },
} as const;

/** `--audit-log` for the commands that change tokens. */
export const auditLogArg = {
  "audit-log": {
    type: "string",
    requiresArg: true,
    describe: "Append a JSON line saying who changed which token to this file (default $OPENKV_AUDIT_LOG; local only: a server logs its own)",
  },
} as const;
