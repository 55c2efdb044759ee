/**
 * `openkv serve` as a real child process on 127.0.0.1 and a free port, for tests (and bench/soak.ts)
 * that must see the process itself: whether it crashed, what it logged, what a kill -9 leaves on disk.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";

const MAIN = join(import.meta.dirname, "..", "..", "src", "cli", "main.ts");

export interface ChildServer {
  url: string;
  port: number;
  child: ChildProcess;
  /** Everything the process wrote to stderr so far (internal errors are logged there). */
  stderr(): string;
  /** Resolves when the process has exited, with its code or signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** True while the process runs. */
  alive(): boolean;
  /** SIGKILL, then waits for the exit. */
  kill(): Promise<void>;
  /** SIGTERM (a clean drain), then waits for the exit; SIGKILL if it takes longer than `graceMs`. */
  stop(graceMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface ChildServerOptions {
  /** The data directory; ignored with `store`. */
  dataDir: string;
  /** A shared store (postgres://…) instead of the data directory. */
  store?: string;
  adminToken: string;
  accountId?: string;
  durability?: "fsync" | "process";
  /** Start an edge node of the core at `url`, acting with `token` (dataDir, store, adminToken and durability are then not passed). */
  edgeOf?: { url: string; token: string };
  /** How long to wait for the banner. Default 30 s (a loaded machine starts Node slowly). */
  startTimeoutMs?: number;
  /** Extra Node options for the child (e.g. `--cpu-prof`, `--import` of a probe), before the script. */
  nodeArgs?: readonly string[];
  /** Extra `serve` flags, after the others (e.g. an edge's `--cache-file`). */
  args?: readonly string[];
  /** Extra environment variables for the child. */
  env?: Readonly<Record<string, string>>;
}

export function startChildServer(options: ChildServerOptions): Promise<ChildServer> {
  const store = options.store ? ["--store", options.store] : ["--data", options.dataDir];
  const args = [
    "--no-warnings=ExperimentalWarning",
    ...(options.nodeArgs ?? []),
    MAIN,
    "serve",
    "--port",
    "0",
    ...(options.edgeOf
      ? ["--edge-of", options.edgeOf.url, "--token", options.edgeOf.token]
      : [...store, "--admin-token", options.adminToken, "--durability", options.durability ?? "fsync"]),
    ...(options.accountId && !options.edgeOf ? ["--account-id", options.accountId] : []),
    ...(options.args ?? []),
  ];
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...options.env } });
  let out = "";
  let err = "";
  child.stdout!.setEncoding("utf8").on("data", (c: string) => (out += c));
  child.stderr!.setEncoding("utf8").on("data", (c: string) => (err += c));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  const alive = () => child.exitCode === null && child.signalCode === null;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`openkv serve printed no URL within ${options.startTimeoutMs ?? 30_000} ms:\n${out}\n${err}`));
    }, options.startTimeoutMs ?? 30_000);
    const onData = () => {
      const m = /OpenKV listening on (http:\/\/127\.0\.0\.1:(\d+))/.exec(out);
      if (!m) return;
      clearTimeout(timer);
      child.stdout!.off("data", onData);
      resolve({
        url: m[1]!,
        port: Number(m[2]),
        child,
        stderr: () => err,
        exited,
        alive,
        async kill() {
          if (alive()) child.kill("SIGKILL");
          await exited;
        },
        async stop(graceMs = 20_000) {
          if (alive()) child.kill("SIGTERM");
          const force = setTimeout(() => child.kill("SIGKILL"), graceMs);
          const result = await exited;
          clearTimeout(force);
          return result;
        },
      });
    };
    child.stdout!.on("data", onData);
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`openkv serve exited (${code ?? signal}) before listening:\n${out}\n${err}`));
    });
  });
}
