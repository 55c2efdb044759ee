/**
 * The GraphQL schema of Cloudflare's Analytics API, the KV part of it: `viewer.accounts(filter:
 * {accountTag}).kvOperationsAdaptiveGroups` and `kvStorageAdaptiveGroups`, with Cloudflare's type names,
 * lower-case scalars, filter fields and orderBy enums, so clients written against Cloudflare (and tools
 * that introspect it, such as GraphiQL or gql.tada) work unchanged. Resolvers translate arguments into
 * core's analytics query (src/core/analytics/query.ts) and never touch storage themselves.
 */
import {
  GraphQLBoolean,
  GraphQLEnumType,
  GraphQLError,
  GraphQLInputObjectType,
  GraphQLList,
  GraphQLNonNull,
  GraphQLObjectType,
  GraphQLScalarType,
  GraphQLSchema,
  Kind,
  type SelectionNode,
  type GraphQLFieldConfigMap,
  type GraphQLInputFieldConfigMap,
  type GraphQLInputType,
  type GraphQLNullableType,
  type GraphQLResolveInfo,
  type ValueNode,
} from "graphql";
import {
  groupOperations,
  groupStorage,
  isoTime,
  OPERATION_DIMENSIONS,
  QUANTILES,
  readWindow,
  STORAGE_DIMENSIONS,
  type Condition,
  type Filter,
  type Operator,
  type Scalar,
} from "../../core/analytics/query.ts";
import type { Analytics } from "../../core/analytics/collector.ts";
import type { Principal } from "../../auth/tokens.ts";

/** What every resolver gets: who asks, and where the figures are. */
export interface GraphqlContext {
  readonly analytics: Analytics;
  readonly accountId: string;
  readonly principal: Principal;
  readonly now: number;
}

/** An error with the HTTP status the whole answer takes (Cloudflare answers 400/403 for these). */
export class AnalyticsQueryError extends GraphQLError {
  readonly status: number;
  constructor(message: string, status: number) {
    super(message);
    this.status = status;
  }
}

const bad = (message: string) => new AnalyticsQueryError(message, 400);

// ---- scalars: Cloudflare's names; values coerced by the position they are used in ----

function unsigned(name: string, max: number): GraphQLScalarType<number, number> {
  const parse = (v: unknown): number => {
    const n = typeof v === "string" && /^\d+$/.test(v) ? Number(v) : v;
    if (typeof n !== "number" || !Number.isInteger(n) || n < 0 || n > max) throw bad(`error parsing args: ${JSON.stringify(v)} is not a ${name}`);
    return n;
  };
  return new GraphQLScalarType({
    name,
    serialize: (v) => v as number,
    parseValue: parse,
    parseLiteral: (ast) => parse(ast.kind === Kind.INT ? Number(ast.value) : ast.kind === Kind.STRING ? ast.value : undefined),
  });
}

const literal = (ast: ValueNode): unknown =>
  ast.kind === Kind.STRING || ast.kind === Kind.ENUM ? ast.value : ast.kind === Kind.INT || ast.kind === Kind.FLOAT ? Number(ast.value) : ast.kind === Kind.BOOLEAN ? ast.value : undefined;

const StringScalar = new GraphQLScalarType<string, string>({
  name: "string",
  serialize: (v) => String(v),
  parseValue: (v) => {
    if (typeof v !== "string") throw bad(`error parsing args: ${JSON.stringify(v)} is not a string`);
    return v;
  },
  parseLiteral: (ast) => {
    if (ast.kind !== Kind.STRING) throw bad("error parsing args: expected a string");
    return ast.value;
  },
});

function parseDate(v: unknown): string {
  const ms = typeof v === "string" ? Date.parse(/^\d{4}-\d{2}-\d{2}$/.test(v) ? `${v}T00:00:00Z` : v) : NaN;
  if (Number.isNaN(ms)) throw bad(`error parsing args: ${JSON.stringify(v)} is not a Date (like "2024-07-15")`);
  return new Date(ms).toISOString().slice(0, 10);
}

function parseTime(v: unknown): string {
  const ms = typeof v === "string" ? Date.parse(/^\d{4}-\d{2}-\d{2}$/.test(v) ? `${v}T00:00:00Z` : v) : NaN;
  if (Number.isNaN(ms)) throw bad(`error parsing args: ${JSON.stringify(v)} is not a Time (like "2024-07-15T00:00:00Z")`);
  return isoTime(ms);
}

const DateScalar = new GraphQLScalarType<string, string>({ name: "Date", serialize: (v) => v as string, parseValue: parseDate, parseLiteral: (ast) => parseDate(literal(ast)) });
const TimeScalar = new GraphQLScalarType<string, string>({ name: "Time", serialize: (v) => v as string, parseValue: parseTime, parseLiteral: (ast) => parseTime(literal(ast)) });
const floatScalar = (name: string) =>
  new GraphQLScalarType<number, number>({
    name,
    serialize: (v) => v as number,
    parseValue: (v) => Number(v),
    parseLiteral: (ast) => Number(literal(ast)),
  });
const BoolScalar = new GraphQLScalarType<boolean, boolean>({ name: "bool", serialize: (v) => Boolean(v), parseValue: (v) => v === true, parseLiteral: (ast) => literal(ast) === true });
const uint16 = unsigned("uint16", 65535);
const uint32 = unsigned("uint32", 2 ** 32 - 1);
const uint64 = unsigned("uint64", Number.MAX_SAFE_INTEGER);
const int64 = unsigned("int64", Number.MAX_SAFE_INTEGER);
const float32 = floatScalar("float32");
const float64 = floatScalar("float64");

const nn = <T extends GraphQLNullableType>(t: T) => new GraphQLNonNull(t);
const listOf = <T extends GraphQLInputType | GraphQLObjectType>(t: T) => new GraphQLList(new GraphQLNonNull(t));

// ---- filters ----

const STRING_OPS: readonly Operator[] = ["eq", "geq", "gt", "in", "leq", "like", "lt", "neq", "notin", "notlike"];
const ORDERED_OPS: readonly Operator[] = ["eq", "geq", "gt", "in", "leq", "lt", "neq", "notin"];

/** `name` for eq, else `name_op`. */
const fieldName = (dim: string, op: Operator) => (op === "eq" ? dim : `${dim}_${op}`);

function filterType(name: string, dims: Readonly<Record<string, GraphQLScalarType>>): GraphQLInputObjectType {
  const type: GraphQLInputObjectType = new GraphQLInputObjectType({
    name,
    fields: () => {
      const fields: GraphQLInputFieldConfigMap = { AND: { type: listOf(type) }, OR: { type: listOf(type) } };
      for (const [dim, scalar] of Object.entries(dims)) {
        for (const op of scalar === StringScalar ? STRING_OPS : ORDERED_OPS) {
          fields[fieldName(dim, op)] = { type: op === "in" || op === "notin" ? listOf(scalar) : scalar };
        }
      }
      return fields;
    },
  });
  return type;
}

const TIME_DIMS = { date: DateScalar, datetime: TimeScalar, datetimeHour: TimeScalar, datetimeMinute: TimeScalar };
const OPERATION_FILTER_DIMS = { actionType: StringScalar, namespaceId: StringScalar, responseStatusCode: uint16, result: StringScalar, ...TIME_DIMS };
const STORAGE_FILTER_DIMS = { namespaceId: StringScalar, ...TIME_DIMS };

/** A filter argument (already coerced by graphql-js) as core's Filter; null-valued fields are left out. */
function toFilter(input: Record<string, unknown> | null | undefined): Filter {
  const conditions: Condition[] = [];
  const and: Filter[] = [];
  const or: Filter[] = [];
  for (const [key, value] of Object.entries(input ?? {})) {
    if (value === null || value === undefined) continue;
    if (key === "AND") and.push(...(value as Record<string, unknown>[]).map(toFilter));
    else if (key === "OR") or.push(...(value as Record<string, unknown>[]).map(toFilter));
    else {
      const m = /^(.*?)(?:_(geq|gt|in|leq|like|lt|neq|notin|notlike))?$/.exec(key)!;
      conditions.push({ field: m[1]!, op: (m[2] ?? "eq") as Operator, value: value as Scalar | Scalar[] });
    }
  }
  return { conditions, and, or };
}

/** The principal's namespaces as a filter (null: every namespace). */
function scope(p: Principal): Filter | null {
  if (p.kind === "admin" || p.namespaces === null) return null;
  return { conditions: [{ field: "namespaceId", op: "in", value: [...p.namespaces] }], and: [], or: [] };
}

/** The names selected under `dimensions`, across every node of the field (fragments included). */
function selectedDimensions(info: GraphQLResolveInfo): string[] {
  const names = new Set<string>();
  const walk = (selections: SelectionNode[] | readonly SelectionNode[], inDims: boolean) => {
    for (const s of selections) {
      if (s.kind === Kind.FIELD) {
        if (inDims) names.add(s.name.value);
        else if (s.name.value === "dimensions" && s.selectionSet) walk(s.selectionSet.selections, true);
      } else if (s.kind === Kind.INLINE_FRAGMENT) walk(s.selectionSet.selections, inDims);
      else if (s.kind === Kind.FRAGMENT_SPREAD) {
        const f = info.fragments[s.name.value];
        if (f) walk(f.selectionSet.selections, inDims);
      }
    }
  };
  for (const node of info.fieldNodes) if (node.selectionSet) walk(node.selectionSet.selections, false);
  names.delete("__typename");
  return [...names];
}

interface DatasetArgs {
  filter: Record<string, unknown>;
  limit: number;
  orderBy?: string[] | null;
}

function query(args: DatasetArgs, ctx: GraphqlContext, info: GraphQLResolveInfo) {
  const user = toFilter(args.filter);
  const limited = scope(ctx.principal);
  const filter: Filter = limited ? { conditions: [], and: [user, limited], or: [] } : user;
  return { filter, window: readWindow(user, ctx.now), dims: selectedDimensions(info), orderBy: args.orderBy ?? [] };
}

function wrapKvError<T>(fn: () => Promise<T>): Promise<T> {
  return fn().catch((e: unknown) => {
    if (e instanceof GraphQLError) throw e;
    if (e instanceof Error && (e as { code?: unknown }).code === "invalid_argument") throw bad(e.message);
    throw e;
  });
}

// ---- output types ----

const obj = (name: string, fields: GraphQLFieldConfigMap<unknown, GraphqlContext>) => new GraphQLObjectType<unknown, GraphqlContext>({ name, fields });

const Confidence = obj("Confidence", {
  estimate: { type: nn(float64) },
  isValid: { type: nn(BoolScalar) },
  lower: { type: nn(float64) },
  sampleSize: { type: nn(int64) },
  upper: { type: nn(float64) },
});

const exact = (n: number) => ({ estimate: n, isValid: true, lower: n, upper: n, sampleSize: n });

const OPS = "AccountKvOperationsAdaptiveGroups";
const STORAGE = "AccountKvStorageAdaptiveGroups";

const OperationsGroup = obj(OPS, {
  avg: { type: obj(`${OPS}Avg`, { sampleInterval: { type: nn(float64) } }) },
  confidence: {
    description: "ALPHA - DO NOT USE. OpenKV keeps exact figures: every interval is the value itself.",
    args: { level: { type: nn(float64) } },
    type: nn(
      obj(`${OPS}Confidence`, {
        count: { type: nn(Confidence) },
        level: { type: nn(float64) },
        sum: { type: obj(`${OPS}SumConfidence`, { objectBytes: { type: nn(Confidence) }, requests: { type: nn(Confidence) } }) },
      }),
    ),
    resolve: (g: unknown, args: { level: number }) => {
      const group = g as ReturnType<typeof groupOperations>[number];
      return { level: args.level, count: exact(group.count), sum: { requests: exact(group.sum.requests), objectBytes: exact(group.sum.objectBytes) } };
    },
  },
  count: { type: nn(uint64), description: "Number of requests" },
  dimensions: {
    type: obj(`${OPS}Dimensions`, {
      actionType: { type: nn(StringScalar) },
      date: { type: nn(DateScalar) },
      datetime: { type: nn(TimeScalar) },
      datetimeHour: { type: nn(TimeScalar) },
      datetimeMinute: { type: nn(TimeScalar) },
      namespaceId: { type: nn(StringScalar) },
      responseStatusCode: { type: nn(uint16) },
      result: { type: nn(StringScalar), description: "The result of the action (hot_read, cold_read, deleted, uploaded, error, not_found)" },
    }),
  },
  max: { type: obj(`${OPS}Max`, { latencyMs: { type: nn(uint32) }, objectBytes: { type: nn(uint32) } }) },
  min: { type: obj(`${OPS}Min`, { latencyMs: { type: nn(uint32) }, objectBytes: { type: nn(uint32) } }) },
  quantiles: { type: obj(`${OPS}Quantiles`, Object.fromEntries(Object.keys(QUANTILES).map((q) => [q, { type: nn(float32) }]))) },
  sum: { type: obj(`${OPS}Sum`, { objectBytes: { type: nn(uint64) }, requests: { type: nn(uint64) } }) },
});

const StorageGroup = obj(STORAGE, {
  dimensions: {
    type: obj(`${STORAGE}Dimensions`, {
      date: { type: nn(DateScalar) },
      datetime: { type: nn(TimeScalar) },
      datetimeHour: { type: nn(TimeScalar) },
      datetimeMinute: { type: nn(TimeScalar) },
      namespaceId: { type: nn(StringScalar) },
    }),
  },
  max: { type: obj(`${STORAGE}Max`, { byteCount: { type: nn(uint64) }, keyCount: { type: nn(uint64) } }) },
});

function orderEnum(name: string, paths: readonly string[]): GraphQLEnumType {
  const values: Record<string, object> = {};
  for (const p of [...paths].sort()) for (const dir of ["ASC", "DESC"]) values[`${p}_${dir}`] = {};
  return new GraphQLEnumType({ name, values });
}

const OperationsOrder = orderEnum(`${OPS}OrderBy`, [
  ...OPERATION_DIMENSIONS,
  "clientType",
  "namespaceDeleted",
  "count",
  "sum_requests",
  "sum_objectBytes",
  "avg_sampleInterval",
  "max_latencyMs",
  "max_objectBytes",
  "min_latencyMs",
  "min_objectBytes",
  ...Object.keys(QUANTILES).map((q) => `quantiles_${q}`),
]);
const StorageOrder = orderEnum(`${STORAGE}OrderBy`, [...STORAGE_DIMENSIONS, "max_byteCount", "max_keyCount"]);

const Account = obj("account", {
  kvOperationsAdaptiveGroups: {
    type: nn(listOf(OperationsGroup)),
    args: { filter: { type: nn(filterType(`${OPS}Filter_InputObject`, OPERATION_FILTER_DIMS)) }, limit: { type: nn(uint64) }, orderBy: { type: listOf(OperationsOrder) } },
    resolve: (_account, args: DatasetArgs, ctx, info) =>
      wrapKvError(async () => {
        const q = query(args, ctx, info);
        const rows = await ctx.analytics.operations(q.window.from, q.window.to);
        return groupOperations(rows, { filter: q.filter, dimensions: q.dims, limit: args.limit, orderBy: q.orderBy });
      }),
  },
  kvStorageAdaptiveGroups: {
    type: nn(listOf(StorageGroup)),
    args: { filter: { type: nn(filterType(`${STORAGE}Filter_InputObject`, STORAGE_FILTER_DIMS)) }, limit: { type: nn(uint64) }, orderBy: { type: listOf(StorageOrder) } },
    resolve: (_account, args: DatasetArgs, ctx, info) =>
      wrapKvError(async () => {
        const q = query(args, ctx, info);
        const rows = await ctx.analytics.storage(q.window.from, q.window.to);
        return groupStorage(rows, { filter: q.filter, dimensions: q.dims, limit: args.limit, orderBy: q.orderBy });
      }),
  },
});

const AccountFilter = new GraphQLInputObjectType({ name: "AccountFilter_InputObject", fields: { accountTag: { type: nn(StringScalar) } } });

const Viewer = obj("viewer", {
  accounts: {
    type: nn(listOf(Account)),
    args: { filter: { type: AccountFilter } },
    resolve: (_v, args: { filter?: { accountTag?: string } | null }, ctx) => {
      // One account per server; a query must name it, as Cloudflare's account-scoped datasets require.
      if (args.filter?.accountTag !== ctx.accountId) throw new AnalyticsQueryError("not authorized for that account", 403);
      return [{}];
    },
  },
  budget: { type: nn(uint64), resolve: () => 1_000_000 },
});

export const analyticsSchema = new GraphQLSchema({
  query: obj("Query", {
    cost: { type: nn(uint64), resolve: () => 1 },
    viewer: { type: Viewer, resolve: () => ({}) },
  }),
  types: [GraphQLBoolean],
});
