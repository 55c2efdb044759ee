/**
 * Key-value endpoints of the Cloudflare REST API v4. Writes and bulk reads go through the Workers
 * binding (the binding is a client of this very API in production, so its validation and messages are
 * the API's); single reads and listings read the engine directly to expose `expiration`.
 */
import type { Engine } from "../../core/engine.ts";
import { storedToBytes } from "../../core/values.ts";
import { eventualRead, WorkersKvNamespace } from "../workers/kv-namespace.ts";
import { workersKey } from "../workers/key-range.ts";
import { listKeys } from "../workers/list-keys.ts";
import { checkKeyLength, checkKeyName, encodeCursor, listOptions } from "../workers/validation.ts";
import { audit } from "../../http/audit.ts";
import { HttpError, parseJson, readBody, sendAtTurnEnd } from "../../http/http.ts";
import type { Route, RouteContext } from "../../http/route.ts";
import { setBookmark } from "../../http/bookmark.ts";
import { sendCached } from "../../http/response-cache.ts";
import { CF_CODES, CfError, cfErrors, fromBindingError, ok, validated } from "./envelope.ts";
import { checkAccount, NAMESPACES } from "./namespaces.ts";
import { parseMultipartValue } from "./multipart.ts";

const NS = `${NAMESPACES}/:namespace_id`;

function binding(ctx: RouteContext): WorkersKvNamespace {
  return new WorkersKvNamespace(ctx.deps.engine, ctx.namespace!.id);
}

async function viaBinding<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw fromBindingError(e);
  }
}

function keyParam(ctx: RouteContext, op: "GET" | "PUT" | "DELETE"): string {
  const name = ctx.params.key_name ?? "";
  validated(() => {
    checkKeyName(name);
    checkKeyLength(op, name);
  });
  return name;
}

function intQuery(ctx: RouteContext, name: string): number | undefined {
  const raw = ctx.query.get(name);
  if (raw === null || raw === "") return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n)) throw new CfError(400, CF_CODES.badRequest, `Invalid ${name} of ${raw}. Please specify an integer.`);
  return Math.trunc(n);
}

/** A text body is stored as text (Deno reads a string); anything else, or invalid UTF-8, as bytes. */
function textOrBytes(bytes: Uint8Array, contentType: string | undefined): string | Uint8Array {
  if (contentType && /^text\//i.test(contentType)) {
    try {
      return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    } catch {
      return bytes;
    }
  }
  return bytes;
}

/** How a Workers KV read reads: eventual, within the default cacheTtl. */
const WORKERS_READ = eventualRead();

async function getEntry(engine: Engine, namespaceId: string, name: string) {
  // Eventual, as Workers KV reads are: an edge may answer from its cache, at most 60 s old.
  const entry = await engine.get(namespaceId, workersKey(name), WORKERS_READ);
  if (!entry) throw new CfError(404, CF_CODES.keyNotFound, "key not found");
  return entry;
}

/** JSON text with every non-ASCII character escaped (`\u00e9`): still the same JSON, and a valid header. */
function asciiJson(json: string): string {
  return json.replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

async function readValue(ctx: RouteContext): Promise<void> {
  checkAccount(ctx);
  const name = keyParam(ctx, "GET");
  const cache = ctx.deps.responses?.keeps(WORKERS_READ) ? ctx.deps.responses : undefined;
  const slot = `v4\0${ctx.namespace!.id}\0${name}`;
  const hit = await cache?.lookup(slot);
  if (hit) return sendCached(ctx, cache!, hit);
  const version = cache?.version() ?? 0;
  const entry = await getEntry(ctx.deps.engine, ctx.namespace!.id, name);
  const bytes = storedToBytes(entry);
  const headers: Record<string, string | number> = { "content-type": "application/octet-stream", "content-length": bytes.byteLength };
  if (entry.expiresAt !== null) headers.expiration = Math.floor(entry.expiresAt / 1000);
  // The metadata too, as Miniflare's KV service sends it, so a client gets both from one read.
  if (entry.metadata !== null) headers["cf-kv-metadata"] = asciiJson(entry.metadata);
  // A copy: the entry's bytes may be a view of a larger buffer that the slot must not keep alive.
  cache?.set(slot, version, { headers, body: Buffer.from(bytes), expiresAt: entry.expiresAt });
  await sendAtTurnEnd(ctx.res, 200, headers, bytes);
}

async function writeValue(ctx: RouteContext): Promise<void> {
  checkAccount(ctx);
  const name = keyParam(ctx, "PUT");
  const body = await readBody(ctx.req, ctx.deps.limits.maxBodyBytes);
  const contentType = ctx.req.headers["content-type"];
  let value: string | Uint8Array;
  let metadata: unknown;
  if (contentType && /^multipart\/form-data/i.test(contentType)) {
    ({ value, metadata } = await parseMultipartValue(body, contentType));
  } else {
    value = textOrBytes(body, contentType);
  }
  const expiration = intQuery(ctx, "expiration");
  const expirationTtl = intQuery(ctx, "expiration_ttl");
  await viaBinding(() =>
    binding(ctx).put(name, value, {
      ...(expiration !== undefined ? { expiration } : {}),
      ...(expirationTtl !== undefined ? { expirationTtl } : {}),
      ...(metadata !== undefined ? { metadata } : {}),
    }),
  );
  setBookmark(ctx);
  ok(ctx.res, {});
}

async function deleteValue(ctx: RouteContext): Promise<void> {
  checkAccount(ctx);
  const name = keyParam(ctx, "DELETE");
  await viaBinding(() => binding(ctx).delete(name));
  setBookmark(ctx);
  ok(ctx.res, {});
}

async function readMetadata(ctx: RouteContext): Promise<void> {
  checkAccount(ctx);
  const entry = await getEntry(ctx.deps.engine, ctx.namespace!.id, keyParam(ctx, "GET"));
  ok(ctx.res, entry.metadata === null ? null : JSON.parse(entry.metadata));
}

async function listKeysRoute(ctx: RouteContext): Promise<void> {
  checkAccount(ctx);
  const rawLimit = ctx.query.get("limit");
  const limit = rawLimit === null || rawLimit === "" ? 1000 : Number(rawLimit);
  if (!Number.isInteger(limit) || limit < 10) {
    throw new CfError(400, CF_CODES.badRequest, `Invalid key_count_limit of ${rawLimit}. Please specify an integer greater than 10.`);
  }
  const prefix = ctx.query.get("prefix") ?? "";
  const cursor = ctx.query.get("cursor") || undefined;
  const opts = validated(() => listOptions({ prefix, limit, ...(cursor ? { cursor } : {}) }));
  const page = await listKeys(ctx.deps.engine, ctx.namespace!.id, opts.prefix, opts.cursor, opts.limit);
  const keys = page.entries.map(({ name, entry }) => ({
    name,
    ...(entry.expiresAt !== null ? { expiration: Math.floor(entry.expiresAt / 1000) } : {}),
    ...(entry.metadata !== null ? { metadata: JSON.parse(entry.metadata) } : {}),
  }));
  ok(ctx.res, keys, { count: keys.length, cursor: page.more ? encodeCursor(keys.at(-1)!.name) : "" });
}

interface BulkItem {
  key?: unknown;
  value?: unknown;
  base64?: unknown;
  expiration?: unknown;
  expiration_ttl?: unknown;
  metadata?: unknown;
}

const MAX_BULK = 10_000;

async function bulkWrite(ctx: RouteContext): Promise<void> {
  checkAccount(ctx);
  const items = parseJson(await readBody(ctx.req, ctx.deps.limits.maxBodyBytes));
  if (!Array.isArray(items)) throw new CfError(400, CF_CODES.badRequest, "The body must be a JSON array of {key, value, ...} objects");
  if (items.length > MAX_BULK) throw new CfError(400, CF_CODES.badRequest, `A bulk write takes at most ${MAX_BULK} pairs, got ${items.length}`);
  const kv = binding(ctx);
  // Each pair is one write, as Cloudflare counts a bulk PUT.
  ctx.op.requests = items.length;
  const unsuccessful: string[] = [];
  // Every pair is its own write; they are issued together, so the engine commits them as one group.
  const results = await Promise.allSettled(
    (items as BulkItem[]).map(async (item) => {
      if (item === null || typeof item !== "object" || typeof item.key !== "string" || typeof item.value !== "string") {
        throw new HttpError(400, "each pair needs a string key and a string value");
      }
      const value = item.base64 === true ? new Uint8Array(Buffer.from(item.value, "base64")) : item.value;
      const num = (v: unknown) => (v === undefined || v === null ? undefined : Number(v));
      const expiration = num(item.expiration);
      const expirationTtl = num(item.expiration_ttl);
      await kv.put(item.key, value, {
        ...(expiration !== undefined ? { expiration } : {}),
        ...(expirationTtl !== undefined ? { expirationTtl } : {}),
        ...(item.metadata !== undefined ? { metadata: item.metadata } : {}),
      });
    }),
  );
  results.forEach((r, i) => {
    if (r.status === "rejected") {
      const key = (items[i] as BulkItem | null)?.key;
      unsuccessful.push(typeof key === "string" ? key : String(i));
    }
  });
  setBookmark(ctx);
  ok(ctx.res, { successful_key_count: items.length - unsuccessful.length, unsuccessful_keys: unsuccessful });
}

async function bulkDelete(ctx: RouteContext): Promise<void> {
  checkAccount(ctx);
  const items = parseJson(await readBody(ctx.req, ctx.deps.limits.maxBodyBytes));
  if (!Array.isArray(items)) throw new CfError(400, CF_CODES.badRequest, "The body must be a JSON array of key names");
  if (items.length > MAX_BULK) throw new CfError(400, CF_CODES.badRequest, `A bulk delete takes at most ${MAX_BULK} keys, got ${items.length}`);
  const kv = binding(ctx);
  const names = items.map((i: unknown) => (typeof i === "object" && i !== null && "name" in i ? (i as { name: unknown }).name : i));
  ctx.op.requests = names.length;
  const results = await Promise.allSettled(
    names.map(async (name) => {
      if (typeof name !== "string") throw new HttpError(400, "key names must be strings");
      await kv.delete(name);
    }),
  );
  // A primitive name is reported as its text; an object or array by its position, since String() of a
  // client's object can throw ({"toString": 1}) or recurse (deep arrays).
  const shown = (name: unknown, i: number) => (typeof name === "object" && name !== null ? String(i) : String(name));
  const unsuccessful = names.flatMap((name, i) => (results[i]!.status === "rejected" ? [shown(name, i)] : []));
  // Counts only: key names can carry data as well as values do.
  audit(ctx, {
    action: "kv.bulk_delete",
    namespace: { id: ctx.namespace!.id, title: ctx.namespace!.title },
    keys: { requested: names.length, deleted: names.length - unsuccessful.length },
  });
  setBookmark(ctx);
  ok(ctx.res, { successful_key_count: names.length - unsuccessful.length, unsuccessful_keys: unsuccessful });
}

async function bulkGet(ctx: RouteContext): Promise<void> {
  checkAccount(ctx);
  const body = parseJson(await readBody(ctx.req, 1024 * 1024)) as { keys?: unknown; type?: unknown; withMetadata?: unknown } | null;
  if (!body || typeof body !== "object" || !Array.isArray(body.keys) || !body.keys.every((k) => typeof k === "string")) {
    throw new CfError(400, CF_CODES.badRequest, 'The body must be {"keys": ["k1", ...], "type"?: "text"|"json", "withMetadata"?: boolean}');
  }
  const keys = body.keys as string[];
  ctx.op.requests = keys.length;
  if (body.type !== undefined && typeof body.type !== "string") {
    throw new CfError(400, CF_CODES.badRequest, 'The body\'s "type" must be "text" or "json"');
  }
  const type = body.type === undefined ? "text" : body.type;
  const kv = binding(ctx);
  if (body.withMetadata === true) {
    const map = (await viaBinding(() => kv.getWithMetadata(keys, type as "text"))) as unknown as Map<string, { value: unknown; metadata: unknown } | null>;
    const expirations = await Promise.all([...map.keys()].map((k) => ctx.deps.engine.get(ctx.namespace!.id, workersKey(k))));
    const values: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
    [...map.entries()].forEach(([k, v], i) => {
      const exp = expirations[i]?.expiresAt;
      values[k] = v === null ? null : { value: v.value, metadata: v.metadata, ...(exp ? { expiration: Math.floor(exp / 1000) } : {}) };
    });
    return ok(ctx.res, { values });
  }
  const map = (await viaBinding(() => kv.get(keys, type as "text"))) as unknown as Map<string, unknown>;
  ok(ctx.res, { values: Object.fromEntries(map) });
}

export function valueRoutes(): Route[] {
  const base = { api: "cloudflare", errors: cfErrors, namespace: { param: "namespace_id" } } as const;
  return [
    { ...base, method: "GET", path: `${NS}/values/:key_name`, access: "read", kind: "read", handle: readValue },
    { ...base, method: "PUT", path: `${NS}/values/:key_name`, access: "write", kind: "write", handle: writeValue },
    { ...base, method: "DELETE", path: `${NS}/values/:key_name`, access: "write", kind: "delete", handle: deleteValue },
    { ...base, method: "GET", path: `${NS}/metadata/:key_name`, access: "read", kind: "read", handle: readMetadata },
    { ...base, method: "GET", path: `${NS}/keys`, access: "read", kind: "list", handle: listKeysRoute },
    { ...base, method: "PUT", path: `${NS}/bulk`, access: "write", kind: "write", handle: bulkWrite },
    { ...base, method: "POST", path: `${NS}/bulk/delete`, access: "write", kind: "delete", handle: bulkDelete },
    { ...base, method: "DELETE", path: `${NS}/bulk`, access: "write", kind: "delete", handle: bulkDelete },
    { ...base, method: "POST", path: `${NS}/bulk/get`, access: "read", kind: "read", handle: bulkGet },
  ];
}

