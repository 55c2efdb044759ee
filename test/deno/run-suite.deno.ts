/**
 * Runs test/conformance/deno-kv.case.ts against the real `Deno.openKv(":memory:")` and prints one JSON
 * object `{ "<case name>": "pass" | "fail: <message>" }` on stdout. Spawned by test/deno-kv-real.test.ts:
 *   deno run --unstable-kv --allow-read test/deno/run-suite.deno.ts [substring filter]
 */
import { collectResults } from "../conformance/deno-kv.case.ts";

// A case that fails half-way must not take the whole run down with an unhandled rejection.
globalThis.addEventListener("unhandledrejection", (e) => e.preventDefault());

const filter = Deno.args[0];
const results = await collectResults(
  { open: () => Deno.openKv(":memory:"), KvU64: Deno.KvU64, AtomicOperation: Deno.AtomicOperation },
  filter ? (name) => name.includes(filter) : undefined,
);
console.log(JSON.stringify(results));
Deno.exit(0);
