/**
 * The audit log (`openkv serve --audit-log FILE`): one JSON line per change to who may see what —
 * namespaces created, renamed and deleted, tokens created and revoked, bulk deletes — saying who, what,
 * when and from where. It never holds a token's secret or a stored value: only ids, names and counts.
 *
 * Several writers may share the file (a server and `openkv token … --audit-log` on the same machine):
 * it is opened with O_APPEND and each line goes out in one write(2), so lines never interleave.
 *
 * @example
 * const audit = new AuditLog("/var/log/openkv-audit.jsonl");
 * audit.record({ action: "token.revoke", actor: { type: "admin" }, remote: "127.0.0.1", token: { id, name } });
 * // {"time":"2026-…Z","action":"token.revoke","actor":{"type":"admin"},"remote":"127.0.0.1","token":{…}}
 */
import { closeSync, openSync, writeSync } from "node:fs";
import type { Principal } from "./tokens.ts";

export type AuditAction = "namespace.create" | "namespace.rename" | "namespace.delete" | "token.create" | "token.revoke" | "kv.bulk_delete";

/** Who acted: the admin token, an API token (its id and name, never its secret), or a local command. */
export type AuditActor = { type: "admin" } | { type: "token"; id: string; name: string } | { type: "local"; user: string };

export interface AuditEvent {
  action: AuditAction;
  actor: AuditActor;
  /** The client's address; absent for local commands. */
  remote?: string | null;
  namespace?: { id: string; title: string; previousTitle?: string };
  token?: { id: string; name: string; permission?: string; namespaces?: readonly string[] | null };
  /** Bulk delete: how many keys were asked for, and how many of those deletes succeeded. */
  keys?: { requested: number; deleted: number };
}

export function actorOf(principal: Principal): AuditActor {
  return principal.kind === "admin" ? { type: "admin" } : { type: "token", id: principal.id, name: principal.name };
}

export class AuditLog {
  readonly path: string;
  #fd: number | null;
  #now: () => number;

  /** Opens (creating, mode 0600) `path` for appending; fails at once if it cannot. */
  constructor(path: string, now: () => number = Date.now) {
    this.path = path;
    this.#now = now;
    this.#fd = openSync(path, "a", 0o600);
  }

  /** Appends one line, before the caller answers: a client that saw success can find its line. */
  record(event: AuditEvent): void {
    if (this.#fd === null) return;
    // Fields in a fixed order (time first) so the file reads well with grep and eyes as with jq.
    const { action, actor, remote, ...rest } = event;
    const line = JSON.stringify({ time: new Date(this.#now()).toISOString(), action, actor, ...(remote ? { remote } : {}), ...rest }) + "\n";
    const bytes = Buffer.from(line);
    // One write(2) carries the whole line; the loop only matters if the kernel ever took part of it.
    for (let off = 0; off < bytes.length; ) off += writeSync(this.#fd, bytes, off);
  }

  close(): void {
    if (this.#fd !== null) closeSync(this.#fd);
    this.#fd = null;
  }
}
