/**
 * Shared by the KV Connect e2e tests: runs the Deno KV conformance suite (test/conformance/deno-kv.case.ts)
 * under the real deno binary, and compares two runs case by case against an explicit list of deliberate
 * differences — each of which must really differ, the way its reason says.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import type { TestContext } from "node:test";
import { fileURLToPath } from "node:url";
import { CASE_NAMES } from "../conformance/deno-kv.case.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
export const denoBin = fileURLToPath(new URL("../../node_modules/.bin/deno", import.meta.url));
export const haveDeno = existsSync(denoBin);
export const DENO_RUN_TIMEOUT_MS = 240_000;

/** `{case: "pass" | "fail: …"}` from test/deno/run-suite.deno.ts with these extra deno flags and script args. */
export function runDenoSuite(flags: string[], args: string[], env: Record<string, string> = {}): Promise<Record<string, string>> {
  return new Promise((resolve, reject) => {
    execFile(
      denoBin,
      ["run", "--unstable-kv", "--allow-read", ...flags, "test/deno/run-suite.deno.ts", ...args],
      { cwd: root, timeout: DENO_RUN_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024, env: { ...process.env, NO_COLOR: "1", ...env } },
      (error, stdout, stderr) => {
        if (error) return reject(new Error(`deno failed: ${error.message}\n${stderr.slice(-2000)}`));
        const line = stdout.trim().split("\n").pop() ?? "";
        try {
          resolve(JSON.parse(line) as Record<string, string>);
        } catch {
          reject(new Error(`deno printed no JSON result:\n${stdout.slice(-2000)}\n${stderr.slice(-2000)}`));
        }
      },
    );
  });
}

/** A group of cases that differ for one reason; `remote` is what the remote run must show for each. */
export interface DifferenceGroup {
  reason: string;
  /** "pass", or a pattern the remote failure message must match. */
  remote: "pass" | RegExp;
  cases: string[];
}

/**
 * Every case: the remote outcome equals the baseline's, except the listed ones, which must differ from
 * the baseline and show the expected remote outcome.
 */
export async function compareRuns(t: TestContext, baseline: Record<string, string>, remote: Record<string, string>, groups: DifferenceGroup[]): Promise<void> {
  const listed = new Map<string, DifferenceGroup>();
  for (const g of groups) {
    for (const name of g.cases) {
      assert.ok(CASE_NAMES.includes(name), `unknown case in the differences: ${name}`);
      assert.ok(!listed.has(name), `case listed twice: ${name}`);
      listed.set(name, g);
    }
  }
  await t.test("both runs ran every case", () => {
    assert.deepEqual(Object.keys(baseline).sort(), [...CASE_NAMES].sort());
    assert.deepEqual(Object.keys(remote).sort(), [...CASE_NAMES].sort());
  });
  for (const name of CASE_NAMES) {
    await t.test(name, () => {
      const g = listed.get(name);
      if (!g) return assert.equal(remote[name], baseline[name]);
      assert.notEqual(remote[name], baseline[name], `listed as a deliberate difference but the runs agree: remove it (${g.reason})`);
      if (g.remote === "pass") assert.equal(remote[name], "pass", g.reason);
      else assert.match(remote[name]!, g.remote, g.reason);
    });
  }
}

/** The suite under @deno/kv, in a child process (see run-suite-denokv.ts). */
export function runDenoKvNpm(prefix: string, token: string): Promise<Record<string, string>> {
  const script = fileURLToPath(new URL("./run-suite-denokv.ts", import.meta.url));
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [script, prefix], { timeout: DENO_RUN_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024, env: { ...process.env, DENO_KV_ACCESS_TOKEN: token } }, (error, stdout, stderr) => {
      if (error) return reject(new Error(`@deno/kv run failed: ${error.message}\n${stderr.slice(-2000)}`));
      try {
        resolve(JSON.parse(stdout.trim().split("\n").pop() ?? "") as Record<string, string>);
      } catch {
        reject(new Error(`@deno/kv run printed no JSON result:\n${stdout.slice(-2000)}\n${stderr.slice(-2000)}`));
      }
    });
  });
}
