/**
 * Records a route's action in the audit log (when the server has one), with who made the request and
 * from where. Called after the action succeeded and before the response, so a client that saw the
 * answer finds the line.
 */
import { actorOf, type AuditEvent } from "../auth/audit-log.ts";
import type { Principal } from "../auth/tokens.ts";
import type { Request } from "./listener.ts";
import type { RouteContext, ServerDeps } from "./route.ts";

export function auditRequest(deps: ServerDeps, req: Request, principal: Principal, event: Omit<AuditEvent, "actor" | "remote">): void {
  deps.audit?.record({ ...event, actor: actorOf(principal), remote: req.socket?.remoteAddress ?? null });
}

export function audit(ctx: RouteContext, event: Omit<AuditEvent, "actor" | "remote">): void {
  auditRequest(ctx.deps, ctx.req, ctx.principal, event);
}
