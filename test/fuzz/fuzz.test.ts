/**
 * The bounded fuzz pass CI runs: every decoder in ./targets.ts with a few thousand inputs from a fixed
 * seed, in a worker under a per-input time limit (./runner.ts). A failure prints fast-check's report —
 * seed, path and the shrunk counterexample — and `npm run fuzz -- --target <name> --seed <seed>` goes on
 * from there. FUZZ_SEED and FUZZ_RUNS override the seed and the default number of inputs.
 * Targets marked todo expose holes being fixed elsewhere; node:test reports them without failing.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { TARGETS } from "./targets.ts";
import { runTarget } from "./runner.ts";

const SEED = Number(process.env.FUZZ_SEED ?? 20_261_108);
const RUNS = Number(process.env.FUZZ_RUNS ?? 2000);
/** Generous: the CI machine is shared; `npm run fuzz` holds each input to 5 s. */
const PER_INPUT_MS = 15_000;

for (const t of TARGETS) {
  test(`${t.name}: ${t.about}`, t.todo ? { todo: t.todo } : {}, async () => {
    const runs = Math.min(RUNS, t.ciRuns ?? RUNS);
    const r = await runTarget({ target: t.name, seed: SEED, runs, mode: "assert", perInputMs: PER_INPUT_MS });
    assert.equal(r.failure, undefined, `${t.name}, seed ${SEED}:\n${r.failure}`);
    assert.equal(r.tried, runs);
  });
}
