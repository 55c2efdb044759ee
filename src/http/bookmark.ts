/**
 * Bookmarks: a client that presents the versionstamp it got back never reads anything older than it, on
 * any node. Writes answer `OpenKV-Bookmark: <versionstamp>` (REST v4, `/kv`; `/kv` also in its body and
 * ETag, KV Connect in `versionstamp`); a request that sends `OpenKV-Bookmark` back is served only once
 * this node reflects every write up to it — at once on a core (it is the store); on an edge, once its
 * cache has applied the change feed that far (src/client/cached-backend.ts, `catchUp`).
 *
 * @example
 * curl -X PUT -H "Authorization: Bearer $T" -d '{"value":1}' http://edge-a:8788/kv/default/k -D - | grep -i bookmark
 * curl -H "Authorization: Bearer $T" -H "OpenKV-Bookmark: 0000000000000000012a" http://edge-b:8788/kv/default/k
 */
import { versionstampFromHex, versionstampToHex } from "../core/versionstamp.ts";
import { HttpError } from "./http.ts";
import type { Request } from "./listener.ts";
import type { RouteContext } from "./route.ts";

export const BOOKMARK_HEADER = "openkv-bookmark";
const HEX20 = /^[0-9a-f]{20}$/i;

/** The bookmark a request presents, or null; a malformed one is a 400 that says what to send. */
export function requestBookmark(req: Request): Uint8Array | null {
  const raw = req.headers[BOOKMARK_HEADER];
  if (raw === undefined) return null;
  const text = (Array.isArray(raw) ? raw.join(",") : raw).trim().replace(/^"(.*)"$/, "$1");
  if (!HEX20.test(text)) {
    throw new HttpError(400, `OpenKV-Bookmark must be a versionstamp of 20 hex digits, as a write returned it, got ${JSON.stringify(text.slice(0, 40))}`);
  }
  return versionstampFromHex(text);
}

/** Before a write's response is sent: the bookmark that covers it (the latest write this node acknowledged). */
export function setBookmark(ctx: RouteContext): void {
  ctx.res.setHeader(BOOKMARK_HEADER, versionstampToHex(ctx.deps.engine.lastCommitted));
}
