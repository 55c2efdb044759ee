/**
 * `npm run bench:seal`: where the floor of encryption at rest lies. Prints what each step of one
 * AES-256-GCM seal and open of a small value costs with `node:crypto` (the calls src/core/sealing.ts
 * makes, back to back, so this is the cheapest they get), next to what a whole plain `get` and a
 * plain `set` with 100 in flight cost through our `Kv` in the same run, in CPU time per operation.
 *
 * Node has no one-shot AEAD call and no way to give a cipher object a new nonce: every seal builds a
 * cipher object and three output buffers. A write seals each value once, so the seal's share of a
 * plain write is the least an encrypted write can cost over a plain one.
 *
 * Options: --seconds N (per measurement, default 1)
 */
import { createCipheriv, createDecipheriv, createSecretKey, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { openKv } from "../src/index.ts";
import { serializeV8 } from "../src/core/v8.ts";

const { values } = parseArgs({ options: { seconds: { type: "string", default: "1" } } });
const ms = Number(values.seconds) * 1000;

/** CPU µs per operation of `step` (which returns how many operations it did), run for `ms`. */
async function cpuPerOp(step: () => number | Promise<number>): Promise<number> {
  for (let i = 0; i < 1000; i++) await step();
  const start = performance.now();
  const before = process.cpuUsage();
  let ops = 0;
  while (performance.now() - start < ms) ops += await step();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / ops;
}

const value = { user: "someone", score: 42, tags: ["a", "b"], active: true };
const plaintext = serializeV8(value);
const key = createSecretKey(randomBytes(32));
const iv = randomBytes(12);
const aad = randomBytes(60); // domain, part, header, encoding, namespace id and key, as sealing.ts builds it
const sealed = (() => {
  const c = createCipheriv("aes-256-gcm", key, iv);
  c.setAAD(aad);
  const body = Buffer.concat([c.update(plaintext), c.final()]);
  return { body, tag: c.getAuthTag() };
})();

const steps: [string, () => number][] = [
  ["createCipheriv", () => (createCipheriv("aes-256-gcm", key, iv), 1)],
  ["  + setAAD", () => (createCipheriv("aes-256-gcm", key, iv).setAAD(aad), 1)],
  [
    "  + update",
    () => {
      const c = createCipheriv("aes-256-gcm", key, iv);
      c.setAAD(aad);
      c.update(plaintext);
      return 1;
    },
  ],
  [
    "  + final",
    () => {
      const c = createCipheriv("aes-256-gcm", key, iv);
      c.setAAD(aad);
      c.update(plaintext);
      c.final();
      return 1;
    },
  ],
  [
    "  + getAuthTag (a whole seal)",
    () => {
      const c = createCipheriv("aes-256-gcm", key, iv);
      c.setAAD(aad);
      c.update(plaintext);
      c.final();
      c.getAuthTag();
      return 1;
    },
  ],
  [
    "a whole open (createDecipheriv … final)",
    () => {
      const d = createDecipheriv("aes-256-gcm", key, iv, { authTagLength: 16 });
      d.setAAD(aad);
      d.setAuthTag(sealed.tag);
      d.update(sealed.body);
      d.final();
      return 1;
    },
  ],
];

const dir = mkdtempSync(join(tmpdir(), "openkv-seal-cost-"));
try {
  const kv = await openKv(join(dir, "plain.sqlite"));
  for (let i = 0; i < 1000; i++) await kv.set(["get", i], value);
  let n = 0;
  const get = await cpuPerOp(async () => ((await kv.get(["get", n++ % 1000])).value === null ? 0 : 1));
  const set100 = await cpuPerOp(async () => {
    await Promise.all(Array.from({ length: 100 }, () => kv.set(["set100", n++], value)));
    return 100;
  });
  kv.close();
  const rows = [];
  for (const [name, step] of steps) rows.push([name, await cpuPerOp(step)] as const);
  const fmt = (us: number) => us.toFixed(2);
  const lines = [
    `${plaintext.length}-byte value; plain get ${fmt(get)} µs, plain set (100 in flight) ${fmt(set100)} µs CPU per operation`,
    "",
    "| node:crypto step | µs CPU | ÷ plain get | ÷ plain set (100 in flight) |",
    "|---|---:|---:|---:|",
    ...rows.map(([name, us]) => `| ${name} | ${fmt(us)} | ${(us / get).toFixed(2)} | ${(us / set100).toFixed(2)} |`),
  ];
  console.log(lines.join("\n"));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
