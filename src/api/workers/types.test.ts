/**
 * Type-level proof that our KVNamespace is @cloudflare/workers-types' KVNamespace with Node's streams:
 * with the package's own ReadableStream plugged in, the two are assignable both ways (checked by
 * `tsc --noEmit`; the runtime test only keeps node --test from reporting an empty file).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type * as cf from "@cloudflare/workers-types";
import type { KVNamespace, KVNamespaceOf } from "./types.ts";
import { openNamespace } from "./index.ts";

type Ours<Key extends string = string> = KVNamespaceOf<Key, cf.ReadableStream>;

export function oursIsTheirs(kv: Ours): cf.KVNamespace {
  return kv;
}
export function theirsIsOurs(kv: cf.KVNamespace): Ours {
  return kv;
}
export function narrowKeysToo(kv: Ours<"a" | "b">): cf.KVNamespace<"a" | "b"> {
  return kv;
}
export function narrowKeysBack(kv: cf.KVNamespace<"a" | "b">): Ours<"a" | "b"> {
  return kv;
}
export function listResultsMatch(r: Awaited<ReturnType<KVNamespace["list"]>>): cf.KVNamespaceListResult<unknown> {
  return r;
}
// openNamespace's result is a KVNamespace (with close).
export async function opened(): Promise<KVNamespace> {
  return openNamespace(":memory:");
}

test("types: the module loads and openNamespace returns a KVNamespace with close()", async () => {
  const kv = await openNamespace(":memory:");
  const v: string | null = await kv.get("missing");
  const m: Map<string, string | null> = await kv.get(["missing"]);
  assert.equal(v, null);
  assert.equal(m.get("missing"), null);
  await kv.close();
});
