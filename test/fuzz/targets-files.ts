/**
 * Files users write: wrangler config files (TOML, JSON, JSONC) and `kv bulk` JSON files. Any text must
 * give a result or a clear error naming the file — ConfigError for configs, UserError for bulk files —
 * never a crash of the CLI.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { stringify as toToml } from "smol-toml";
import { parseJsonText, parseKeyNames, parsePairs } from "../../src/cli/kv/bulk-file.ts";
import { UserError } from "../../src/cli/errors.ts";
import { Output } from "../../src/cli/output.ts";
import { ConfigError, wranglerConfigFromText } from "../../src/config/wrangler-config.ts";
import { depth, oddJsonText, text } from "./arbitraries.ts";
import { mutatedText } from "./mutate.ts";
import { target, type FuzzTarget } from "./target.ts";

const json = fc.jsonValue({ maxDepth: 3 });
const anyJsonish: fc.Arbitrary<unknown> = fc.oneof(json, fc.constantFrom(null, true, 0, -1, 1.5, "", [], {}));

/** Nested `depth` levels deep, in the syntax of `format`. */
const deepText = fc.tuple(depth, fc.constantFrom("json-array", "json-object", "toml-array", "toml-inline", "toml-table")).map(([depth, kind]) => {
  switch (kind) {
    case "json-array": return `{"kv_namespaces": ${"[".repeat(depth)}${"]".repeat(depth)}}`;
    case "json-object": return `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`;
    case "toml-array": return `kv_namespaces = ${"[".repeat(depth)}${"]".repeat(depth)}`;
    case "toml-inline": return `a = ${"{b = ".repeat(depth)}1${"}".repeat(depth)}`;
    default: return `[${Array.from({ length: depth }, (_, i) => `t${i % 10}`).join(".")}]\nx = 1`;
  }
});

// ---- wrangler config ----

const binding = fc.record(
  { binding: fc.oneof(fc.constantFrom("KV", "CACHE", ""), text, anyJsonish), id: fc.oneof(fc.stringMatching(/^[0-9a-f]{32}$/), anyJsonish), preview_id: fc.oneof(text, anyJsonish) },
  { requiredKeys: [] },
);
const settings = fc.record({ url: fc.oneof(fc.constant("http://127.0.0.1:8787"), text, anyJsonish), token: fc.oneof(text, anyJsonish), persist_to: fc.oneof(text, anyJsonish) }, { requiredKeys: [] });
const config = fc.record(
  {
    name: fc.oneof(text, anyJsonish),
    kv_namespaces: fc.oneof(fc.array(binding, { maxLength: 3 }), anyJsonish),
    env: fc.oneof(fc.dictionary(fc.constantFrom("staging", "production", "__proto__", "constructor", "toString", ""), fc.oneof(fc.record({ name: text, kv_namespaces: fc.array(binding, { maxLength: 2 }) }, { requiredKeys: [] }), anyJsonish), { maxKeys: 3 }), anyJsonish),
    openkv: fc.oneof(settings, anyJsonish),
    compatibility_date: fc.constant("2026-01-01"),
  },
  { requiredKeys: [] },
);
/** TOML has no null: stringify what it can, or fall back to JSON-ish text in a .toml file. */
function tomlOf(c: object): string {
  try {
    return toToml(c);
  } catch {
    return JSON.stringify(c);
  }
}
const configText = (format: string): fc.Arbitrary<string> => {
  const valid = format === "toml" ? config.map(tomlOf) : config.map((c) => JSON.stringify(c, null, format === "jsonc" ? 2 : undefined));
  return fc.oneof(
    { arbitrary: valid, weight: 4 },
    { arbitrary: mutatedText(valid), weight: 4 },
    { arbitrary: valid.map((t) => `// comment\n${t.replace(/\n/, "\n/* c */ ")},`), weight: 1 },
    { arbitrary: text, weight: 1 },
    { arbitrary: deepText, weight: 1 },
    { arbitrary: oddJsonText.map((t) => (format === "toml" ? `a = ${t}` : t)), weight: 1 },
    { arbitrary: oddJsonText.map((t) => (format === "toml" ? `[env]\nstaging = ${t}` : `{"env": ${t}, "kv_namespaces": ${t}, "openkv": ${t}}`)), weight: 1 },
  );
};

const FORMATS = ["toml", "json", "jsonc"] as const;
const configInput = fc.constantFrom(...FORMATS).chain((format) =>
  fc.record({
    path: fc.constantFrom(`/work/project/wrangler.${format}`, `/tmp/ünï cødé/wrangler.${format}`),
    text: configText(format),
    env: fc.option(fc.constantFrom("staging", "production", "__proto__", "constructor", "toString", "qa"), { nil: undefined }),
  }),
);

// ---- kv bulk files ----

const pair = fc.record({ key: fc.oneof(text, anyJsonish), value: fc.oneof(text, anyJsonish), base64: anyJsonish, expiration: anyJsonish, expiration_ttl: anyJsonish, metadata: anyJsonish, extra: anyJsonish }, { requiredKeys: [] });
const bulkValid = fc.oneof(fc.array(pair, { maxLength: 20 }), fc.array(fc.oneof(text, fc.record({ name: fc.oneof(text, anyJsonish) }), anyJsonish), { maxLength: 8 }), anyJsonish).map((v) => JSON.stringify(v));
const bulkText = fc.oneof(
  { arbitrary: bulkValid, weight: 4 },
  { arbitrary: mutatedText(bulkValid), weight: 4 },
  { arbitrary: text, weight: 1 },
  { arbitrary: deepText, weight: 1 },
  { arbitrary: oddJsonText, weight: 2 },
);

const sink = { write: () => true };
const quietOutput = new Output(sink, sink, {});

/** Every error about a file must say which file. */
function namesFile(e: unknown, path: string): boolean {
  if (e instanceof ConfigError) return [e.message, ...e.notes].some((line) => line.includes(path));
  if (e instanceof UserError) return e.message.includes(path);
  return false;
}

export const fileTargets: FuzzTarget[] = [
  target({
    name: "config/wrangler",
    about: "any wrangler.toml/.json/.jsonc text and --env → bindings, or a ConfigError naming the file",
    input: configInput,
    expected: () => false,
    run({ path, text: body, env }) {
      try {
        const c = wranglerConfigFromText(body, path, env);
        for (const b of c.kvNamespaces) assert.ok(typeof b.binding === "string" && b.binding !== "");
      } catch (e) {
        if (!namesFile(e, path)) throw e;
      }
    },
  }),
  target({
    name: "cli/bulk-file",
    about: "any `kv bulk put|get|delete` file text → pairs or key names, or a UserError naming the file",
    input: fc.tuple(fc.constantFrom("pairs.json", "keys/ü.json"), bulkText),
    expected: () => false,
    run([filename, body]) {
      let content: unknown;
      try {
        content = parseJsonText(body, filename);
      } catch (e) {
        if (namesFile(e, filename)) return;
        throw e;
      }
      for (const parse of [() => parsePairs(content, filename, quietOutput), () => parseKeyNames(content, filename)]) {
        try {
          parse();
        } catch (e) {
          if (!namesFile(e, filename)) throw e;
        }
      }
    },
  }),
];
