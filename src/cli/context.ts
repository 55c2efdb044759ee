/** The CommandContext a handler gets: output, prompts, progress, the config and the store it acts on. */
import { resolve } from "node:path";
import { localDataDir } from "../config/bindings.ts";
import { displayPath } from "../config/data-dir.ts";
import { loadEncryptionKey } from "../config/encryption-key.ts";
import { remoteSettings } from "../config/remote.ts";
import { readWranglerConfig, type WranglerConfig } from "../config/wrangler-config.ts";
import type { CommandContext, GlobalArgs, Location, LocationArgs } from "./command.ts";
import type { Output } from "./output.ts";
import { progressBar } from "./progress.ts";
import { confirm, type InStream } from "./prompt.ts";
import { LocalStore } from "./store/local.ts";
import { RemoteStore } from "./store/remote.ts";
import type { KvStore } from "./store/types.ts";
import { UserError } from "./errors.ts";

/** A store URL as it may be shown: any password replaced by ***. */
export function maskPassword(url: string): string {
  return url.replace(/^(postgres(?:ql)?:\/\/[^:@/]*):[^@/]*@/, "$1:***@");
}

export interface CliIO {
  stdout: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  stdin?: InStream;
  env: NodeJS.ProcessEnv;
  /** Default `process.cwd()`. */
  cwd?: string;
}

/** wrangler's rule: local unless --remote (or --local=false); --local wins when both are unset. */
export function isLocal(args: LocationArgs): boolean {
  if (args.local === undefined && args.remote === undefined) return true;
  return args.local === true || args.remote === false;
}

export class Context implements CommandContext {
  readonly out: Output;
  readonly stdin: InStream;
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
  readonly #global: GlobalArgs;
  #config: WranglerConfig | null = null;
  #store: Promise<KvStore> | null = null;
  #closers: (() => Promise<void> | void)[] = [];

  constructor(out: Output, io: CliIO, global: GlobalArgs) {
    this.out = out;
    this.stdin = io.stdin ?? (process.stdin as InStream);
    this.env = io.env;
    this.cwd = resolve(io.cwd ?? process.cwd(), global.cwd ?? ".");
    this.#global = global;
  }

  config(): WranglerConfig {
    this.#config ??= readWranglerConfig({
      cwd: this.cwd,
      ...(this.#global.config ? { config: this.#global.config } : {}),
      ...(this.#global.env ? { env: this.#global.env } : {}),
    });
    return this.#config;
  }

  dataDir(args: LocationArgs): string {
    return localDataDir(this.config(), this.cwd, args.persistTo);
  }

  storeUrl(args: LocationArgs): string | null {
    const url = args.store ?? (this.env.OPENKV_STORE || undefined);
    if (url === undefined) return null;
    if (!/^postgres(ql)?:\/\//.test(url)) {
      throw new UserError(`Invalid --store "${url}": use a PostgreSQL URL such as postgres://user@host:5432/db (for SQLite, use --persist-to DIR).`);
    }
    return url;
  }

  #remote() {
    return remoteSettings({ config: this.config(), env: this.env });
  }

  location(args: LocationArgs): Location {
    if (isLocal(args)) {
      const url = this.storeUrl(args);
      return { kind: "local", where: url ? maskPassword(url) : displayPath(this.dataDir(args), this.cwd) };
    }
    return { kind: "remote", where: this.#remote().url };
  }

  store(args: LocationArgs, options: { allowLocked?: boolean } = {}): Promise<KvStore> {
    this.#store ??= (async () => {
      const location = this.location(args);
      const store: KvStore =
        location.kind === "local"
          ? await LocalStore.open(this.storeUrl(args) ?? this.dataDir(args), location.where, {
              encryptionKey: loadEncryptionKey(args.encryptionKeyFile, this.env, this.cwd),
              allowLocked: options.allowLocked ?? false,
            })
          : new RemoteStore(this.#remote().url, this.#remote().token, this.env.OPENKV_ACCOUNT_ID || undefined);
      this.onClose(() => store.close());
      return store;
    })();
    return this.#store;
  }

  confirm(text: string, options?: { defaultValue?: boolean; fallbackValue?: boolean }): Promise<boolean> {
    return confirm(text, { stdin: this.stdin, out: this.out, env: this.env }, options);
  }

  progress(label: string, total: number) {
    return progressBar(this.out.stderr, label, total);
  }

  resolve(path: string): string {
    return resolve(this.cwd, path);
  }

  onClose(fn: () => Promise<void> | void): void {
    this.#closers.push(fn);
  }

  async close(): Promise<void> {
    const closers = this.#closers.reverse();
    this.#closers = [];
    for (const fn of closers) await fn();
  }
}
