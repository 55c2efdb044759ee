/**
 * Golden tests: the same `kv …` commands through the real wrangler and through `openkv`, compared after
 * normalising what must differ (ids, paths, banners, the location line). Four worlds run the same script:
 *
 *   WR  wrangler … --remote, against OpenKV server A      OR  openkv … --remote, against server B
 *   WL  wrangler … (local state in a temp project)        OL  openkv … (local data dir ./.openkv)
 *
 * OR is compared with WR and OL with WL, step by step: exit code, stdout and stderr. wrangler's
 * `kv namespace …` commands are remote-only, so in WL they run against server C.
 *
 * The deliberate differences are listed in DIFFERENCES below (each one is a normalisation or a skip with
 * its reason); keep that list and the README in step.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { ADMIN, startTestServer } from "../e2e/harness.ts";
import { cleanEnv, openkv, tempDir, wrangler, type Run } from "./helpers.ts";

export const DIFFERENCES = [
  "The banner reads ` 🔑 openkv <version>` instead of ` ⛅️ wrangler <version> (update available …)`.",
  "`Resource location:` names the place: `local (./.openkv)` or `remote (http://host:port)`; wrangler says only `local`/`remote`.",
  "Commands whose stdout is data (`kv key get|list`, `kv bulk get`, `kv namespace list`) also print the `Resource location:` line, on stderr, so the data stays clean and you still see where it came from; wrangler prints nothing there.",
  "`kv namespace create|list|rename|delete` work locally too (default) and take --local/--remote/--persist-to; wrangler's are remote-only (so they lack the `Use --remote…` hint).",
  "`kv namespace delete` also accepts --force as an alias of -y/--skip-confirmation.",
  "No wrangler-only chatter: no `🪵 Logs were written to …` line, no `If you think this is a bug…` note, no `Would you like to report this error to Cloudflare?` prompt, no `🚧 … open beta` warning on `kv bulk get`.",
  "Remote request failures read `A request to the OpenKV server at <url> (<path>) failed.` instead of `A request to the Cloudflare API (<path>) failed.`; the error list under it is the same.",
  "`kv key get` of a missing key against a server fails (exit 1, as wrangler) with `Value not found: no key …` instead of wrangler's `Failed to fetch <url> - 404: Not Found);`.",
  "`kv bulk put|delete` of more than 1,000 keys draws a progress bar on stderr when it is a terminal and prints nothing when piped, instead of wrangler's `Uploaded 40% (4,000 out of 10,000)` lines on stdout.",
  "`kv bulk get` prints `{key: value}` in both modes; wrangler's local mode prints `{key: {value}}`.",
  "`kv bulk put|delete` report keys the store did not write (`unsuccessful_keys`) as an error; wrangler ignores them.",
  "`kv bulk put` applies --ttl/--expiration/--metadata to pairs that have none; wrangler accepts and ignores them.",
  "`--metadata` that is not JSON is an error; wrangler silently drops it.",
  "`kv key delete`, `kv bulk put|delete` require --binding or --namespace-id up front, like `kv key put|get|list` (wrangler reports a missing binding later, differently).",
  "`kv bulk get` reads any number of keys (100 per request); wrangler sends them in one request, which the API limits to 100.",
  "The old `kv:namespace` / `kv:key` / `kv:bulk` spelling still works with a deprecation warning; wrangler 4 rejects it.",
  "An unknown `--env` is an error listing the known environments even when the config has none; wrangler only warns then.",
  "Help: no --env-file flag (OpenKV loads no .env files) and `-e, --env` is described as selecting `env.<name>` of the config.",
  "Help: commands that can open a local store list --encryption-key-file (the store's key for encryption at rest), which wrangler has no use for.",
  "Error output is coloured only on a terminal (wrangler colours errors even when piped).",
];

type WorldName = "WR" | "OR" | "WL" | "OL";

interface World {
  readonly name: WorldName;
  readonly tool: "wrangler" | "openkv";
  readonly mode: "remote" | "local";
  readonly cwd: string;
  readonly env: Record<string, string>;
  readonly vars: Record<string, string>;
}

interface Step {
  readonly title: string;
  /** `kv`: key/bulk commands (take --local/--remote); `namespace`: namespace commands (remote-only in wrangler). */
  readonly kind: "kv" | "namespace";
  readonly args: readonly string[];
  readonly only?: "remote" | "local";
  /** What is not compared, and why (a deliberate difference listed above). */
  readonly skip?: { readonly stdout?: string; readonly stderr?: string };
  /** Variables to remember from the output (e.g. the id of a created namespace). */
  readonly capture?: (run: Run) => Record<string, string>;
  /** Extra normalisation of one tool's output in one mode. */
  readonly adjust?: Partial<Record<WorldName, (run: Normalised) => Normalised>>;
}

interface Normalised {
  code: number;
  stdout: string;
  stderr: string;
}

const bulkPairs = [
  ...Array.from({ length: 1500 }, (_, i) => ({ key: `k${String(i).padStart(4, "0")}`, value: `v${i}` })),
  { key: "b64", value: Buffer.from([0, 1]).toString("base64"), base64: true },
  { key: "with-meta", value: "m", metadata: { owner: "ada" }, expiration_ttl: 7200 },
];

function writeFixtures(dir: string): void {
  writeFileSync(join(dir, "bin.dat"), Buffer.from([0, 1, 2, 0xff, 0x80]));
  writeFileSync(join(dir, "bulk.json"), JSON.stringify(bulkPairs));
  writeFileSync(join(dir, "keys.json"), JSON.stringify(["k0000", { name: "k0001" }, "b64", "with-meta", "missing"]));
  writeFileSync(join(dir, "all-keys.json"), JSON.stringify(bulkPairs.map((p) => p.key)));
  writeFileSync(join(dir, "badpairs.json"), JSON.stringify([{ key: "x" }, { key: 1, value: "v" }, { key: "y", value: "v", extra: 1 }]));
  writeFileSync(join(dir, "obj.json"), JSON.stringify({ a: 1 }));
  writeFileSync(join(dir, "notjson.json"), "not json\n");
  writeFileSync(join(dir, "badkeys.json"), JSON.stringify([1, { n: 2 }]));
}

const nsId = (run: Run) => ({ ns: /"id": "([0-9a-f]{32})"/.exec(run.stdout)?.[1] ?? "(none)" });
const bulkGetLocal = (r: Normalised): Normalised => {
  // wrangler's local mode wraps each value as {value}; its remote mode and OpenKV print the value.
  const m = /^(\{[\s\S]*?\n\})\n/m.exec(r.stdout);
  if (!m) return r;
  const unwrapped = Object.fromEntries(Object.entries(JSON.parse(m[1]!) as Record<string, { value: unknown }>).map(([k, v]) => [k, v.value]));
  return { ...r, stdout: r.stdout.replace(m[1]!, JSON.stringify(unwrapped, null, 2)) };
};

const STEPS: readonly Step[] = [
  { title: "create a namespace", kind: "namespace", args: ["kv", "namespace", "create", "GOLDEN_NS"], capture: nsId },
  { title: "create it again: already exists", kind: "namespace", args: ["kv", "namespace", "create", "GOLDEN_NS"] },
  { title: "list namespaces", kind: "namespace", args: ["kv", "namespace", "list"] },
  { title: "put text", kind: "kv", args: ["kv", "key", "put", "greeting", "hello", "--namespace-id", "{ns}"] },
  { title: "put with metadata and ttl", kind: "kv", args: ["kv", "key", "put", "meta", "world", "--metadata", '{"a":1}', "--ttl", "3600", "--namespace-id", "{ns}"] },
  { title: "put a file", kind: "kv", args: ["kv", "key", "put", "bin", "--path", "bin.dat", "--namespace-id", "{ns}"] },
  { title: "get raw", kind: "kv", args: ["kv", "key", "get", "greeting", "--namespace-id", "{ns}"] },
  { title: "get --text", kind: "kv", args: ["kv", "key", "get", "meta", "--text", "--namespace-id", "{ns}"] },
  { title: "get binary", kind: "kv", args: ["kv", "key", "get", "bin", "--namespace-id", "{ns}"] },
  { title: "list keys", kind: "kv", args: ["kv", "key", "list", "--namespace-id", "{ns}"] },
  { title: "list keys by prefix", kind: "kv", args: ["kv", "key", "list", "--prefix", "gr", "--namespace-id", "{ns}"] },
  { title: "get a missing key (local)", kind: "kv", only: "local", args: ["kv", "key", "get", "missing", "--namespace-id", "{ns}"] },
  {
    title: "get a missing key (remote)",
    kind: "kv",
    only: "remote",
    args: ["kv", "key", "get", "missing", "--namespace-id", "{ns}"],
    skip: { stdout: "wrangler adds its bug-report prompt", stderr: "Value not found: … instead of Failed to fetch …" },
  },
  { title: "ttl under 60 s", kind: "kv", args: ["kv", "key", "put", "x", "y", "--ttl", "30", "--namespace-id", "{ns}"] },
  { title: "no namespace: usage error with help", kind: "kv", args: ["kv", "key", "put", "x", "y"] },
  { title: "bulk put 1,502 pairs", kind: "kv", args: ["kv", "bulk", "put", "bulk.json", "--namespace-id", "{ns}"] },
  { title: "bulk get", kind: "kv", args: ["kv", "bulk", "get", "keys.json", "--namespace-id", "{ns}"], adjust: { WL: bulkGetLocal } },
  { title: "list after bulk, by prefix", kind: "kv", args: ["kv", "key", "list", "--prefix", "k000", "--namespace-id", "{ns}"] },
  { title: "bulk put: bad pairs", kind: "kv", args: ["kv", "bulk", "put", "badpairs.json", "--namespace-id", "{ns}"] },
  { title: "bulk put: not an array", kind: "kv", args: ["kv", "bulk", "put", "obj.json", "--namespace-id", "{ns}"] },
  { title: "bulk put: not JSON", kind: "kv", args: ["kv", "bulk", "put", "notjson.json", "--namespace-id", "{ns}"] },
  { title: "bulk put: missing file", kind: "kv", args: ["kv", "bulk", "put", "missing.json", "--namespace-id", "{ns}"] },
  { title: "bulk delete: bad keys", kind: "kv", args: ["kv", "bulk", "delete", "badkeys.json", "--force", "--namespace-id", "{ns}"] },
  { title: "bulk delete (asks; CI answers yes)", kind: "kv", args: ["kv", "bulk", "delete", "all-keys.json", "--namespace-id", "{ns}"] },
  { title: "delete a key", kind: "kv", args: ["kv", "key", "delete", "greeting", "--namespace-id", "{ns}"] },
  { title: "list what is left", kind: "kv", args: ["kv", "key", "list", "--namespace-id", "{ns}"] },
  { title: "rename", kind: "namespace", args: ["kv", "namespace", "rename", "GOLDEN_NS", "--new-name", "GOLDEN_RENAMED"] },
  { title: "rename a missing one", kind: "namespace", args: ["kv", "namespace", "rename", "NOPE", "--new-name", "X"] },
  { title: "delete the namespace (asks; CI answers yes)", kind: "namespace", args: ["kv", "namespace", "delete", "GOLDEN_RENAMED"] },
  {
    title: "delete it again",
    kind: "namespace",
    args: ["kv", "namespace", "delete", "GOLDEN_RENAMED"],
    skip: { stdout: "the help printed after the error lists OpenKV's extra --local/--remote/--persist-to/--force flags" },
  },
];

const worlds = new Map<WorldName, World>();
{
  const servers = { WR: await startTestServer(), OR: await startTestServer(), WL: await startTestServer() };
  const make = (name: WorldName, tool: World["tool"], mode: World["mode"], server?: { url: string; accountId: string }) => {
    const cwd = tempDir(`golden-${name}`);
    writeFixtures(cwd);
    const env = cleanEnv(cwd, {
      CI: "true",
      WRANGLER_SEND_METRICS: "false",
      ...(server && tool === "wrangler"
        ? { CLOUDFLARE_API_BASE_URL: `${server.url}/client/v4`, CLOUDFLARE_API_TOKEN: ADMIN, CLOUDFLARE_ACCOUNT_ID: server.accountId }
        : {}),
      ...(server && tool === "openkv" ? { OPENKV_URL: server.url, OPENKV_TOKEN: ADMIN } : {}),
    });
    worlds.set(name, { name, tool, mode, cwd, env, vars: {} });
  };
  make("WR", "wrangler", "remote", servers.WR);
  make("OR", "openkv", "remote", servers.OR);
  make("WL", "wrangler", "local", servers.WL);
  make("OL", "openkv", "local");
}

function argsFor(world: World, step: Step): string[] {
  const args = step.args.map((a) => a.replace(/\{(\w+)\}/g, (_, v: string) => world.vars[v] ?? `{${v}}`));
  if (world.mode === "remote" && (step.kind === "kv" || world.tool === "openkv")) args.push("--remote");
  return args;
}

async function runStep(world: World, step: Step): Promise<Run> {
  const args = argsFor(world, step);
  const run = world.tool === "wrangler" ? await wrangler(args, { cwd: world.cwd, env: world.env }) : await openkv(args, { cwd: world.cwd, env: world.env });
  if (step.capture) Object.assign(world.vars, step.capture(run));
  return run;
}

/** Ids by order of first appearance per world, so `<id1>` in one world is `<id1>` in the other. */
function normaliser(world: World) {
  const ids = new Map<string, string>();
  return (run: Run, stream: "stdout" | "stderr"): string => {
    let text = (stream === "stdout" ? run.stdout : run.stderr).replace(/\x1b\[[0-9;]*m/g, "");
    text = text.split(world.cwd).join("<cwd>");
    text = text.replace(/[0-9a-f]{32}/g, (id) => {
      if (!ids.has(id)) ids.set(id, `<id${ids.size + 1}>`);
      return ids.get(id)!;
    });
    const lines: string[] = [];
    const src = text.split("\n");
    for (let i = 0; i < src.length; i++) {
      let line = src[i]!;
      if (/^ (⛅️ wrangler|🔑 openkv) /.test(line)) {
        lines.push("<banner>");
        if (/^─+$/.test(src[i + 1] ?? "")) i++;
        continue;
      }
      if (/^Resource location: /.test(line)) {
        if (stream === "stderr") continue;
        line = "Resource location: <where>";
      }
      if (line === "Use --remote if you want to access the remote instance.") {
        if (src[i + 1] === "") i++;
        continue;
      }
      if (/^🪵 {2}Logs were written to /.test(line)) continue;
      if (/If you think this is a bug/.test(line)) continue;
      if (/^Note that there is a newer version of Wrangler/.test(line)) continue;
      if (/^\? Would you like to report this error to Cloudflare\?/.test(line)) {
        if (/Using fallback value in non-interactive context: no/.test(src[i + 1] ?? "")) i++;
        continue;
      }
      if (/🚧 `wrangler kv bulk get` is an open beta command/.test(line)) continue;
      if (/^(Uploaded|Deleted) \d+% \(/.test(line)) continue;
      if (/^\s*--env-file /.test(line) || /^\s*-e, --env /.test(line) || /^\s*--encryption-key-file /.test(line)) continue;
      line = line.replace(/A request to the Cloudflare API \(/, "A request to the server (").replace(/A request to the OpenKV server at \S+ \(/, "A request to the server (");
      line = line.replace(/About to delete (local|remote) KV namespace/, "About to delete <where> KV namespace");
      line = line.replace(/"expiration": 1\d{9}/g, '"expiration": <exp>');
      line = line.replace(/\bwrangler\b/g, "openkv").replace(/\bWrangler\b/g, "OpenKV");
      line = line.replace(/(\S) {2,}/g, "$1  ").trimEnd();
      lines.push(line);
    }
    return lines.join("\n").replace(/\n{3,}/g, "\n\n").trim();
  };
}

const normalisers = new Map<WorldName, ReturnType<typeof normaliser>>();
function normalise(world: World, run: Run): Normalised {
  if (!normalisers.has(world.name)) normalisers.set(world.name, normaliser(world));
  const n = normalisers.get(world.name)!;
  return { code: run.code, stdout: n(run, "stdout"), stderr: n(run, "stderr") };
}

function compare(step: Step, pair: [World, World], runs: [Run, Run]): void {
  const [theirs, ours] = pair.map((w, i) => {
    const n = normalise(w, runs[i]!);
    return step.adjust?.[w.name]?.(n) ?? n;
  }) as [Normalised, Normalised];
  const label = `${step.title} (${pair[1].name} vs ${pair[0].name}): openkv ${argsFor(pair[1], step).join(" ")}`;
  if (process.env.GOLDEN_DUMP) {
    process.stderr.write(`\n===== ${label}\n--- exit ${theirs.code}/${ours.code}\n--- wrangler stdout\n${theirs.stdout}\n--- openkv stdout\n${ours.stdout}\n--- wrangler stderr\n${theirs.stderr}\n--- openkv stderr\n${ours.stderr}\n`);
  }
  assert.equal(ours.code, theirs.code, `${label}: exit code\nwrangler:\n${theirs.stdout}\n${theirs.stderr}\nopenkv:\n${ours.stdout}\n${ours.stderr}`);
  if (!step.skip?.stdout) assert.equal(ours.stdout, theirs.stdout, `${label}: stdout`);
  if (!step.skip?.stderr) assert.equal(ours.stderr, theirs.stderr, `${label}: stderr`);
}

describe("golden", { concurrency: 2 }, () => {
for (const mode of (process.env.GOLDEN_MODE ? [process.env.GOLDEN_MODE] : ["remote", "local"]) as ("remote" | "local")[]) {
  test(`golden: openkv kv … ${mode === "remote" ? "--remote" : "(local)"} prints what wrangler prints`, { timeout: 600_000 }, async () => {
    const [theirs, ours] = mode === "remote" ? [worlds.get("WR")!, worlds.get("OR")!] : [worlds.get("WL")!, worlds.get("OL")!];
    for (const step of STEPS) {
      if (step.only && step.only !== mode) continue;
      const runs = (await Promise.all([runStep(theirs, step), runStep(ours, step)])) as [Run, Run];
      compare(step, [theirs, ours], runs);
      if (step.title === "get binary") assert.deepEqual(runs[1].bytes, Buffer.from([0, 1, 2, 0xff, 0x80]), "the value's bytes, untouched");
    }
  });
}
});

test("the list of deliberate differences is not empty and each entry is one sentence or two", () => {
  assert.ok(DIFFERENCES.length > 10);
  for (const d of DIFFERENCES) assert.ok(d.length < 400, d);
});
