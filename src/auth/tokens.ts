/**
 * API tokens. A token is shown once at creation and stored only as its SHA-256 (tokens are 256 random
 * bits, so a fast hash is enough); lookups compare hashes in constant time. The admin token may do
 * anything; other tokens are limited to some namespaces (or all) and to read or read-write.
 */
import { hash, randomBytes, timingSafeEqual } from "node:crypto";
import { chmodSync, existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { KvError } from "../core/errors.ts";

export type Permission = "read" | "write";

export interface TokenRecord {
  readonly id: string;
  readonly name: string;
  /** Namespace ids the token may use; null = every namespace. */
  readonly namespaces: readonly string[] | null;
  readonly permission: Permission;
  readonly createdAt: number;
}

export type Principal = { readonly kind: "admin" } | ({ readonly kind: "token" } & TokenRecord);

interface Stored extends TokenRecord {
  readonly hash: string;
}

// One-shot hashing: every request hashes its token, and this is several times cheaper than createHash.
const sha256 = (s: string) => hash("sha256", s, "buffer");

export function generateSecret(): string {
  return "okv_" + randomBytes(32).toString("base64url");
}

export class TokenStore {
  #file: string | null;
  #tokens: Stored[];
  #adminHash: Buffer;
  #digests = new WeakMap<Stored, Buffer>();

  /** `file` null keeps tokens in memory only (`--memory`). */
  constructor(adminToken: string, file: string | null) {
    this.#file = file;
    this.#adminHash = sha256(adminToken);
    this.#tokens = file && existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as Stored[]) : [];
  }

  #save(): void {
    if (!this.#file) return;
    const tmp = `${this.#file}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.#tokens, null, 2), { mode: 0o600 });
    chmodSync(tmp, 0o600);
    renameSync(tmp, this.#file);
  }

  create(input: { name: string; namespaces: readonly string[] | null; permission: Permission }, now: number): { token: string; record: TokenRecord } {
    if (typeof input.name !== "string" || input.name.trim() === "") throw new KvError("invalid_argument", "A token needs a non-empty name");
    if (input.permission !== "read" && input.permission !== "write") {
      throw new KvError("invalid_argument", 'permission must be "read" or "write"');
    }
    const token = generateSecret();
    const record: TokenRecord = {
      id: randomBytes(16).toString("hex"),
      name: input.name,
      namespaces: input.namespaces ? [...input.namespaces] : null,
      permission: input.permission,
      createdAt: now,
    };
    this.#tokens.push({ ...record, hash: sha256(token).toString("hex") });
    this.#save();
    return { token, record };
  }

  list(): TokenRecord[] {
    return this.#tokens.map(({ hash: _hash, ...r }) => r);
  }

  revoke(id: string): boolean {
    const before = this.#tokens.length;
    this.#tokens = this.#tokens.filter((t) => t.id !== id);
    if (this.#tokens.length === before) return false;
    this.#save();
    return true;
  }

  /** The principal a secret stands for, or null. Every comparison takes the same time. */
  verify(secret: string): Principal | null {
    const h = sha256(secret);
    let found: Principal | null = timingSafeEqual(h, this.#adminHash) ? { kind: "admin" } : null;
    for (const t of this.#tokens) {
      let digest = this.#digests.get(t);
      if (!digest) this.#digests.set(t, (digest = Buffer.from(t.hash, "hex")));
      const match = timingSafeEqual(h, digest);
      if (match && !found) {
        const { hash: _hash, ...record } = t;
        found = { kind: "token", ...record };
      }
    }
    return found;
  }
}

/** May `p` do `need` on namespace `namespaceId` (undefined = account-wide, e.g. creating a namespace)? */
export function allows(p: Principal, need: Permission, namespaceId?: string): boolean {
  if (p.kind === "admin") return true;
  if (need === "write" && p.permission !== "write") return false;
  if (namespaceId === undefined) return need === "read" || p.namespaces === null;
  return p.namespaces === null || p.namespaces.includes(namespaceId);
}
