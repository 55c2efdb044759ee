/** What the pieces of a `Kv` handle share: the engine, the namespace, and whether the handle is closed. */
import type { Engine } from "../../core/engine.ts";

export interface KvContext {
  readonly engine: Engine;
  readonly namespaceId: string;
  isClosed(): boolean;
}
