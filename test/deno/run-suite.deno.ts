/**
 * Runs test/conformance/deno-kv.case.ts against the real `Deno.openKv` and prints one JSON object
 * `{ "<case name>": "pass" | "fail: <message>" }` on stdout.
 *
 *   deno run --unstable-kv --allow-read test/deno/run-suite.deno.ts [filter]
 *     each case on a fresh `Deno.openKv(":memory:")` (spawned by test/deno-kv-real.test.ts);
 *   deno run --unstable-kv --allow-read --allow-net --allow-env test/deno/run-suite.deno.ts --url <prefix> [filter]
 *     each case on a fresh remote database `Deno.openKv("<prefix><n>")` over KV Connect, n = 0, 1, 2, …
 *     (the token comes from DENO_KV_ACCESS_TOKEN; spawned by test/e2e/kv-connect-deno.test.ts).
 *
 * `filter` keeps the cases whose name contains it.
 */
import { collectResults } from "../conformance/deno-kv.case.ts";

// A case that fails half-way must not take the whole run down with an unhandled rejection.
globalThis.addEventListener("unhandledrejection", (e) => e.preventDefault());

const args = [...Deno.args];
let prefix: string | null = null;
const at = args.indexOf("--url");
if (at >= 0) {
  prefix = args[at + 1] ?? null;
  if (!prefix) throw new Error("--url needs a URL prefix");
  args.splice(at, 2);
}
const filter = args[0];
let n = 0;
const results = await collectResults(
  {
    open: () => (prefix === null ? Deno.openKv(":memory:") : Deno.openKv(`${prefix}${n++}`)),
    KvU64: Deno.KvU64,
    AtomicOperation: Deno.AtomicOperation,
  },
  filter ? (name) => name.includes(filter) : undefined,
);
console.log(JSON.stringify(results));
Deno.exit(0);
