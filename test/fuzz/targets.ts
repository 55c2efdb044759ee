/**
 * Every decoder OpenKV has, as fuzz targets (./target.ts): the CI test (./fuzz.test.ts) runs each a few
 * thousand times with a fixed seed, `npm run fuzz` (scripts/fuzz.ts) a million times with a time limit
 * per input.
 *
 * | area        | decoders                                                                        |
 * |-------------|---------------------------------------------------------------------------------|
 * | keys        | tuple key codec: round trip, order, truncation, any bytes                       |
 * | v8          | V8 value codec against node:v8 both ways, any bytes                             |
 * | kv-connect  | protobuf messages, server and client side; the data-path routes and queue calls |
 * | cloudflare  | multipart value writes, values and metadata routes, bulk bodies                 |
 * | rest        | /kv key paths, queries, preconditions and bodies                                |
 * | config, cli | wrangler.toml/.json/.jsonc, `kv bulk` files                                     |
 */
import { fileTargets } from "./targets-files.ts";
import { httpTargets } from "./targets-http.ts";
import { keyTargets } from "./targets-keys.ts";
import { v8Targets } from "./targets-v8.ts";
import { wireTargets } from "./targets-wire.ts";
import type { FuzzTarget } from "./target.ts";

export type { FuzzTarget } from "./target.ts";

export const TARGETS: readonly FuzzTarget[] = [...keyTargets, ...v8Targets, ...wireTargets, ...httpTargets, ...fileTargets];

export function findTarget(name: string): FuzzTarget {
  const t = TARGETS.find((x) => x.name === name);
  if (!t) throw new Error(`No fuzz target "${name}". Targets: ${TARGETS.map((x) => x.name).join(", ")}`);
  return t;
}

/** One input, judged: returns when the decoder answered it properly, throws the crash otherwise. */
export async function judge(t: FuzzTarget, input: unknown): Promise<void> {
  try {
    await t.run(input);
  } catch (e) {
    if (!t.expected(e)) throw e;
  }
}
