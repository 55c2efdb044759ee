/**
 * The Deno KV workload, written once and run unchanged against our `Kv` (under Node) and against
 * `Deno.openKv` (under the deno binary), so both sides do exactly the same work.
 * Imports nothing: it must run in both runtimes.
 */
export interface KvLike {
  get(key: unknown[]): Promise<{ value: unknown }>;
  set(key: unknown[], value: unknown): Promise<unknown>;
  list(selector: { prefix: unknown[] }, options?: { batchSize?: number; limit?: number }): AsyncIterable<unknown>;
  atomic(): { sum(key: unknown[], n: bigint): { commit(): Promise<unknown> } };
}

export interface Result {
  name: string;
  ops: number;
  seconds: number;
  opsPerSec: number;
}

export const ROWS = [
  "get",
  "set (1 in flight)",
  "set (100 in flight)",
  "list 1,000 entries",
  "atomic sum",
] as const;

async function measure(name: string, minSeconds: number, maxOps: number, step: (i: number) => Promise<number>): Promise<Result> {
  const start = performance.now();
  let ops = 0;
  let i = 0;
  while (ops < maxOps && (performance.now() - start) / 1000 < minSeconds) {
    ops += await step(i++);
  }
  const seconds = (performance.now() - start) / 1000;
  return { name, ops, seconds, opsPerSec: ops / seconds };
}

/** Runs every row for about `seconds` each (bounded by an op count too). */
export async function runWorkload(kv: KvLike, seconds = 1.5): Promise<Result[]> {
  const value = { user: "someone", score: 42, tags: ["a", "b"], active: true };
  for (let i = 0; i < 1000; i++) await kv.set(["list", i], value);
  for (let i = 0; i < 1000; i++) await kv.set(["get", i], value);
  const results: Result[] = [];
  results.push(
    await measure(ROWS[0], seconds, 2_000_000, async (i) => {
      const r = await kv.get(["get", i % 1000]);
      if (r.value === null) throw new Error("missing");
      return 1;
    }),
  );
  results.push(await measure(ROWS[1], seconds, 200_000, async (i) => (await kv.set(["set1", i], value), 1)));
  results.push(
    await measure(ROWS[2], seconds, 2_000_000, async (i) => {
      const batch = [];
      for (let j = 0; j < 100; j++) batch.push(kv.set(["set100", i * 100 + j], value));
      await Promise.all(batch);
      return 100;
    }),
  );
  results.push(
    await measure(ROWS[3], seconds, 100_000, async () => {
      let n = 0;
      for await (const _ of kv.list({ prefix: ["list"] }, { batchSize: 1000 })) n++;
      if (n !== 1000) throw new Error(`listed ${n}`);
      return 1;
    }),
  );
  results.push(await measure(ROWS[4], seconds, 200_000, async () => (await kv.atomic().sum(["counter"], 1n).commit(), 1)));
  return results;
}

/** One step per row of ROWS: does a few ops and says how many, so that contenders can take turns. */
export type Steps = Record<(typeof ROWS)[number], (i: number) => Promise<number>>;

/** The rows of ROWS as single steps (ops done per call), so that stores can take turns. */
export function workloadSteps(kv: KvLike): Steps {
  const value = { user: "someone", score: 42, tags: ["a", "b"], active: true };
  return {
    get: async (i) => ((await kv.get(["get", i % 1000])).value === null ? 0 : 1),
    "set (1 in flight)": async (i) => (await kv.set(["set1", i], value), 1),
    "set (100 in flight)": async (i) => {
      await Promise.all(Array.from({ length: 100 }, (_, j) => kv.set(["set100", i * 100 + j], value)));
      return 100;
    },
    "list 1,000 entries": async () => {
      let n = 0;
      for await (const _ of kv.list({ prefix: ["list"] }, { batchSize: 1000 })) n++;
      return n === 1000 ? 1 : 0;
    },
    "atomic sum": async () => (await kv.atomic().sum(["counter"], 1n).commit(), 1),
  };
}

/**
 * Every row on every store in turns of 100 ms, `seconds` in all per store and row: whatever else the
 * machine does falls on all stores alike. Returns ops/s per row and store.
 */
export async function compareInTurns<N extends string>(stores: Record<N, KvLike>, seconds: number): Promise<Record<string, Record<N, number>>> {
  const names = Object.keys(stores) as N[];
  const value = { user: "someone", score: 42, tags: ["a", "b"], active: true };
  for (const name of names) {
    for (let i = 0; i < 1000; i++) await stores[name].set(["list", i], value);
    for (let i = 0; i < 1000; i++) await stores[name].set(["get", i], value);
  }
  return stepsInTurns(Object.fromEntries(names.map((n) => [n, workloadSteps(stores[n])])) as Record<N, Steps>, seconds);
}

/** compareInTurns over ready-made steps (seeded by their maker), e.g. raw node:sqlite's (raw-sqlite.ts). */
export async function stepsInTurns<N extends string>(
  steps: Record<N, Steps>,
  seconds: number,
  rows: readonly (typeof ROWS)[number][] = ROWS,
): Promise<Record<string, Record<N, number>>> {
  const names = Object.keys(steps) as N[];
  const out: Record<string, Record<N, number>> = {};
  for (const row of rows) {
    const ops = Object.fromEntries(names.map((n) => [n, 0])) as Record<N, number>;
    const time = Object.fromEntries(names.map((n) => [n, 0])) as Record<N, number>;
    const counter = Object.fromEntries(names.map((n) => [n, 0])) as Record<N, number>;
    for (let turn = 0; turn < seconds * 10; turn++) {
      for (const n of names) {
        const start = performance.now();
        while (performance.now() - start < 100) ops[n] += await steps[n][row](counter[n]++);
        time[n] += performance.now() - start;
      }
    }
    out[row] = Object.fromEntries(names.map((n) => [n, ops[n] / (time[n] / 1000)])) as Record<N, number>;
  }
  return out;
}
