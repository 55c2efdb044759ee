/**
 * What a front end mounts on the server: routes with their access needs and an error encoder. The app
 * does authentication, namespace resolution, authorization, rate limits and metrics the same way for all.
 */
import type { Analytics } from "../core/analytics/collector.ts";
import type { Clock } from "../core/clock.ts";
import type { Engine } from "../core/engine.ts";
import type { WriteFence } from "../core/fence.ts";
import type { NamespaceInfo } from "../core/types.ts";
import type { StatusTable } from "./errors.ts";
import type { Request, Response } from "./listener.ts";
import type { Metrics, OperationKind } from "./metrics.ts";
import type { ResponseCache } from "./response-cache.ts";
import type { AuditLog } from "../auth/audit-log.ts";
import type { Principal, Permission, Tokens } from "../auth/tokens.ts";

export type Method = "GET" | "PUT" | "POST" | "DELETE" | "PATCH" | "HEAD";

export interface ServerLimits {
  /** Largest request body accepted, in bytes (413 past it). */
  maxBodyBytes: number;
}

export interface ServerDeps {
  engine: Engine;
  tokens: Tokens;
  metrics: Metrics;
  clock: Clock;
  accountId: string;
  limits: ServerLimits;
  /** Aborts when the server starts to stop: long-lived streams (watch, queue listen) end on it. */
  shutdown: AbortSignal;
  /** Where namespace, token and bulk-delete changes are recorded (`--audit-log`); see ./audit.ts. */
  audit?: AuditLog;
  /** Holds writes until following edges have them (src/core/fence.ts); absent: writes never wait. */
  fence?: WriteFence;
  /** Counts every operation for the GraphQL Analytics API (src/core/analytics/); absent: nothing counted. */
  analytics?: Analytics;
  /** Hot GETs' exact answers, for a store that can say cheaply whether anything changed (./response-cache.ts). */
  responses?: ResponseCache;
}

/**
 * What a handler may tell analytics about the operation it served; the app fills in the rest (status,
 * latency, result). Defaults: one operation; bytes = the response's content-length for reads and lists,
 * the request's for writes.
 */
export interface OperationNote {
  /** Operations in this request: each key of a bulk call counts. */
  requests: number;
  /** Bytes of values moved, when the handler knows better than the content-length. */
  objectBytes: number | null;
  /** Set when an edge's memory cache answered (a `hot_read`). */
  hot: boolean;
  /** Cleared by a read that answers 200 with nothing in it (KV Connect): a `not_found`, like a 404. */
  found: boolean;
}

export interface RouteContext {
  req: Request;
  res: Response;
  /**
   * Path parameters, percent-decoded — except the wildcard `*`, which is passed as sent so a route that
   * splits it (dotted key paths) can decode each part after splitting and keep an encoded separator as data.
   */
  params: Record<string, string | undefined>;
  query: URLSearchParams;
  principal: Principal;
  /** The namespace the route works on, resolved and authorized (when the route names one). */
  namespace: NamespaceInfo | null;
  deps: ServerDeps;
  op: OperationNote;
}

/** How one API answers an error (Cloudflare envelope, JSON body, plain text…). */
export type ErrorEncoder = (res: Response, status: number, message: string, headers: Record<string, string>, cause: unknown) => void;

export interface Route {
  method: Method | Method[];
  path: string;
  /**
   * "public": no token; "authenticated": any valid token; "admin": the admin token only; "manage": a
   * read-write token for every namespace (creating, renaming, deleting namespaces); "analytics": the admin
   * token, or a token created with the analytics right (the GraphQL Analytics API).
   */
  access: Permission | "manage" | "admin" | "public" | "authenticated" | "analytics";
  /** Where the namespace comes from: a path parameter (id or title), or the `default` namespace. */
  namespace?: { param: string; createIfMissing?: boolean } | "default";
  /**
   * For metrics: what kind of operation this is — fixed, or decided per request when one route does
   * several (`GET /kv/{prefix}?list=true` lists, without `list` it reads). Counted once the request is
   * authorized and handled, whatever the outcome (a miss is still a read).
   */
  kind?: OperationKind | ((ctx: RouteContext) => OperationKind);
  api: string;
  errors: ErrorEncoder;
  /** How core's error codes become statuses for this API; default `KV_ERROR_STATUS`. */
  statuses?: StatusTable;
  handle(ctx: RouteContext): Promise<void> | void;
}
