/** Which OpenKV server remote mode talks to: explicit values, else OPENKV_URL / OPENKV_TOKEN, else the config's `openkv` table. */
import type { WranglerConfig } from "./wrangler-config.ts";
import { ConfigError } from "./wrangler-config.ts";

export interface RemoteSettings {
  /** The server's base URL, without a trailing slash, e.g. `http://127.0.0.1:8787`. */
  readonly url: string;
  readonly token: string;
}

export interface RemoteSettingsInput {
  config?: WranglerConfig;
  url?: string;
  token?: string;
  env?: NodeJS.ProcessEnv;
}

export function remoteSettings(input: RemoteSettingsInput): RemoteSettings {
  const env = input.env ?? process.env;
  const url = input.url || env.OPENKV_URL || input.config?.openkv.url;
  const token = input.token || env.OPENKV_TOKEN || input.config?.openkv.token;
  if (!url) {
    throw new ConfigError("Remote mode needs a server: set OPENKV_URL (e.g. http://127.0.0.1:8787) and OPENKV_TOKEN.", [
      `Or add an "openkv": { "url": "…" } table to your wrangler config file.`,
      "Without --remote, commands act on the local data directory (./.openkv).",
    ]);
  }
  if (!/^https?:\/\//i.test(url)) {
    throw new ConfigError(`OPENKV_URL is "${url}", which is not the http(s) URL of an OpenKV server.`, [
      "Remote mode talks to a server started with `openkv serve`; for a local data directory drop --remote (and use --persist-to).",
    ]);
  }
  if (!token) {
    throw new ConfigError(`Remote mode needs a token for ${url}: set OPENKV_TOKEN.`, [
      "The server's admin token is in its data directory (.openkv/admin-token); `openkv token create` makes narrower ones.",
    ]);
  }
  return { url: url.replace(/\/+$/, ""), token };
}
