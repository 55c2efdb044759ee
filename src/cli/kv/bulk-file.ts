/**
 * wrangler's bulk file formats, checked with its messages:
 * - `kv bulk put`: `[{key, value, base64?, expiration?, expiration_ttl?, metadata?}]` (unknown properties
 *   are a warning, wrong types an error; at most 12 of each are listed);
 * - `kv bulk get` / `kv bulk delete`: `["key", {"name": "key"}, …]`.
 */
import { readFileSync } from "node:fs";
import { ConfigError, parseJsonc } from "../../config/wrangler-config.ts";
import type { Output } from "../output.ts";
import { UserError } from "../errors.ts";
import type { PutItem } from "../store/types.ts";

const MAX_LISTED = 12;
const PAIR_KEYS = new Set(["key", "value", "expiration", "expiration_ttl", "metadata", "base64"]);

/** A JSON file (strict JSON, as wrangler's `parseJSON`), read relative to `resolved`, named `filename` in messages. */
export function readJsonFile(resolved: string, filename: string): unknown {
  let text: string;
  try {
    text = readFileSync(resolved, "utf8");
  } catch (e) {
    throw new UserError(`Could not read file: ${filename}\n${(e as Error).message}`);
  }
  return parseJsonText(text, filename);
}

/** The contents of a bulk file as JSON; a syntax error is a UserError naming `filename`, line and column. */
export function parseJsonText(text: string, filename: string): unknown {
  try {
    return parseJsonc(text, filename, { strict: true });
  } catch (e) {
    if (e instanceof ConfigError) throw new UserError([e.message, ...e.notes].join("\n"));
    throw e;
  }
}

const optional = (o: Record<string, unknown>, key: string, type: string) => o[key] === undefined || typeof o[key] === type;

function isPair(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== "object") return false;
  const o = v as Record<string, unknown>;
  return (
    typeof o.key === "string" &&
    typeof o.value === "string" &&
    optional(o, "expiration", "number") &&
    optional(o, "expiration_ttl", "number") &&
    optional(o, "base64", "boolean") &&
    optional(o, "metadata", "object")
  );
}

/** The pairs of a `kv bulk put` file; prints wrangler's warning for unknown properties. */
export function parsePairs(content: unknown, filename: string, out: Output): PutItem[] {
  if (!Array.isArray(content)) {
    throw new UserError(`Unexpected JSON input from "${filename}".\nExpected an array of key-value objects but got type "${typeof content}".`);
  }
  const errors: string[] = [];
  const warnings: string[] = [];
  let errorsFull = false;
  let warningsFull = false;
  content.forEach((item: unknown, i) => {
    if (!isPair(item)) {
      if (errorsFull) return;
      if (errors.length === MAX_LISTED) {
        errorsFull = true;
        errors.push("...");
      } else {
        errors.push(`The item at index ${i} is ${JSON.stringify(item)}`);
      }
      return;
    }
    const unexpected = Object.keys(item).filter((k) => !PAIR_KEYS.has(k));
    if (unexpected.length > 0 && !warningsFull) {
      if (warnings.length === MAX_LISTED) {
        warningsFull = true;
        warnings.push("...");
      } else {
        warnings.push(`The item at index ${i} contains unexpected properties: ${JSON.stringify(unexpected)}.`);
      }
    }
  });
  if (warnings.length > 0) out.warn(`Unexpected key-value properties in "${filename}".\n` + warnings.join("\n"));
  if (errors.length > 0) {
    throw new UserError(
      `Unexpected JSON input from "${filename}".
Each item in the array should be an object that matches:

interface KeyValue {
  key: string;
  value: string;
  expiration?: number;
  expiration_ttl?: number;
  metadata?: object;
  base64?: boolean;
}

` + errors.join("\n"),
    );
  }
  return (content as Record<string, unknown>[]).map((o) => ({
    key: o.key as string,
    // base64 values are bytes (stored as such, as the REST bulk endpoint does), not text.
    value: o.base64 === true ? new Uint8Array(Buffer.from(o.value as string, "base64")) : (o.value as string),
    ...(o.expiration !== undefined ? { expiration: o.expiration as number } : {}),
    ...(o.expiration_ttl !== undefined ? { expirationTtl: o.expiration_ttl as number } : {}),
    ...(o.metadata !== undefined ? { metadata: o.metadata } : {}),
  }));
}

/**
 * What wrangler's template string prints for a JSON value; an object whose "toString" key holds JSON
 * (`{"toString": null}`) has no callable one, and String() would throw on it.
 */
function asText(v: unknown): string {
  try {
    return String(v);
  } catch {
    return Object.prototype.toString.call(v);
  }
}

/** The key names of a `kv bulk get` / `kv bulk delete` file. */
export function parseKeyNames(content: unknown, filename: string): string[] {
  if (!Array.isArray(content)) {
    throw new UserError(`Unexpected JSON input from "${filename}".\nExpected an array of strings but got:\n${asText(content)}`);
  }
  const errors: string[] = [];
  const keys: string[] = [];
  content.forEach((item: unknown, index) => {
    const key = typeof item !== "string" ? (item as { name?: unknown } | null)?.name : item;
    if (typeof key !== "string") {
      errors.push(`The item at index ${index} is type: "${typeof item}" - ${JSON.stringify(item)}`);
      return;
    }
    keys.push(key);
  });
  if (errors.length > 0) {
    throw new UserError(`Unexpected JSON input from "${filename}".\nExpected an array of strings or objects with a "name" key.\n` + errors.join("\n"));
  }
  return keys;
}
