/**
 * Confirmation prompts, as wrangler asks them: on a terminal `? Question › (Y/n)` read from stdin; in CI
 * or when stdin/stdout is not a terminal, the question is printed with the fallback answer instead
 * (`🤖 Using fallback value in non-interactive context: yes`), so scripts never hang.
 */
import { createInterface } from "node:readline";
import type { Output } from "./output.ts";

export interface InStream extends NodeJS.ReadableStream {
  readonly isTTY?: boolean;
}

const CI_VARIABLES = ["CI", "CONTINUOUS_INTEGRATION", "BUILD_NUMBER", "RUN_ID", "GITHUB_ACTIONS", "GITLAB_CI", "BUILDKITE", "TF_BUILD"];

/** ci-info's main signals: a CI variable set to anything but "false"/"0". */
export function isCI(env: NodeJS.ProcessEnv): boolean {
  return CI_VARIABLES.some((name) => {
    const v = env[name];
    return v !== undefined && v !== "" && v !== "false" && v !== "0";
  });
}

export function isInteractive(stdin: InStream, out: Output, env: NodeJS.ProcessEnv): boolean {
  return Boolean(stdin.isTTY && out.stdout.isTTY) && !isCI(env);
}

export interface ConfirmOptions {
  /** The answer to an empty reply. */
  defaultValue?: boolean;
  /** The answer when nobody can be asked. */
  fallbackValue?: boolean;
}

function readLine(stdin: InStream): Promise<string | null> {
  return new Promise((resolve) => {
    const rl = createInterface({ input: stdin, terminal: false });
    let answered = false;
    rl.once("line", (line) => {
      answered = true;
      rl.close();
      resolve(line);
    });
    rl.once("close", () => {
      if (!answered) resolve(null);
    });
  });
}

export async function confirm(text: string, io: { stdin: InStream; out: Output; env: NodeJS.ProcessEnv }, options: ConfirmOptions = {}): Promise<boolean> {
  const { defaultValue = true, fallbackValue = true } = options;
  const { out } = io;
  if (!isInteractive(io.stdin, out, io.env)) {
    out.log(`? ${text}`);
    out.log(`🤖 Using fallback value in non-interactive context: ${fallbackValue ? "yes" : "no"}`);
    return fallbackValue;
  }
  out.raw(`? ${out.bold(text)} › ${defaultValue ? "(Y/n)" : "(y/N)"} `);
  const line = await readLine(io.stdin);
  if (line === null) {
    out.log("");
    return false;
  }
  const answer = line.trim().toLowerCase();
  const value = answer === "" ? defaultValue : answer === "y" || answer === "yes";
  return value;
}
