/** The account-level endpoints real clients call before KV: accounts, memberships, token verify. */
import type { Route } from "../../http/route.ts";
import { cfErrors, ok } from "./envelope.ts";

export function accountRoutes(): Route[] {
  const base = { api: "cloudflare", errors: cfErrors, access: "authenticated" } as const;
  const account = (accountId: string) => ({ id: accountId, name: "OpenKV", type: "standard", settings: { enforce_twofactor: false } });
  return [
    {
      ...base,
      method: "GET",
      path: "/client/v4/accounts",
      handle: (ctx) => {
        // Clients page until a page comes back empty: honour `page`.
        const page = Number(ctx.query.get("page") ?? "1");
        const result = page > 1 ? [] : [account(ctx.deps.accountId)];
        ok(ctx.res, result, { page, per_page: 20, count: result.length, total_count: 1, total_pages: 1 });
      },
    },
    {
      ...base,
      method: "GET",
      path: "/client/v4/accounts/:account_id",
      handle: (ctx) => ok(ctx.res, account(ctx.deps.accountId)),
    },
    {
      ...base,
      method: "GET",
      path: "/client/v4/memberships",
      handle: (ctx) => {
        const page = Number(ctx.query.get("page") ?? "1");
        const result = page > 1 ? [] : [{ id: ctx.deps.accountId, status: "accepted", account: { id: ctx.deps.accountId, name: "OpenKV" }, roles: ["Administrator"] }];
        ok(ctx.res, result, { page, per_page: 20, count: result.length, total_count: 1, total_pages: 1 });
      },
    },
    {
      ...base,
      method: "GET",
      path: "/client/v4/user/tokens/verify",
      handle: (ctx) =>
        ok(ctx.res, { id: ctx.principal.kind === "admin" ? "admin" : ctx.principal.id, status: "active" }, undefined),
    },
    {
      ...base,
      method: "GET",
      path: "/client/v4/user",
      handle: (ctx) => ok(ctx.res, { id: ctx.principal.kind === "admin" ? "admin" : ctx.principal.id, email: "openkv@localhost" }),
    },
  ];
}
