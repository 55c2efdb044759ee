/**
 * `npm run fuzz`: every decoder (test/fuzz/targets.ts) with a million inputs each, in worker threads under
 * a per-input time limit, then a table: decoder, inputs tried, crashes, hangs, seconds. Exits 1 when a
 * target not marked todo crashed or hung.
 *
 *   npm run fuzz                                   # 1,000,000 inputs per decoder, a random seed (printed)
 *   npm run fuzz -- --runs 100000 --jobs 2         # fewer inputs, two targets at a time
 *   npm run fuzz -- --target keys/ --target v8/decode --seed 42
 *   npm run fuzz -- --target v8/decode --seed 42 --replay 1234   # show input 1234 of seed 42 and judge it
 *   npm run fuzz -- --list
 *
 * Options: --runs N (per decoder), --seed S, --target NAME|PREFIX (repeatable), --timeout MS (per input,
 * default 5000), --jobs N (targets at a time, default 1), --replay INDEX, --list.
 */
import { parseArgs } from "node:util";
import { TARGETS } from "../test/fuzz/targets.ts";
import { replay, runTarget, type RunResult } from "../test/fuzz/runner.ts";

const { values } = parseArgs({
  options: {
    runs: { type: "string", default: "1000000" },
    seed: { type: "string" },
    target: { type: "string", multiple: true },
    timeout: { type: "string", default: "5000" },
    jobs: { type: "string", default: "1" },
    replay: { type: "string" },
    list: { type: "boolean", default: false },
  },
});

function positiveInt(name: string, text: string): number {
  const n = Number(text.replaceAll("_", ""));
  if (!Number.isSafeInteger(n) || n < (name === "replay" ? 0 : 1)) {
    console.error(`--${name} must be a ${name === "replay" ? "non-negative" : "positive"} integer, got ${JSON.stringify(text)}`);
    process.exit(2);
  }
  return n;
}

if (values.list) {
  for (const t of TARGETS) console.log(`${t.name.padEnd(34)} ${t.about}${t.todo ? `  [todo: ${t.todo}]` : ""}`);
  process.exit(0);
}

const runs = positiveInt("runs", values.runs);
const perInputMs = positiveInt("timeout", values.timeout);
const jobs = positiveInt("jobs", values.jobs);
const seed = values.seed !== undefined ? Number(values.seed) | 0 : (Math.random() * 2 ** 31) | 0;
const wanted = values.target ?? [];
const targets = wanted.length === 0 ? TARGETS : TARGETS.filter((t) => wanted.some((w) => t.name === w || (w.endsWith("/") && t.name.startsWith(w))));
if (targets.length === 0) {
  console.error(`No target matches ${wanted.join(", ")}. Run with --list.`);
  process.exit(2);
}

if (values.replay !== undefined) {
  if (targets.length !== 1) {
    console.error("--replay needs exactly one --target");
    process.exit(2);
  }
  const r = await replay(targets[0]!.name, seed, positiveInt("replay", values.replay), perInputMs);
  if ("hung" in r) console.log(`input ${values.replay} of seed ${seed}: no answer within ${perInputMs} ms`);
  else if ("died" in r) console.log(`input ${values.replay} of seed ${seed}: the worker died: ${r.died}`);
  else console.log(`input: ${r.input}\n${r.error === null ? "answered properly" : `crash:\n${r.error}`} (${r.ms.toFixed(1)} ms)`);
  process.exit(0);
}

console.log(`Fuzzing ${targets.length} decoders, ${runs.toLocaleString("en")} inputs each, seed ${seed}, ${perInputMs} ms per input, ${jobs} at a time`);
const results: RunResult[] = [];
let next = 0;
await Promise.all(
  Array.from({ length: Math.min(jobs, targets.length) }, async () => {
    while (next < targets.length) {
      const t = targets[next++]!;
      const r = await runTarget({ target: t.name, seed, runs, mode: "survey", perInputMs });
      results.push(r);
      console.log(`  ${t.name}: ${r.tried.toLocaleString("en")} inputs, ${r.crashes} crashes, ${r.hangs} hangs, ${r.seconds.toFixed(0)} s`);
    }
  }),
);
results.sort((a, b) => targets.findIndex((t) => t.name === a.target) - targets.findIndex((t) => t.name === b.target));

const rows = [["decoder", "inputs tried", "crashes", "hangs", "seconds"], ...results.map((r) => [r.target + (targets.find((t) => t.name === r.target)!.todo ? " (todo)" : ""), r.tried.toLocaleString("en"), String(r.crashes), String(r.hangs), r.seconds.toFixed(0)])];
const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
const line = (row: string[]) => `| ${row.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(" | ")} |`;
console.log(`\n${line(rows[0]!)}\n|${widths.map((w, i) => (i === 0 ? "-".repeat(w + 2) : `${"-".repeat(w + 1)}:`)).join("|")}|`);
for (const row of rows.slice(1)) console.log(line(row));
const total = results.reduce((s, r) => ({ tried: s.tried + r.tried, crashes: s.crashes + r.crashes, hangs: s.hangs + r.hangs, seconds: s.seconds + r.seconds }), { tried: 0, crashes: 0, hangs: 0, seconds: 0 });
console.log(line(["total", total.tried.toLocaleString("en"), String(total.crashes), String(total.hangs), total.seconds.toFixed(0)]));

let failed = false;
for (const r of results) {
  if (r.findings.length === 0) continue;
  const todo = targets.find((t) => t.name === r.target)!.todo;
  if (!todo) failed = true;
  console.log(`\n${r.target}${todo ? ` (todo: ${todo})` : ""}:`);
  for (const f of r.findings) {
    console.log(`  ${f.kind} at input ${f.index} (replay: npm run fuzz -- --target ${r.target} --seed ${f.seed} --replay ${f.index})`);
    console.log(`    input: ${f.input}`);
    console.log(`    ${f.error.split("\n").join("\n    ")}`);
  }
}
process.exit(failed ? 1 : 0);
