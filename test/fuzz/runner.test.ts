/** The fuzz runner's watchdog: hangs, crashes and dead workers are counted, and the survey carries on. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { runTarget } from "./runner.ts";

const targets = new URL("./fixtures/misbehaving-targets.ts", import.meta.url).href;

test("a synchronous endless loop is stopped after the time limit and counted as a hang", async () => {
  const r = await runTarget({ targets, target: "spins", seed: 1, runs: 150, mode: "survey", perInputMs: 300 });
  assert.equal(r.tried, 150);
  assert.ok(r.hangs >= 1, `hangs: ${r.hangs}`);
  assert.equal(r.crashes, 0);
  assert.equal(r.findings[0]!.kind, "hang");
  assert.equal(r.findings[0]!.error, "no answer within 300 ms");
});

test("a promise that never settles is a hang, found without waiting for the limit", async () => {
  const started = performance.now();
  const r = await runTarget({ targets, target: "never-settles", seed: 1, runs: 400, mode: "survey", perInputMs: 60_000 });
  assert.equal(r.tried, 400);
  assert.ok(r.hangs >= 1);
  assert.ok(performance.now() - started < 30_000);
});

test("unexpected errors are crashes, expected ones are not; assert mode stops with fast-check's report", async () => {
  const survey = await runTarget({ targets, target: "throws", seed: 1, runs: 300, mode: "survey", perInputMs: 10_000 });
  assert.equal(survey.tried, 300);
  assert.ok(survey.crashes > 50 && survey.crashes < 250, `crashes: ${survey.crashes}`);
  assert.match(survey.findings[0]!.error, /^TypeError: odd \d+/);
  const asserted = await runTarget({ targets, target: "throws", seed: 1, runs: 300, mode: "assert", perInputMs: 10_000 });
  assert.match(asserted.failure ?? "", /seed: 1, path: "\d+(:\d+)*"/);
  assert.match(asserted.failure ?? "", /Counterexample: \[\d*[13579]\]/);
});

test("running out of heap kills the worker: a crash, and the next worker goes on", async () => {
  const r = await runTarget({ targets, target: "eats-memory", seed: 1, runs: 2, mode: "survey", perInputMs: 60_000, heapMb: 64 });
  assert.equal(r.tried, 2);
  assert.equal(r.crashes, 2);
  assert.match(r.findings[0]!.error, /ERR_WORKER_OUT_OF_MEMORY|out of memory/i);
});
