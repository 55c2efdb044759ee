/**
 * Runs a command line: builds a yargs parser from the registry (./registry.ts) the way wrangler builds
 * its own (strict flags, `COMMANDS` / `POSITIONALS` / `GLOBAL FLAGS` / `OPTIONS` help sections), then
 * runs the chosen command's handler with a context, printing errors as wrangler does.
 */
import { readFileSync } from "node:fs";
import yargs from "yargs";
import type { Argv, PositionalOptions } from "yargs";
import { KvError } from "../core/errors.ts";
import { ConfigError } from "../config/wrangler-config.ts";
import type { CommandDefinition, GlobalArgs, LocationArgs } from "./command.ts";
import { Context, type CliIO } from "./context.ts";
import { CommandLineArgsError, UserError } from "./errors.ts";
import { Output } from "./output.ts";
import { COMMANDS, DEPRECATED_ALIASES, GROUPS, RAW_COMMANDS } from "./registry.ts";


export const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };

const GLOBAL_FLAGS = {
  v: { describe: "Show version number", alias: "version", type: "boolean" },
  cwd: {
    describe: "Run as if OpenKV was started in the specified directory instead of the current working directory",
    type: "string",
    requiresArg: true,
  },
  config: { alias: "c", describe: "Path to Wrangler configuration file", type: "string", requiresArg: true },
  env: { alias: "e", describe: "Environment to use for operations (env.<name> in the configuration file)", type: "string", requiresArg: true },
} as const;

type Selection = { kind: "command"; def: CommandDefinition; args: Record<string, unknown> } | { kind: "help"; words: string[] };

function usageOf(def: CommandDefinition): string {
  const word = def.command.at(-1)!;
  const positionals = (def.positionals ?? []).map((p) => (def.args[p]?.demandOption ? `<${p}>` : `[${p}]`));
  return [word, ...positionals].join(" ");
}

function startsWith(words: readonly string[], prefix: readonly string[]): boolean {
  return prefix.every((w, i) => words[i] === w);
}

function register(y: Argv, prefix: readonly string[], select: (s: Selection) => void): void {
  const depth = prefix.length + 1;
  for (const group of GROUPS) {
    if (group.command.length !== depth || !startsWith(group.command, prefix)) continue;
    y.command(group.command.at(-1)!, group.description, (sub) => {
      register(sub, group.command, select);
      return sub.command(["*"], false, () => {}, () => select({ kind: "help", words: [...group.command] }));
    });
  }
  for (const def of COMMANDS) {
    if (def.command.length !== depth || !startsWith(def.command, prefix)) continue;
    const positionals = new Set(def.positionals ?? []);
    const options = Object.fromEntries(Object.entries(def.args).filter(([name]) => !positionals.has(name)));
    y.command(
      usageOf(def),
      def.description,
      (sub) => {
        sub.options(options);
        for (const p of def.positionals ?? []) sub.positional(p, def.args[p] as PositionalOptions);
        return sub;
      },
      (args) => select({ kind: "command", def, args: args as Record<string, unknown> }),
    );
  }
  if (prefix.length === 0) {
    for (const raw of RAW_COMMANDS) y.command(raw.command[0], raw.description);
  }
}

function parser(select: (s: Selection) => void): Argv {
  const y = yargs()
    .scriptName("openkv")
    .strict()
    .showHelpOnFail(false)
    .wrap(null)
    .locale("en_US")
    .version(false)
    .exitProcess(false)
    .fail((msg, err) => {
      throw err && err.name !== "YError" ? err : new CommandLineArgsError(msg ?? String(err));
    })
    .options(GLOBAL_FLAGS)
    .help("help")
    .alias("help", "h")
    .updateStrings({ "Commands:": "COMMANDS", "Options:": "OPTIONS", "Positionals:": "POSITIONALS", "Examples:": "EXAMPLES" })
    .group(["config", "cwd", "env", "help", "version"], "GLOBAL FLAGS");
  register(y, [], select);
  y.command(["*"], false, () => {}, () => select({ kind: "help", words: [] }));
  return y;
}

/** Parses `argv`; returns what to run, the help text yargs produced, or throws a CommandLineArgsError. */
function parse(argv: string[]): { selection: Selection | null; output: string; args: Record<string, unknown> } {
  let selection: Selection | null = null;
  let output = "";
  let parsed: Record<string, unknown> = {};
  parser((s) => (selection = s)).parse(argv, {}, (err, args, out) => {
    if (err) throw err;
    parsed = args as Record<string, unknown>;
    output = out;
  });
  return { selection, output, args: parsed };
}

/** The help of the command or group named by the leading words of `argv` (as wrangler prints after a usage error). */
function helpFor(words: readonly string[]): string {
  const known = [...GROUPS.map((g) => g.command), ...COMMANDS.map((c) => c.command)];
  let best: readonly string[] = [];
  for (const k of known) if (k.length > best.length && startsWith(words, k)) best = k;
  try {
    return parse([...best, "--help"]).output;
  } catch {
    return "";
  }
}

function printBanner(out: Output): void {
  const text = ` 🔑 openkv ${pkg.version}`;
  out.log("\n" + text + "\n" + "─".repeat(text.length));
}

function printLocation(def: CommandDefinition, ctx: Context, args: LocationArgs): void {
  const setting = def.behaviour?.resourceLocation ?? "none";
  const mode = typeof setting === "function" ? setting(args as Record<string, unknown>) : setting;
  if (mode === "none") return;
  const { kind, where } = ctx.location(args);
  const line = `${ctx.out.bold("Resource location:")} ${kind} (${where})`;
  if (mode === "stderr") {
    ctx.out.note(line);
    return;
  }
  ctx.out.log(line + "\n");
  if (kind === "local") ctx.out.log("Use --remote if you want to access the remote instance.\n");
}

function errorText(e: unknown): string {
  if (e instanceof ConfigError) return [e.message, ...e.notes].join("\n");
  if (e instanceof Error) return e.message;
  return String(e);
}

/** Prints an error as wrangler does: an empty line on stdout, the error on stderr, the help after a usage error. */
function report(e: unknown, out: Output, words: readonly string[]): number {
  out.log("");
  out.error(errorText(e));
  if (e instanceof CommandLineArgsError) out.log(helpFor(words));
  else if (!(e instanceof UserError || e instanceof ConfigError || e instanceof KvError || e instanceof TypeError || /^KV \w+ failed: /.test(errorText(e)))) {
    // Not one of ours: keep the stack for a bug report, but only on request.
    if (process.env.OPENKV_DEBUG) out.note(String((e as Error)?.stack ?? e));
  }
  return 1;
}

async function run(def: CommandDefinition, args: Record<string, unknown>, out: Output, io: CliIO): Promise<number> {
  const global = args as GlobalArgs;
  const ctx = new Context(out, io, {
    ...(global.config ? { config: global.config } : {}),
    ...(global.cwd ? { cwd: global.cwd } : {}),
    ...(global.env ? { env: global.env } : {}),
  });
  try {
    const banner = def.behaviour?.printBanner ?? true;
    if (typeof banner === "function" ? banner(args) : banner) printBanner(out);
    def.validateArgs?.(args);
    printLocation(def, ctx, args as LocationArgs);
    return (await def.handler(args, ctx)) ?? 0;
  } catch (e) {
    return report(e, out, def.command);
  } finally {
    await ctx.close();
  }
}

/** Runs the CLI on `argv` (without `node` and the script); resolves to the exit code. */
export async function runCli(argv: string[], io: CliIO): Promise<number> {
  const out = new Output(io.stdout, io.stderr, io.env);
  let args = [...argv];
  const alias = args[0] !== undefined ? DEPRECATED_ALIASES[args[0]] : undefined;
  if (alias) {
    out.warn(
      `The \`openkv ${args[0]}\` command is deprecated and will be removed in a future major version. Please use \`openkv ${alias.join(" ")}\` instead which behaves the same.`,
    );
    args = [...alias, ...args.slice(1)];
  }
  const first = args[0];
  const raw = RAW_COMMANDS.find((c) => c.command[0] === first);
  if (raw) return raw.run(args.slice(1), io);
  if (first === "help") args = ["--help"];
  const topLevel = new Set([...GROUPS, ...COMMANDS].map((c) => c.command[0]));
  if (first !== undefined && !first.startsWith("-") && first !== "help" && !topLevel.has(first)) {
    io.stderr.write(`Unknown command "${first}". Run "openkv --help" to see the commands.\n`);
    return 1;
  }
  let result;
  try {
    result = parse(args);
  } catch (e) {
    return report(e, out, args.filter((a) => !a.startsWith("-")));
  }
  if (result.args.v === true || result.args.version === true) {
    out.log(pkg.version);
    return 0;
  }
  if (result.output) {
    out.log(result.output);
    return 0;
  }
  const selection = result.selection as Selection | null;
  if (!selection || selection.kind === "help") {
    out.log(helpFor(selection?.words ?? []));
    return 0;
  }
  return run(selection.def, selection.args, out, io);
}
