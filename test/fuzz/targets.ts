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

export { judge, type FuzzTarget } from "./target.ts";

export const TARGETS: readonly FuzzTarget[] = [...keyTargets, ...v8Targets, ...wireTargets, ...httpTargets, ...fileTargets];

