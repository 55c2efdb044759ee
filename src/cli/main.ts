/**
 * The `openkv` command line. Commands are declared in ./registry.ts and run by ./run.ts; this file only
 * dispatches, loading as little as it can: `openkv serve` loads the server and nothing of the CLI, so it
 * starts as fast as it did before the other commands existed.
 */
import { enableCompileCache } from "node:module";
import type { CliIO } from "./context.ts";

export type { CliIO } from "./context.ts";

/** Runs the CLI on `argv` (without `node` and the script); resolves to the exit code. */
export async function main(argv: string[], io: CliIO): Promise<number> {
  if (argv[0] === "serve") {
    const { serveCommand } = await import("./commands/serve.ts");
    return serveCommand.run(argv.slice(1), io);
  }
  const { runCli } = await import("./run.ts");
  return runCli(argv, io);
}

if (import.meta.main) {
  const major = Number(process.versions.node.split(".")[0]);
  if (major < 24) {
    process.stderr.write(`openkv needs Node.js 24 or newer (this is ${process.version}); run "npm install" to get the pinned runtime.\n`);
    process.exit(1);
  }
  // Before the commands load: their modules then come from Node's compile cache, not the TypeScript
  // stripper (see bin/openkv, which turns it on before this file too). Off with NODE_DISABLE_COMPILE_CACHE=1.
  enableCompileCache();
  main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env }).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`openkv: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
