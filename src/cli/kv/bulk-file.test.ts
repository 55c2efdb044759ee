/** Bulk files that once crashed `kv bulk put|get|delete` (found by test/fuzz). */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { UserError } from "../errors.ts";
import { parseKeyNames, readJsonFile } from "./bulk-file.ts";

test("a bulk file nested past 1000 levels is a UserError naming the file, not a stack overflow", () => {
  const dir = mkdtempSync(join(tmpdir(), "openkv-bulk-"));
  try {
    const path = join(dir, "keys.json");
    writeFileSync(path, `[${'{"a":'.repeat(100_000)}1${"}".repeat(100_000)}]`);
    assert.throws(
      () => readJsonFile(path, "keys.json"),
      (e: unknown) => e instanceof UserError && e.message.split("\n").slice(0, 2).join("\n") === "Nested deeper than 1000 levels\n  keys.json:1:4996:", // "[" is level 1, the 1000th "{" (1 + 999 × 5) level 1001
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a key-names file holding an object with a \"toString\" key is refused like any other object", () => {
  // String() of such an object threw "Cannot convert object to primitive value" (found by test/fuzz).
  for (const content of [JSON.parse('{"toString": null, "a": 1}'), JSON.parse('{"valueOf": 1, "toString": 2}'), { a: 1 }]) {
    assert.throws(
      () => parseKeyNames(content, "keys.json"),
      (e: unknown) => e instanceof UserError && e.message === 'Unexpected JSON input from "keys.json".\nExpected an array of strings but got:\n[object Object]',
    );
  }
});
