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
import * as jsonc from "jsonc-parser";
import { parse as parseToml, TomlError } from "smol-toml";

/** Looked for in this order, each walking up from the start directory, as wrangler does. */
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

/**
 * Parses JSON with comments (wrangler.jsonc / wrangler.json accept comments and trailing commas). A syntax
 * error becomes a ConfigError naming the file, line and column.
 */
export function parseJsonc(text: string, file: string, options: { strict?: boolean } = {}): unknown {
  const errors: jsonc.ParseError[] = [];
  const value = jsonc.parse(text, errors, options.strict ? { allowTrailingComma: false, disallowComments: true, allowEmptyContent: false } : { allowTrailingComma: true });
  if (errors.length > 0) {
    const first = errors[0]!;
    const at = lineAndColumn(text, first.offset);
    // esbuild's location block, as wrangler prints a JSON parse error.
    throw new ConfigError(jsonc.printParseErrorCode(first.error), [
      `  ${file}:${at.line}:${at.column}:`,
      `    ${at.line} │ ${at.lineText}`,
      `    ${" ".repeat(String(at.line).length)} ╵ ${" ".repeat(at.column)}${"~".repeat(Math.max(1, first.length))}`,
    ]);
  }
  return value;
}

function parseFile(path: string): Raw {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new ConfigError(`Could not read file: ${path}`, [(e as Error).message]);
  }
  let value: unknown;
  if (path.endsWith(".toml")) {
    try {
      value = parseToml(text);
    } catch (e) {
      if (e instanceof TomlError) throw new ConfigError(`Could not parse ${path}`, e.message.split("\n"));
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

function kvBindings(raw: unknown, where: string): KvNamespaceBinding[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) throw new ConfigError(`"${where}" should be an array of {binding, id, preview_id} objects.`);
  return raw.map((item: unknown, i) => {
    const ns = item as Raw | null;
    if (!ns || typeof ns !== "object" || typeof ns.binding !== "string" || ns.binding === "") {
      throw new ConfigError(`"${where}[${i}]" needs a string "binding".`);
    }
    for (const field of ["id", "preview_id"] as const) {
      if (ns[field] !== undefined && typeof ns[field] !== "string") throw new ConfigError(`"${where}[${i}].${field}" should be a string.`);
    }
    return {
      binding: ns.binding,
      ...(typeof ns.id === "string" ? { id: ns.id } : {}),
      ...(typeof ns.preview_id === "string" ? { preview_id: ns.preview_id } : {}),
    };
  });
}

function openkvSettings(raw: unknown): OpenKvSettings {
  if (raw === undefined) return {};
  if (raw === null || typeof raw !== "object") throw new ConfigError(`"openkv" should be a table with url, token and persist_to.`);
  const r = raw as Raw;
  const out: { url?: string; token?: string; persist_to?: string } = {};
  for (const field of ["url", "token", "persist_to"] as const) {
    if (r[field] === undefined) continue;
    if (typeof r[field] !== "string") throw new ConfigError(`"openkv.${field}" should be a string.`);
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
  const raw = parseFile(path);
  const envs = raw.env && typeof raw.env === "object" ? (raw.env as Record<string, Raw>) : {};
  const environments = Object.keys(envs);
  let selected: Raw = raw;
  if (env !== undefined) {
    if (!Object.hasOwn(envs, env)) {
      throw new ConfigError(`No environment found in configuration with name "${env}".`, [
        environments.length > 0
          ? `The available configured environment names are: ${JSON.stringify(environments)}`
          : `${path} defines no environments: add an [env.${env}] section (or "env": {"${env}": {…}}).`,
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
    kvNamespaces: kvBindings(selected.kv_namespaces, where),
    openkv: openkvSettings(raw.openkv),
  };
}

/** The directory relative paths in the config are resolved against (the file's, else `cwd`). */
export function configBaseDir(config: WranglerConfig, cwd: string): string {
  return config.path ? dirname(config.path) : resolve(cwd);
}
