/**
 * `POST /client/v4/graphql`: Cloudflare's GraphQL Analytics API for KV (./schema.ts). Like Cloudflare,
 * no GET ("Cloudflare API v4 doesn't allow GETs to /graphql", wrangler). Answers always carry `data` and
 * `errors`; a query that fails fails whole (`data: null`), with Cloudflare's statuses: 400 for a bad
 * query, a bad argument or the 31-day rule, 403 for another account or a token without the analytics
 * right, 500 for anything unexpected (logged, never shown).
 *
 * Who may ask (route access "analytics", checked by the app): the admin token, and tokens created with
 * `analytics: true`; a token limited to some namespaces sees only their figures.
 */
import { execute, GraphQLError, parse, specifiedRules, validate, type DocumentNode } from "graphql";
import { HttpError, parseJson, readBody, sendJson } from "../../http/http.ts";
import type { ErrorEncoder, Route, RouteContext } from "../../http/route.ts";
import { inlineVariables } from "./lenient.ts";
import { AnalyticsQueryError, analyticsSchema, type GraphqlContext } from "./schema.ts";

export const GRAPHQL_PATH = "/client/v4/graphql";

interface ShownError {
  message: string;
  path: readonly (string | number)[] | null;
  extensions: { timestamp: string };
}

function shown(message: string, path: readonly (string | number)[] | null = null): ShownError {
  return { message, path: path ? path.map(String) : null, extensions: { timestamp: new Date().toISOString() } };
}

const graphqlErrors: ErrorEncoder = (res, status, message, headers) => sendJson(res, status, { data: null, errors: [shown(message)] }, headers);

function requestOf(body: unknown): { query: string; variables: Record<string, unknown>; operationName?: string } {
  if (typeof body !== "object" || body === null || typeof (body as { query?: unknown }).query !== "string") {
    throw new HttpError(400, 'The body must be a JSON object like {"query": "{ viewer { … } }", "variables": {…}}');
  }
  const b = body as { query: string; variables?: unknown; operationName?: unknown };
  let variables = b.variables;
  // Some clients send the variables as JSON text.
  if (typeof variables === "string") variables = variables.trim() === "" ? {} : parseJson(Buffer.from(variables), "variables");
  if (variables !== undefined && variables !== null && (typeof variables !== "object" || Array.isArray(variables))) {
    throw new HttpError(400, "variables must be a JSON object");
  }
  return { query: b.query, variables: (variables ?? {}) as Record<string, unknown>, ...(typeof b.operationName === "string" && b.operationName ? { operationName: b.operationName } : {}) };
}

async function handle(ctx: RouteContext): Promise<void> {
  const { principal, deps } = ctx;
  const analytics = deps.analytics;
  if (!analytics) throw new HttpError(404, "Analytics are off on this server");
  const request = requestOf(parseJson(await readBody(ctx.req, 1024 * 1024)));
  let document: DocumentNode;
  try {
    document = inlineVariables(analyticsSchema, parse(request.query), request.variables);
  } catch (e) {
    if (e instanceof GraphQLError) return sendJson(ctx.res, 400, { data: null, errors: [shown(`error parsing query: ${e.message}`)] });
    throw e;
  }
  const invalid = validate(analyticsSchema, document, specifiedRules);
  if (invalid.length > 0) return sendJson(ctx.res, 400, { data: null, errors: invalid.map((e) => shown(e.message)) });
  const context: GraphqlContext = { analytics, accountId: deps.accountId, principal, now: deps.clock.now() };
  const result = await execute({ schema: analyticsSchema, document, contextValue: context, ...(request.operationName ? { operationName: request.operationName } : {}) });
  if (!result.errors?.length) return sendJson(ctx.res, 200, { data: result.data ?? null, errors: null });
  let status = 400;
  const errors = result.errors.map((e) => {
    const original = e.originalError;
    if (original instanceof AnalyticsQueryError) {
      status = Math.max(status, original.status);
      return shown(original.message, e.path ?? null);
    }
    if (original && !(original instanceof GraphQLError)) {
      // A store failure or a bug: logged, never shown.
      process.stderr.write(`openkv: internal error in a GraphQL query: ${original.stack ?? original.message}\n`);
      status = 500;
      return shown("Internal server error", e.path ?? null);
    }
    return shown(e.message, e.path ?? null);
  });
  sendJson(ctx.res, status, { data: null, errors });
}

export function graphqlRoutes(): Route[] {
  return [{ method: "POST", path: GRAPHQL_PATH, access: "analytics", api: "graphql", errors: graphqlErrors, handle }];
}
