/** How the SQL stores (SQLite, PostgreSQL) write and read analytics rows: one column list, one row shape. */
import { LatencySketch } from "../core/analytics/sketch.ts";
import type { ActionType, OperationResult, OperationRow, StorageRow } from "../core/analytics/types.ts";

export const OPERATION_COLUMNS = "minute, ns, action, result, status, requests, count, bytes, min_latency, max_latency, min_bytes, max_bytes, sketch";

/** The values of one row, in OPERATION_COLUMNS order. */
export function operationValues(r: OperationRow): (string | number)[] {
  return [r.minute, r.namespaceId, r.actionType, r.result, r.status, r.requests, r.count, r.objectBytes, r.minLatencyMs, r.maxLatencyMs, r.minObjectBytes, r.maxObjectBytes, r.sketch.encode()];
}

export function operationRow(r: Record<string, unknown>): OperationRow {
  return {
    minute: Number(r.minute),
    namespaceId: r.ns as string,
    actionType: r.action as ActionType,
    result: r.result as OperationResult,
    status: Number(r.status),
    requests: Number(r.requests),
    count: Number(r.count),
    objectBytes: Number(r.bytes),
    minLatencyMs: Number(r.min_latency),
    maxLatencyMs: Number(r.max_latency),
    minObjectBytes: Number(r.min_bytes),
    maxObjectBytes: Number(r.max_bytes),
    sketch: LatencySketch.decode(r.sketch as string),
  };
}

export function storageRow(r: Record<string, unknown>): StorageRow {
  return { hour: Number(r.hour), namespaceId: r.ns as string, keyCount: Number(r.keys), byteCount: Number(r.bytes) };
}
