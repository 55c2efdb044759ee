import { serveCommand } from "./commands/serve.ts";
/** Every CLI command, declared once: name, one-line summary, handler. */
export interface CommandContext {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
}

export interface Command {
  readonly name: string;
  readonly summary: string;
  run(args: string[], ctx: CommandContext): Promise<number>;
}

export const COMMANDS: Command[] = [serveCommand];
