/**
 * `bin/openkv serve` as a real child process: the banner, the admin token shown once, what persists in
 * the data directory, OPENKV_ADMIN_TOKEN, a graceful SIGTERM, and bad flags.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

const BIN = new URL("../../bin/openkv", import.meta.url).pathname;
const root = mkdtempSync(join(tmpdir(), "openkv-cli-"));
const children = new Set<ChildProcess>();
after(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  rmSync(root, { recursive: true, force: true });
});
const timeout = { timeout: 60_000 };

interface Cli {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves once stdout matches (rejects if the process exits first or after 15 s). */
  waitFor(pattern: RegExp): Promise<RegExpMatchArray>;
  exited: Promise<number | null>;
}

function run(args: string[], env: Record<string, string> = {}): Cli {
  const { OPENKV_ADMIN_TOKEN: _drop, ...inherited } = process.env;
  const child = spawn(BIN, args, { env: { ...inherited, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  children.add(child);
  let out = "";
  let err = "";
  const waiters = new Set<() => void>();
  child.stdout!.setEncoding("utf8").on("data", (c: string) => {
    out += c;
    for (const w of waiters) w();
  });
  child.stderr!.setEncoding("utf8").on("data", (c: string) => (err += c));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const hardStop = setTimeout(() => child.kill("SIGKILL"), 45_000);
  hardStop.unref();
  void exited.then(() => clearTimeout(hardStop));
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitFor(pattern) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = pattern.exec(out);
          if (!m) return;
          done();
          resolve(m);
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`timed out waiting for ${pattern} in:\n${out}\n${err}`));
        }, 15_000);
        const done = () => {
          waiters.delete(check);
          clearTimeout(timer);
        };
        void exited.then((code) => {
          if (!pattern.exec(out)) {
            done();
            reject(new Error(`exited (${code}) before ${pattern}:\n${out}\n${err}`));
          }
        });
        waiters.add(check);
        check();
      });
    },
  };
}

/** Starts `serve` and waits for the whole banner; returns the URL it printed. */
async function serve(args: string[], env: Record<string, string> = {}): Promise<Cli & { url: string; banner: string }> {
  const cli = run(["serve", "--port", "0", ...args], env);
  const [, url] = await cli.waitFor(/^OpenKV listening on (http:\/\/127\.0\.0\.1:\d+) /m);
  await cli.waitFor(/curl -H .*\n/);
  return Object.assign(cli, { url: url!, banner: cli.stdout() });
}

async function stop(cli: Cli): Promise<void> {
  cli.child.kill("SIGTERM");
  assert.equal(await cli.exited, 0, cli.stderr());
  assert.match(cli.stdout(), /\nSIGTERM: finishing in-flight requests and closing the store…\nOpenKV stopped cleanly\.\n$/);
}

const get = (url: string, token: string) => fetch(url, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(10_000) });
const put = (url: string, token: string, value: unknown) =>
  fetch(url, { method: "PUT", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify({ value }), signal: AbortSignal.timeout(10_000) });

test("banner, admin token shown once and kept private, account id kept across restarts", timeout, async () => {
  const data = join(root, "first");
  const first = await serve(["--data", data]);
  const { url, banner } = first;
  // The Node that serves runs with the young-generation cap bin/openkv sets (README, bench:scale: peak RSS).
  const nodeArgv = readFileSync(`/proc/${first.child.pid}/cmdline`, "utf8").split("\0");
  assert.ok(nodeArgv.includes("--max-semi-space-size=16"), nodeArgv.join(" "));
  // …and with glibc's mmap threshold fixed, so 25 MiB values go back to the system when freed (README, soak).
  const env = readFileSync(`/proc/${first.child.pid}/environ`, "utf8").split("\0");
  assert.ok(env.includes("MALLOC_MMAP_THRESHOLD_=131072"), "MALLOC_MMAP_THRESHOLD_ is set");
  const [, accountId] = /Cloudflare REST API v4 +(\S+)\/client\/v4 +\(account id ([0-9a-f]{32})\)/.exec(banner)!.slice(1);
  assert.match(banner, new RegExp(`Cloudflare REST API v4 +${url}/client/v4 `));
  assert.match(banner, new RegExp(`KV REST API +${url}/kv/\\{keypath\\} +and +${url}/ns/\\{namespace\\}/kv/\\{keypath\\}`));
  assert.match(banner, new RegExp(`Dashboard +${url}/ +\\(sign in with a token\\)`));
  assert.match(banner, new RegExp(`Health / metrics +${url}/healthz +${url}/metrics`));
  const [, token] = /Admin token \(shown once; kept in .*admin-token\):\n {2}(okv_\S+)\n/.exec(banner) ?? [];
  assert.ok(token, banner);
  assert.equal(banner.split(token).length, 2, "the token appears exactly once");

  assert.equal(readFileSync(join(data, "admin-token"), "utf8").trim(), token);
  assert.equal(statSync(join(data, "admin-token")).mode & 0o777, 0o600);
  assert.equal(statSync(data).mode & 0o777, 0o700, "the data directory is private");
  assert.equal((await put(`${url}/kv/cli.kept`, token, "across restarts")).status, 200);
  assert.equal((await get(`${url}/kv/cli.kept`, "okv_wrong")).status, 401);
  await stop(first);

  const second = await serve(["--data", data]);
  assert.ok(!second.banner.includes(token), "a second start does not print the token again");
  assert.match(second.banner, /Authenticate with the admin token in .*\/first\/admin-token\./);
  assert.match(second.banner, new RegExp(`\\(account id ${accountId}\\)`));
  const kept = await get(`${second.url}/kv/cli.kept`, token);
  assert.equal(((await kept.json()) as { value: string }).value, "across restarts");
  const account = await get(`${second.url}/client/v4/accounts`, token);
  assert.equal(((await account.json()) as { result: { id: string }[] }).result[0]!.id, accountId);
  await stop(second);
});

test("OPENKV_ADMIN_TOKEN sets the admin token and is never printed", timeout, async () => {
  const secret = "okv_from_the_environment_0123456789";
  const cli = await serve(["--data", join(root, "env")], { OPENKV_ADMIN_TOKEN: secret });
  assert.ok(!cli.banner.includes(secret));
  assert.match(cli.banner, /Authenticate with the admin token you passed\./);
  assert.equal((await get(`${cli.url}/metrics`, secret)).status, 200);
  await stop(cli);
});

test("SIGTERM lets an in-flight request finish, refuses new connections, then exits 0", timeout, async () => {
  const data = join(root, "sigterm");
  const secret = "okv_sigterm_test_token_0123456789";
  const cli = await serve(["--data", data], { OPENKV_ADMIN_TOKEN: secret });
  const { port } = new URL(cli.url);
  const socket = connect(Number(port), "127.0.0.1");
  socket.setEncoding("utf8");
  let received = "";
  const until = (pattern: RegExp) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (pattern.test(received)) {
          socket.off("data", onData);
          resolve();
        }
      };
      const onData = (c: string) => {
        received += c;
        check();
      };
      socket.on("data", onData);
      socket.once("error", reject);
      socket.setTimeout(15_000, () => reject(new Error(`socket timed out; got: ${received}`)));
      check();
    });
  const body = JSON.stringify({ value: "finished after SIGTERM" });
  // Expect: 100-continue — the "100 Continue" proves the server is handling the request before the signal.
  socket.write(
    `PUT /kv/inflight HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${secret}\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nExpect: 100-continue\r\n\r\n`,
  );
  await until(/^HTTP\/1\.1 100 Continue\r\n\r\n/);
  cli.child.kill("SIGTERM");
  await cli.waitFor(/SIGTERM: finishing in-flight requests/);
  await assert.rejects(fetch(`${cli.url}/healthz`, { signal: AbortSignal.timeout(5_000) }), "no new connections once stopping");
  socket.write(body);
  await until(/HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\n\{"ok":true,"versionstamp":"[0-9a-f]{20}"\}$/);
  socket.destroy();
  assert.equal(await cli.exited, 0, cli.stderr());
  assert.match(cli.stdout(), /OpenKV stopped cleanly\.\n$/);

  const again = await serve(["--data", data], { OPENKV_ADMIN_TOKEN: secret });
  assert.equal(((await (await get(`${again.url}/kv/inflight`, secret)).json()) as { value: string }).value, "finished after SIGTERM");
  await stop(again);
});

test("invalid flags exit 1 with a message", timeout, async () => {
  const cases: [string[], RegExp][] = [
    [["serve", "--port", "abc"], /^Invalid --port "abc": use a number from 0 to 65535\.\n$/],
    [["serve", "--port", "70000"], /^Invalid --port "70000"/],
    [["serve", "--memory", "--tls-cert", "cert.pem"], /^--tls-cert and --tls-key go together: pass both\.\n$/],
    [["serve", "--memory", "--durability", "sometimes"], /^Invalid --durability "sometimes": use fsync or process\.\n$/],
    [["serve", "--memory", "--rate-limit", "lots"], /^Invalid --rate-limit "lots"/],
    [["serve", "--bogus"], /^openkv: Unknown option '--bogus'/],
    [["serve", "--memory", "--port", "0", "--host", "0.0.0.0"], /^openkv: Refusing to listen on 0\.0\.0\.0 without TLS.*--tls-cert and --tls-key, or --insecure/],
    [["frobnicate"], /^Unknown command "frobnicate"/],
  ];
  await Promise.all(
    cases.map(async ([args, message]) => {
      const cli = run(args);
      assert.equal(await cli.exited, 1, args.join(" "));
      assert.match(cli.stderr(), message, args.join(" "));
      assert.equal(cli.stdout(), "", args.join(" "));
    }),
  );
});

test("serve --edge-of: an edge of a running core, its token from OPENKV_EDGE_TOKEN; bad edge flags exit 1", timeout, async () => {
  const admin = "okv_edge_cli_admin_token_0123456789";
  const core = await serve(["--memory", "--admin-token", admin]);
  const edge = await serve(["--edge-of", core.url], { OPENKV_EDGE_TOKEN: admin });
  assert.match(edge.banner, new RegExp(`^OpenKV listening on ${edge.url} +— edge of ${core.url} \\(`, "m"));
  assert.match(edge.banner, /Authenticate with a token of the core/);
  assert.doesNotMatch(edge.banner, /Encryption at rest/);
  // The same account, the same data.
  assert.equal((await put(`${edge.url}/kv/through.edge`, admin, "hi")).status, 200);
  assert.equal(((await (await get(`${core.url}/kv/through.edge`, admin)).json()) as { value: string }).value, "hi");
  const accounts = await Promise.all([core.url, edge.url].map(async (u) => ((await (await get(`${u}/client/v4/accounts`, admin)).json()) as { result: { id: string }[] }).result[0]!.id));
  assert.equal(accounts[0], accounts[1]);
  await stop(edge);

  // A cache file: named in the banner, created for its owner only, and not shared by two edges.
  const file = join(root, "edge-cache.sqlite");
  const spilling = await serve(["--edge-of", core.url, "--cache-file", file, "--cache-file-bytes", "10485760"], { OPENKV_EDGE_TOKEN: admin });
  assert.match(spilling.banner, new RegExp(`edge of ${core.url} \\(reads cached in up to 64 MiB, spilling to ${file} \\(up to 10 MiB\\), invalidated`));
  assert.equal(statSync(file).mode & 0o777, 0o600);
  const second = run(["serve", "--port", "0", "--edge-of", core.url, "--token", admin, "--cache-file", file]);
  assert.equal(await second.exited, 1);
  assert.equal(second.stderr(), `Cannot start an edge of ${core.url}: The cache file ${file} is in use by another process: give each edge its own --cache-file.\n`);
  await stop(spilling);
  await stop(core);

  const cases: [string[], RegExp][] = [
    [["serve", "--edge-of", core.url], /^--edge-of needs --token \(or OPENKV_EDGE_TOKEN\)/],
    [["serve", "--edge-of", "core:8787", "--token", "t"], /^Invalid --edge-of "core:8787": use the core's URL/],
    [["serve", "--edge-of", core.url, "--token", "t", "--memory"], /^--memory and --edge-of do not go together/],
    [["serve", "--memory", "--token", "t"], /^--token is the edge's token on its core: it goes with --edge-of/],
    [["serve", "--memory", "--cache-file", "c.sqlite"], /^--cache-file is an edge node's cache file: it goes with --edge-of\.\n$/],
    [["serve", "--edge-of", core.url, "--token", "t", "--cache-file-bytes", "1000"], /^--cache-file-bytes sizes the edge's cache file: it goes with --cache-file\.\n$/],
    [["serve", "--edge-of", core.url, "--token", "t", "--cache-file", "c.sqlite", "--cache-file-bytes", "lots"], /^Invalid --cache-file-bytes "lots": use a number of bytes above 0\.\n$/],
    // The core is gone now: nothing to be an edge of.
    [["serve", "--port", "0", "--edge-of", core.url, "--token", admin], new RegExp(`^Cannot start an edge of ${core.url}: The core is unavailable\\n$`)],
  ];
  await Promise.all(
    cases.map(async ([args, message]) => {
      const cli = run(args);
      assert.equal(await cli.exited, 1, args.join(" "));
      assert.match(cli.stderr(), message, args.join(" "));
    }),
  );
});
