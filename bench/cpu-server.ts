// A child of bench/cpu-per-request.ts: an OpenKV server (SQLite, fsync on commit) that reports its own
// process.cpuUsage() over IPC when asked, so CPU per request is the server's alone.
import { startServer } from "../src/server/server.ts";

const [dataDir, token, flag] = process.argv.slice(2) as [string, string, string?];
const server = await startServer({ host: "127.0.0.1", port: 0, dataDir, adminToken: token, log: () => {}, ...(flag === "--no-response-cache" ? { responseCache: false } : {}) });
process.on("message", (m: string) => {
  if (m === "cpu") process.send!({ cpu: process.cpuUsage() });
  if (m === "stop") void server.close().then(() => process.exit(0));
});
process.send!({ url: server.url });
