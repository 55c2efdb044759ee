/**
 * Limits, frozen in one place. Our defaults are never smaller than a vendor's; `strict` profiles
 * reproduce a vendor's exact limits so users can test for production.
 */
export const DENO_LIMITS = {
  /** Deno accepts 2048-byte keys on write and 2049 on read (a list selector adds a byte). */
  maxWriteKeyBytes: 2048,
  maxReadKeyBytes: 2049,
  maxValueBytes: 65536,
  maxReadRanges: 10,
  maxReadEntries: 1000,
  maxChecks: 100,
  maxMutations: 1000,
  maxTotalMutationBytes: 819200,
  maxTotalKeyBytes: 81920,
  maxWatchedKeys: 10,
} as const;

export const WORKERS_LIMITS = {
  maxKeyBytes: 512,
  maxValueBytes: 25 * 1024 * 1024,
  maxMetadataBytes: 1024,
  minExpirationTtlSeconds: 60,
  minCacheTtlSeconds: 30,
  /** How old an edge's cached answer to a Workers read may be when the read names no cacheTtl. */
  defaultCacheTtlSeconds: 60,
  maxListLimit: 1000,
  maxBulkGetKeys: 100,
  /** Production allows one write per second to the same key. */
  writesPerSecondPerKey: 1,
} as const;

/** What the engine itself enforces: large enough for every front end. */
export const ENGINE_LIMITS = {
  maxKeyBytes: DENO_LIMITS.maxReadKeyBytes,
  /** Workers values may be 25 MiB; a Deno value is limited to 64 KiB by the Deno front end only. */
  maxValueBytes: WORKERS_LIMITS.maxValueBytes,
  maxChecks: DENO_LIMITS.maxChecks,
  maxMutations: DENO_LIMITS.maxMutations,
  /** Workers metadata is the only metadata there is: its limit is the engine's. */
  maxMetadataBytes: WORKERS_LIMITS.maxMetadataBytes,
  /**
   * The latest expiry or queue delivery time, in epoch ms: the last instant a JS Date can hold
   * (year 275760). Anything later would not survive a round trip through a JS number.
   */
  maxTimestampMs: 8_640_000_000_000_000,
  /** How deep a value or metadata may nest: our V8 codec's limit, and far more than JSON needs. */
  maxNestingDepth: 1000,
} as const;
