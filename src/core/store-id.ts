/**
 * A store's identity: a random id created once, by the first server that is asked for it (compare-and-set,
 * so servers sharing a PostgreSQL store agree), and kept in the store's settings. An edge's cache file
 * records it, so a file is never resumed against another store (src/client/spill-file.ts).
 *
 * A copy of a store is a new store: `openkv restore` and `openkv migrate` leave the id behind, because
 * a restored store's versionstamps repeat ones the original already issued for other writes, and a
 * cache that took the copy for the original could keep entries those writes changed.
 *
 * @example
 * const id = await storeId(engine.backend);
 */
import { randomBytes } from "node:crypto";
import type { Backend } from "./backend.ts";

export const STORE_ID_SETTING = "store-id";

export async function storeId(backend: Backend, newId: () => string = () => randomBytes(16).toString("hex")): Promise<string> {
  for (;;) {
    const current = await backend.getSetting(STORE_ID_SETTING);
    if (current !== null) return current;
    if (await backend.putSetting(STORE_ID_SETTING, newId(), null)) continue;
  }
}
