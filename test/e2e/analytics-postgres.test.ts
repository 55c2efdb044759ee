/** The GraphQL Analytics API on a real PostgreSQL (test/fixtures/postgres.ts), restart included, and two nodes adding up. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { freshStoreUrl } from "../fixtures/postgres.ts";
import { analyticsSuite, SEED_ACCOUNT } from "./analytics.case.ts";
import { ADMIN, startTestServer } from "./harness.ts";

const url = await freshStoreUrl();
analyticsSuite({ name: "PostgreSQL", config: async () => ({ store: url }), restartable: true });

test("PostgreSQL: two nodes on one store — each node's rows add up in one answer", async () => {
  const store = await freshStoreUrl();
  const a = await startTestServer({ store, analytics: { flushMs: 3_600_000 } });
  const b = await startTestServer({ store, analytics: { flushMs: 3_600_000 } });
  for (const [node, n] of [[a, 3], [b, 4]] as const) {
    for (let i = 0; i < n; i++) {
      const r = await fetch(`${node.url}/kv/k${i}`, { method: "PUT", headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" }, body: JSON.stringify({ value: i }) });
      assert.equal(r.status, 200);
    }
    await node.analytics!.flush();
  }
  const r = await fetch(`${a.url}/client/v4/graphql`, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
    body: JSON.stringify({ query: SEED_ACCOUNT, variables: { accountTag: a.accountId } }),
  });
  const body = (await r.json()) as { data: any };
  assert.deepEqual(body.data.viewer.accounts[0].kvOperationsAdaptiveGroups, [{ sum: { requests: 7 }, dimensions: { actionType: "write" } }]);
});
