/**
 * A fuzz target: one decoder, the inputs fast-check makes for it, and the line between a clean refusal
 * and a bug. `run` either returns, or throws an error `expected` accepts (the decoder's own error class,
 * e.g. a KvError with a message for the user); any other throw — a TypeError, a RangeError from the
 * stack, an assertion about the decoded result — is a crash. Hangs are the runner's business: the CI
 * test bounds each target's time, `npm run fuzz` each input's.
 */
import type fc from "fast-check";

export interface FuzzTarget<T = unknown> {
  /** `area/decoder`, e.g. `keys/decode`: the row of the fuzz table. */
  readonly name: string;
  /** One line: what goes in and what must come out. */
  readonly about: string;
  readonly input: fc.Arbitrary<T>;
  run(input: T): void | Promise<void>;
  /** True for the errors this decoder may answer bad input with. */
  expected(e: unknown): boolean;
  /** Inputs per CI run when the default would take too long (big or slow inputs). */
  readonly ciRuns?: number;
  /** Set while the property exposes a hole that is being fixed elsewhere: node:test reports it as todo. */
  readonly todo?: string;
  /** Releases what the target holds (an in-process server), once all inputs ran. */
  close?(): Promise<void>;
}

/** Keeps the input type of each target while they go into one list. */
export function target<T>(t: FuzzTarget<T>): FuzzTarget<unknown> {
  return t as unknown as FuzzTarget<unknown>;
}

/** One input, judged: returns when the decoder answered it properly, throws the crash otherwise. */
export async function judge(t: FuzzTarget, input: unknown): Promise<void> {
  try {
    await t.run(input);
  } catch (e) {
    if (!t.expected(e)) throw e;
  }
}
