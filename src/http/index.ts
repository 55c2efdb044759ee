/**
 * The HTTP plumbing every front end builds on: request/response helpers, the route contract, error →
 * status tables, the listener (HTTP/1.1 + h2c + TLS on one port), metrics and rate limits. It imports
 * core and auth only; `src/server` composes it with the APIs.
 */
export { audit, auditRequest } from "./audit.ts";
export { CONNECTION_LIMITS, type ConnectionLimits } from "./connection-limits.ts";
export { CLIENT_GONE_STATUS, ClientGoneError, HttpError, describeError, KV_ERROR_STATUS, type StatusTable } from "./errors.ts";
export { clientGone, parseJson, readBody, sendAtTurnEnd, sendJson, sendJsonText, sendText } from "./http.ts";
export { createListener, type Handler, type Listener, type Request, type Response } from "./listener.ts";
export type { ErrorEncoder, Method, OperationNote, Route, RouteContext, ServerDeps, ServerLimits } from "./route.ts";
