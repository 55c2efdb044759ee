/** Routes that belong to the server itself: health, metrics, and the admin token endpoints. */
import { KvError } from "../core/errors.ts";
import { audit } from "../http/audit.ts";
import { HttpError, parseJson, readBody, sendJson, sendText } from "../http/http.ts";
import type { ErrorEncoder, Route } from "../http/route.ts";

const jsonErrors: ErrorEncoder = (res, status, message, headers) => sendJson(res, status, { error: { status, message } }, headers);

const HEALTH_TIMEOUT_MS = 1000;

export function systemRoutes(): Route[] {
  const base = { api: "system", errors: jsonErrors } as const;
  return [
    {
      ...base,
      method: "GET",
      path: "/healthz",
      access: "public",
      // A store behind a network (PostgreSQL, or an edge node's core) must answer within a second: a load balancer then routes
      // away from a node whose store is gone (a failover under way) until it is back.
      handle: async (ctx) => {
        const { backend } = ctx.deps.engine;
        if (!backend.ping) return sendJson(ctx.res, 200, { ok: true });
        let timer: NodeJS.Timeout | undefined;
        try {
          await Promise.race([
            backend.ping(),
            new Promise((_, reject) => (timer = setTimeout(() => reject(new Error("the store did not answer within 1 s")), HEALTH_TIMEOUT_MS))),
          ]);
          const degraded = backend.degraded?.() ?? null;
          sendJson(ctx.res, 200, degraded ? { ok: true, degraded } : { ok: true });
        } catch {
          // Public route: say that, not where the store is (its URL is the operator's to read in the logs).
          const degraded = backend.degraded?.() ?? null;
          sendJson(ctx.res, 503, { ok: false, error: backend.kind === "core" ? "The core is unavailable" : "The store is unavailable", ...(degraded ? { degraded } : {}) });
        } finally {
          clearTimeout(timer);
        }
      },
    },
    {
      ...base,
      method: "GET",
      path: "/metrics",
      access: "admin",
      handle: async (ctx) => sendText(ctx.res, 200, await ctx.deps.metrics.text(), { "content-type": ctx.deps.metrics.registry.contentType }),
    },
    {
      ...base,
      method: "POST",
      path: "/admin/tokens",
      access: "admin",
      handle: async (ctx) => {
        const body = parseJson(await readBody(ctx.req, 64 * 1024)) as { name?: unknown; namespaces?: unknown; permission?: unknown; analytics?: unknown } | null;
        if (typeof body !== "object" || body === null) {
          throw new HttpError(400, 'The body must be a JSON object like {"name": "ci", "namespaces": ["default"], "permission": "read"}');
        }
        let namespaces: string[] | null = null;
        if (body.namespaces !== undefined && body.namespaces !== null) {
          if (!Array.isArray(body.namespaces) || !body.namespaces.every((n) => typeof n === "string")) {
            throw new HttpError(400, "namespaces must be an array of namespace ids or titles");
          }
          namespaces = [];
          for (const n of body.namespaces as string[]) {
            const ns = await ctx.deps.engine.findNamespace(n);
            if (!ns) throw new KvError("namespace_not_found", `namespace not found: ${n}`);
            namespaces.push(ns.id);
          }
        }
        const created = await ctx.deps.tokens.create(
          {
            name: body.name as string,
            namespaces,
            permission: (body.permission ?? "write") as "read" | "write",
            ...(body.analytics === undefined || body.analytics === null ? {} : { analytics: body.analytics as boolean }),
          },
          ctx.deps.clock.now(),
        );
        const { id, name, permission } = created.record;
        audit(ctx, { action: "token.create", token: { id, name, permission, namespaces: created.record.namespaces, ...(created.record.analytics ? { analytics: true } : {}) } });
        sendJson(ctx.res, 201, { token: created.token, ...created.record });
      },
    },
    {
      ...base,
      method: "GET",
      path: "/admin/tokens",
      access: "admin",
      handle: async (ctx) => sendJson(ctx.res, 200, { tokens: await ctx.deps.tokens.listLatest() }),
    },
    {
      ...base,
      method: "DELETE",
      path: "/admin/tokens/:id",
      access: "admin",
      handle: async (ctx) => {
        const revoked = await ctx.deps.tokens.revoke(ctx.params.id!);
        if (!revoked) throw new HttpError(404, `No token with id ${ctx.params.id}`);
        audit(ctx, { action: "token.revoke", token: { id: revoked.id, name: revoked.name } });
        sendJson(ctx.res, 200, { ok: true });
      },
    },
  ];
}
