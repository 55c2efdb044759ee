// The baseline for bench/http.ts: the least a node:http server can do for a GET and a PUT.
import { createServer } from "node:http";

const body = JSON.stringify({ key: ["hot"], path: "hot", value: { user: "someone", score: 42 }, versionstamp: "00000000000000010000", expiresAt: null });
const server = createServer((req, res) => {
  if (req.method === "PUT") {
    req.resume();
    req.on("end", () => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end('{"ok":true}');
    });
    return;
  }
  res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
  res.end(body);
});
server.listen(0, "127.0.0.1", () => {
  const address = server.address();
  console.log(`listening ${typeof address === "object" && address ? address.port : 0}`);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
