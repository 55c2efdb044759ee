/** The config snippet `kv namespace create` prints, and adding it to a JSON(C) config file in place. */
import { readFileSync, writeFileSync } from "node:fs";
import * as jsonc from "jsonc-parser";
import { stringify as stringifyToml } from "smol-toml";

/** wrangler's `getValidBindingName`: spaces and dashes to `_`, other symbols dropped, no leading digit. */
export function validBindingName(name: string, fallback: string): string {
  let b = name.replace(/[\s-]/g, "_");
  b = b.replace(/[^a-zA-Z0-9_]/g, "");
  b = b.replace(/_+/g, "_");
  if (/^[0-9]/.test(b)) b = "_" + b;
  if (!b.length || /^_+$/.test(b)) return fallback;
  return b;
}

/** TOML for a wrangler.toml, JSON otherwise (as wrangler formats it). */
export function configSnippet(snippet: Record<string, unknown>, configPath: string | null): string {
  if (configPath?.endsWith(".toml")) return stringifyToml(snippet);
  return JSON.stringify(snippet, null, 2);
}

/** Appends a binding to `kv_namespaces` (of `env.<env>` when given), keeping comments and formatting. */
export function addKvBindingToConfig(path: string, env: string | undefined, entry: Record<string, unknown>): void {
  const text = readFileSync(path, "utf8");
  const base = env ? ["env", env, "kv_namespaces"] : ["kv_namespaces"];
  const tree = jsonc.parseTree(text);
  const existing = tree ? jsonc.findNodeAtLocation(tree, base) : undefined;
  const indent = /\n(\t| +)"/.exec(text)?.[1] ?? "  ";
  const formattingOptions = { insertSpaces: indent !== "\t", tabSize: indent === "\t" ? 1 : indent.length, eol: "\n" };
  const edits =
    existing && existing.type === "array"
      ? jsonc.modify(text, [...base, -1], entry, { formattingOptions, isArrayInsertion: true })
      : jsonc.modify(text, base, [entry], { formattingOptions });
  writeFileSync(path, jsonc.applyEdits(text, edits));
}
