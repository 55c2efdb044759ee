/**
 * The `openkv` command line. Commands are declared in ./registry.ts; this file only dispatches.
 */
import { readFileSync } from "node:fs";
import { COMMANDS, type CommandContext } from "./registry.ts";

const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };

function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    "openkv — a key-value store that speaks Cloudflare Workers KV and Deno KV",
    "",
    "Usage: openkv <command> [options]",
    "",
    "Commands:",
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    "",
    "Options:",
    "  --help, -h     Show help",
    "  --version, -v  Show the version",
  ].join("\n");
}

export async function main(argv: string[], ctx: CommandContext): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined || first === "--help" || first === "-h" || first === "help") {
    ctx.stdout.write(usage() + "\n");
    return 0;
  }
  if (first === "--version" || first === "-v") {
    ctx.stdout.write(pkg.version + "\n");
    return 0;
  }
  const command = COMMANDS.find((c) => c.name === first);
  if (!command) {
    ctx.stderr.write(`Unknown command "${first}". Run "openkv --help" to see the commands.\n`);
    return 1;
  }
  return command.run(rest, ctx);
}

if (import.meta.main) {
  const major = Number(process.versions.node.split(".")[0]);
  if (major < 24) {
    process.stderr.write(`openkv needs Node.js 24 or newer (this is ${process.version}); run "npm install" to get the pinned runtime.\n`);
    process.exit(1);
  }
  main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env }).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`openkv: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
