/**
 * Filtering, grouping and ordering of analytics rows, with the semantics of Cloudflare's GraphQL
 * Analytics API (https://developers.cloudflare.com/analytics/graphql-api/): a filter object ANDs its
 * fields, `AND`/`OR` take lists of filter objects, groups are keyed by the dimensions asked for, the
 * default order is by those keys and an explicit order is followed by them. The GraphQL layer
 * (src/api/graphql/) only translates its arguments into these types.
 */
import { KvError } from "../errors.ts";
import { LatencySketch } from "./sketch.ts";
import { ANALYTICS_RETENTION_MS, type OperationRow, type StorageRow } from "./types.ts";

export type Operator = "eq" | "neq" | "gt" | "geq" | "lt" | "leq" | "in" | "notin" | "like" | "notlike";
export type Scalar = string | number;

export interface Condition {
  readonly field: string;
  readonly op: Operator;
  readonly value: Scalar | readonly Scalar[];
}

/** Every condition, every filter of `and`, and (when it has any) one of `or`. */
export interface Filter {
  readonly conditions: readonly Condition[];
  readonly and: readonly Filter[];
  readonly or: readonly Filter[];
}

export const TIME_FIELDS = ["date", "datetime", "datetimeHour", "datetimeMinute"] as const;
export const OPERATION_DIMENSIONS = ["actionType", "namespaceId", "responseStatusCode", "result", ...TIME_FIELDS] as const;
export const STORAGE_DIMENSIONS = ["namespaceId", ...TIME_FIELDS] as const;
export const QUANTILES = { latencyMsP25: 0.25, latencyMsP50: 0.5, latencyMsP75: 0.75, latencyMsP90: 0.9, latencyMsP99: 0.99, latencyMsP999: 0.999 } as const;

/** Cloudflare's text when a query reaches past the 31 days kept. */
export const RETENTION_MESSAGE = `cannot request data older than ${ANALYTICS_RETENTION_MS / 1000}s`;
export const MAX_LIMIT = 10_000;

/** "2024-07-15T10:04:00Z": Cloudflare's Time, to the second. */
export function isoTime(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19) + "Z";
}
export const isoDate = (ms: number): string => new Date(ms).toISOString().slice(0, 10);

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;

type Dims = Record<string, Scalar>;

function timeDims(at: number, minuteGrain: boolean): Dims {
  const minute = isoTime(at);
  const hour = isoTime(at - (at % HOUR_MS));
  return { date: isoDate(at), datetime: minuteGrain ? minute : hour, datetimeHour: hour, datetimeMinute: minuteGrain ? minute : hour };
}

function likeRegExp(pattern: string): RegExp {
  const body = pattern.replace(/[.*+?^${}()|[\]\\]/g, "\\$&").replaceAll("%", ".*").replaceAll("_", ".");
  return new RegExp(`^${body}$`, "s");
}

function compare(a: Scalar, b: Scalar): number {
  if (typeof a === "number" && typeof b === "number") return a - b;
  const x = String(a);
  const y = String(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

function holds(c: Condition, dims: Dims): boolean {
  const v = dims[c.field];
  if (v === undefined) return false;
  switch (c.op) {
    case "eq":
      return compare(v, c.value as Scalar) === 0;
    case "neq":
      return compare(v, c.value as Scalar) !== 0;
    case "gt":
      return compare(v, c.value as Scalar) > 0;
    case "geq":
      return compare(v, c.value as Scalar) >= 0;
    case "lt":
      return compare(v, c.value as Scalar) < 0;
    case "leq":
      return compare(v, c.value as Scalar) <= 0;
    case "in":
      return (c.value as Scalar[]).some((x) => compare(v, x) === 0);
    case "notin":
      return !(c.value as Scalar[]).some((x) => compare(v, x) === 0);
    case "like":
      return likeRegExp(String(c.value)).test(String(v));
    case "notlike":
      return !likeRegExp(String(c.value)).test(String(v));
  }
}

export function matches(f: Filter, dims: Dims): boolean {
  return f.conditions.every((c) => holds(c, dims)) && f.and.every((g) => matches(g, dims)) && (f.or.length === 0 || f.or.some((g) => matches(g, dims)));
}

const timeMs = (field: string, value: Scalar): number => Date.parse(field === "date" ? `${value}T00:00:00Z` : String(value));

/**
 * The time window a filter asks for, from its conjunctive part (conditions and `AND`; an `OR` adds no
 * bound): the earliest instant it can match, and the instant before which everything it matches lies.
 */
export function timeWindow(f: Filter): { from: number | null; to: number | null } {
  let from: number | null = null;
  let to: number | null = null;
  const lower = (ms: number) => (from = from === null ? ms : Math.max(from, ms));
  const upper = (ms: number) => (to = to === null ? ms : Math.min(to, ms));
  const walk = (g: Filter) => {
    for (const c of g.conditions) {
      if (!(TIME_FIELDS as readonly string[]).includes(c.field)) continue;
      const grain = c.field === "date" ? DAY_MS : c.field === "datetimeHour" ? HOUR_MS : c.field === "datetimeMinute" ? 60_000 : 1;
      const values = (Array.isArray(c.value) ? c.value : [c.value]).map((v) => timeMs(c.field, v as Scalar));
      if (values.some(Number.isNaN) || values.length === 0) continue;
      const v = values[0]!;
      if (c.op === "geq") lower(v);
      else if (c.op === "gt") lower(v + grain);
      else if (c.op === "leq") upper(v + grain);
      else if (c.op === "lt") upper(v);
      else if (c.op === "eq" || c.op === "in") {
        lower(Math.min(...values));
        upper(Math.max(...values) + grain);
      }
    }
    g.and.forEach(walk);
  };
  walk(f);
  return { from, to };
}

/**
 * The `[from, to)` window to read for a filter at `now`: refused (Cloudflare's 31-day rule) when the
 * filter reaches further back than the data kept; without a lower bound, everything kept.
 */
export function readWindow(f: Filter, now: number): { from: number; to: number } {
  const { from, to } = timeWindow(f);
  const oldest = now - ANALYTICS_RETENTION_MS;
  // A date bound names a whole day: the day that holds the oldest instant kept is still allowed.
  if (from !== null && from < oldest - DAY_MS) throw new KvError("invalid_argument", RETENTION_MESSAGE);
  return { from: Math.max(from ?? oldest, oldest - DAY_MS), to: to ?? now + HOUR_MS };
}

export interface OperationGroup {
  readonly dimensions: Dims;
  readonly count: number;
  readonly sum: { readonly requests: number; readonly objectBytes: number };
  readonly avg: { readonly sampleInterval: number };
  readonly max: { readonly latencyMs: number; readonly objectBytes: number };
  readonly min: { readonly latencyMs: number; readonly objectBytes: number };
  readonly quantiles: Record<keyof typeof QUANTILES, number>;
}

export interface StorageGroup {
  readonly dimensions: Dims;
  readonly max: { readonly keyCount: number; readonly byteCount: number };
}

export interface GroupQuery {
  readonly filter: Filter;
  /** Dimension names to group by (those selected under `dimensions`). */
  readonly dimensions: readonly string[];
  readonly limit: number;
  /** Enum names such as `date_DESC`, `sum_requests_ASC`, `quantiles_latencyMsP50_DESC`. */
  readonly orderBy: readonly string[];
}

export function checkLimit(limit: number): void {
  if (!Number.isInteger(limit) || limit <= 0 || limit > MAX_LIMIT) {
    throw new KvError("invalid_argument", `limit must be positive number and not greater than ${MAX_LIMIT}`);
  }
}

function operationDims(r: OperationRow): Dims {
  return { actionType: r.actionType, namespaceId: r.namespaceId, responseStatusCode: r.status, result: r.result, ...timeDims(r.minute, true) };
}

function storageDims(r: StorageRow): Dims {
  return { namespaceId: r.namespaceId, ...timeDims(r.hour, false) };
}

/** The value an orderBy name sorts on (`sum_requests` → group.sum.requests; `date` → dimensions.date). */
function sortValue(group: object & { dimensions: Dims }, path: string): Scalar {
  if (path in group.dimensions) return group.dimensions[path]!;
  let v: unknown = group;
  for (const part of path.split("_")) v = (v as Record<string, unknown> | undefined)?.[part];
  return typeof v === "number" || typeof v === "string" ? v : 0;
}

function order<G extends { dimensions: Dims }>(groups: G[], q: GroupQuery): G[] {
  const keys = [
    ...q.orderBy.map((o) => {
      const m = /^(.*)_(ASC|DESC)$/.exec(o);
      return { path: m ? m[1]! : o, dir: m?.[2] === "DESC" ? -1 : 1 };
    }),
    ...q.dimensions.map((d) => ({ path: d, dir: 1 })),
  ];
  return groups.sort((a, b) => {
    for (const k of keys) {
      const c = compare(sortValue(a, k.path), sortValue(b, k.path));
      if (c !== 0) return c * k.dir;
    }
    return 0;
  });
}

function groupBy<R, G extends { dimensions: Dims }>(rows: readonly R[], dimsOf: (r: R) => Dims, q: GroupQuery, fold: (dims: Dims, rows: R[]) => G): G[] {
  checkLimit(q.limit);
  const groups = new Map<string, { dims: Dims; rows: R[] }>();
  for (const r of rows) {
    const all = dimsOf(r);
    if (!matches(q.filter, all)) continue;
    const dims: Dims = {};
    for (const d of q.dimensions) dims[d] = all[d]!;
    const key = JSON.stringify(q.dimensions.map((d) => dims[d]));
    const g = groups.get(key);
    if (g) g.rows.push(r);
    else groups.set(key, { dims, rows: [r] });
  }
  return order(
    [...groups.values()].map((g) => fold(g.dims, g.rows)),
    q,
  ).slice(0, q.limit);
}

/** `kvOperationsAdaptiveGroups`: rows filtered, grouped, aggregated, ordered and cut to `limit`. */
export function groupOperations(rows: readonly OperationRow[], q: GroupQuery): OperationGroup[] {
  return groupBy(rows, operationDims, q, (dimensions, rs) => {
    const sketch = new LatencySketch();
    let count = 0;
    let requests = 0;
    let objectBytes = 0;
    let maxL = -Infinity;
    let minL = Infinity;
    let maxB = -Infinity;
    let minB = Infinity;
    for (const r of rs) {
      count += r.count;
      requests += r.requests;
      objectBytes += r.objectBytes;
      maxL = Math.max(maxL, r.maxLatencyMs);
      minL = Math.min(minL, r.minLatencyMs);
      maxB = Math.max(maxB, r.maxObjectBytes);
      minB = Math.min(minB, r.minObjectBytes);
      sketch.merge(r.sketch);
    }
    const quantiles = Object.fromEntries(Object.entries(QUANTILES).map(([name, q]) => [name, sketch.quantile(q)])) as OperationGroup["quantiles"];
    return {
      dimensions,
      count,
      sum: { requests, objectBytes },
      avg: { sampleInterval: 1 },
      max: { latencyMs: Math.round(maxL), objectBytes: maxB },
      min: { latencyMs: Math.round(minL), objectBytes: minB },
      quantiles,
    };
  });
}

/** `kvStorageAdaptiveGroups`: the largest figures in each group. */
export function groupStorage(rows: readonly StorageRow[], q: GroupQuery): StorageGroup[] {
  return groupBy(rows, storageDims, q, (dimensions, rs) => ({
    dimensions,
    max: { keyCount: Math.max(...rs.map((r) => r.keyCount)), byteCount: Math.max(...rs.map((r) => r.byteCount)) },
  }));
}
