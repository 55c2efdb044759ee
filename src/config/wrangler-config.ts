/**
 * Reads a wrangler configuration file (`wrangler.json`, `wrangler.jsonc`, `wrangler.toml`) the way
 * wrangler finds and reads it, keeping what OpenKV needs: the KV bindings of the top level or of one
 * environment (`env.<name>.kv_namespaces`; KV bindings are not inherited by environments, as in
 * wrangler), and an optional `openkv` table (`url`, `token`, `persist_to`) for OpenKV's own settings.
 *
 * @example
 * ```ts
 * const config = readWranglerConfig({ cwd: "./my-worker", env: "staging" });
 * config.kvNamespaces; // [{ binding: "CACHE", id: "…", preview_id: "…" }]
 * ```
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { createRequire } from "node:module";
import type * as Jsonc from "jsonc-parser";
import type * as SmolToml from "smol-toml";

/** Looked for in this order, each walking up from the start directory, as wrangler does. */
// The parsers load at first use, synchronously (require): `import { openKv } from "openkv"` loads this
// module (for getBindings), and a process that never reads a wrangler file then never holds them
// (~8 MB of RSS for both, measured on the embedded path).
const require = createRequire(import.meta.url);
let jsoncModule: typeof Jsonc | undefined;
let tomlModule: typeof SmolToml | undefined;
const jsonc = (): typeof Jsonc => (jsoncModule ??= require("jsonc-parser") as typeof Jsonc);
const toml = (): typeof SmolToml => (tomlModule ??= require("smol-toml") as typeof SmolToml);

export const CONFIG_FILE_NAMES = ["wrangler.json", "wrangler.jsonc", "wrangler.toml"] as const;

export interface KvNamespaceBinding {
  readonly binding: string;
  readonly id?: string;
  readonly preview_id?: string;
}

/** OpenKV's own settings, from the config file's `openkv` table. */
export interface OpenKvSettings {
  /** A server to use in remote mode, like `OPENKV_URL`. */
  readonly url?: string;
  /** A token for that server, like `OPENKV_TOKEN` (prefer the environment variable: config files get committed). */
  readonly token?: string;
  /** The local data directory, relative to the config file, like `--persist-to`. */
  readonly persist_to?: string;
}

export interface WranglerConfig {
  /** Absolute path of the file read, or null when none was found. */
  readonly path: string | null;
  /** The Worker's `name` (of the environment when one is selected). */
  readonly name: string | undefined;
  /** The selected environment, if any. */
  readonly env: string | undefined;
  /** Every environment the file defines. */
  readonly environments: readonly string[];
  /** `kv_namespaces` of the selected environment (or the top level). */
  readonly kvNamespaces: readonly KvNamespaceBinding[];
  readonly openkv: OpenKvSettings;
}

/** A configuration problem the user has to fix; the message says what and where. */
export class ConfigError extends Error {
  /** Extra lines (shown as notes under the message). */
  readonly notes: readonly string[];
  constructor(message: string, notes: readonly string[] = []) {
    super(message);
    this.name = "ConfigError";
    this.notes = notes;
  }
}

/** The config file wrangler would use when started in `cwd`, or null. */
export function findConfigFile(cwd: string): string | null {
  for (const name of CONFIG_FILE_NAMES) {
    let dir = resolve(cwd);
    for (;;) {
      const candidate = join(dir, name);
      if (existsSync(candidate)) return candidate;
      const parent = dirname(dir);
      if (parent === dir) break;
      dir = parent;
    }
  }
  return null;
}

export interface ReadConfigOptions {
  /** An explicit config file (`--config`), relative to `cwd`. */
  config?: string;
  /** Where to start looking (`--cwd`); default `process.cwd()`. */
  cwd?: string;
  /** The environment (`--env`). */
  env?: string;
}

type Raw = Record<string, unknown>;

function lineAndColumn(text: string, offset: number): { line: number; column: number; lineText: string } {
  const before = text.slice(0, offset);
  const line = before.split("\n").length;
  const start = before.lastIndexOf("\n") + 1;
  const end = text.indexOf("\n", offset);
  return { line, column: offset - start, lineText: text.slice(start, end === -1 ? undefined : end) };
}

/** Deeper nesting is refused before parsing: jsonc-parser recurses per level and would overflow the stack. */
export const MAX_JSON_DEPTH = 1000;
// jsonc-parser's SyntaxKind is a const enum, which isolated modules cannot read: its values, as documented.
const OPEN_BRACE = 1;
const CLOSE_BRACE = 2;
const OPEN_BRACKET = 3;
const CLOSE_BRACKET = 4;
const EOF = 17;

/** The offset of the first `{` or `[` nested deeper than MAX_JSON_DEPTH, or -1. */
function tooDeepAt(text: string): number {
  const scanner = jsonc().createScanner(text, true);
  let depth = 0;
  for (let token: number = scanner.scan(); token !== EOF; token = scanner.scan()) {
    if (token === OPEN_BRACE || token === OPEN_BRACKET) {
      if (++depth > MAX_JSON_DEPTH) return scanner.getTokenOffset();
    } else if (token === CLOSE_BRACE || token === CLOSE_BRACKET) {
      depth--;
    }
  }
  return -1;
}

/** A ConfigError pointing at `text[offset, offset + length)` of `file`, in esbuild's layout (as wrangler prints it). */
function errorAt(message: string, text: string, file: string, offset: number, length: number): ConfigError {
  const at = lineAndColumn(text, offset);
  return new ConfigError(message, [
    `  ${file}:${at.line}:${at.column}:`,
    `    ${at.line} │ ${at.lineText}`,
    `    ${" ".repeat(String(at.line).length)} ╵ ${" ".repeat(at.column)}${"~".repeat(Math.max(1, length))}`,
  ]);
}

/**
 * Parses JSON with comments (wrangler.jsonc / wrangler.json accept comments and trailing commas). A syntax
 * error, or nesting deeper than MAX_JSON_DEPTH, becomes a ConfigError naming the file, line and column.
 */
export function parseJsonc(text: string, file: string, options: { strict?: boolean } = {}): unknown {
  const deep = tooDeepAt(text);
  if (deep !== -1) throw errorAt(`Nested deeper than ${MAX_JSON_DEPTH} levels`, text, file, deep, 1);
  const errors: Jsonc.ParseError[] = [];
  const value = jsonc().parse(text, errors, options.strict ? { allowTrailingComma: false, disallowComments: true, allowEmptyContent: false } : { allowTrailingComma: true });
  if (errors.length > 0) {
    const first = errors[0]!;
    throw errorAt(jsonc().printParseErrorCode(first.error), text, file, first.offset, first.length);
  }
  return value;
}

function readConfigText(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    throw new ConfigError(`Could not read file: ${path}`, [(e as Error).message]);
  }
}

/** TOML for a `.toml` path, JSON with comments otherwise; the top level must be an object. */
function parseConfigText(text: string, path: string): Raw {
  let value: unknown;
  if (path.endsWith(".toml")) {
    try {
      value = toml().parse(text);
    } catch (e) {
      if (e instanceof toml().TomlError) throw new ConfigError(`Could not parse ${path}`, e.message.split("\n"));
      throw e;
    }
  } else {
    value = parseJsonc(text, path);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new ConfigError(`${path} must hold an object at the top level.`);
  }
  return value as Raw;
}

/** A problem with what the file says: the note names the file. */
const contentError = (message: string, path: string) => new ConfigError(message, [`in ${path}`]);

function kvBindings(raw: unknown, where: string, path: string): KvNamespaceBinding[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) throw contentError(`"${where}" should be an array of {binding, id, preview_id} objects.`, path);
  return raw.map((item: unknown, i) => {
    const ns = item as Raw | null;
    if (!ns || typeof ns !== "object" || typeof ns.binding !== "string" || ns.binding === "") {
      throw contentError(`"${where}[${i}]" needs a string "binding".`, path);
    }
    for (const field of ["id", "preview_id"] as const) {
      if (ns[field] !== undefined && typeof ns[field] !== "string") throw contentError(`"${where}[${i}].${field}" should be a string.`, path);
    }
    return {
      binding: ns.binding,
      ...(typeof ns.id === "string" ? { id: ns.id } : {}),
      ...(typeof ns.preview_id === "string" ? { preview_id: ns.preview_id } : {}),
    };
  });
}

function openkvSettings(raw: unknown, path: string): OpenKvSettings {
  if (raw === undefined) return {};
  if (raw === null || typeof raw !== "object") throw contentError(`"openkv" should be a table with url, token and persist_to.`, path);
  const r = raw as Raw;
  const out: { url?: string; token?: string; persist_to?: string } = {};
  for (const field of ["url", "token", "persist_to"] as const) {
    if (r[field] === undefined) continue;
    if (typeof r[field] !== "string") throw contentError(`"openkv.${field}" should be a string.`, path);
    out[field] = r[field] as string;
  }
  return out;
}

/**
 * Reads the config file (`options.config`, else the one found from `options.cwd`) and selects
 * `options.env`. No file is not an error (the result has `path: null` and no bindings); an unknown
 * environment is, with the known ones listed.
 */
export function readWranglerConfig(options: ReadConfigOptions = {}): WranglerConfig {
  const cwd = resolve(options.cwd ?? process.cwd());
  const path = options.config ? resolve(cwd, options.config) : findConfigFile(cwd);
  const env = options.env === "" ? undefined : options.env;
  if (!path) {
    if (env !== undefined) {
      throw new ConfigError(`No environment found in configuration with name "${env}".`, [
        `There is no wrangler.json, wrangler.jsonc or wrangler.toml in ${cwd} or above it, so no environments are defined.`,
      ]);
    }
    return { path: null, name: undefined, env: undefined, environments: [], kvNamespaces: [], openkv: {} };
  }
  if (options.config && !existsSync(path)) throw new ConfigError(`Could not read file: ${options.config}`, [`No such file: ${path}`]);
  return wranglerConfigFromText(readConfigText(path), path, env);
}

/**
 * The configuration `text` (the contents of the file at `path`) gives for environment `env`. Every
 * ConfigError it throws names `path`.
 */
export function wranglerConfigFromText(text: string, path: string, env?: string): WranglerConfig {
  const raw = parseConfigText(text, path);
  const envs = raw.env && typeof raw.env === "object" ? (raw.env as Record<string, Raw>) : {};
  const environments = Object.keys(envs);
  let selected: Raw = raw;
  if (env !== undefined) {
    if (!Object.hasOwn(envs, env)) {
      throw new ConfigError(`No environment found in configuration with name "${env}".`, [
        ...(environments.length > 0
          ? [`The available configured environment names are: ${JSON.stringify(environments)}`, `in ${path}`]
          : [`${path} defines no environments: add an [env.${env}] section (or "env": {"${env}": {…}}).`]),
      ]);
    }
    selected = envs[env] ?? {};
  }
  const where = env === undefined ? "kv_namespaces" : `env.${env}.kv_namespaces`;
  const name = typeof selected.name === "string" ? selected.name : typeof raw.name === "string" ? (env ? `${raw.name}-${env}` : raw.name) : undefined;
  return {
    path,
    name,
    env,
    environments,
    kvNamespaces: kvBindings(selected.kv_namespaces, where, path),
    openkv: openkvSettings(raw.openkv, path),
  };
}

/** The directory relative paths in the config are resolved against (the file's, else `cwd`). */
export function configBaseDir(config: WranglerConfig, cwd: string): string {
  return config.path ? dirname(config.path) : resolve(cwd);
}
