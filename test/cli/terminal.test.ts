/**
 * `openkv` in a real terminal (tmux): a 10,000-key `kv bulk put` draws its progress bar, and the
 * confirmation prompts of `kv namespace delete` and `kv bulk delete` wait for an answer typed with
 * send-keys. Piped, the same bulk put prints no progress at all.
 *
 * Needs tmux (`apt-get install -y tmux`; .ci/run installs it).
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { cleanEnv, OPENKV, openkv, ROOT, tempDir } from "./helpers.ts";

const hasTmux = spawnSync("tmux", ["-V"]).status === 0;
const socket = `openkv-test-${process.pid}`;
const dir = tempDir("terminal");

function tmux(...args: string[]): string {
  return execFileSync("tmux", ["-L", socket, ...args], { encoding: "utf8" });
}

after(() => {
  if (hasTmux) spawnSync("tmux", ["-L", socket, "kill-server"]);
});

let booted = false;

/** Starts `openkv args` in a fresh tmux window (a terminal, not CI) and returns its pane target. */
function startInTerminal(name: string, args: string[]): string {
  // env -i: no CI variable from the test runner may turn the prompts off.
  const env = Object.entries({ PATH: `${join(ROOT, "node_modules/.bin")}:/usr/bin:/bin`, HOME: dir, TERM: "xterm-256color", LANG: "C.UTF-8" })
    .map(([k, v]) => `${k}=${v}`)
    .join(" ");
  const command = `cd ${dir} && env -i ${env} ${OPENKV} ${args.map((a) => `'${a}'`).join(" ")}; echo "[exit $?]"`;
  if (!booted) {
    // A first session that idles, so the server exists and keeps every pane (and its last screen) once its command ends.
    tmux("-f", "/dev/null", "new-session", "-d", "-s", "boot", "cat");
    tmux("set-option", "-g", "remain-on-exit", "on");
    booted = true;
  }
  tmux("new-session", "-d", "-s", name, "-x", "160", "-y", "40", command);
  return name;
}

/** Polls the pane (bounded) until `pattern` shows; returns the screen. */
async function waitForScreen(target: string, pattern: RegExp, timeoutMs = 30_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let screen = "";
  while (Date.now() < deadline) {
    screen = tmux("capture-pane", "-p", "-t", target);
    if (pattern.test(screen)) return screen;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${pattern} on the terminal:\n${screen}`);
}

test("tmux is installed (the terminal tests need it)", () => {
  assert.ok(hasTmux, "tmux is missing: install it (apt-get install -y tmux) to run the terminal tests; .ci/run installs it from its needs list");
});

const pairs = Array.from({ length: 10_000 }, (_, i) => ({ key: `key-${String(i).padStart(5, "0")}`, value: `value ${i}` }));
writeFileSync(join(dir, "big.json"), JSON.stringify(pairs));
writeFileSync(join(dir, "some-keys.json"), JSON.stringify(pairs.slice(0, 10).map((p) => p.key)));

test("kv bulk put of 10,000 keys draws a progress bar on a terminal, and nothing when piped", { skip: !hasTmux && "tmux is missing", timeout: 120_000 }, async () => {
  const target = startInTerminal("bulk", ["kv", "bulk", "put", "big.json", "--namespace-id", "0123456789abcdef0123456789abcdef"]);
  const screen = await waitForScreen(target, /\[exit \d+\]/);
  assert.match(screen, /Resource location: local \(\.\/\.openkv\)/);
  assert.match(screen, /Writing █{30} 100% 10,000\/10,000/, screen);
  assert.match(screen, /Success!\n\[exit 0\]/);

  const piped = await openkv(["kv", "bulk", "put", "big.json", "--namespace-id", "0123456789abcdef0123456789abcdef", "--persist-to", "piped"], {
    cwd: dir,
    env: cleanEnv(dir),
  });
  assert.equal(piped.code, 0, piped.stderr);
  assert.equal(piped.stderr, "", "no progress output when stderr is not a terminal");
  assert.ok(!/Writing|█|%/.test(piped.stdout), piped.stdout);
});

test("kv namespace delete asks \"Ok to proceed?\" and kv bulk delete asks \"Are you sure…\"; answers come from the keyboard", { skip: !hasTmux && "tmux is missing", timeout: 120_000 }, async () => {
  const env = cleanEnv(dir);
  const created = await openkv(["kv", "namespace", "create", "PROMPTED"], { cwd: dir, env });
  assert.equal(created.code, 0, created.stderr);
  const id = /"id": "([0-9a-f]{32})"/.exec(created.stdout)![1]!;

  const no = startInTerminal("delete-no", ["kv", "namespace", "delete", "PROMPTED"]);
  await waitForScreen(no, /\? Ok to proceed\? › \(Y\/n\)/);
  tmux("send-keys", "-t", no, "n", "Enter");
  let screen = await waitForScreen(no, /\[exit \d+\]/);
  assert.match(screen, /About to delete local KV namespace name: "PROMPTED"/);
  assert.match(screen, /Not deleting\.\n\[exit 0\]/);
  const still = await openkv(["kv", "namespace", "list"], { cwd: dir, env });
  assert.ok(still.stdout.includes(id), "answering n keeps the namespace");

  const put = await openkv(["kv", "bulk", "put", "big.json", "--namespace-id", id], { cwd: dir, env });
  assert.equal(put.code, 0, put.stderr);
  const bulk = startInTerminal("bulk-delete", ["kv", "bulk", "delete", "some-keys.json", "--namespace-id", id]);
  await waitForScreen(bulk, /\? Are you sure you want to delete all the keys read from "some-keys\.json" from kv-namespace id: "[0-9a-f]{32}"\? › \(Y\/n\)/);
  tmux("send-keys", "-t", bulk, "y", "Enter");
  screen = await waitForScreen(bulk, /\[exit \d+\]/);
  assert.match(screen, /Success!\n\[exit 0\]/);
  const left = JSON.parse((await openkv(["kv", "key", "list", "--namespace-id", id, "--prefix", "key-0000"], { cwd: dir, env })).stdout) as unknown[];
  assert.equal(left.length, 0, "key-00000 … key-00009 are gone");

  const yes = startInTerminal("delete-yes", ["kv", "namespace", "delete", "PROMPTED"]);
  await waitForScreen(yes, /\? Ok to proceed\? › \(Y\/n\)/);
  tmux("send-keys", "-t", yes, "y", "Enter");
  screen = await waitForScreen(yes, /\[exit \d+\]/);
  assert.match(screen, /Deleted KV namespace name: "PROMPTED" \(id: "[0-9a-f]{32}"\)\.\n\[exit 0\]/);
  const gone = await openkv(["kv", "namespace", "list"], { cwd: dir, env });
  assert.ok(!gone.stdout.includes(id));
});

test("export, import and backup of 10,000 entries draw their progress bars on a terminal", { skip: !hasTmux && "tmux is missing", timeout: 120_000 }, async () => {
  const env = cleanEnv(dir);
  const seeded = await openkv(["kv", "bulk", "put", "big.json", "--namespace-id", "0123456789abcdef0123456789abcdef", "--persist-to", "seeded"], { cwd: dir, env });
  assert.equal(seeded.code, 0, seeded.stderr);
  const chain = (args: string[]) => startInTerminal(`data-${args[0]}`, [...args]);
  let screen = await waitForScreen(chain(["export", "--persist-to", "seeded", "--output", "dump.ndjson"]), /\[exit \d+\]/);
  assert.match(screen, /Exporting █{30} 100% 10,000\/10,000\nExported 10,000 entries of 2 namespaces from local \(\.\/seeded\) to dump\.ndjson\.\n\[exit 0\]/, screen);
  screen = await waitForScreen(chain(["import", "dump.ndjson", "--persist-to", "imported"]), /\[exit \d+\]/);
  assert.match(screen, /Importing █{30} 100% 10,000\/10,000\n✨ Imported 10,000 entries/, screen);
  screen = await waitForScreen(chain(["backup", "snap.sqlite", "--persist-to", "imported"]), /\[exit \d+\]/);
  assert.match(screen, /Copying pages █{30} 100% (\d+)\/\1\n✨ Backed up \.\/imported/, screen);
});
