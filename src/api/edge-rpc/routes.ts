/**
 * The core's side of the edge protocol (src/wire/edge-rpc.ts): what `openkv serve --edge-of` nodes call.
 *
 *   POST /_openkv/v1/rpc         one Backend call, answered by this server's Engine
 *   GET  /_openkv/v1/feed/wait   the commit doorbell (long poll); with `edge` and `applied`, the edge's
 *                                place in the feed for the write fence (src/core/fence.ts), and with
 *                                `page`, the feed after that place in the answer (V8, like the RPC)
 *
 * Every op is checked against the caller's token with `allows()`, as the public APIs check theirs: reads
 * need read on the namespace, commits and queue work write on it, namespace create/rename/delete an
 * account-wide write; a token limited to some namespaces sees only those, and the feed it reads names no
 * other namespace's keys.
 */
import type { ChangePage } from "../../core/backend.ts";
import { KvError } from "../../core/errors.ts";
import { compareBytes } from "../../core/keys.ts";
import { storeId } from "../../core/store-id.ts";
import { LatencySketch } from "../../core/analytics/sketch.ts";
import { rowFromPlain, type OperationRow } from "../../core/analytics/types.ts";
import type { NamespaceInfo } from "../../core/types.ts";
import { versionstampFromHex, versionstampToHex } from "../../core/versionstamp.ts";
import { HttpError, readBody, sendJson } from "../../http/http.ts";
import type { ServerResponse } from "node:http";
import type { Response } from "../../http/listener.ts";
import type { ErrorEncoder, Route, RouteContext } from "../../http/route.ts";
import { allows, type Permission } from "../../auth/tokens.ts";
import {
  decodeRpc,
  EDGE_FEED_WAIT_PATH,
  EDGE_RPC_CONTENT_TYPE,
  EDGE_RPC_PATH,
  encodeRpc,
  FEED_WAIT_MAX_MS,
  wireError,
  type EdgeOp,
  type WireCommitOutcome,
  type WirePrincipal,
} from "../../wire/edge-rpc.ts";
import { bytes, commitItems, int, namespaceInfo, ranges, str } from "./decode.ts";

function sendV8(res: Response, status: number, value: unknown): void {
  const body = encodeRpc(value);
  (res as ServerResponse).writeHead(status, { "content-type": EDGE_RPC_CONTENT_TYPE, "content-length": body.byteLength, "cache-control": "no-store" });
  res.end(body);
}

/** The KvError code travels with the message, so the edge throws the very same KvError. */
const rpcErrors: ErrorEncoder = (res, status, message, headers, cause) => {
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  sendV8(res, status, wireError(cause instanceof KvError ? cause.code : null, message));
};

/** The feed after `after` as the caller may see it. */
async function feedPage(ctx: RouteContext, after: Uint8Array, limit: number): Promise<ChangePage> {
  const page = await ctx.deps.engine.backend.changes(after, Math.min(limit, MAX_FEED_PAGE));
  if (ctx.principal.kind === "admin" || ctx.principal.namespaces === null) return page;
  // Other namespaces' writes keep their place in the order (so the edge's cursor moves on) but lose
  // their namespace and keys.
  const changes = page.changes.map((c) => (allows(ctx.principal, "read", c.namespaceId) ? c : { versionstamp: c.versionstamp, namespaceId: "", keys: [] }));
  return { ...page, changes };
}

function need(ctx: RouteContext, permission: Permission, namespaceId?: string): void {
  if (allows(ctx.principal, permission, namespaceId)) return;
  const p = ctx.principal;
  throw new HttpError(403, permission === "write" && p.kind === "token" && p.permission === "read" ? "This token is read-only" : "This token may not use this namespace");
}

/** Null for a namespace the caller may not see: to it, the namespace does not exist. */
function visible(ctx: RouteContext, ns: NamespaceInfo | null): NamespaceInfo | null {
  return ns && allows(ctx.principal, "read", ns.id) ? ns : null;
}

/** How long a claimed message's namespace is remembered, beyond its lease (ms). */
const LEASE_MEMORY_MS = 10 * 60_000;
/** The most feed entries one answer carries. */
const MAX_FEED_PAGE = 10_000;
const MAX_REMEMBERED_LEASES = 100_000;

export function edgeRpcRoutes(): Route[] {
  // Queue messages are settled by id alone: remember which namespace each claimed message came from,
  // so a token limited to that namespace may ack or retry it and no other. An id this node did not hand
  // out (claimed through another core node) needs an account-wide write.
  const claimed = new Map<number, { namespaceId: string; until: number }>();
  const remember = (id: number, namespaceId: string, now: number) => {
    claimed.delete(id);
    claimed.set(id, { namespaceId, until: now + LEASE_MEMORY_MS });
    if (claimed.size > MAX_REMEMBERED_LEASES) claimed.delete(claimed.keys().next().value!);
  };
  const needMessage = (ctx: RouteContext, id: number) => {
    const lease = claimed.get(id);
    need(ctx, "write", lease && lease.until > ctx.deps.clock.now() ? lease.namespaceId : undefined);
  };

  const ops: Record<EdgeOp, (ctx: RouteContext, args: readonly unknown[]) => Promise<unknown>> = {
    listNamespaces: async (ctx) => (await ctx.deps.engine.listNamespaces()).filter((ns) => allows(ctx.principal, "read", ns.id)),
    getNamespace: async (ctx, [id]) => visible(ctx, await ctx.deps.engine.backend.getNamespace(str(id, "id"))),
    getNamespaceByTitle: async (ctx, [title]) => visible(ctx, await ctx.deps.engine.backend.getNamespaceByTitle(str(title, "title"))),
    createNamespace: async (ctx, [info]) => {
      need(ctx, "write");
      const ns = namespaceInfo(info);
      return ctx.deps.engine.createNamespace(ns.title, ns.id);
    },
    renameNamespace: async (ctx, [id, title]) => {
      need(ctx, "write");
      return ctx.deps.engine.renameNamespace(str(id, "id"), str(title, "title"));
    },
    deleteNamespace: async (ctx, [id]) => {
      need(ctx, "write");
      try {
        await ctx.deps.engine.deleteNamespace(str(id, "id"));
        return true;
      } catch (e) {
        if (e instanceof KvError && e.code === "namespace_not_found") return false;
        throw e;
      }
    },
    // The core's clock decides expiry; the engine opens sealed entries, so the edge sees plaintext.
    read: async (ctx, [ns, r]) => {
      need(ctx, "read", str(ns, "namespaceId"));
      return ctx.deps.engine.read(ns as string, ranges(r));
    },
    count: async (ctx, [ns, start, end]) => {
      need(ctx, "read", str(ns, "namespaceId"));
      return ctx.deps.engine.count(ns as string, bytes(start, "start"), bytes(end, "end"));
    },
    commit: async (ctx, [items]) => {
      const decoded = commitItems(items);
      for (const item of decoded) {
        need(ctx, "write", item.namespaceId);
        if (item.consumeMessage !== undefined) needMessage(ctx, item.consumeMessage);
      }
      // Each item through the engine's one write path: validated, sealed, group-committed with every
      // other write this core has in flight.
      return Promise.all(
        decoded.map((item): Promise<WireCommitOutcome> =>
          ctx.deps.engine.atomic(item.namespaceId, item.write, item.consumeMessage).then(
            (applied) => ({ applied }),
            (e: unknown) => {
              if (e instanceof KvError) return wireError(e.code, e.message);
              throw e;
            },
          ),
        ),
      );
    },
    claimMessages: async (ctx, [ns, limit, leaseMs]) => {
      const namespaceId = str(ns, "namespaceId");
      need(ctx, "write", namespaceId);
      const { engine, clock } = ctx.deps;
      const now = clock.now();
      const messages = await engine.backend.claimMessages(namespaceId, now, int(limit, "limit"), int(leaseMs, "leaseMs"));
      for (const m of messages) remember(m.id, namespaceId, now);
      return Promise.all(messages.map(async (m) => (m.sealed ? { ...m, payload: await engine.openPayload(namespaceId, m), sealed: false } : m)));
    },
    ackMessage: async (ctx, [id]) => {
      needMessage(ctx, int(id, "id"));
      await ctx.deps.engine.backend.ackMessage(id as number);
      claimed.delete(id as number);
      return null;
    },
    retryMessage: async (ctx, [id, readyAt]) => {
      needMessage(ctx, int(id, "id"));
      await ctx.deps.engine.backend.retryMessage(id as number, int(readyAt, "readyAt"));
      return null;
    },
    nextMessageAt: async (ctx, [ns]) => {
      need(ctx, "read", str(ns, "namespaceId"));
      return ctx.deps.engine.backend.nextMessageAt(ns as string);
    },
    changes: async (ctx, [after, limit]) => feedPage(ctx, bytes(after, "after"), int(limit, "limit")),
    ping: async (ctx) => {
      await ctx.deps.engine.backend.ping?.();
      return null;
    },
    verify: async (ctx, [secret]) => {
      const s = str(secret, "secret");
      const found = ctx.deps.tokens.verify(s) ?? (await ctx.deps.tokens.recheck(s));
      return found satisfies WirePrincipal | null;
    },
    account: async (ctx) => ctx.deps.accountId,
    storeId: async (ctx) => storeId(ctx.deps.engine.backend),
    namespaceStats: async (ctx, [ns]) => {
      need(ctx, "read", str(ns, "namespaceId"));
      return ctx.deps.engine.namespaceStats(ns as string);
    },
    // What an edge counted, flushed to the core's store (the edge has none): each row needs write on its
    // namespace, so a token cannot inflate another namespace's figures.
    appendAnalytics: async (ctx, [rows]) => {
      if (!Array.isArray(rows)) throw new HttpError(400, "Edge RPC: rows must be an array");
      const decoded = rows.map((r) => rowFromPlain(r, LatencySketch.decode));
      if (decoded.some((r) => r === null)) throw new HttpError(400, "Edge RPC: rows must be analytics rows");
      for (const r of decoded) need(ctx, "write", r!.namespaceId);
      const store = ctx.deps.engine.backend.analytics;
      if (store) await store.appendOperations(decoded as OperationRow[]);
      return null;
    },
  };

  const base = { api: "edge", errors: rpcErrors } as const;
  return [
    {
      ...base,
      method: "POST",
      path: EDGE_RPC_PATH,
      access: "authenticated",
      handle: async (ctx) => {
        const body = decodeRpc(await readBody(ctx.req, ctx.deps.limits.maxBodyBytes), (m) => new HttpError(400, m));
        const { op, args } = (typeof body === "object" && body !== null ? body : {}) as { op?: unknown; args?: unknown };
        if (typeof op !== "string" || !Object.hasOwn(ops, op) || !Array.isArray(args)) {
          throw new HttpError(400, "Edge RPC: the body must be { op, args } with a known op");
        }
        ctx.deps.metrics.edgeRpc(op);
        sendV8(ctx.res, 200, { ok: await ops[op as EdgeOp](ctx, args) });
      },
    },
    {
      ...base,
      method: "GET",
      path: EDGE_FEED_WAIT_PATH,
      access: "authenticated",
      handle: async (ctx) => {
        const afterHex = ctx.query.get("after");
        const after = afterHex === null ? null : versionstampFromHex(afterHex);
        // An edge says how far its cache has applied the feed: the write fence waits for that.
        const edgeId = ctx.query.get("edge");
        const appliedHex = ctx.query.get("applied");
        const applied = appliedHex === null ? null : versionstampFromHex(appliedHex);
        const detach = edgeId !== null && applied !== null && ctx.deps.fence ? ctx.deps.fence.attach(edgeId, applied) : null;
        const asked = Number(ctx.query.get("timeoutMs") ?? FEED_WAIT_MAX_MS);
        const timeoutMs = Number.isFinite(asked) ? Math.min(Math.max(asked, 0), FEED_WAIT_MAX_MS) : FEED_WAIT_MAX_MS;
        // Ends early when the server stops or the edge hangs up.
        const stop = new AbortController();
        const abort = () => stop.abort();
        ctx.deps.shutdown.addEventListener("abort", abort, { once: true });
        ctx.res.once("close", abort);
        try {
          const latest = await ctx.deps.engine.waitForChanges(after, timeoutMs, stop.signal);
          if (ctx.res.writableEnded || ctx.res.destroyed) return;
          // Asked for: the feed after the edge's position comes with the answer, sparing it a request.
          const pageSize = Number(ctx.query.get("page") ?? 0);
          if (applied !== null && pageSize > 0 && compareBytes(latest, applied) > 0) {
            sendV8(ctx.res, 200, { latest, page: await feedPage(ctx, applied, pageSize) });
          } else {
            sendJson(ctx.res, 200, { latest: versionstampToHex(latest) }, { "cache-control": "no-store" });
          }
        } finally {
          detach?.();
          ctx.deps.shutdown.removeEventListener("abort", abort);
          ctx.res.off("close", abort);
        }
      },
    },
  ];
}
