/** A whole-store copy between any two backends (`Backend.dump` → `Backend.load`), with progress. */
import type { Backend, DumpRecord } from "../../core/backend.ts";
import { STORE_ID_SETTING } from "../../core/store-id.ts";
import type { CommandContext } from "../command.ts";
import { UserError } from "../errors.ts";

export interface CopySummary {
  namespaces: number;
  entries: number;
  messages: number;
}

/**
 * Makes `to` ready to load into: a store that holds only an empty `default` namespace (what every server
 * creates on first start) counts as empty and loses it; anything else is refused with what to do.
 */
export async function prepareTarget(to: Backend, where: string): Promise<void> {
  const namespaces = await to.listNamespaces();
  if (namespaces.length === 0) return;
  const pristine = namespaces.length === 1 && namespaces[0]!.title === "default";
  const entries = pristine ? await to.count(namespaces[0]!.id, new Uint8Array(0), Uint8Array.of(0xff), 0) : -1;
  if (!pristine || entries > 0) {
    throw new UserError(
      `${where} already holds data (${namespaces.length} ${namespaces.length === 1 ? "namespace" : "namespaces"}): copying into it would mix two stores.\nCopy into an empty store (a new database or directory).`,
    );
  }
  await to.deleteNamespace(namespaces[0]!.id);
}

/** Copies everything in `from` (one snapshot) into `to`, showing progress by entries. */
export async function copyStore(from: Backend, to: Backend, ctx: CommandContext): Promise<CopySummary> {
  const summary: CopySummary = { namespaces: 0, entries: 0, messages: 0 };
  const bar = ctx.progress("Copying entries", 0);
  async function* counted(): AsyncIterable<DumpRecord> {
    for await (const r of from.dump()) {
      // A copy is a new store: it gets an id of its own (src/core/store-id.ts).
      if (r.kind === "setting" && r.name === STORE_ID_SETTING) continue;
      if (r.kind === "versionstamp") bar.setTotal(r.entries);
      else if (r.kind === "namespace") summary.namespaces++;
      else if (r.kind === "messages") summary.messages += r.messages.length;
      yield r;
      // Counted once loaded: the bar shows what is in the target.
      if (r.kind === "entries") {
        summary.entries += r.entries.length;
        bar.tick(r.entries.length);
      }
    }
  }
  try {
    await to.load(counted());
  } finally {
    bar.done();
  }
  return summary;
}
