/**
 * Value writes as multipart/form-data, the way the Cloudflare SDK sends them: a `value` part (a field
 * or a file) and an optional `metadata` part holding JSON text — or, when the SDK was given an object,
 * bracket fields such as `metadata[a][b]=1` (cloudflare-typescript #2664), rebuilt into an object here.
 */
import { CF_CODES, CfError } from "./envelope.ts";

export interface MultipartValue {
  value: string | Uint8Array;
  metadata: unknown;
}

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
        const child: Record<string, unknown> | unknown[] = nextIsAppend ? [] : {};
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
    if (typeof existing !== "object" || existing === null) node[seg] = nextIsAppend ? [] : {};
    node = node[seg] as Record<string, unknown> | unknown[];
    if (nextIsAppend && Array.isArray(node)) {
      i++;
      if (i === path.length - 1) {
        node.push(value);
        break;
      }
      const child: Record<string, unknown> = {};
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
    try {
      metadata = JSON.parse(text);
    } catch {
      throw new CfError(400, CF_CODES.badRequest, "metadata must be valid JSON");
    }
  } else {
    const nested: Record<string, unknown> = {};
    let found = false;
    for (const [name, v] of form.entries()) {
      const m = /^metadata((?:\[[^\]]*\])+)$/.exec(name);
      if (!m || typeof v !== "string") continue;
      found = true;
      setPath(nested, [...m[1]!.matchAll(/\[([^\]]*)\]/g)].map((x) => x[1]!), v);
    }
    if (found) metadata = restoreArrays(nested);
  }
  return { value, metadata };
}
