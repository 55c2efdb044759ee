/**
 * Dotted key paths for the REST API: `users.john.settings` is the Deno key ["users","john","settings"].
 * Each segment is percent-decoded after splitting, so `%2E` puts a literal dot inside a part.
 */
import { KvError } from "../../core/errors.ts";
import type { KvKeyPart } from "../../core/keys.ts";

export function parseKeyPath(raw: string, allowEmpty = false): string[] {
  if (raw === "") {
    if (allowEmpty) return [];
    throw new KvError("invalid_key", "The key path is empty: use /kv/{keypath}, e.g. /kv/users.john.settings");
  }
  return raw.split(".").map((segment) => {
    let part: string;
    try {
      part = decodeURIComponent(segment);
    } catch {
      throw new KvError("invalid_key", `Invalid percent-encoding in key path segment "${segment}"`);
    }
    if (part === "") throw new KvError("invalid_key", `Invalid key path "${raw}": empty segment between dots`);
    return part;
  });
}

/** A key as JSON: strings and numbers as they are; other parts tagged so nothing is lost. */
export function keyToJson(key: readonly KvKeyPart[]): unknown[] {
  return key.map((p) => {
    if (typeof p === "bigint") return { bigint: p.toString() };
    if (p instanceof Uint8Array) return { bytes: Buffer.from(p).toString("base64") };
    return p;
  });
}

/** The dotted form when every part is a string without dots, else null. */
export function keyToPath(key: readonly KvKeyPart[]): string | null {
  if (!key.every((p) => typeof p === "string")) return null;
  return (key as string[]).map((p) => encodeURIComponent(p).replace(/\./g, "%2E")).join(".");
}
