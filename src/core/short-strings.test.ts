import { test } from "node:test";
import assert from "node:assert/strict";
import { shortLatin1 } from "./short-strings.ts";

test("short Latin-1 strings come back right whatever the cache holds (collisions, lengths, repeats)", () => {
  const bytes = new Uint8Array(20_000);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7919) % 256;
  // Far more distinct strings than slots, read twice over: every slot is hit, overwritten and reused.
  for (let round = 0; round < 2; round++) {
    for (let start = 0; start + 16 <= bytes.length; start += 3) {
      const length = start % 17;
      const expected = Buffer.from(bytes.subarray(start, start + length)).toString("latin1");
      assert.equal(shortLatin1(bytes, start, length), expected);
    }
  }
  // Same hash slot, same length, different characters: never the cached one.
  assert.equal(shortLatin1(Uint8Array.of(0x61, 0x62), 0, 2), "ab");
  assert.equal(shortLatin1(Uint8Array.of(0x61, 0x63), 0, 2), "ac");
  assert.equal(shortLatin1(Uint8Array.of(0x61, 0x62), 0, 2), "ab");
});
