/**
 * Serves the dashboard: `GET /` is its page, `/_openkv/ui/{file}` its modules and styles (./ui/), and
 * `/_openkv/ui/vendor/{file}` the libraries it runs on, straight from node_modules — no build step.
 *
 * The page's Content-Security-Policy allows scripts from this origin only. The one inline element is
 * the import map (it names the libraries' URLs), allowed by its SHA-256 rather than by 'unsafe-inline',
 * so an injected inline script would not run even if one got into the page.
 */
import { createHash } from "node:crypto";
import type { ServerResponse } from "node:http";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { HttpError, sendText } from "../../http/http.ts";
import type { Response } from "../../http/listener.ts";
import type { ErrorEncoder, Route } from "../../http/route.ts";

export const UI_PATH = "/_openkv/ui";

const UI_DIR = join(import.meta.dirname, "ui");

const moduleFile = (specifier: string) => fileURLToPath(import.meta.resolve(specifier));

/** The libraries, by the name the page imports them under. */
const VENDOR: Record<string, () => string> = {
  "preact.mjs": () => moduleFile("preact"),
  "hooks.mjs": () => moduleFile("preact/hooks"),
  "htm.mjs": () => moduleFile("htm"),
  "uPlot.esm.js": () => join(dirname(moduleFile("uplot/dist/uPlot.min.css")), "uPlot.esm.js"),
  "uPlot.min.css": () => moduleFile("uplot/dist/uPlot.min.css"),
};

const IMPORT_MAP = JSON.stringify({
  imports: {
    preact: `${UI_PATH}/vendor/preact.mjs`,
    "preact/hooks": `${UI_PATH}/vendor/hooks.mjs`,
    htm: `${UI_PATH}/vendor/htm.mjs`,
    uplot: `${UI_PATH}/vendor/uPlot.esm.js`,
  },
});

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
};

const csp = (scriptHash: string) =>
  [
    "default-src 'none'",
    `script-src 'self' 'sha256-${scriptHash}'`,
    "style-src 'self'",
    "img-src 'self' data: blob:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; ");

const SECURITY_HEADERS = {
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
  "cache-control": "no-cache",
};

interface Asset {
  body: Buffer;
  headers: Record<string, string>;
}

function asset(body: Buffer, file: string, extra: Record<string, string> = {}): Asset {
  return { body, headers: { "content-type": TYPES[extname(file)] ?? "application/octet-stream", ...SECURITY_HEADERS, ...extra } };
}

/** Read once, at the first request: the files do not change under a running server. */
let loaded: { page: Asset; ui: Map<string, Asset>; vendor: Map<string, Asset> } | null = null;

function assets() {
  if (loaded) return loaded;
  const html = readFileSync(join(UI_DIR, "index.html"), "utf8").replace("<!--import-map-->", `<script type="importmap">${IMPORT_MAP}</script>`);
  const hash = createHash("sha256").update(IMPORT_MAP).digest("base64");
  const page = asset(Buffer.from(html), "index.html", { "content-security-policy": csp(hash) });
  const ui = new Map<string, Asset>();
  for (const name of readdirSync(UI_DIR)) if (name !== "index.html") ui.set(name, asset(readFileSync(join(UI_DIR, name)), name));
  const vendor = new Map<string, Asset>();
  for (const [name, path] of Object.entries(VENDOR)) vendor.set(name, asset(readFileSync(path()), name));
  return (loaded = { page, ui, vendor });
}

function send(res: Response, a: Asset): void {
  (res as ServerResponse).writeHead(200, { ...a.headers, "content-length": a.body.length });
  res.end(a.body);
}

const textErrors: ErrorEncoder = (res, status, message, headers) => sendText(res, status, message, { ...SECURITY_HEADERS, ...headers });

export function dashboardStaticRoutes(): Route[] {
  const base = { api: "dashboard", errors: textErrors, access: "public", method: "GET" } as const;
  const from = (files: () => Map<string, Asset>) => (name: string | undefined) => {
    const a = files().get(name ?? "");
    if (!a) throw new HttpError(404, `No dashboard file ${name}`);
    return a;
  };
  const ui = from(() => assets().ui);
  const vendor = from(() => assets().vendor);
  return [
    { ...base, path: "/", handle: (ctx) => send(ctx.res, assets().page) },
    { ...base, path: `${UI_PATH}/:file`, handle: (ctx) => send(ctx.res, ui(ctx.params.file)) },
    { ...base, path: `${UI_PATH}/vendor/:file`, handle: (ctx) => send(ctx.res, vendor(ctx.params.file)) },
  ];
}
