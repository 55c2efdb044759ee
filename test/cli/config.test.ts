/**
 * Config files and bindings: which file is read, environments, preview ids, the errors that list what is
 * known, getBindings() on the local data directory and on a server, and the CLI's --binding/--env/
 * --preview/--config/--cwd flags reading the same config.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { getBinding, getBindings, readWranglerConfig, ConfigError } from "../../src/index.ts";
import { bindingNamespaceId } from "../../src/config/index.ts";
import { ADMIN, startTestServer } from "../e2e/harness.ts";
import { cleanEnv, openkv, tempDir } from "./helpers.ts";

const ID_A = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const ID_B = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const ID_P = "cccccccccccccccccccccccccccccccc";
const ID_S = "dddddddddddddddddddddddddddddddd";

const TOML = `name = "shop"

[[kv_namespaces]]
binding = "CACHE"
id = "${ID_A}"

[[kv_namespaces]]
binding = "SESSIONS"
id = "${ID_B}"
preview_id = "${ID_P}"

[env.staging]
name = "shop-staging"
kv_namespaces = [ { binding = "CACHE", id = "${ID_S}" } ]

[env.production]
`;

test("finds wrangler.json before wrangler.jsonc before wrangler.toml, walking up; reads comments and trailing commas", () => {
  const root = tempDir("find");
  const sub = join(root, "a/b");
  mkdirSync(sub, { recursive: true });
  writeFileSync(join(root, "wrangler.toml"), TOML);
  assert.equal(readWranglerConfig({ cwd: sub }).path, join(root, "wrangler.toml"));
  writeFileSync(join(root, "a/wrangler.jsonc"), `{\n  // a comment\n  "kv_namespaces": [{ "binding": "J", "id": "${ID_A}" },],\n}\n`);
  const jsonc = readWranglerConfig({ cwd: sub });
  assert.equal(jsonc.path, join(root, "a/wrangler.jsonc"));
  assert.deepEqual(jsonc.kvNamespaces, [{ binding: "J", id: ID_A }]);
  writeFileSync(join(root, "wrangler.json"), `{"kv_namespaces": [{"binding": "ROOT_JSON", "id": "${ID_B}"}]}`);
  assert.equal(readWranglerConfig({ cwd: sub }).path, join(root, "wrangler.json"), "as wrangler: wrangler.json anywhere up the tree wins");
  assert.equal(readWranglerConfig({ cwd: sub, config: "../wrangler.jsonc" }).path, join(root, "a/wrangler.jsonc"));
});

test("environments: env.<name>.kv_namespaces (not inherited), unknown ones listed", () => {
  const dir = tempDir("env");
  writeFileSync(join(dir, "wrangler.toml"), TOML);
  const top = readWranglerConfig({ cwd: dir });
  assert.deepEqual(top.kvNamespaces.map((n) => n.binding), ["CACHE", "SESSIONS"]);
  assert.deepEqual(top.environments, ["staging", "production"]);
  const staging = readWranglerConfig({ cwd: dir, env: "staging" });
  assert.deepEqual(staging.kvNamespaces, [{ binding: "CACHE", id: ID_S }]);
  assert.equal(staging.name, "shop-staging");
  assert.deepEqual(readWranglerConfig({ cwd: dir, env: "production" }).kvNamespaces, [], "KV bindings are not inherited");
  assert.throws(
    () => readWranglerConfig({ cwd: dir, env: "qa" }),
    (e: unknown) => e instanceof ConfigError && e.message === 'No environment found in configuration with name "qa".' && e.notes[0] === 'The available configured environment names are: ["staging","production"]',
  );
  writeFileSync(join(dir, "wrangler.toml"), 'name = "x"\n');
  assert.throws(() => readWranglerConfig({ cwd: dir, env: "qa" }), /No environment found in configuration with name "qa"/);
});

test("a broken config file is reported with its place", () => {
  const dir = tempDir("broken");
  writeFileSync(join(dir, "wrangler.jsonc"), '{\n  "kv_namespaces": [ { "binding": "A" } }\n');
  assert.throws(
    () => readWranglerConfig({ cwd: dir }),
    (e: unknown) => e instanceof ConfigError && e.message === "CommaExpected" && e.notes.some((n) => n.includes("wrangler.jsonc:2:")),
  );
  writeFileSync(join(dir, "wrangler.jsonc"), '{"kv_namespaces": [ { "id": "x" } ]}');
  assert.throws(() => readWranglerConfig({ cwd: dir }), /"kv_namespaces\[0\]" needs a string "binding"/);
});

test("preview ids follow wrangler's rules", () => {
  const both = { binding: "S", id: ID_B, preview_id: ID_P };
  assert.equal(bindingNamespaceId(both, true, true), ID_P);
  assert.equal(bindingNamespaceId(both, false, true), ID_B);
  assert.throws(() => bindingNamespaceId(both, undefined, true), /S has both a namespace ID and a preview ID\. Specify "--preview" or "--preview false"/);
  assert.throws(() => bindingNamespaceId({ binding: "C", id: ID_A }, true, true), /No preview ID found for C\./);
  assert.equal(bindingNamespaceId({ binding: "NEW" }, undefined, true), "NEW", "a binding with no id is, locally, the namespace named after it");
  assert.throws(() => bindingNamespaceId({ binding: "NEW" }, undefined, false), /No namespace ID found for NEW/);
});

test("getBindings() on the local data directory shares data with `openkv kv … --binding`", { timeout: 60_000 }, async () => {
  const dir = tempDir("bindings-local");
  writeFileSync(join(dir, "wrangler.toml"), TOML);
  const sub = join(dir, "src");
  mkdirSync(sub);
  const env = await getBindings({ cwd: sub });
  assert.deepEqual(Object.keys(env).sort(), ["CACHE", "SESSIONS"]);
  await env.CACHE!.put("greeting", "hello from getBindings", { metadata: { v: 1 } });
  await env.close();
  const staging = await getBindings({ cwd: dir, env: "staging" });
  await staging.CACHE!.put("greeting", "staging value");
  await staging.close();
  const preview = await getBindings({ cwd: dir, preview: true }).catch((e: unknown) => e);
  assert.ok(preview instanceof ConfigError && /No preview ID found for CACHE/.test(preview.message));
  await assert.rejects(getBinding("NOPE", { cwd: dir }), (e: unknown) => e instanceof ConfigError && e.notes[0] === 'The configured bindings are: "CACHE", "SESSIONS".');

  const cli = cleanEnv(dir);
  // The data directory is .openkv beside the config file, also from a subdirectory.
  const got = await openkv(["kv", "key", "get", "greeting", "--binding", "CACHE", "--text"], { cwd: sub, env: cli });
  assert.equal(got.code, 0, got.stderr);
  assert.equal(got.stdout, "hello from getBindings\n");
  assert.equal(got.stderr, "Resource location: local (../.openkv)\n");
  const stagingGet = await openkv(["kv", "key", "get", "greeting", "--binding", "CACHE", "--env", "staging"], { cwd: dir, env: cli });
  assert.equal(stagingGet.stdout, "staging value");
  const list = await openkv(["kv", "key", "list", "--binding", "CACHE"], { cwd: dir, env: cli });
  assert.deepEqual(JSON.parse(list.stdout), [{ name: "greeting", metadata: { v: 1 } }]);

  const previewPut = await openkv(["kv", "key", "put", "p", "v", "--binding", "SESSIONS", "--preview"], { cwd: dir, env: cli });
  assert.equal(previewPut.code, 0, previewPut.stderr);
  assert.match(previewPut.stdout, new RegExp(`on namespace binding: "SESSIONS" \\(id: "${ID_P}"\\)\\.`));
  const ambiguous = await openkv(["kv", "key", "put", "p", "v", "--binding", "SESSIONS"], { cwd: dir, env: cli });
  assert.equal(ambiguous.code, 1);
  assert.match(ambiguous.stderr, /SESSIONS has both a namespace ID and a preview ID/);
  const unknown = await openkv(["kv", "key", "get", "k", "--binding", "NOPE"], { cwd: dir, env: cli });
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /✘ \[ERROR\] A namespace with binding name "NOPE" was not found in the configured "kv_namespaces"\.\n\n {2}The configured bindings are: "CACHE", "SESSIONS"\./);
  const badEnv = await openkv(["kv", "key", "get", "k", "--binding", "CACHE", "--env", "qa"], { cwd: dir, env: cli });
  assert.equal(badEnv.code, 1);
  assert.match(badEnv.stderr, /No environment found in configuration with name "qa"\.\n\n {2}The available configured environment names are: \["staging","production"\]/);
  const other = await openkv(["kv", "key", "get", "greeting", "--binding", "CACHE", "--cwd", "src", "--text"], { cwd: dir, env: cli });
  assert.equal(other.stdout, "hello from getBindings\n", "--cwd runs as if started there");
});

test("getBindings({ remote: true }) talks to a server (OPENKV_URL / OPENKV_TOKEN or options)", { timeout: 60_000 }, async () => {
  const server = await startTestServer();
  const dir = tempDir("bindings-remote");
  const ns = await server.engine.createNamespace("remote-cache");
  writeFileSync(join(dir, "wrangler.jsonc"), JSON.stringify({ kv_namespaces: [{ binding: "CACHE", id: ns.id }] }));
  const env = await getBindings({ cwd: dir, remote: true, url: server.url, token: ADMIN });
  await env.CACHE!.put("k", "over the wire");
  assert.equal(await env.CACHE!.get("k"), "over the wire");
  await env.close();
  const cli = await openkv(["kv", "key", "get", "k", "--binding", "CACHE", "--remote"], { cwd: dir, env: cleanEnv(dir, { OPENKV_URL: server.url, OPENKV_TOKEN: ADMIN }) });
  assert.equal(cli.stdout, "over the wire");
  assert.equal(cli.stderr, `Resource location: remote (${server.url})\n`);
  await assert.rejects(getBindings({ cwd: dir, remote: true, url: "", token: "" }), /Remote mode needs a server: set OPENKV_URL/);
  // The server may also come from the config file's "openkv" table.
  const viaConfig = tempDir("remote-config");
  writeFileSync(join(viaConfig, "wrangler.json"), JSON.stringify({ openkv: { url: server.url, token: ADMIN }, kv_namespaces: [{ binding: "CACHE", id: ns.id }] }));
  const fromConfig = await openkv(["kv", "key", "get", "k", "--binding", "CACHE", "--remote"], { cwd: viaConfig, env: cleanEnv(viaConfig) });
  assert.equal(fromConfig.code, 0, fromConfig.stderr);
  assert.equal(fromConfig.stdout, "over the wire");
});

test("kv namespace create --binding adds the binding to a wrangler.jsonc, keeping its comments", { timeout: 60_000 }, async () => {
  const dir = tempDir("update-config");
  writeFileSync(join(dir, "wrangler.jsonc"), '{\n  // my worker\n  "name": "w",\n  "kv_namespaces": [\n    { "binding": "OLD", "id": "x" }\n  ]\n}\n');
  const env = cleanEnv(dir, { CI: "true" });
  const run = await openkv(["kv", "namespace", "create", "fresh-ns", "--binding", "FRESH"], { cwd: dir, env });
  assert.equal(run.code, 0, run.stderr);
  const id = /"id": "([0-9a-f]{32})"/.exec(run.stdout)![1]!;
  const text = readFileSync(join(dir, "wrangler.jsonc"), "utf8");
  assert.match(text, /\/\/ my worker/);
  assert.deepEqual(readWranglerConfig({ cwd: dir }).kvNamespaces, [{ binding: "OLD", id: "x" }, { binding: "FRESH", id }]);
  // Without --binding, CI answers wrangler's question with "no".
  const asked = await openkv(["kv", "namespace", "create", "other-ns"], { cwd: dir, env });
  assert.match(asked.stdout, /\? Would you like OpenKV to add it on your behalf\?\n🤖 Using fallback value in non-interactive context: no\n/);
  assert.equal(readWranglerConfig({ cwd: dir }).kvNamespaces.length, 2);
  // With --env, the title is prefixed and the snippet says where it goes.
  const staged = await openkv(["kv", "namespace", "create", "c", "--env", "staging"], { cwd: tempDir("env-create"), env });
  assert.equal(staged.code, 1, "no such environment in a directory without a config");
  const toml = tempDir("toml-create");
  writeFileSync(join(toml, "wrangler.toml"), 'name = "w"\n[env.staging]\n');
  const inEnv = await openkv(["kv", "namespace", "create", "c", "--env", "staging"], { cwd: toml, env });
  assert.equal(inEnv.code, 0, inEnv.stderr);
  assert.match(inEnv.stdout, /🌀 Creating namespace with title "staging-c"/);
  assert.match(inEnv.stdout, /add the following snippet to your configuration file in the "staging" environment:\n\[\[kv_namespaces\]\]\nbinding = "c"\nid = "[0-9a-f]{32}"\n/);
});
