/**
 * The web dashboard in a real browser (Debian's Chromium driven by playwright-core) against the real
 * server: sign-in, namespaces, the KV browser with every encoding, the tuple-key tree, paging past 1,000
 * keys, delete by prefix, the overwrite conflict, export/import, tokens, a read-only token, a hostile
 * value shown as text, and the Connect snippets run as written. One browser for the file.
 *
 * The screenshots (namespaces, KV browser, metrics) are taken on every run; UPDATE_SCREENSHOTS=1 also
 * writes them to docs/dashboard-*.png (the README's pictures).
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { chromium, type Browser, type Dialog, type Page } from "playwright-core";
import { openKv } from "../../src/index.ts";
import { KvU64 } from "../../src/api/deno/kv-u64.ts";
import { encodeKey } from "../../src/core/keys.ts";
import { encodeV8String } from "../../src/core/values.ts";
import { denoBin, haveDeno } from "./kv-connect-compare.ts";
import { ADMIN, auth, startTestServer } from "./harness.ts";

const CHROMIUM = "/usr/bin/chromium";
const XSS = "<img src=x onerror=alert(1)>";
const server = await startTestServer();
const shop = await server.engine.createNamespace("shop");
const work = mkdtempSync(join(tmpdir(), "openkv-dashboard-"));
const updateScreenshots = process.env.UPDATE_SCREENSHOTS === "1";

/** A full-page screenshot, checked to be an image; also the README's picture with UPDATE_SCREENSHOTS=1. */
async function screenshot(name: string): Promise<void> {
  const path = join(work, `dashboard-${name}.png`);
  await page.screenshot({ path, fullPage: true });
  assert.deepEqual([...readFileSync(path).subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47], "a PNG");
  assert.ok(statSync(path).size > 10_000, "with something drawn in it");
  if (updateScreenshots) copyFileSync(path, join(import.meta.dirname, "../../docs", `dashboard-${name}.png`));
}

let browser: Browser;
let page: Page;
const dialogs: { type: string; message: string }[] = [];

/** Writes through the engine (the Deno side), as another program would. */
async function seed(): Promise<void> {
  const set = (key: unknown[], text: string) => ({ type: "set" as const, key: encodeKey(key as never), value: { encoding: "v8" as const, data: encodeV8String(text) } });
  for (let i = 0; i < 1050; i += 350) {
    const mutations = Array.from({ length: 350 }, (_, j) => set(["item", i + j], `item ${i + j}`));
    await server.engine.atomic(shop.id, { checks: [], mutations, enqueues: [] });
  }
  await server.engine.atomic(shop.id, {
    checks: [],
    mutations: [
      set(["users", "alice", "profile"], "Alice"),
      set(["users", "alice", "settings"], "dark"),
      set(["users", "bob", "profile"], "Bob"),
      set(["xss"], XSS),
      ...Array.from({ length: 30 }, (_, i) => set(["tmp", i], "scratch")),
    ],
    enqueues: [],
  });
}

before(async () => {
  await seed();
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
  page = await context.newPage();
  page.setDefaultTimeout(10_000);
  page.on("dialog", (d: Dialog) => {
    dialogs.push({ type: d.type(), message: d.message() });
    void (d.type() === "confirm" ? d.accept() : d.dismiss());
  });
  page.on("pageerror", (e) => dialogs.push({ type: "pageerror", message: e.message }));
});

after(async () => {
  await browser?.close();
  rmSync(work, { recursive: true, force: true });
});

const rows = () => page.locator(".entries tbody tr");
/** Waits until the table shows the entries of this prefix (and search), e.g. `["users"]`. */
const shown = (scope: string) => page.locator(`.entries[data-shown='${scope}'][aria-busy=false]`).waitFor();
const row = (label: string) => page.locator(`.entries tr[data-key='${label}']`);

async function signIn(token: string): Promise<void> {
  await page.goto(server.url + "/");
  await page.getByLabel("API token").fill(token);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "Namespaces" }).waitFor();
}

async function signOut(): Promise<void> {
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByLabel("API token").waitFor();
}

async function openNamespace(title: string, tab = "KV pairs"): Promise<void> {
  await page.locator("header").getByRole("button", { name: "Namespaces" }).click();
  await page.locator(`tr[data-namespace='${title}']`).getByRole("button", { name: tab }).click();
}

/** Adds (or, with the editor open, saves) an entry through the editor. */
async function addEntry(parts: [type: string, text: string][], mode: string, value: string | null, file?: string): Promise<void> {
  await page.getByRole("button", { name: "Add entry" }).click();
  const editor = page.getByTestId("editor");
  for (const [i, [type, text]] of parts.entries()) {
    if (i > 0) await editor.getByRole("button", { name: "Add key part" }).click();
    await editor.getByLabel(`Key part ${i + 1} type`).selectOption(type);
    await editor.getByLabel(`Key part ${i + 1}`, { exact: true }).fill(text);
  }
  await editor.locator("select[name=value-type]").selectOption(mode);
  if (file) await editor.locator("input[name=value-file]").setInputFiles(file);
  if (value !== null) await editor.getByLabel("Value", { exact: true }).fill(value);
  await editor.getByRole("button", { name: "Save" }).click();
  await page.getByRole("status").filter({ hasText: `Saved [${parts.map(([type, text]) => (type === "string" ? JSON.stringify(text) : type === "bigint" ? `${text}n` : text)).join(", ")}]` }).waitFor();
}

test("sign-in: a wrong token is refused with the server's message; the admin token signs in", async () => {
  await page.goto(server.url + "/");
  await page.getByLabel("API token").fill("okv_wrong_token");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("alert").filter({ hasText: "Invalid API token" }).waitFor();
  await signIn(ADMIN);
  assert.match(await page.locator("header .who").innerText(), /Signed in as admin \(admin\)/);
  // The token is kept in the tab's session storage, never in the URL.
  assert.equal(await page.evaluate(() => sessionStorage.getItem("openkv.token")), ADMIN);
  assert.ok(!page.url().includes(ADMIN));
});

test("namespaces: key count and size from the analytics API; create, rename, delete after typing the name", async () => {
  // The seeded namespace: 1,050 items, 3 users, the hostile value and 30 scratch keys.
  const shopRow = page.locator("tr[data-namespace='shop']");
  assert.equal(await shopRow.locator("td.num").first().innerText(), "1084");
  const stats = await server.engine.namespaceStats(shop.id);
  assert.equal(stats.keyCount, 1084);
  assert.notEqual(await shopRow.locator("td.num").nth(1).innerText(), "—", "a size is shown");
  await page.getByLabel("New namespace title").fill("orders");
  await page.getByRole("button", { name: "Create namespace" }).click();
  const created = page.locator("tr[data-namespace='orders']");
  await created.waitFor();
  assert.ok(await server.engine.findNamespace("orders"));

  await created.getByRole("button", { name: "Rename" }).click();
  await page.getByLabel("New title").fill("orders-2026");
  await page.getByRole("button", { name: "Save" }).click();
  const renamed = page.locator("tr[data-namespace='orders-2026']");
  await renamed.waitFor();
  assert.equal(await server.engine.findNamespace("orders"), null);

  await renamed.getByRole("button", { name: "Delete" }).click();
  const confirm = page.getByTestId("confirm-delete-namespace");
  const go = confirm.getByRole("button", { name: "Delete namespace" });
  assert.ok(await go.isDisabled(), "disabled until the name is typed");
  await confirm.getByLabel("Type the namespace name").fill("orders-202");
  assert.ok(await go.isDisabled());
  await confirm.getByLabel("Type the namespace name").fill("orders-2026");
  await go.click();
  await renamed.waitFor({ state: "detached" });
  assert.equal(await server.engine.findNamespace("orders-2026"), null);
  await screenshot("namespaces");
});

test("a value '<img src=x onerror=alert(1)>' is shown as text in the list and the editor; no script runs", async () => {
  await openNamespace("shop");
  await page.getByLabel("Key prefix search").fill("xss");
  await page.getByRole("button", { name: "Search" }).click();
  await shown('[] starting with "xss"');
  await row('["xss"]').waitFor();
  assert.equal(await row('["xss"]').locator("td.preview").innerText(), XSS);
  await row('["xss"]').locator("a.part").click();
  assert.equal(await page.getByTestId("editor").getByLabel("Value", { exact: true }).inputValue(), XSS);
  assert.equal(await page.locator("img").count(), 0, "no <img> element was made from the value");
  assert.deepEqual(dialogs, [], "no alert (or any dialog, or page error) happened");
  await page.getByTestId("editor").getByRole("button", { name: "Close" }).click();
  await page.getByRole("button", { name: "Clear" }).click();
});

test("tuple keys: the tree lists next parts, clicking walks down, the breadcrumb walks back", async () => {
  const tree = page.locator("aside.tree");
  await tree.getByRole("button", { name: /^users/ }).click();
  await shown('["users"]');
  assert.deepEqual(await tree.locator(".node").allInnerTexts(), ["alice string", "bob string"]);
  await tree.getByRole("button", { name: /^alice/ }).click();
  await shown('["users", "alice"]');
  assert.deepEqual(await rows().evaluateAll((trs) => trs.map((tr) => tr.getAttribute("data-key"))), ['["users", "alice", "profile"]', '["users", "alice", "settings"]']);
  assert.deepEqual(await page.locator(".breadcrumb .crumb").allInnerTexts(), ["(all keys)", "users", "alice"]);
  await page.locator(".breadcrumb .crumb", { hasText: "users" }).click();
  await shown('["users"]');
  assert.equal(await rows().count(), 3);
  // A key part in the table walks to that prefix too.
  await row('["users", "bob", "profile"]').getByRole("button", { name: "bob" }).click();
  await shown('["users", "bob"]');
  assert.equal(await rows().count(), 1);
});

test("paging: 1,050 keys under one prefix — the first page shows 1,000, Load more reaches the last", async () => {
  await page.locator(".breadcrumb .crumb", { hasText: "(all keys)" }).click();
  await page.locator("aside.tree").getByRole("button", { name: /^item/ }).click();
  await shown('["item"]');
  assert.equal(await rows().count(), 1000);
  await page.getByRole("button", { name: "Load more" }).click();
  await row('["item", 1049]').waitFor();
  assert.equal(await rows().count(), 1050);
  assert.equal(await page.getByRole("button", { name: "Load more" }).count(), 0, "no more pages");
});

test("add, edit and delete entries of every encoding; Deno reads each as its type", async () => {
  // Under the tuple prefix ["enc"]: each save reloads a short list.
  await page.locator(".breadcrumb .crumb", { hasText: "(all keys)" }).click();
  await page.getByLabel("Key prefix search").fill("enc");
  await page.getByRole("button", { name: "Search" }).click();
  await shown('[] starting with "enc"');
  await addEntry([["string", "enc"], ["string", "text"]], "text", "héllo");
  await addEntry([["string", "enc"], ["string", "json"]], "json", '{"a": [1, 2, {"b": null}]}');
  await addEntry(
    [["string", "enc"], ["string", "deno"], ["bigint", "7"]],
    "structured",
    JSON.stringify({ type: "Map", value: [[{ type: "string", value: "when" }, { type: "Date", value: "2024-07-15T00:00:00.000Z" }], [{ type: "string", value: "ids" }, { type: "Set", value: [{ type: "bigint", value: "12345678901234567890" }] }]] }),
  );
  await addEntry([["string", "enc"], ["string", "bytes"]], "bytes", "00ff 10");
  await addEntry([["string", "enc"], ["string", "u64"]], "KvU64", "18446744073709551615");
  const upload = join(work, "logo.bin");
  writeFileSync(upload, Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0));
  await addEntry([["string", "enc"], ["string", "file"]], "bytes", null, upload);

  const kv = await openKv(`${server.url}/kv-connect/shop`, { token: ADMIN });
  try {
    assert.equal((await kv.get(["enc", "text"])).value, "héllo");
    assert.deepEqual((await kv.get(["enc", "json"])).value, { a: [1, 2, { b: null }] });
    assert.deepEqual((await kv.get(["enc", "deno", 7n])).value, new Map<string, unknown>([["when", new Date("2024-07-15T00:00:00.000Z")], ["ids", new Set([12345678901234567890n])]]));
    assert.deepEqual((await kv.get(["enc", "bytes"])).value, Uint8Array.of(0, 255, 16));
    assert.deepEqual((await kv.get(["enc", "u64"])).value, new KvU64(18446744073709551615n));
    assert.deepEqual((await kv.get(["enc", "file"])).value, Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0));

    // The editor opens each in its own mode.
    const editor = page.getByTestId("editor");
    const modeOf = async (label: string) => {
      await page.locator(".breadcrumb .crumb", { hasText: "(all keys)" }).click();
      await page.getByLabel("Key prefix search").fill("enc");
      await page.getByRole("button", { name: "Search" }).click();
      await shown('[] starting with "enc"');
      await row(label).locator("a.part").click();
      await editor.getByTestId("editor-key").filter({ hasText: label }).waitFor();
      return [await editor.locator("select[name=value-type]").inputValue(), await editor.getByLabel("Value", { exact: true }).inputValue()];
    };
    assert.deepEqual(await modeOf('["enc", "u64"]'), ["KvU64", "18446744073709551615"]);
    assert.deepEqual(await modeOf('["enc", "bytes"]'), ["bytes", "00ff10"]);
    const download = page.waitForEvent("download");
    await editor.getByRole("button", { name: "Download bytes" }).click();
    assert.deepEqual(readFileSync(await (await download).path()), Buffer.from([0, 255, 16]));
    const [mode, text] = await modeOf('["enc", "deno", 7n]');
    assert.equal(mode, "structured");
    assert.equal(JSON.parse(text!).type, "Map");

    // Edit the text entry, then delete it.
    await modeOf('["enc", "text"]');
    await editor.getByLabel("Value", { exact: true }).fill("edited");
    await editor.getByRole("button", { name: "Save" }).click();
    await page.getByRole("status").filter({ hasText: 'Saved ["enc", "text"]' }).waitFor();
    assert.equal((await kv.get(["enc", "text"])).value, "edited");
    await editor.getByRole("button", { name: "Delete" }).click();
    await page.getByRole("status").filter({ hasText: 'Deleted ["enc", "text"]' }).waitFor();
    assert.equal((await kv.get(["enc", "text"])).versionstamp, null);
    assert.equal(dialogs.at(-1)?.type, "confirm");

    // Select-and-delete two entries.
    await row('["enc", "json"]').getByRole("checkbox").check();
    await row('["enc", "file"]').getByRole("checkbox").check();
    await page.getByRole("button", { name: "Delete selected (2)" }).click();
    await page.getByRole("status").filter({ hasText: "Deleted 2 entries." }).waitFor();
    assert.equal((await kv.get(["enc", "json"])).versionstamp, null);
    assert.equal((await kv.get(["enc", "file"])).versionstamp, null);
    assert.equal((await kv.get(["enc", "u64"])).versionstamp !== null, true);
  } finally {
    kv.close();
  }
});

test("overwrite conflict: an entry changed since it was opened is not overwritten until confirmed", async () => {
  await page.getByLabel("Key prefix search").fill("xss");
  await page.getByRole("button", { name: "Search" }).click();
  await shown('[] starting with "xss"');
  await row('["xss"]').locator("a.part").click();
  const editor = page.getByTestId("editor");
  await editor.getByLabel("Value", { exact: true }).fill("mine");
  // Meanwhile another client writes the same key.
  const put = await fetch(`${server.url}/client/v4/accounts/${server.accountId}/storage/kv/namespaces/${shop.id}/values/xss`, { method: "PUT", headers: auth(), body: "theirs" });
  assert.equal(put.status, 200);
  await editor.getByRole("button", { name: "Save" }).click();
  const conflict = page.getByTestId("conflict");
  await conflict.waitFor();
  assert.match(await conflict.innerText(), /The entry changed since you opened it\. It now holds: theirs/);
  const stored = await fetch(`${server.url}/client/v4/accounts/${server.accountId}/storage/kv/namespaces/${shop.id}/values/xss`, { headers: auth() });
  assert.equal(await stored.text(), "theirs", "nothing was overwritten yet");
  await conflict.getByRole("button", { name: "Overwrite" }).click();
  await page.getByRole("status").filter({ hasText: 'Saved ["xss"]' }).waitFor();
  const now = await fetch(`${server.url}/client/v4/accounts/${server.accountId}/storage/kv/namespaces/${shop.id}/values/xss`, { headers: auth() });
  assert.equal(await now.text(), "mine");
  await editor.getByRole("button", { name: "Close" }).click();
  await page.getByRole("button", { name: "Clear" }).click();
});

test("delete by prefix: the dry run shows the count, then exactly those entries go", async () => {
  await page.locator(".breadcrumb .crumb", { hasText: "(all keys)" }).click();
  await page.locator("aside.tree").getByRole("button", { name: /^tmp/ }).click();
  await shown('["tmp"]');
  const before = await server.engine.count(shop.id, Uint8Array.of(0), Uint8Array.of(0xff));
  await page.getByRole("button", { name: "Delete by prefix…" }).click();
  assert.equal(await page.getByTestId("prefix-count").innerText(), "30");
  assert.equal(await server.engine.count(shop.id, Uint8Array.of(0), Uint8Array.of(0xff)), before, "the dry run deleted nothing");
  await page.getByRole("button", { name: "Delete 30 entries" }).click();
  await page.getByRole("status").filter({ hasText: "Deleted 30 entries." }).waitFor();
  assert.equal(await server.engine.count(shop.id, Uint8Array.of(0), Uint8Array.of(0xff)), before - 30);
  assert.equal(await rows().count(), 0);
});

test("export and import NDJSON with a progress bar, in openkv export's format", async () => {
  await page.locator(".breadcrumb .crumb", { hasText: "(all keys)" }).click();
  await page.locator("aside.tree").getByRole("button", { name: /^users/ }).click();
  await shown('["users"]');
  const download = page.waitForEvent("download");
  await page.getByRole("button", { name: "Export NDJSON" }).click();
  const file = await download;
  assert.equal(file.suggestedFilename(), "shop.ndjson");
  const lines = readFileSync(await file.path(), "utf8").trim().split("\n");
  assert.equal(lines.length, 3);
  assert.deepEqual(Object.keys(JSON.parse(lines[0]!)), ["key", "encoding", "value", "versionstamp"]);

  // Import them (plus 1,500 more lines, so it takes two requests) into another namespace.
  await server.engine.createNamespace("copy");
  const more = Array.from({ length: 1500 }, (_, i) => JSON.stringify({ name: `bulk-${String(i).padStart(4, "0")}`, encoding: "bytes", value: Buffer.from(`v${i}`).toString("base64") }));
  const path = join(work, "in.ndjson");
  writeFileSync(path, [...lines, ...more].join("\n") + "\n");
  await openNamespace("copy");
  await page.locator("input[name=import-file]").setInputFiles(path);
  await page.getByRole("status").filter({ hasText: "Imported 1503 entries." }).waitFor();
  const copy = (await server.engine.findNamespace("copy"))!;
  assert.equal(await server.engine.count(copy.id, Uint8Array.of(0), Uint8Array.of(0xff)), 1503);
});

test("tokens: create one (shown once), sign in with it read-only — no edit controls — then revoke it", async () => {
  await page.locator("header").getByRole("button", { name: "Tokens" }).click();
  await page.locator("input[name=token-name]").fill("viewer");
  await page.locator("select[name=token-permission]").selectOption("read");
  await page.getByRole("button", { name: "Create token" }).click();
  const created = page.getByTestId("created-token");
  const secret = await created.locator("code.secret").innerText();
  assert.equal((await fetch(`${server.url}/_openkv/v1/dashboard/session`, { headers: auth(secret) })).status, 200);
  await page.locator("tr[data-token='viewer']").waitFor();
  await created.getByRole("button", { name: "Done" }).click();
  assert.equal(await page.locator("code.secret").count(), 0, "the token is not shown again");

  await signOut();
  await signIn(secret);
  assert.match(await page.locator("header .who").innerText(), /viewer \(read-only token\)/);
  assert.equal(await page.locator("header").getByRole("button", { name: "Tokens" }).count(), 0);
  assert.equal(await page.getByLabel("New namespace title").count(), 0);
  assert.equal(await page.getByRole("button", { name: "Rename" }).count(), 0);
  assert.equal(await page.getByRole("button", { name: "Delete" }).count(), 0);
  await openNamespace("shop");
  await page.getByLabel("Key prefix search").fill("xss");
  await page.getByRole("button", { name: "Search" }).click();
  await shown('[] starting with "xss"');
  await row('["xss"]').waitFor();
  for (const name of ["Add entry", "Delete by prefix…", /^Delete selected/]) assert.equal(await page.getByRole("button", { name }).count(), 0, String(name));
  assert.equal(await page.locator("input[name=import-file]").count(), 0);
  assert.equal(await rows().first().getByRole("checkbox").count(), 0);
  await row('["xss"]').locator("a.part").click();
  const editor = page.getByTestId("editor");
  await editor.getByRole("heading", { name: "View entry" }).waitFor();
  assert.equal(await editor.getByRole("button", { name: "Save" }).count(), 0);
  assert.equal(await editor.getByRole("button", { name: "Delete" }).count(), 0);
  assert.ok(await editor.getByLabel("Value", { exact: true }).getAttribute("readonly") !== null);

  await signOut();
  await signIn(ADMIN);
  await page.locator("header").getByRole("button", { name: "Tokens" }).click();
  await page.locator("tr[data-token='viewer']").getByRole("button", { name: "Revoke" }).click();
  await page.locator("tr[data-token='viewer']").waitFor({ state: "detached" });
  assert.equal((await fetch(`${server.url}/_openkv/v1/dashboard/session`, { headers: auth(secret) })).status, 401);
});

test("metrics: the operations just made, by type, with latency, keys and bytes, in each window", async () => {
  const metered = await server.engine.createNamespace("metered");
  const value = (key: string) => `${server.url}/client/v4/accounts/${server.accountId}/storage/kv/namespaces/${metered.id}/values/${key}`;
  for (let i = 0; i < 4; i++) assert.equal((await fetch(value(`k${i}`), { method: "PUT", headers: auth(), body: `value ${i}` })).status, 200);
  for (let i = 0; i < 6; i++) assert.equal((await fetch(value(`k${i % 4}`), { headers: auth() })).status, 200);
  assert.equal((await fetch(value("k0"), { method: "DELETE", headers: auth() })).status, 200);
  assert.equal((await fetch(value("").replace(/values\/$/, "keys"), { headers: auth() })).status, 200);
  await openNamespace("metered", "Metrics");
  await page.getByRole("button", { name: "1h" }).click();
  await page.getByTestId("metrics-total").filter({ hasText: "12 operations in the last 1h: 6 read, 4 write, 1 delete, 1 list." }).waitFor();
  for (const chart of ["Operations by type", "Latency (ms)", "Keys", "Bytes"]) {
    // uPlot draws in an effect after the figures render: wait for the canvas, then check there is one.
    const canvas = page.getByTestId(`chart-${chart}`).locator("canvas");
    await canvas.first().waitFor();
    assert.equal(await canvas.count(), 1, `${chart} is drawn once`);
  }
  // The legend of the operations chart names each type.
  assert.deepEqual(await page.getByTestId("chart-Operations by type").locator(".u-legend .u-series .u-label").allInnerTexts(), ["Time", "read", "write", "delete", "list"]);
  await screenshot("metrics");
  for (const win of ["24h", "7d", "31d"]) {
    await page.getByRole("button", { name: win }).click();
    await page.getByTestId("metrics-total").filter({ hasText: `12 operations in the last ${win}: 6 read, 4 write, 1 delete, 1 list.` }).waitFor();
  }
});

test("a server with analytics off: the Metrics tab says so and sizes are —", async () => {
  const plain = await startTestServer({ analytics: false });
  await plain.engine.createNamespace("quiet");
  await page.goto(plain.url + "/");
  await page.getByLabel("API token").fill(ADMIN);
  await page.getByRole("button", { name: "Sign in" }).click();
  const quiet = page.locator("tr[data-namespace='quiet']");
  await quiet.waitFor();
  assert.equal(await quiet.locator("td.num").first().innerText(), "—");
  await quiet.getByRole("button", { name: "Metrics" }).click();
  assert.equal(await page.getByTestId("metrics-message").innerText(), "Analytics are not available on this server");
  // Back to the first server: this tab's session there is still signed in.
  await page.goto(server.url + "/");
  await page.getByRole("heading", { name: "Namespaces" }).waitFor();
});

test("the Connect snippets run as written", async () => {
  await openNamespace("shop", "Connect");
  const snippet = async (id: string) => page.locator(`[data-snippet=${id}] pre`).innerText();

  const curl = (await snippet("curl")).replace("export OPENKV_TOKEN=<your token>", "");
  const out = await promisify(execFile)("bash", ["-c", curl], { env: { ...process.env, OPENKV_TOKEN: ADMIN }, encoding: "utf8", timeout: 20_000 });
  assert.match(out.stdout, /"key":\["greeting"\],"path":"greeting","value":"hello"/);

  const wrangler = await snippet("wrangler");
  assert.ok(wrangler.includes(`"binding": "shop", "id": "${shop.id}"`));
  assert.ok(wrangler.includes(`CLOUDFLARE_API_BASE_URL=${server.url}/client/v4`));

  if (haveDeno) {
    const deno = await snippet("deno");
    const app = join(work, "app.ts");
    writeFileSync(app, deno);
    const run = await promisify(execFile)(denoBin, ["run", "--unstable-kv", "--allow-net", "--allow-env=DENO_KV_ACCESS_TOKEN", app], {
      env: { ...process.env, DENO_KV_ACCESS_TOKEN: ADMIN, NO_COLOR: "1" },
      encoding: "utf8",
      timeout: 60_000,
    });
    assert.equal(run.stdout.trim(), "hello");
  }
  assert.deepEqual(dialogs.filter((d) => d.type !== "confirm"), [], "no alert or page error during the whole run");
});

test("the KV browser, as the README shows it", async () => {
  await openNamespace("shop");
  await page.locator("aside.tree").getByRole("button", { name: /^users/ }).click();
  await row('["users", "alice", "profile"]').locator("a.part").click();
  await page.getByTestId("editor").waitFor();
  await screenshot("kv");
});
