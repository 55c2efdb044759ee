/** Starts the real server on 127.0.0.1 and a free port for one test file, and stops it after. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import { startServer, type RunningServer, type ServerConfig } from "../../src/server/server.ts";

export const ADMIN = "okv_test_admin_token_0123456789abcdef";

export async function startTestServer(config: Partial<ServerConfig> & { persistent?: boolean } = {}): Promise<RunningServer & { dir: string | null }> {
  const dir = config.persistent ? mkdtempSync(join(tmpdir(), "openkv-e2e-")) : null;
  const server = await startServer({
    host: "127.0.0.1",
    port: 0,
    dataDir: dir,
    adminToken: ADMIN,
    accountId: "0123456789abcdef0123456789abcdef",
    log: () => {},
    ...config,
  });
  after(async () => {
    await server.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  return Object.assign(server, { dir });
}

export function auth(token = ADMIN): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}
