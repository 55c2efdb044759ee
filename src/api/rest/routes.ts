/**
 * The KV REST API (`GET/PUT/DELETE /kv/{keypath}` on the `default` namespace and
 * `/ns/{namespace}/kv/{keypath}` on any): decode → engine → encode.
 *
 * - `GET` → `{ key, value, versionstamp, expiresAt }` with `ETag: "<versionstamp>"`; 404 when missing.
 * - `GET ?list=true[&limit=&cursor=&reverse=]` → `{ entries: [...], cursor }` under the key as a prefix.
 * - `PUT {"value": <JSON>, "ttl": <ms>}` → `{ ok, versionstamp }`; `If-Match: "<vs>"` / `If-None-Match: *`
 *   make it a compare-and-swap (412 on conflict). `DELETE` takes `If-Match` too.
 * - Errors: `{ "error": { "status", "message" } }`.
 */
import { decodeKey, encodeKey } from "../../core/keys.ts";
import type { Check, Entry } from "../../core/types.ts";
import { jsonToStored, storedToJsonText } from "../../core/values.ts";
import { versionstampFromHex, versionstampToHex } from "../../core/versionstamp.ts";
import { BOOKMARK_HEADER } from "../../http/bookmark.ts";
import { HttpError, parseJson, readBody, sendAtTurnEnd, sendJson, sendJsonText } from "../../http/http.ts";
import { sendCached } from "../../http/response-cache.ts";
import type { ErrorEncoder, Route, RouteContext } from "../../http/route.ts";
import { keyToJson, keyToPath, parseKeyPath } from "./keypath.ts";

export const restErrors: ErrorEncoder = (res, status, message, headers) => sendJson(res, status, { error: { status, message } }, headers);

const MAX_LIST = 1000;

/** An entry as JSON text; the value's JSON is spliced in as is, never parsed and re-serialised. */
function entryJson(e: Entry): string {
  const key = decodeKey(e.key);
  return (
    `{"key":${JSON.stringify(keyToJson(key))},"path":${JSON.stringify(keyToPath(key))},"value":${storedToJsonText(e)},` +
    `"versionstamp":"${versionstampToHex(e.versionstamp)}","expiresAt":${e.expiresAt ?? "null"}}`
  );
}

/** `If-Match: "<versionstamp>"` or `If-None-Match: *` as an atomic check on `key`. */
function preconditions(ctx: RouteContext, key: Uint8Array): Check[] {
  const ifMatch = ctx.req.headers["if-match"];
  const ifNoneMatch = ctx.req.headers["if-none-match"];
  if (typeof ifNoneMatch === "string") {
    if (ifNoneMatch.trim() !== "*") throw new HttpError(400, 'If-None-Match supports only "*" (the key must not exist)');
    return [{ key, versionstamp: null }];
  }
  if (typeof ifMatch === "string") {
    const tag = ifMatch.trim().replace(/^W\//, "").replace(/^"|"$/g, "");
    let vs: Uint8Array;
    try {
      vs = versionstampFromHex(tag);
    } catch {
      throw new HttpError(400, `If-Match must be an ETag returned by GET (a quoted 20-hex-digit versionstamp), got ${ifMatch}`);
    }
    return [{ key, versionstamp: vs }];
  }
  return [];
}

function keyOf(ctx: RouteContext, allowEmpty = false): string[] {
  return parseKeyPath(ctx.params["*"] ?? "", allowEmpty);
}

async function getOrList(ctx: RouteContext): Promise<void> {
  const engine = ctx.deps.engine;
  const ns = ctx.namespace!;
  if (ctx.query.get("list") === "true") {
    const prefix = encodeKey(keyOf(ctx, true));
    const limitText = ctx.query.get("limit") ?? "100";
    const limit = Number(limitText);
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST) {
      throw new HttpError(400, `Invalid limit "${limitText}": use an integer from 1 to ${MAX_LIST}`);
    }
    const reverse = ctx.query.get("reverse") === "true";
    let start = Uint8Array.from([...prefix, 0x00]);
    let end = Uint8Array.from([...prefix, 0xff]);
    const cursor = ctx.query.get("cursor");
    if (cursor) {
      const after = Buffer.from(cursor, "base64url");
      if (after.length === 0 || Buffer.compare(after, start) < 0 || Buffer.compare(after, end) >= 0) {
        throw new HttpError(400, "Invalid cursor: pass the cursor returned by the previous page of the same list");
      }
      if (reverse) end = after;
      else start = Uint8Array.from([...after, 0x00]);
    }
    const [rows] = await engine.read(ns.id, [{ start, end, limit: limit + 1, reverse }]);
    const page = rows!.slice(0, limit);
    const next = rows!.length > limit ? Buffer.from(page.at(-1)!.key).toString("base64url") : null;
    sendJsonText(ctx.res, 200, `{"entries":[${page.map(entryJson).join(",")}],"cursor":${JSON.stringify(next)}}`);
    return;
  }
  // The path as sent names the key: two spellings of one key are two slots with the same answer.
  // A /kv read is strong: an edge's cache keeps none.
  const cache = ctx.deps.responses?.keeps() ? ctx.deps.responses : undefined;
  const slot = `rest\0${ns.id}\0${ctx.params["*"]}`;
  const hit = await cache?.lookup(slot);
  if (hit) return sendCached(ctx, cache!, hit);
  const version = cache?.version() ?? 0;
  const entry = await engine.get(ns.id, encodeKey(keyOf(ctx)));
  if (!entry) throw new HttpError(404, `Key not found: ${ctx.params["*"]}`);
  const body = entryJson(entry);
  const headers = { "content-type": "application/json", "content-length": Buffer.byteLength(body), etag: `"${versionstampToHex(entry.versionstamp)}"` };
  cache?.set(slot, version, { headers, body, expiresAt: entry.expiresAt });
  await sendAtTurnEnd(ctx.res, 200, headers, body);
}

async function put(ctx: RouteContext): Promise<void> {
  const key = encodeKey(keyOf(ctx));
  const body = parseJson(await readBody(ctx.req, ctx.deps.limits.maxBodyBytes));
  if (typeof body !== "object" || body === null || Array.isArray(body) || !("value" in body)) {
    throw new HttpError(400, 'The body must be a JSON object like {"value": <any JSON>, "ttl": <milliseconds>}');
  }
  const { value, ttl } = body as { value: unknown; ttl?: unknown };
  if (ttl !== undefined && ttl !== null && (typeof ttl !== "number" || !Number.isInteger(ttl) || ttl <= 0)) {
    throw new HttpError(400, `Invalid ttl ${JSON.stringify(ttl)}: use a positive integer number of milliseconds`);
  }
  const result = await ctx.deps.engine.atomic(ctx.namespace!.id, {
    checks: preconditions(ctx, key),
    mutations: [
      {
        type: "set",
        key,
        value: jsonToStored(value),
        expiresAt: typeof ttl === "number" ? ctx.deps.clock.now() + ttl : null,
      },
    ],
    enqueues: [],
  });
  if (!result.ok) throw new HttpError(412, "Precondition failed: the key changed since the ETag you sent (or exists, for If-None-Match: *)");
  const vs = versionstampToHex(result.versionstamp);
  sendJson(ctx.res, 200, { ok: true, versionstamp: vs }, { etag: `"${vs}"`, [BOOKMARK_HEADER]: vs });
}

async function remove(ctx: RouteContext): Promise<void> {
  const key = encodeKey(keyOf(ctx));
  const result = await ctx.deps.engine.atomic(ctx.namespace!.id, { checks: preconditions(ctx, key), mutations: [{ type: "delete", key }], enqueues: [] });
  if (!result.ok) throw new HttpError(412, "Precondition failed: the key changed since the ETag you sent");
  sendJson(ctx.res, 200, { ok: true }, { [BOOKMARK_HEADER]: versionstampToHex(result.versionstamp) });
}

export function restRoutes(): Route[] {
  const base = { api: "rest", errors: restErrors } as const;
  const mounts = [
    { prefix: "/kv", namespace: "default" as const },
    { prefix: "/ns/:namespace/kv", namespace: { param: "namespace" } },
  ];
  const readKind = (ctx: RouteContext) => (ctx.query.get("list") === "true" ? "list" : "read");
  return mounts.flatMap(({ prefix, namespace }): Route[] => [
    { ...base, method: "GET", path: `${prefix}/*`, access: "read", namespace, kind: readKind, handle: getOrList },
    { ...base, method: "GET", path: prefix, access: "read", namespace, kind: readKind, handle: getOrList },
    { ...base, method: "PUT", path: `${prefix}/*`, access: "write", namespace, kind: "write", handle: put },
    { ...base, method: "DELETE", path: `${prefix}/*`, access: "write", namespace, kind: "delete", handle: remove },
  ]);
}

