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
