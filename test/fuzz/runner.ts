/**
 * Runs a fuzz target in a worker thread (./worker.ts) under a watchdog: an input that runs longer than
 * `perInputMs` is a hang, the worker is stopped, and — in a survey — a fresh one goes on with the inputs
 * left. A worker that dies (out of heap, an exception escaping into the event loop) or exits with an
 * input unsettled counts as a crash or a hang too. Shared by the CI test and `npm run fuzz`.
 */
import { Worker } from "node:worker_threads";
import type { Finding, WorkerJob, WorkerResult } from "./worker.ts";

export type { Finding } from "./worker.ts";

export interface RunOptions {
  target: string;
  /** The module (file URL) whose `TARGETS` holds the target. Default ./targets.ts. */
  targets?: string;
  seed: number;
  runs: number;
  mode: "assert" | "survey";
  perInputMs: number;
  /** Distinct crashes kept per target. Default 3. */
  keep?: number;
  /** Heap limit of the worker: an input that needs more is a crash ("huge allocation"). Default 2048 MiB. */
  heapMb?: number;
}

export interface RunResult {
  target: string;
  seed: number;
  tried: number;
  crashes: number;
  hangs: number;
  seconds: number;
  /** The first few crashes and hangs, each with the seed its index belongs to (a survey moves on to new seeds). */
  findings: Array<Finding & { kind: "crash" | "hang"; seed: number }>;
  /** Assert mode: fast-check's report (seed, path, shrunk counterexample) or why the run stopped. */
  failure?: string;
}

const WORKER = new URL("./worker.ts", import.meta.url);
const TARGETS_MODULE = new URL("./targets.ts", import.meta.url).href;
const POLL_MS = 25;
/** Loading the targets (fast-check, the server's modules) is not an input: it gets its own allowance. */
const STARTUP_MS = 60_000;

type Outcome =
  | { kind: "result"; result: WorkerResult }
  | { kind: "hang"; index: number }
  | { kind: "died"; index: number; error: string };

/** One worker, watched: its result, or how it ended without one. */
function runWorker(job: Omit<WorkerJob, "progress">, perInputMs: number, heapMb: number): Promise<Outcome> {
  const progress = new SharedArrayBuffer(4);
  const started = new Int32Array(progress);
  const worker = new Worker(WORKER, { workerData: { ...job, progress }, resourceLimits: { maxOldGenerationSizeMb: heapMb } });
  return new Promise((resolve) => {
    let settled = false;
    let seen = -1;
    let since = performance.now();
    const finish = (o: Outcome) => {
      if (settled) return;
      settled = true;
      clearInterval(watchdog);
      void worker.terminate();
      resolve(o);
    };
    const current = () => Math.max(0, Atomics.load(started, 0) - 1);
    const watchdog = setInterval(() => {
      const n = Atomics.load(started, 0);
      if (n !== seen) {
        seen = n;
        since = performance.now();
      } else if (performance.now() - since > (n === 0 ? Math.max(perInputMs, STARTUP_MS) : perInputMs)) {
        finish({ kind: "hang", index: current() });
      }
    }, POLL_MS);
    worker.on("message", (result: WorkerResult) => finish({ kind: "result", result }));
    worker.on("error", (e) => finish({ kind: "died", index: current(), error: e instanceof Error ? `${e.name}: ${e.message}` : String(e) }));
    // Exiting without a result: the event loop ran dry with an input's promise unsettled.
    worker.on("exit", (code) => finish(code === 0 ? { kind: "hang", index: current() } : { kind: "died", index: current(), error: `the worker exited with code ${code}` }));
  });
}

/** The input a seed and index stand for, and what judging it did (run under the same watchdog). */
export async function replay(target: string, seed: number, index: number, perInputMs: number): Promise<{ input: string; error: string | null; ms: number } | { hung: true } | { died: string }> {
  const o = await runWorker({ targets: TARGETS_MODULE, target, seed, runs: 1, mode: "survey", replay: index, keep: 1 }, perInputMs, 2048);
  if (o.kind === "hang") return { hung: true };
  if (o.kind === "died") return { died: o.error };
  if (o.result.kind !== "replayed") return { died: "unexpected worker answer" };
  return { input: o.result.input, error: o.result.error, ms: o.result.ms };
}

/**
 * Runs `runs` inputs of one target. A survey restarts after a hang or a death with the seed moved on (so
 * no input is retried forever) and counts until `runs` inputs were tried; an assert run stops at the first
 * failure of any kind.
 */
export async function runTarget(o: RunOptions): Promise<RunResult> {
  const began = performance.now();
  const res: RunResult = { target: o.target, seed: o.seed, tried: 0, crashes: 0, hangs: 0, seconds: 0, findings: [] };
  const keep = o.keep ?? 3;
  let seed = o.seed;
  while (res.tried < o.runs) {
    const job = { targets: o.targets ?? TARGETS_MODULE, target: o.target, seed, runs: o.runs - res.tried, mode: o.mode, keep };
    const outcome = await runWorker(job, o.perInputMs, o.heapMb ?? 2048);
    if (outcome.kind === "result") {
      const r = outcome.result;
      if (r.kind !== "done") break;
      res.tried += r.tried;
      res.crashes += r.crashes;
      for (const f of r.findings) if (res.findings.length < keep) res.findings.push({ ...f, kind: "crash", seed });
      if (r.failure) {
        res.failure = r.failure;
        break;
      }
      continue;
    }
    // The input at `index` of this seed never finished: count it and move past it.
    res.tried += outcome.index + 1;
    const replayHint = `npm run fuzz -- --target ${o.target} --seed ${seed} --replay ${outcome.index}`;
    const lost = "(lost with the worker: replay it)";
    if (outcome.kind === "hang") {
      res.hangs++;
      if (res.findings.length < keep) res.findings.push({ kind: "hang", seed, index: outcome.index, input: lost, error: `no answer within ${o.perInputMs} ms` });
    } else {
      res.crashes++;
      if (res.findings.length < keep) res.findings.push({ kind: "crash", seed, index: outcome.index, input: lost, error: outcome.error });
    }
    if (o.mode === "assert") {
      res.failure = `${outcome.kind === "hang" ? `Input ${outcome.index} got no answer within ${o.perInputMs} ms` : `The worker died at input ${outcome.index}: ${outcome.error}`} (seed ${seed}); replay: ${replayHint}`;
      break;
    }
    seed = (seed + 1) | 0;
  }
  res.seconds = (performance.now() - began) / 1000;
  return res;
}
