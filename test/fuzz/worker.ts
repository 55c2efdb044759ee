/**
 * Runs one target's inputs inside a worker thread, so the thread that started it (./runner.ts) can stop
 * a hung input — a synchronous loop cannot be interrupted from its own thread — and survive a crash
 * that takes the whole isolate down (stack, heap, an exception escaping into the event loop).
 *
 * Progress goes through shared memory: slot 0 counts inputs started. The result is one message.
 */
import { parentPort, workerData } from "node:worker_threads";
import fc from "fast-check";
import { judge, type FuzzTarget } from "./target.ts";

export interface WorkerJob {
  /** The module whose `TARGETS` holds the target (a file URL); ./targets.ts unless a test brings its own. */
  targets: string;
  target: string;
  seed: number;
  runs: number;
  /** "assert": stop at the first failure, shrink it and report fast-check's message. "survey": count every crash. */
  mode: "assert" | "survey";
  /** Replays input number `replay` of `seed` (counted from 0) and reports it instead of running many. */
  replay?: number;
  /** How many distinct crashes a survey keeps (by the first line of their error). */
  keep: number;
  progress: SharedArrayBuffer;
}

export interface Finding {
  /** Input number within the seed's run, for `npm run fuzz -- --replay`. */
  index: number;
  input: string;
  error: string;
}

export type WorkerResult =
  | { kind: "done"; tried: number; crashes: number; findings: Finding[]; failure?: string }
  | { kind: "replayed"; input: string; error: string | null; ms: number };

const INPUT_CHARS = 600;
const clip = (s: string, n: number) => (s.length > n ? `${s.slice(0, n)}… (${s.length} chars)` : s);

/** The error's first line and where it came from: enough to tell crashes apart and to find them. */
function describeError(e: unknown): string {
  if (!(e instanceof Error)) return clip(String(e), 400);
  const frames = (e.stack ?? "").split("\n").filter((l) => l.trimStart().startsWith("at ")).slice(0, 4);
  return [clip(`${e.name}: ${e.message}`, 1200), ...frames].join("\n");
}

async function main(job: WorkerJob): Promise<WorkerResult> {
  const { TARGETS } = (await import(job.targets)) as { TARGETS: readonly FuzzTarget[] };
  const t = TARGETS.find((x) => x.name === job.target);
  if (!t) throw new Error(`No fuzz target "${job.target}" in ${job.targets}`);
  const started = new Int32Array(job.progress);
  try {
    if (job.replay !== undefined) {
      let input = "";
      let error: string | null = null;
      let ms = 0;
      let index = 0;
      // Not fast-check's `path`: replaying a path does not regenerate the same first value (fast-check 4.11).
      // Generating the inputs before it again, without judging them, does.
      await fc.check(
        fc.asyncProperty(t.input, async (value) => {
          if (index++ !== job.replay) return true;
          input = fc.stringify(value);
          const began = performance.now();
          try {
            await judge(t, value);
          } catch (e) {
            error = describeError(e);
          }
          ms = performance.now() - began;
          return true;
        }),
        { seed: job.seed, numRuns: job.replay! + 1 },
      );
      return { kind: "replayed", input, error, ms };
    }
    let tried = 0;
    let crashes = 0;
    const findings = new Map<string, Finding>();
    const details = await fc.check(
      fc.asyncProperty(t.input, async (value) => {
        const index = tried++;
        Atomics.store(started, 0, tried);
        try {
          await judge(t, value);
        } catch (e) {
          if (job.mode === "assert") throw e;
          crashes++;
          const error = describeError(e);
          // Coarse on purpose: the same bug with other input values is not a new finding.
          const signature = error.split("\n")[0]!.replace(/\d+/g, "N").slice(0, 48);
          if (findings.size < job.keep && !findings.has(signature)) findings.set(signature, { index, input: clip(fc.stringify(value), INPUT_CHARS), error });
        }
        return true;
      }),
      // A known hole (a todo target) is not worth minutes of shrinking deep inputs.
      { seed: job.seed, numRuns: job.runs, ...(t.todo ? { endOnFailure: true } : {}) },
    );
    const failure = details.failed ? (fc.defaultReportMessage(details) ?? "failed") : undefined;
    // While shrinking, fast-check runs more inputs than it counts as tried: report its count.
    return { kind: "done", tried: job.mode === "assert" ? details.numRuns : tried, crashes, findings: [...findings.values()], ...(failure ? { failure } : {}) };
  } finally {
    await t.close?.();
  }
}

if (parentPort) {
  const port = parentPort;
  main(workerData as WorkerJob).then(
    (result) => port.postMessage(result),
    (e: unknown) => port.postMessage({ kind: "done", tried: 0, crashes: 1, findings: [], failure: `the fuzz worker failed: ${describeError(e)}` } satisfies WorkerResult),
  );
}
