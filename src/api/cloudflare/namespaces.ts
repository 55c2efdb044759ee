/** Namespace endpoints of the Cloudflare REST API v4. */
import type { NamespaceInfo } from "../../core/types.ts";
import { audit } from "../../http/audit.ts";
import { parseJson, readBody } from "../../http/http.ts";
import type { Route, RouteContext } from "../../http/route.ts";
import { allows } from "../../auth/tokens.ts";
import { CF_CODES, CfError, cfErrors, ok } from "./envelope.ts";

export const ACCOUNT = "/client/v4/accounts/:account_id";
export const NAMESPACES = `${ACCOUNT}/storage/kv/namespaces`;

export function checkAccount(ctx: RouteContext): void {
  if (ctx.params.account_id !== ctx.deps.accountId) {
    throw new CfError(404, CF_CODES.noRoute, `Could not route to /client/v4/accounts/${ctx.params.account_id}/storage/kv/namespaces, perhaps your object identifier is invalid?`);
  }
}

const view = (ns: NamespaceInfo) => ({ id: ns.id, title: ns.title, supports_url_encoding: true });

async function titleFrom(ctx: RouteContext): Promise<string> {
  const body = parseJson(await readBody(ctx.req, 64 * 1024)) as { title?: unknown } | null;
  const title = body && typeof body === "object" ? body.title : undefined;
  if (typeof title !== "string" || title.trim() === "") throw new CfError(400, CF_CODES.titleMissing, "title is required");
  if (title.length > 512) throw new CfError(400, CF_CODES.badRequest, "title must be at most 512 characters");
  return title;
}

function int(ctx: RouteContext, name: string, fallback: number, min: number, max: number): number {
  const raw = ctx.query.get(name);
  if (raw === null || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new CfError(400, CF_CODES.badRequest, `Invalid ${name} "${raw}": use an integer from ${min} to ${max}`);
  }
  return n;
}

export function namespaceRoutes(): Route[] {
  const base = { api: "cloudflare", errors: cfErrors } as const;
  return [
    {
      ...base,
      method: "GET",
      path: NAMESPACES,
      access: "authenticated",
      handle: async (ctx) => {
        checkAccount(ctx);
        const page = int(ctx, "page", 1, 1, 1_000_000);
        const perPage = int(ctx, "per_page", 20, 1, 1000);
        const order = ctx.query.get("order") ?? "id";
        const direction = ctx.query.get("direction") ?? "asc";
        if (order !== "id" && order !== "title") throw new CfError(400, CF_CODES.badRequest, `Invalid order "${order}": use id or title`);
        if (direction !== "asc" && direction !== "desc") throw new CfError(400, CF_CODES.badRequest, `Invalid direction "${direction}": use asc or desc`);
        const visible = (await ctx.deps.engine.listNamespaces()).filter((ns) => allows(ctx.principal, "read", ns.id));
        visible.sort((a, b) => (a[order] < b[order] ? -1 : a[order] > b[order] ? 1 : 0) * (direction === "asc" ? 1 : -1));
        // A page past the end is empty: clients keep asking for the next page until one is.
        const items = visible.slice((page - 1) * perPage, page * perPage).map(view);
        ok(ctx.res, items, { page, per_page: perPage, count: items.length, total_count: visible.length, total_pages: Math.ceil(visible.length / perPage) });
      },
    },
    {
      ...base,
      method: "POST",
      path: NAMESPACES,
      access: "manage",
      handle: async (ctx) => {
        checkAccount(ctx);
        const ns = await ctx.deps.engine.createNamespace(await titleFrom(ctx));
        audit(ctx, { action: "namespace.create", namespace: { id: ns.id, title: ns.title } });
        ok(ctx.res, view(ns));
      },
    },
    {
      ...base,
      method: "GET",
      path: `${NAMESPACES}/:namespace_id`,
      access: "read",
      namespace: { param: "namespace_id" },
      handle: (ctx) => {
        checkAccount(ctx);
        ok(ctx.res, view(ctx.namespace!));
      },
    },
    {
      ...base,
      method: "PUT",
      path: `${NAMESPACES}/:namespace_id`,
      access: "manage",
      namespace: { param: "namespace_id" },
      handle: async (ctx) => {
        checkAccount(ctx);
        const ns = await ctx.deps.engine.renameNamespace(ctx.namespace!.id, await titleFrom(ctx));
        audit(ctx, { action: "namespace.rename", namespace: { id: ns.id, title: ns.title, previousTitle: ctx.namespace!.title } });
        ok(ctx.res, view(ns));
      },
    },
    {
      ...base,
      method: "DELETE",
      path: `${NAMESPACES}/:namespace_id`,
      access: "manage",
      namespace: { param: "namespace_id" },
      handle: async (ctx) => {
        checkAccount(ctx);
        await ctx.deps.engine.deleteNamespace(ctx.namespace!.id);
        audit(ctx, { action: "namespace.delete", namespace: { id: ctx.namespace!.id, title: ctx.namespace!.title } });
        ok(ctx.res, {});
      },
    },
  ];
}
