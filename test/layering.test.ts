/**
 * The folder layering of src/ (../shared/STYLE.md, "A layout that shows the architecture"): dependencies
 * point inward, and two folders never need each other through the HTTP plumbing or the KV Connect wire.
 * Each folder lists the sibling folders it may import; anything else fails with the offending files.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { test } from "node:test";

const SRC = join(import.meta.dirname, "..", "src");

const ALLOWED: Record<string, readonly string[]> = {
  core: [],
  storage: ["core"],
  auth: ["core"],
  wire: ["core"],
  http: ["core", "auth"],
  // `openKv("http://…")` and `openNamespace("http://…")` pick the remote client: the one edge back.
  api: ["core", "storage", "auth", "http", "wire", "client"],
  client: ["core", "wire", "api"],
  config: ["core", "storage", "api", "client"],
  // The composition root: an edge node's server is built on the client that reaches its core.
  server: ["core", "storage", "auth", "http", "wire", "api", "client"],
  cli: ["core", "storage", "auth", "config", "api", "client", "server"],
  "(root)": ["core", "storage", "api", "client", "config"],
};

function* sourceFiles(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* sourceFiles(path);
    else if (name.endsWith(".ts") && !name.endsWith(".test.ts")) yield path;
  }
}

function folderOf(path: string): string {
  const parts = relative(SRC, path).split("/");
  return parts.length > 1 ? parts[0]! : "(root)";
}

test("src/ folders import only the folders below them; nothing imports the server but the CLI's serve", () => {
  const violations: string[] = [];
  const folders = new Set<string>();
  for (const file of sourceFiles(SRC)) {
    const from = folderOf(file);
    folders.add(from);
    const text = readFileSync(file, "utf8");
    for (const m of text.matchAll(/(?:from\s+|import\(\s*)["'](\.{1,2}\/[^"']+)["']/g)) {
      const to = folderOf(resolve(dirname(file), m[1]!));
      if (to === from) continue;
      if (!(ALLOWED[from] ?? []).includes(to)) violations.push(`${relative(SRC, file)} imports ${to}/ (${m[1]})`);
    }
  }
  for (const f of folders) assert.ok(f in ALLOWED, `src/${f}/ is a new folder: give it a place in ALLOWED`);
  assert.deepEqual(violations, []);
});
