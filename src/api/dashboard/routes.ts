/**
 * The dashboard's JSON API, for what the other APIs cannot carry: Deno tuple keys and structured values
 * (as tagged JSON, ./typed.ts), compare-and-set by versionstamp, delete by prefix with a dry run, and
 * export/import in `openkv export`'s NDJSON. Every route goes through the app's usual steps (token,
 * namespace, permission, rate limit, metrics); namespaces and tokens stay with the v4 and admin routes.
 *
 * - `GET  /_openkv/v1/dashboard/session` → who the token is: `{accountId, kind, name, permission,
 *   namespaces, canWrite, canManage, isAdmin}`.
 * - `POST …/ns/{ns}/list {prefix, startsWith?, cursor?, limit?}` → `{entries, cursor}`; the entries under
 *   the tuple `prefix` (whose next part, when `startsWith` is given, is a string starting with it).
 * - `POST …/ns/{ns}/children {prefix, startsWith?, cursor?}` → `{children: [part], cursor}`: the distinct
 *   next parts under `prefix`, one seek each (the tree).
 * - `POST …/ns/{ns}/count {prefix, startsWith?}` → `{count}` (an export's progress bar).
 * - `POST …/ns/{ns}/get {key}` → the entry with its value, or 404.
 * - `POST …/ns/{ns}/set {key, value, expiresAt?, metadata?, versionstamp?}`: `versionstamp` absent = no
 *   check, null = the key must not exist, "hex" = it must be unchanged (409 otherwise).
 * - `POST …/ns/{ns}/delete {keys}`, `POST …/ns/{ns}/delete-prefix {prefix, startsWith?, dryRun}` →
 *   `{count}` (dry run) or `{deleted}`.
 * - `POST …/ns/{ns}/export {prefix, startsWith?}` → NDJSON; `POST …/ns/{ns}/import` (NDJSON body) →
 *   `{imported, skipped}`.
 */
import { once } from "node:events";
import type { ServerResponse } from "node:http";
import { decodeKey, encodeKey, type KvKey } from "../../core/keys.ts";
import { DENO_LIMITS } from "../../core/limits.ts";
import type { Entry, Mutation, ReadRange } from "../../core/types.ts";
import { storedToText } from "../../core/values.ts";
import { versionstampFromHex, versionstampToHex } from "../../core/versionstamp.ts";
import { allows } from "../../auth/tokens.ts";
import { audit } from "../../http/audit.ts";
import { HttpError, parseJson, readBody, sendJson } from "../../http/http.ts";
import type { ErrorEncoder, Route, RouteContext } from "../../http/route.ts";
import { entryLine, ExportLineError, parseLine } from "../export-format.ts";
import { prefixRange } from "../workers/key-range.ts";
import { keyFromTyped, keyPartToTyped, storedToTyped, typedToStored } from "./typed.ts";

export const DASHBOARD_API = "/_openkv/v1/dashboard";

const dashboardErrors: ErrorEncoder = (res, status, message, headers) => sendJson(res, status, { error: { status, message } }, headers);

const MAX_PAGE = 1000;
const MAX_CHILDREN = 100;
/** Characters of a value shown in a listing; the whole value is one `get` away. */
const PREVIEW_CHARS = 120;
/** Keys per atomic delete or import write: the most mutations one atomic write may hold. */
const BATCH = DENO_LIMITS.maxMutations;

type Body = Record<string, unknown>;

async function body(ctx: RouteContext, limit = 1024 * 1024): Promise<Body> {
  const parsed = parseJson(await readBody(ctx.req, limit));
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new HttpError(400, "The body must be a JSON object");
  return parsed as Body;
}

/** The `[start, end)` range of `prefix` (and of `startsWith` as the start of its next, string, part). */
function rangeOf(b: Body): { prefix: KvKey; start: Uint8Array; end: Uint8Array } {
  const prefix = keyFromTyped(b.prefix ?? [], "prefix");
  const p = encodeKey(prefix);
  if (b.startsWith !== undefined && b.startsWith !== null && b.startsWith !== "") {
    if (typeof b.startsWith !== "string") throw new HttpError(400, "startsWith must be a string");
    const r = prefixRange(b.startsWith);
    return { prefix, start: Buffer.concat([p, r.start]), end: Buffer.concat([p, r.end]) };
  }
  return { prefix, start: Buffer.concat([p, Uint8Array.of(0x00)]), end: Buffer.concat([p, Uint8Array.of(0xff)]) };
}

/** Where a page starts: after the cursor's key, which must lie in the range. */
function resume(b: Body, start: Uint8Array, end: Uint8Array): Uint8Array {
  if (b.cursor === undefined || b.cursor === null) return start;
  const after = typeof b.cursor === "string" ? Buffer.from(b.cursor, "base64url") : Buffer.alloc(0);
  if (after.length === 0 || Buffer.compare(after, start) < 0 || Buffer.compare(after, end) >= 0) {
    throw new HttpError(400, "Invalid cursor: pass the cursor returned by the previous page of the same list");
  }
  return Buffer.concat([after, Uint8Array.of(0x00)]);
}

function limitOf(b: Body): number {
  const limit = b.limit ?? 100;
  if (typeof limit !== "number" || !Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) {
    throw new HttpError(400, `Invalid limit ${JSON.stringify(limit)}: use an integer from 1 to ${MAX_PAGE}`);
  }
  return limit;
}

function metadataOf(e: Entry): unknown {
  return e.metadata === null ? null : JSON.parse(e.metadata);
}

/** Values larger than this are listed by size only: decoding them for a preview would cost too much. */
const PREVIEW_MAX_BYTES = 64 * 1024;

function preview(e: Entry): string {
  if (e.data.byteLength > PREVIEW_MAX_BYTES) return `(${e.data.byteLength} bytes)`;
  if (e.encoding === "bytes") return Buffer.from(e.data.subarray(0, PREVIEW_CHARS / 2)).toString("hex");
  return storedToText(e).slice(0, PREVIEW_CHARS);
}

/** What a listing shows of an entry: its key as parts, the value's kind and a short text, never the whole value. */
function summary(e: Entry) {
  const value = e.data.byteLength <= PREVIEW_MAX_BYTES ? storedToTyped(e) : null;
  return {
    key: decodeKey(e.key).map(keyPartToTyped),
    type: value ? value.type : e.encoding === "bytes" ? "Uint8Array" : e.encoding,
    size: e.data.byteLength,
    preview: preview(e),
    versionstamp: versionstampToHex(e.versionstamp),
    expiresAt: e.expiresAt,
    metadata: metadataOf(e),
  };
}

async function list(ctx: RouteContext): Promise<void> {
  const b = await body(ctx);
  const { start, end } = rangeOf(b);
  const limit = limitOf(b);
  const [rows] = await ctx.deps.engine.read(ctx.namespace!.id, [{ start: resume(b, start, end), end, limit: limit + 1 }]);
  const page = rows!.slice(0, limit);
  const cursor = rows!.length > limit ? Buffer.from(page.at(-1)!.key).toString("base64url") : null;
  sendJson(ctx.res, 200, { entries: page.map(summary), cursor });
}

async function children(ctx: RouteContext): Promise<void> {
  const b = await body(ctx);
  const { prefix, start, end } = rangeOf(b);
  let from = resume(b, start, end);
  const found: ReturnType<typeof keyPartToTyped>[] = [];
  let last: Uint8Array | null = null;
  while (found.length < MAX_CHILDREN + 1) {
    const [rows] = await ctx.deps.engine.read(ctx.namespace!.id, [{ start: from, end, limit: 1, keysOnly: true }]);
    const row = rows![0];
    if (!row) break;
    const part = decodeKey(row.key)[prefix.length]!;
    const group = encodeKey([...prefix, part]);
    if (found.length < MAX_CHILDREN) last = group;
    found.push(keyPartToTyped(part));
    // Every key under this part starts with its encoding; no key part starts with 0xFF.
    from = Buffer.concat([group, Uint8Array.of(0xff)]);
  }
  const more = found.length > MAX_CHILDREN;
  // The cursor is past the last group shown (group ‖ 0xFF): the next page starts after every key in it.
  const cursor = more && last ? Buffer.concat([last, Uint8Array.of(0xff)]).toString("base64url") : null;
  sendJson(ctx.res, 200, { children: found.slice(0, MAX_CHILDREN), cursor });
}

async function count(ctx: RouteContext): Promise<void> {
  const { start, end } = rangeOf(await body(ctx));
  sendJson(ctx.res, 200, { count: await ctx.deps.engine.count(ctx.namespace!.id, start, end) });
}

async function get(ctx: RouteContext): Promise<void> {
  const b = await body(ctx);
  const key = keyFromTyped(b.key);
  const e = await ctx.deps.engine.get(ctx.namespace!.id, encodeKey(key));
  if (!e) throw new HttpError(404, "No entry with this key");
  sendJson(ctx.res, 200, { ...summary(e), value: storedToTyped(e), encoding: e.encoding });
}

function expiresAtOf(b: Body, now: number): number | null {
  const at = b.expiresAt ?? null;
  if (at === null) return null;
  if (typeof at !== "number" || !Number.isInteger(at) || at <= now) throw new HttpError(400, "expiresAt must be a future time in epoch milliseconds, or null");
  return at;
}

async function set(ctx: RouteContext): Promise<void> {
  const b = await body(ctx, ctx.deps.limits.maxBodyBytes);
  const key = encodeKey(keyFromTyped(b.key));
  const value = typedToStored(b.value);
  const metadata = b.metadata === undefined || b.metadata === null ? null : JSON.stringify(b.metadata);
  let checks: { key: Uint8Array; versionstamp: Uint8Array | null }[] = [];
  if (b.versionstamp === null) checks = [{ key, versionstamp: null }];
  else if (b.versionstamp !== undefined) {
    try {
      checks = [{ key, versionstamp: versionstampFromHex(String(b.versionstamp)) }];
    } catch {
      throw new HttpError(400, "versionstamp must be the 20 hex digits the entry was read with, or null for a new key");
    }
  }
  const mutation: Mutation = { type: "set", key, value, expiresAt: expiresAtOf(b, ctx.deps.clock.now()), metadata };
  const result = await ctx.deps.engine.atomic(ctx.namespace!.id, { checks, mutations: [mutation], enqueues: [] });
  if (!result.ok) {
    throw new HttpError(409, b.versionstamp === null ? "An entry with this key exists already" : "The entry changed since you opened it");
  }
  sendJson(ctx.res, 200, { ok: true, versionstamp: versionstampToHex(result.versionstamp) });
}

async function deleteKeys(ctx: RouteContext, keys: Uint8Array[]): Promise<void> {
  for (let i = 0; i < keys.length; i += BATCH) {
    const mutations = keys.slice(i, i + BATCH).map((key): Mutation => ({ type: "delete", key }));
    await ctx.deps.engine.atomic(ctx.namespace!.id, { checks: [], mutations, enqueues: [] });
  }
}

function auditDelete(ctx: RouteContext, requested: number, deleted: number): void {
  audit(ctx, { action: "kv.bulk_delete", namespace: { id: ctx.namespace!.id, title: ctx.namespace!.title }, keys: { requested, deleted } });
}

async function remove(ctx: RouteContext): Promise<void> {
  const b = await body(ctx, 16 * 1024 * 1024);
  if (!Array.isArray(b.keys) || b.keys.length === 0) throw new HttpError(400, "keys must be a non-empty array of keys");
  const keys = b.keys.map((k, i) => encodeKey(keyFromTyped(k, `keys[${i}]`)));
  await deleteKeys(ctx, keys);
  auditDelete(ctx, keys.length, keys.length);
  sendJson(ctx.res, 200, { deleted: keys.length });
}

/** Every key in `[start, end)`, a page at a time, without reading values. */
async function* keysIn(ctx: RouteContext, start: Uint8Array, end: Uint8Array, keysOnly: boolean): AsyncGenerator<Entry[]> {
  let from = start;
  for (;;) {
    const range: ReadRange = { start: from, end, limit: BATCH, keysOnly };
    const [rows] = await ctx.deps.engine.read(ctx.namespace!.id, [range]);
    if (rows!.length === 0) return;
    yield rows!;
    if (rows!.length < BATCH) return;
    from = Buffer.concat([rows!.at(-1)!.key, Uint8Array.of(0x00)]);
  }
}

async function deletePrefix(ctx: RouteContext): Promise<void> {
  const b = await body(ctx);
  if (typeof b.dryRun !== "boolean") throw new HttpError(400, "dryRun must be true (count only) or false (delete)");
  const { start, end } = rangeOf(b);
  if (b.dryRun) {
    sendJson(ctx.res, 200, { count: await ctx.deps.engine.count(ctx.namespace!.id, start, end) });
    return;
  }
  let deleted = 0;
  for await (const rows of keysIn(ctx, start, end, true)) {
    await deleteKeys(ctx, rows.map((r) => r.key));
    deleted += rows.length;
  }
  auditDelete(ctx, deleted, deleted);
  sendJson(ctx.res, 200, { deleted });
}

async function exportEntries(ctx: RouteContext): Promise<void> {
  const b = await body(ctx);
  const { start, end } = rangeOf(b);
  // Both HTTP versions' responses stream the same way; ServerResponse's signatures stand for both.
  const res = ctx.res as ServerResponse;
  res.writeHead(200, { "content-type": "application/x-ndjson; charset=utf-8" });
  for await (const rows of keysIn(ctx, start, end, false)) {
    const chunk = rows.map((e) => entryLine(e) + "\n").join("");
    if (!res.write(chunk)) {
      // Wait for the client to take it; a client that went away ends the export.
      const stop = new AbortController();
      const [event] = await Promise.race([once(res, "drain", stop), once(res, "close", stop).then(() => ["close"])]).finally(() => stop.abort());
      if (event === "close") return;
    }
  }
  res.end();
}

async function importEntries(ctx: RouteContext): Promise<void> {
  const text = (await readBody(ctx.req, ctx.deps.limits.maxBodyBytes)).toString("utf8");
  const lines = text.split("\n");
  const mutations: Mutation[] = [];
  let skipped = 0;
  for (const [i, line] of lines.entries()) {
    if (line.trim() === "") continue;
    let record;
    try {
      record = parseLine(line, `line ${i + 1}`);
    } catch (e) {
      if (e instanceof ExportLineError) throw new HttpError(400, e.message);
      throw e;
    }
    // A whole-store export names its namespaces; here everything goes into the namespace opened.
    if (record.kind === "namespace") {
      skipped++;
      continue;
    }
    mutations.push({ type: "set", key: record.key, value: { encoding: record.encoding, data: record.data }, expiresAt: record.expiresAt, metadata: record.metadata });
  }
  // All lines are checked before the first write: a bad line imports nothing from this request.
  for (let i = 0; i < mutations.length; i += BATCH) {
    await ctx.deps.engine.atomic(ctx.namespace!.id, { checks: [], mutations: mutations.slice(i, i + BATCH), enqueues: [] });
  }
  sendJson(ctx.res, 200, { imported: mutations.length, skipped });
}

function session(ctx: RouteContext): void {
  const p = ctx.principal;
  const admin = p.kind === "admin";
  sendJson(ctx.res, 200, {
    accountId: ctx.deps.accountId,
    kind: p.kind,
    name: admin ? "admin" : p.name,
    permission: admin ? "write" : p.permission,
    namespaces: admin ? null : p.namespaces,
    isAdmin: admin,
    canWrite: admin || p.permission === "write",
    canManage: allows(p, "write"),
  });
}

export function dashboardRoutes(): Route[] {
  const base = { api: "dashboard", errors: dashboardErrors } as const;
  const ns = { param: "namespace" };
  const at = (verb: string) => `${DASHBOARD_API}/ns/:namespace/${verb}`;
  return [
    { ...base, method: "GET", path: `${DASHBOARD_API}/session`, access: "authenticated", handle: session },
    { ...base, method: "POST", path: at("list"), access: "read", namespace: ns, kind: "list", handle: list },
    { ...base, method: "POST", path: at("children"), access: "read", namespace: ns, kind: "list", handle: children },
    { ...base, method: "POST", path: at("count"), access: "read", namespace: ns, kind: "list", handle: count },
    { ...base, method: "POST", path: at("get"), access: "read", namespace: ns, kind: "read", handle: get },
    { ...base, method: "POST", path: at("export"), access: "read", namespace: ns, kind: "list", handle: exportEntries },
    { ...base, method: "POST", path: at("set"), access: "write", namespace: ns, kind: "write", handle: set },
    { ...base, method: "POST", path: at("delete"), access: "write", namespace: ns, kind: "delete", handle: remove },
    { ...base, method: "POST", path: at("delete-prefix"), access: "write", namespace: ns, kind: "delete", handle: deletePrefix },
    { ...base, method: "POST", path: at("import"), access: "write", namespace: ns, kind: "write", handle: importEntries },
  ];
}
