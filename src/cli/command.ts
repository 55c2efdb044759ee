/**
 * The shape of a CLI command, after wrangler's `createCommand`: a declarative object (words, positionals,
 * flags as yargs options, behaviour) with a handler that receives the parsed arguments and a context.
 * The registry (registry.ts) lists them; main.ts turns the list into a yargs parser.
 *
 * @example
 * export const kvKeyGetCommand = defineCommand({
 *   command: ["kv", "key", "get"],
 *   description: "Read a single value by key from the given namespace",
 *   positionals: ["key"],
 *   args: { key: { type: "string", demandOption: true, describe: "The key value to get." } },
 *   behaviour: { printBanner: false, resourceLocation: "stderr" },
 *   async handler(args, ctx) { … },
 * });
 */
import type { Options } from "yargs";
import type { WranglerConfig } from "../config/wrangler-config.ts";
import type { Output } from "./output.ts";
import type { Progress } from "./progress.ts";
import type { ConfirmOptions, InStream } from "./prompt.ts";
import type { KvStore } from "./store/types.ts";

export type ArgSpec = Options;

/** Flags every command has (wrangler's global flags). */
export interface GlobalArgs {
  config?: string;
  cwd?: string;
  env?: string;
}

/** The flags that choose where a command acts. */
export interface LocationArgs {
  local?: boolean;
  remote?: boolean;
  persistTo?: string;
  /** A shared store (postgres://…) instead of the data directory (else $OPENKV_STORE). */
  store?: string;
  /** The local store's encryption key file (else $OPENKV_ENCRYPTION_KEY). */
  encryptionKeyFile?: string;
}

export interface Location {
  readonly kind: "local" | "remote";
  /** `./.openkv` (a data directory, as typed) or `http://host:port` (a server). */
  readonly where: string;
}

export type Where = "stdout" | "stderr" | "none";

export interface CommandBehaviour<A = Record<string, unknown>> {
  /** Print the ` 🔑 openkv x.y.z` banner first, as wrangler does for commands that do not print data. Default true. */
  readonly printBanner?: boolean | ((args: A) => boolean);
  /**
   * Where the `Resource location: local (./.openkv)` line goes: stdout (as wrangler prints it), stderr
   * (commands whose stdout is data, e.g. JSON or a value), or nowhere (commands that act on no store).
   */
  readonly resourceLocation?: Where | ((args: A) => Where);
}

export interface CommandContext {
  readonly out: Output;
  readonly stdin: InStream;
  readonly env: NodeJS.ProcessEnv;
  /** The working directory (after `--cwd`); relative paths in arguments are resolved against it. */
  readonly cwd: string;
  /** The wrangler config file as selected by --config / --cwd / --env (read once, on first use). */
  config(): WranglerConfig;
  /** Where a command with these flags acts: local unless --remote, as in wrangler. */
  location(args: LocationArgs): Location;
  /**
   * The store at that location, opened once and closed when the command ends. `allowLocked` opens an
   * encrypted local store without its key (for copying its files, which needs none).
   */
  store(args: LocationArgs, options?: { allowLocked?: boolean }): Promise<KvStore>;
  /** The local data directory (absolute) for these flags. */
  dataDir(args: LocationArgs): string;
  /** The shared store URL for these flags (--store, else $OPENKV_STORE), or null for the data directory. */
  storeUrl(args: LocationArgs): string | null;
  confirm(text: string, options?: ConfirmOptions): Promise<boolean>;
  /** A progress bar on stderr when it is a terminal; a no-op otherwise. */
  progress(label: string, total: number): Progress;
  /** `path` resolved against `cwd`. */
  resolve(path: string): string;
  /** Runs when the command ends (success or not). */
  onClose(fn: () => Promise<void> | void): void;
}

export interface CommandDefinition<A = Record<string, unknown>> {
  /** The words after `openkv`, e.g. `["kv", "key", "put"]`. */
  readonly command: readonly string[];
  readonly description: string;
  /** Names in `args` given by position, in order. */
  readonly positionals?: readonly string[];
  readonly args: Readonly<Record<string, ArgSpec>>;
  readonly behaviour?: CommandBehaviour<A>;
  /** Checks between flags; throw CommandLineArgsError to print the error and the help. */
  validateArgs?(args: A): void;
  /** Returns the exit code (default 0). */
  handler(args: A, ctx: CommandContext): Promise<number | void>;
}

/**
 * A command that parses its own arguments (`openkv serve`, whose flags and messages predate the
 * wrangler-style commands and are relied on by scripts).
 */
export interface RawCommandDefinition {
  readonly kind: "raw";
  readonly command: readonly [string];
  readonly description: string;
  run(args: string[], ctx: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream; env: NodeJS.ProcessEnv }): Promise<number>;
}

/** A word that only groups commands (`kv`, `kv key`, `token`); run alone it shows its help. */
export interface GroupDefinition {
  readonly command: readonly string[];
  readonly description: string;
}

/** Types a definition by its handler's own argument interface; the registry holds them untyped. */
export function defineCommand<A>(def: CommandDefinition<A & GlobalArgs>): CommandDefinition<Record<string, unknown>> {
  return def as unknown as CommandDefinition<Record<string, unknown>>;
}
