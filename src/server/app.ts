/**
 * The composition root of the HTTP side: one router, and for every request the same steps —
 * authenticate, resolve the namespace, authorize, rate-limit, handle, count — whatever API it belongs to.
 */
import type { AsyncLocalStorage } from "node:async_hooks";
import FindMyWay from "find-my-way";
import { resultOf } from "../core/analytics/types.ts";
import type { Clock } from "../core/clock.ts";
import { KvError } from "../core/errors.ts";
import type { NamespaceInfo } from "../core/types.ts";
import { auditRequest } from "../http/audit.ts";
import { requestBookmark } from "../http/bookmark.ts";
import { ClientGoneError, describeError, HttpError } from "../http/http.ts";
import type { Handler, Request, Response } from "../http/listener.ts";
import { RateLimiter } from "../http/rate-limit.ts";
import type { OperationNote, Route, RouteContext, ServerDeps } from "../http/route.ts";
import { allows, type Principal } from "../auth/tokens.ts";

export interface AppOptions {
  /** Requests per second per token (average); 0 = unlimited. */
  rateLimit?: number;
  /** Burst size for the rate limit; default 2 × rateLimit. */
  rateBurst?: number;
  log?: (line: string) => void;
  /** Measures operation latency for analytics, in ms (fractions allowed). Default: performance.now(). */
  latencyClock?: Clock;
  /**
   * Set on an edge: each request's note is reachable from its async context, so the read cache can mark
   * the operation a hot read (src/client/cached-backend.ts `onHit`).
   */
  noteScope?: AsyncLocalStorage<OperationNote>;
}

const performanceClock: Clock = { now: () => performance.now() };

function bearer(req: Request): string | null {
  const auth = req.headers.authorization;
  if (typeof auth === "string") {
    const m = /^Bearer\s+(.+)$/i.exec(auth.trim());
    if (m) return m[1]!.trim();
  }
  const key = req.headers["x-auth-key"];
  if (typeof key === "string" && typeof req.headers["x-auth-email"] === "string") return key.trim();
  return null;
}

/**
 * The response's content-length. A response sent with `writeHead(status, {...})` alone keeps its headers
 * only in the head it rendered (`getHeader` knows nothing of them), so that is read too: reads answered
 * that way were counted with 0 bytes.
 */
function responseLength(res: Response): unknown {
  return res.getHeader("content-length") ?? /\r\ncontent-length: *(\d+)/i.exec((res as { _header?: string | null })._header ?? "")?.[1];
}

/** Decodes every path parameter but the wildcard (see `RouteContext.params`); bad encoding is a 400. */
function decodeParams(raw: Record<string, string | undefined>): Record<string, string | undefined> {
  const params: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(raw)) {
    if (name === "*" || value === undefined) {
      params[name] = value;
      continue;
    }
    try {
      params[name] = decodeURIComponent(value);
    } catch {
      throw new HttpError(400, `Invalid percent-encoding in the URL path: "${value}"`);
    }
  }
  return params;
}

export function createApp(deps: ServerDeps, routes: Route[], options: AppOptions = {}): Handler {
  const log = options.log ?? ((line: string) => process.stderr.write(line + "\n"));
  const limiter = options.rateLimit ? new RateLimiter(options.rateLimit, options.rateBurst ?? options.rateLimit * 2, deps.clock) : null;
  const router = FindMyWay({ ignoreDuplicateSlashes: true, ignoreTrailingSlash: true, maxParamLength: 4096 });
  const notFound = routes[0]!.errors;
  const analytics = deps.analytics;
  const latencyClock = options.latencyClock ?? performanceClock;
  const scope = options.noteScope;

  const run = async (route: Route, req: Request, res: Response, rawParams: Record<string, string | undefined>, query: URLSearchParams) => {
    const started = process.hrtime.bigint();
    // Counted routes read the latency clock exactly twice, whatever happens (tests script its answers).
    const startedMs = analytics && route.kind ? latencyClock.now() : 0;
    let ctx: RouteContext | null = null;
    const count = (status: number) => {
      if (!analytics || !route.kind) return;
      const latencyMs = latencyClock.now() - startedMs;
      // Refused before its namespace was known and authorized: no namespace's operation.
      if (!ctx?.namespace) return;
      const c = ctx;
      const action = typeof route.kind === "function" ? route.kind(c) : route.kind;
      const header = action === "write" ? req.headers["content-length"] : action === "delete" ? 0 : responseLength(res);
      const bytes = c.op.objectBytes ?? (Number(header) || 0);
      analytics.record(c.namespace!.id, action, resultOf(action, status, c.op.hot, c.op.found), status, c.op.requests, bytes, latencyMs);
    };
    try {
      await steps(route, req, res, rawParams, query, started, (built) => (ctx = built));
    } catch (e) {
      count(describeError(e, route.statuses).status);
      throw e;
    }
    count(res.statusCode);
  };

  /** One request's steps: authenticate, resolve the namespace, authorize, rate-limit, handle (`built` gets the context). */
  const steps = async (
    route: Route,
    req: Request,
    res: Response,
    rawParams: Record<string, string | undefined>,
    query: URLSearchParams,
    started: bigint,
    built: (ctx: RouteContext) => void,
  ): Promise<void> => {
    let principal: Principal = { kind: "admin" };
    if (route.access !== "public") {
      const secret = bearer(req);
      // A miss waits for the token source (a token created elsewhere a moment ago); a hit never does.
      const found = secret === null ? null : (deps.tokens.verify(secret) ?? (await deps.tokens.recheck(secret)));
      if (!found) {
        throw new HttpError(401, secret === null ? "Authentication required: send Authorization: Bearer <token>" : "Invalid API token", {
          "www-authenticate": 'Bearer realm="openkv"',
        });
      }
      principal = found;
      if (route.access === "admin" && principal.kind !== "admin") throw new HttpError(403, "This route needs the admin token");
      if (route.access === "analytics" && principal.kind === "token" && principal.analytics !== true) {
        throw new HttpError(403, 'This token may not read analytics: create one that may (openkv token create NAME --analytics, or "analytics": true in POST /admin/tokens)');
      }
      if (limiter) {
        const wait = limiter.take(principal.kind === "admin" ? "admin" : principal.id);
        if (wait > 0) throw new HttpError(429, "Too many requests", { "retry-after": String(wait) });
      }
    }
    const params = decodeParams(rawParams);
    // A client's bookmark: nothing older than the write it names is read through this node.
    const bookmark = requestBookmark(req);
    if (bookmark) await deps.engine.catchUp(bookmark);
    let namespace: NamespaceInfo | null = null;
    if (route.namespace) {
      const name = route.namespace === "default" ? "default" : params[route.namespace.param]!;
      const create = route.namespace === "default" || route.namespace.createIfMissing;
      namespace = await deps.engine.findNamespace(name);
      if (!namespace && create && allows(principal, "write")) {
        namespace = await deps.engine.ensureNamespace(name);
        auditRequest(deps, req, principal, { action: "namespace.create", namespace: { id: namespace.id, title: namespace.title } });
      }
      if (!namespace) {
        // A token limited to some namespaces gets the same 403 whether or not others exist: probing
        // titles must not tell it which namespaces there are.
        if (principal.kind === "token" && principal.namespaces !== null) throw new HttpError(403, "This token may not use this namespace");
        throw new KvError("namespace_not_found", "namespace not found");
      }
    }
    if (route.access === "manage" && !allows(principal, "write")) {
      throw new HttpError(403, "Managing namespaces needs a read-write token for every namespace");
    }
    if (route.access === "read" || route.access === "write") {
      if (!allows(principal, route.access, namespace?.id)) {
        throw new HttpError(403, route.access === "write" && principal.kind === "token" && principal.permission === "read" ? "This token is read-only" : "This token may not use this namespace");
      }
    }
    const op: OperationNote = { requests: 1, objectBytes: null, hot: false, found: true };
    const ctx: RouteContext = { req, res, params, query, principal, namespace, deps, op };
    built(ctx);
    try {
      await (scope ? scope.run(op, () => route.handle(ctx)) : route.handle(ctx));
    } finally {
      if (route.kind && namespace) {
        deps.metrics.observe(namespace.title, typeof route.kind === "function" ? route.kind(ctx) : route.kind, route.api, started);
      }
    }
  };

  for (const route of routes) {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    router.on(methods, route.path, () => {}, route);
  }

  return (req, res) => {
    // Collapse "//" (wrangler with a trailing-slash base URL) before routing.
    const url = req.url ?? "/";
    const q = url.indexOf("?");
    const path = (q === -1 ? url : url.slice(0, q)).replace(/\/{2,}/g, "/");
    // The router decodes what it matches; escaping "%" first hands every parameter over exactly as
    // sent, so a malformed escape is our 400 rather than the router's 404, and the wildcard stays raw.
    const routed = path.replaceAll("%", "%25");
    // HEAD is GET without the body (RFC 9110 §9.3.2): same route, status and headers; Node's HTTP/1.1 and
    // HTTP/2 responses drop the body of a HEAD request themselves.
    const found = router.find(req.method as "GET", routed) ?? (req.method === "HEAD" ? router.find("GET", routed) : null);
    if (!found) {
      deps.metrics.error(404);
      // A HEAD's body is never sent, but its content-length must be GET's.
      return notFound(res, 404, `No route for ${req.method === "HEAD" ? "GET" : req.method} ${path}`, {}, null);
    }
    const route = found.store as Route;
    const query = new URLSearchParams(q === -1 ? "" : url.slice(q + 1));
    run(route, req, res, found.params, query).catch((e: unknown) => {
      const d = describeError(e, route.statuses);
      if (d.internal) log(`openkv: internal error on ${req.method} ${path}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
      deps.metrics.error(d.status);
      // No one is left to answer when the client went away.
      if (res.headersSent || e instanceof ClientGoneError) {
        res.destroy();
        return;
      }
      route.errors(res, d.status, d.message, d.headers, e);
    });
  };
}
