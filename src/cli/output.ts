/**
 * What the CLI prints, shaped like wrangler's logger so that a wrangler user reads familiar output:
 * plain lines on stdout, `▲ [WARNING]` / `✘ [ERROR]` blocks (esbuild's message format, first line then
 * indented notes) on stderr. Colour only on a terminal and never with NO_COLOR.
 */
export interface OutStream {
  write(chunk: string | Uint8Array): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number;
}

const RESET = "\x1b[0m";

export class Output {
  readonly stdout: OutStream;
  readonly stderr: OutStream;
  readonly color: boolean;

  constructor(stdout: OutStream, stderr: OutStream, env: NodeJS.ProcessEnv) {
    this.stdout = stdout;
    this.stderr = stderr;
    this.color = Boolean(stderr.isTTY) && !env.NO_COLOR && env.FORCE_COLOR !== "0";
  }

  /** A line (or lines) on stdout, like `console.log`. */
  log(text = ""): void {
    this.stdout.write(text + "\n");
  }

  /** Bytes or text on stdout as they are. */
  raw(chunk: string | Uint8Array): void {
    this.stdout.write(chunk);
  }

  /** A plain line on stderr (for notes that must not mix with data on stdout). */
  note(text: string): void {
    this.stderr.write(text + "\n");
  }

  warn(message: string): void {
    this.stderr.write(formatMessage("warning", message, this.color) + "\n");
  }

  error(message: string): void {
    this.stderr.write(formatMessage("error", message, this.color) + "\n");
  }

  bold(text: string): string {
    return this.color ? `\x1b[1m${text}${RESET}` : text;
  }
}

/**
 * esbuild's `formatMessagesSync` layout, which wrangler uses: the first line after the marker, then
 * every further line as a note indented by two spaces, each block followed by a blank line.
 */
export function formatMessage(kind: "error" | "warning", message: string, color: boolean): string {
  const [first, ...notes] = message.split("\n");
  let marker: string;
  if (kind === "error") {
    marker = color ? `\x1b[31m✘ \x1b[41;31m[\x1b[41;97mERROR\x1b[41;31m]${RESET} \x1b[1m${first}${RESET}` : `✘ [ERROR] ${first}`;
  } else {
    marker = color ? `\x1b[33m▲ \x1b[43;33m[\x1b[43;30mWARNING\x1b[43;33m]${RESET} \x1b[1m${first}${RESET}` : `▲ [WARNING] ${first}`;
  }
  return marker + "\n\n" + (notes.length > 0 ? notes.map((n) => `  ${n}`).join("\n") + "\n\n" : "");
}

/** Thousands separators, as wrangler prints counts. */
export function formatNumber(n: number): string {
  return n.toLocaleString("en-US");
}
