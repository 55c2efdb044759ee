// A child of bench/cpu-per-request.ts: the least Node's HTTP stacks do per request, as the floor under
// OpenKV's figures. node:http answers any request (after reading its body) with a fixed 121-byte
// JSON body, like /kv/hot's; node:http2's compatibility API (what OpenKV's listener uses) answers a POST,
// once its body is read, with fixed bytes. Reports its own process.cpuUsage() over IPC.
import { createServer } from "node:http";
import { createServer as createHttp2Server } from "node:http2";
import type { AddressInfo } from "node:net";

const json = JSON.stringify({ key: ["hot"], path: "hot", value: { user: "someone", score: 42 }, versionstamp: "00000000000000010000", expiresAt: null });
const protobuf = Buffer.alloc(60, 1);
const h1 = createServer((req, res) => {
  req.resume();
  req.on("end", () => {
    res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(json) });
    res.end(json);
  });
});
const h2 = createHttp2Server((req, res) => {
  req.resume();
  req.on("end", () => {
    res.writeHead(200, { "content-type": "application/x-protobuf", "content-length": protobuf.byteLength });
    res.end(protobuf);
  });
});
await new Promise<void>((r) => h1.listen(0, "127.0.0.1", r));
await new Promise<void>((r) => h2.listen(0, "127.0.0.1", r));
process.on("message", (m: string) => {
  if (m === "cpu") process.send!({ cpu: process.cpuUsage() });
  if (m === "stop") process.exit(0);
});
process.send!({ http1: `http://127.0.0.1:${(h1.address() as AddressInfo).port}`, http2: `http://127.0.0.1:${(h2.address() as AddressInfo).port}` });
