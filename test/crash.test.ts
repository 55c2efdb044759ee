import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { Engine } from "../src/core/engine.ts";
import { encodeKey } from "../src/core/keys.ts";
import { SqliteBackend } from "../src/storage/index.ts";

test("kill -9 of a writer loses no acknowledged write and leaves an intact database", { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "openkv-crash-"));
  const path = join(dir, "crash.sqlite");
  try {
    const child = spawn(process.execPath, [join(import.meta.dirname, "fixtures/crash-writer.ts"), path], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    const acked = new Set<number>();
    let buffered = "";
    await new Promise<void>((resolve, reject) => {
      child.on("exit", (code, signal) => (signal === "SIGKILL" ? resolve() : reject(new Error(`writer exited early: ${code}`))));
      child.stdout.on("data", (chunk: Buffer) => {
        buffered += chunk.toString();
        const lines = buffered.split("\n");
        buffered = lines.pop()!;
        for (const line of lines) acked.add(Number(line.slice(4)));
        // Kill in the middle of a stream of writes, not at a quiet moment.
        if (acked.size >= 400 && !child.killed) child.kill("SIGKILL");
      });
    });
    assert.ok(acked.size >= 400);

    const raw = new DatabaseSync(path);
    assert.equal(raw.prepare("PRAGMA integrity_check").get()!.integrity_check, "ok");
    raw.close();

    const engine = new Engine(new SqliteBackend(path));
    try {
      const ns = await engine.getNamespace("default");
      const missing = [];
      for (const i of acked) {
        const e = await engine.get(ns.id, encodeKey(["k", i]));
        if (!e || e.data.byteLength !== 512 || e.data[0] !== (i & 0xff)) missing.push(i);
      }
      assert.deepEqual(missing, [], "every acknowledged write is present");
      // The counter was summed in the same atomic writes: it counts every committed key, no more, no less.
      const count = await engine.get(ns.id, encodeKey(["count"]));
      const committed = await engine.count(ns.id, encodeKey(["k"]), encodeKey(["k\0"]));
      assert.equal(new DataView(count!.data.buffer, count!.data.byteOffset).getBigUint64(0, true), BigInt(committed));
      assert.ok(committed >= acked.size);
    } finally {
      await engine.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
