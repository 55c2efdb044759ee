/** The option checks Deno runs in JavaScript before a write reaches its op layer (exact messages). */

const MAX_QUEUE_DELAY = 30 * 24 * 60 * 60 * 1000;
const MAX_BACKOFF_INTERVALS = 5;
const MAX_BACKOFF_INTERVAL = 60 * 60 * 1000;

export function validateExpireIn(expireIn: unknown): asserts expireIn is number | undefined {
  if (expireIn === undefined) return;
  if (!Number.isInteger(expireIn) || (expireIn as number) < 0) {
    throw new TypeError(`expireIn must be a non-negative integer: received ${expireIn as string}`);
  }
}

export function validateQueueDelay(delay: number): void {
  if (delay < 0) throw new TypeError(`Delay must be >= 0: received ${delay}`);
  if (delay > MAX_QUEUE_DELAY) throw new TypeError(`Delay cannot be greater than 30 days: received ${delay}`);
  if (Number.isNaN(delay)) throw new TypeError("Delay cannot be NaN");
}

export function validateBackoffSchedule(schedule: readonly number[]): void {
  if (schedule.length > MAX_BACKOFF_INTERVALS) {
    throw new TypeError(`Invalid backoffSchedule, max ${MAX_BACKOFF_INTERVALS} intervals allowed`);
  }
  for (let i = 0; i < schedule.length; ++i) {
    const interval = schedule[i]!;
    if (interval < 0 || interval > MAX_BACKOFF_INTERVAL || Number.isNaN(interval)) {
      throw new TypeError(`Invalid backoffSchedule, interval at index ${i} is invalid`);
    }
  }
}

/** `limit` and `batchSize` of `list()`; returns the batch size to use. */
export function listBatchSize(options: { limit?: number; batchSize?: number }): number {
  if (options.limit !== undefined && (!Number.isInteger(options.limit) || options.limit <= 0)) {
    throw new Error(`Limit must be a positive integer: received ${options.limit}`);
  }
  let batchSize = options.batchSize ?? options.limit ?? 100;
  if (!Number.isInteger(batchSize) || batchSize <= 0) {
    throw new Error(`batchSize must be a positive integer: received ${batchSize}`);
  }
  if (options.batchSize === undefined && batchSize > 500) batchSize = 500;
  return batchSize;
}
