/**
 * Value writes as multipart/form-data, the way the Cloudflare SDK sends them: a `value` part (a field
 * or a file) and an optional `metadata` part holding JSON text — or, when the SDK was given an object,
 * bracket fields such as `metadata[a][b]=1` (cloudflare-typescript #2664), rebuilt into an object here.
 */
import { ENGINE_LIMITS } from "../../core/limits.ts";
import { jsonDepth } from "../../core/validate.ts";
import { CF_CODES, CfError } from "./envelope.ts";

export interface MultipartValue {
  value: string | Uint8Array;
  metadata: unknown;
}

/**
 * How many bracket segments a metadata field name may have. Metadata is at most 1 KiB of JSON, which
 * cannot nest deeper than this anyway; a deeper name is refused before anything is built from it.
 */
const MAX_METADATA_PATH = 64;
/** Each field adds at least a byte to the 1 KiB of metadata JSON: more fields than that cannot fit. */
const MAX_METADATA_FIELDS = 1024;

/**
 * Objects built from field names have no prototype: a segment such as `__proto__` or `constructor` is
 * an ordinary key of the metadata, never a way to reach `Object.prototype`.
 */
const record = (): Record<string, unknown> => Object.create(null) as Record<string, unknown>;

/** Sets `metadata[a][b]` → target.a.b; an empty segment (`metadata[list][]`) appends to an array. */
function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node: Record<string, unknown> | unknown[] = target;
  for (let i = 0; i < path.length; i++) {
    const last = i === path.length - 1;
    const seg = path[i]!;
    const nextIsAppend = !last && path[i + 1] === "";
    if (Array.isArray(node)) {
      if (last) node.push(value);
      else {
        const child: Record<string, unknown> | unknown[] = nextIsAppend ? [] : record();
        node.push(child);
        node = child;
      }
      continue;
    }
    if (last) {
      node[seg] = value;
      break;
    }
    const existing = node[seg];
    if (typeof existing !== "object" || existing === null) node[seg] = nextIsAppend ? [] : record();
    node = node[seg] as Record<string, unknown> | unknown[];
    if (nextIsAppend && Array.isArray(node)) {
      i++;
      if (i === path.length - 1) {
        node.push(value);
        break;
      }
      const child = record();
      node.push(child);
      node = child;
    }
  }
}

/** Objects whose keys are 0..n-1 were arrays before the SDK flattened them. */
function restoreArrays(v: unknown): unknown {
  if (typeof v !== "object" || v === null) return v;
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) o[k] = restoreArrays(o[k]);
  const keys = Object.keys(o);
  if (keys.length > 0 && keys.every((k, i) => k === String(i))) return keys.map((k) => o[k]);
  return o;
}

export async function parseMultipartValue(body: Uint8Array, contentType: string): Promise<MultipartValue> {
  let form: FormData;
  try {
    form = await new Response(body, { headers: { "content-type": contentType } }).formData();
  } catch {
    throw new CfError(400, CF_CODES.badRequest, "Could not parse the multipart/form-data body");
  }
  const part = form.get("value");
  if (part === null) throw new CfError(400, CF_CODES.badRequest, 'The multipart body needs a "value" part');
  const value = typeof part === "string" ? part : new Uint8Array(await part.arrayBuffer());

  let metadata: unknown = undefined;
  const meta = form.get("metadata");
  if (meta !== null) {
    const text = typeof meta === "string" ? meta : await meta.text();
    // Parsing nests iteratively, but the binding serialises the metadata again, recursively: refuse
    // what no 1 KiB of metadata could be before anything is built from it.
    if (jsonDepth(text) > ENGINE_LIMITS.maxNestingDepth) {
      throw new CfError(400, CF_CODES.badRequest, `metadata nests deeper than ${ENGINE_LIMITS.maxNestingDepth} levels`);
    }
    try {
      metadata = JSON.parse(text);
    } catch {
      throw new CfError(400, CF_CODES.badRequest, "metadata must be valid JSON");
    }
  } else {
    const nested = record();
    let found = false;
    let fields = 0;
    for (const [name, v] of form.entries()) {
      const m = /^metadata((?:\[[^\]]*\])+)$/.exec(name);
      if (!m || typeof v !== "string") continue;
      if (++fields > MAX_METADATA_FIELDS) {
        throw new CfError(400, CF_CODES.badRequest, `The metadata has more than ${MAX_METADATA_FIELDS} fields`);
      }
      found = true;
      const path = [...m[1]!.matchAll(/\[([^\]]*)\]/g)].map((x) => x[1]!);
      if (path.length > MAX_METADATA_PATH) {
        throw new CfError(400, CF_CODES.badRequest, `The metadata field name nests deeper than ${MAX_METADATA_PATH} levels`);
      }
      setPath(nested, path, v);
    }
    if (found) metadata = restoreArrays(nested);
  }
  return { value, metadata };
}
