/** `Deno.KvU64`: an unsigned 64-bit integer stored with the "le64" encoding, the operand of sum/min/max. */

const MAX_U64 = 0xffffffffffffffffn;

/**
 * A frozen wrapper around a bigint in `[0, 2^64)`. Stored as 8 little-endian bytes; `sum` wraps around.
 *
 * @example
 * ```ts
 * await kv.set(["visits"], new KvU64(0n));
 * await kv.atomic().sum(["visits"], 1n).commit();
 * (await kv.get<KvU64>(["visits"])).value?.value; // 1n
 * ```
 */
export class KvU64 {
  readonly value: bigint;

  constructor(value: bigint) {
    if (typeof value !== "bigint") throw new TypeError(`Value must be a bigint: received ${typeof value}`);
    if (value < 0n) throw new RangeError(`Value must be a positive bigint: received ${value}`);
    if (value > MAX_U64) throw new RangeError("Value must fit in a 64-bit unsigned integer");
    this.value = value;
    Object.freeze(this);
  }

  valueOf(): bigint {
    return this.value;
  }

  toString(): string {
    return this.value.toString();
  }

  get [Symbol.toStringTag](): string {
    return "Deno.KvU64";
  }

  /** `util.inspect` shows it the way Deno does: `[Deno.KvU64: 1n]`. */
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return `[Deno.KvU64: ${this.value}n]`;
  }
}
