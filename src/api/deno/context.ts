/** What the pieces of a `Kv` handle share: the backend, and whether the handle is closed. */
import type { KvBackend } from "./backend.ts";

export interface KvContext {
  readonly backend: KvBackend;
  isClosed(): boolean;
}
