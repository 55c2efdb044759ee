/** Config files that once crashed the CLI or gave an error not saying which file (found by test/fuzz). */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, readWranglerConfig } from "./wrangler-config.ts";

function withConfig(name: string, text: string, fn: (path: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), "openkv-config-"));
  try {
    const path = join(dir, name);
    writeFileSync(path, text);
    fn(path);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const configError = (check: (e: ConfigError) => void) => (e: unknown) => {
  assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${String(e)}`);
  check(e);
  return true;
};

test("JSON nested past 1000 levels is a ConfigError at its place, not a stack overflow", () => {
  const deep = `{"kv_namespaces": ${"[".repeat(100_000)}${"]".repeat(100_000)}}`;
  withConfig("wrangler.jsonc", deep, (path) => {
    assert.throws(
      () => readWranglerConfig({ config: path }),
      configError((e) => {
        assert.equal(e.message, "Nested deeper than 1000 levels");
        // The object is level 1: the 1000th "[" (at column 18 + 999) is level 1001.
        assert.equal(e.notes[0], `  ${path}:1:1017:`);
      }),
    );
  });
  // 1000 levels are still JSON like any other.
  withConfig("wrangler.json", `{"x": ${"[".repeat(999)}${"]".repeat(999)}}`, (path) => assert.deepEqual(readWranglerConfig({ config: path }).kvNamespaces, []));
});

test("deep TOML is refused by the TOML reader, naming the file", () => {
  withConfig("wrangler.toml", `a = ${"[".repeat(100_000)}${"]".repeat(100_000)}`, (path) => {
    assert.throws(() => readWranglerConfig({ config: path }), configError((e) => assert.equal(e.message, `Could not parse ${path}`)));
  });
});

test("errors about what the file says name the file", () => {
  const cases: Array<[string, string, string | undefined, string]> = [
    ["wrangler.json", `{"kv_namespaces": 1}`, undefined, '"kv_namespaces" should be an array of {binding, id, preview_id} objects.'],
    ["wrangler.json", `{"kv_namespaces": [{}]}`, undefined, '"kv_namespaces[0]" needs a string "binding".'],
    ["wrangler.toml", `[[kv_namespaces]]\nbinding = "A"\nid = 1`, undefined, '"kv_namespaces[0].id" should be a string.'],
    ["wrangler.json", `{"env": {"staging": {"kv_namespaces": {}}}}`, "staging", '"env.staging.kv_namespaces" should be an array of {binding, id, preview_id} objects.'],
    ["wrangler.json", `{"openkv": 1}`, undefined, '"openkv" should be a table with url, token and persist_to.'],
    ["wrangler.json", `{"openkv": {"url": 1}}`, undefined, '"openkv.url" should be a string.'],
    ["wrangler.json", `{"env": {"staging": {}}}`, "qa", 'No environment found in configuration with name "qa".'],
  ];
  for (const [name, text, env, message] of cases) {
    withConfig(name, text, (path) => {
      assert.throws(
        () => readWranglerConfig({ config: path, ...(env ? { env } : {}) }),
        configError((e) => {
          assert.equal(e.message, message);
          assert.equal(e.notes.at(-1), `in ${path}`);
        }),
      );
    });
  }
});
