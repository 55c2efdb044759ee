/**
 * Runs test/conformance/deno-kv.case.ts with @deno/kv's KV Connect client and prints one JSON object
 * `{ "<case name>": "pass" | "fail: <message>" }` on stdout. A child process of
 * test/e2e/kv-connect-denokv-npm.test.ts, so that @deno/kv's stray promise rejections (left behind by
 * cases that fail half-way) stay out of the test runner:
 *   DENO_KV_ACCESS_TOKEN=… node test/e2e/run-suite-denokv.ts <url prefix>   (case n opens "<prefix><n>")
 */
import { KvU64, openKv } from "@deno/kv";
import { collectResults, type KvLike } from "../conformance/deno-kv.case.ts";

process.on("unhandledRejection", () => {});

const prefix = process.argv[2];
const accessToken = process.env.DENO_KV_ACCESS_TOKEN;
if (!prefix || !accessToken) throw new Error("usage: DENO_KV_ACCESS_TOKEN=… node test/e2e/run-suite-denokv.ts <url prefix>");
let n = 0;
const open = async () => (await openKv(`${prefix}${n++}`, { accessToken })) as unknown as KvLike;
// @deno/kv does not export its AtomicOperation class: take it from a handle.
const probe = await open();
const AtomicOperation = Object.getPrototypeOf(probe.atomic()).constructor as abstract new (...args: never[]) => unknown;
probe.close();
const results = await collectResults({ open, KvU64: KvU64 as never, AtomicOperation });
process.stdout.write(JSON.stringify(results) + "\n", () => process.exit(0));
