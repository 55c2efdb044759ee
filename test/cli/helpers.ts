/** Running the real `openkv` and `wrangler` binaries for CLI tests, and temporary directories. */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";

export const ROOT = new URL("../..", import.meta.url).pathname.replace(/\/$/, "");
export const OPENKV = join(ROOT, "bin/openkv");
export const WRANGLER = join(ROOT, "node_modules/.bin/wrangler");
export const DENO = join(ROOT, "node_modules/.bin/deno");

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout as bytes (values printed by `kv key get`). */
  bytes: Buffer;
}

/** A temporary directory removed after the test file. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `openkv-${prefix}-`));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The environment a CLI child gets: PATH and HOME only, plus `extra` (no CI leaks in from the runner unless given). */
export function cleanEnv(home: string, extra: Record<string, string> = {}): Record<string, string> {
  return { PATH: `${join(ROOT, "node_modules/.bin")}:${process.env.PATH ?? "/usr/bin:/bin"}`, HOME: home, NO_COLOR: "1", ...extra };
}

export function exec(bin: string, args: string[], options: { cwd: string; env: Record<string, string>; input?: string; timeout?: number }): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { cwd: options.cwd, env: options.env, stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (c: Buffer) => out.push(c));
    child.stderr.on("data", (c: Buffer) => err.push(c));
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeout ?? 60_000);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const bytes = Buffer.concat(out);
      resolve({ code: code ?? (signal ? 128 : 1), stdout: bytes.toString("utf8"), stderr: Buffer.concat(err).toString("utf8"), bytes });
    });
    child.stdin.end(options.input ?? "");
  });
}

export function openkv(args: string[], options: { cwd: string; env: Record<string, string>; input?: string; timeout?: number }): Promise<Run> {
  return exec(OPENKV, args, options);
}

export function wrangler(args: string[], options: { cwd: string; env: Record<string, string>; timeout?: number }): Promise<Run> {
  return exec(WRANGLER, args, { ...options, timeout: options.timeout ?? 90_000 });
}

/** The JSON document at the start of `text` (wrangler may print "Success!" after it). */
export function jsonOf(text: string): unknown {
  const start = text.search(/^[[{]/m);
  const end = Math.max(text.lastIndexOf("\n}"), text.lastIndexOf("\n]"));
  return JSON.parse(text.slice(start, end + 2));
}
