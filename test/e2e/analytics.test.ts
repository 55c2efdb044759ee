/** The GraphQL Analytics API on memory and SQLite stores (PostgreSQL: test/e2e/analytics-postgres.test.ts). */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import { analyticsSuite } from "./analytics.case.ts";

const dir = mkdtempSync(join(tmpdir(), "openkv-analytics-"));
after(() => rmSync(dir, { recursive: true, force: true }));

analyticsSuite({ name: "memory", config: async () => ({}), restartable: false });
// The same data directory on both starts.
analyticsSuite({ name: "SQLite", config: async () => ({ dataDir: dir }), restartable: true });
