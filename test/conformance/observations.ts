/**
 * Cross-implementation comparison for the conformance suites: each run records one observation per case
 * (`recorder`), and `mismatches` lists every case whose observation differs from a reference run's,
 * except the deliberate differences, each of which carries its reason.
 */
import assert from "node:assert/strict";

/** Case name → what the case observed. */
export type Observations = Map<string, unknown>;

/** An `observe` callback for `SuiteOptions` that records into `into`. */
export function recorder(into: Observations): (caseName: string, observation: unknown) => void {
  return (name, observation) => void into.set(name, observation);
}

export interface ObservedRun {
  readonly label: string;
  readonly observed: Observations;
}

/**
 * One message per case (of `caseNames`) where `candidate` did not observe exactly what `reference` did,
 * or where either did not complete; cases listed in `deliberate` are waived.
 */
export function mismatches(
  caseNames: Iterable<string>,
  reference: ObservedRun,
  candidate: ObservedRun,
  deliberate: Readonly<Record<string, string>> = {},
): string[] {
  const out: string[] = [];
  for (const name of caseNames) {
    if (name in deliberate) continue;
    if (!reference.observed.has(name) || !candidate.observed.has(name)) {
      out.push(`"${name}": did not complete on ${reference.observed.has(name) ? candidate.label : reference.label}`);
      continue;
    }
    try {
      assert.deepStrictEqual(candidate.observed.get(name), reference.observed.get(name));
    } catch (e) {
      out.push(`"${name}":\n${(e as Error).message}`);
    }
  }
  return out;
}

/** Asserts that every deliberate difference names a case and really differs (so the list stays honest). */
export function assertDeliberateDifferencesReal(
  caseNames: readonly string[],
  reference: ObservedRun,
  candidate: ObservedRun,
  deliberate: Readonly<Record<string, string>>,
): void {
  for (const name of Object.keys(deliberate)) {
    assert.ok(caseNames.includes(name), `no case named "${name}"`);
    assert.notDeepStrictEqual(candidate.observed.get(name), reference.observed.get(name), name);
  }
}
