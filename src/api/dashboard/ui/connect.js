// The Connect tab: copy-ready snippets for this server and namespace. The token is never put in a
// snippet: each reads it from a variable the user sets.
import { useState } from "preact/hooks";
import { html } from "./html.js";

/** wrangler's binding name rule (src/cli/kv/config-snippet.ts validBindingName). */
function bindingName(title) {
  let b = title.replace(/[\s-]/g, "_").replace(/[^a-zA-Z0-9_]/g, "").replace(/_+/g, "_");
  if (/^[0-9]/.test(b)) b = "_" + b;
  return !b.length || /^_+$/.test(b) ? "MY_KV" : b;
}

export function snippets(origin, accountId, ns) {
  const binding = bindingName(ns.title);
  return [
    {
      id: "wrangler",
      title: "wrangler (config and commands)",
      text: `// wrangler.jsonc
{
  "kv_namespaces": [
    { "binding": "${binding}", "id": "${ns.id}" }
  ]
}

# point wrangler at this server (token: one made under Tokens, or the admin token)
export CLOUDFLARE_API_BASE_URL=${origin}/client/v4
export CLOUDFLARE_ACCOUNT_ID=${accountId}
export CLOUDFLARE_API_TOKEN=<your token>
npx wrangler kv key put greeting hello --namespace-id ${ns.id} --remote
npx wrangler kv key get greeting --namespace-id ${ns.id} --remote
npx wrangler kv key list --namespace-id ${ns.id} --remote`,
    },
    {
      id: "sdk",
      title: "Cloudflare SDK (npm install cloudflare)",
      text: `import Cloudflare from "cloudflare";

const cf = new Cloudflare({ baseURL: "${origin}/client/v4", apiToken: process.env.CLOUDFLARE_API_TOKEN });
const ids = { account_id: "${accountId}", namespace_id: "${ns.id}" };
await cf.kv.namespaces.values.update("greeting", { ...ids, value: "hello" });
const res = await cf.kv.namespaces.values.get("greeting", ids);
console.log(await res.text());`,
    },
    {
      id: "deno",
      title: "Deno (Deno.openKv over KV Connect)",
      text: `// DENO_KV_ACCESS_TOKEN=<your token> deno run --unstable-kv --allow-net --allow-env=DENO_KV_ACCESS_TOKEN app.ts
const kv = await Deno.openKv("${origin}/kv-connect/${ns.id}");
await kv.set(["greeting"], "hello");
console.log((await kv.get(["greeting"])).value);`,
    },
    {
      id: "curl",
      title: "curl (the /kv REST API)",
      text: `export OPENKV_TOKEN=<your token>
curl -X PUT ${origin}/ns/${ns.id}/kv/greeting -H "Authorization: Bearer $OPENKV_TOKEN" -H "Content-Type: application/json" -d '{"value": "hello"}'
curl ${origin}/ns/${ns.id}/kv/greeting -H "Authorization: Bearer $OPENKV_TOKEN"
curl "${origin}/ns/${ns.id}/kv?list=true&limit=100" -H "Authorization: Bearer $OPENKV_TOKEN"`,
    },
  ];
}

function Snippet({ s }) {
  const [copied, setCopied] = useState(false);
  return html`<div class="snippet" data-snippet=${s.id}>
    <div class="row"><h4>${s.title}</h4><button onClick=${async () => (await navigator.clipboard.writeText(s.text), setCopied(true))}>${copied ? "Copied" : "Copy"}</button></div>
    <pre><code>${s.text}</code></pre>
  </div>`;
}

export function Connect({ me, ns }) {
  return html`<div class="connect">
    <p>Namespace ID <code>${ns.id}</code> · account ID <code>${me.accountId}</code> · server <code>${location.origin}</code></p>
    ${snippets(location.origin, me.accountId, ns).map((s) => html`<${Snippet} s=${s} />`)}
  </div>`;
}
