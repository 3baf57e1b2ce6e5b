import { AppError } from '@33god/core';

export interface RateLimit {
  /** Requests allowed per window. */
  limit: number;
  windowMs: number;
}

/** Parses `100/s`, `6000/min`, `10/h` or a bare number (per second). */
export function parseRateLimit(spec: string): RateLimit {
  const m = /^\s*(\d+)\s*(?:\/\s*(s|sec|second|m|min|minute|h|hour))?\s*$/i.exec(spec);
  const n = m ? Number(m[1]) : Number.NaN;
  if (!m || !Number.isInteger(n) || n < 1) {
    throw new AppError(
      'CONFIG_INVALID',
      `BLOODBANK_RATE_LIMIT must look like 100/s or 6000/min, got '${spec}'`,
    );
  }
  const unit = (m[2] ?? 's').toLowerCase();
  const windowMs = unit.startsWith('h') ? 3_600_000 : unit.startsWith('m') ? 60_000 : 1000;
  return { limit: n, windowMs };
}

export interface RateLimiterOptions {
  /**
   * Most keys with a bucket (default 100,000). Past it the least recently used bucket is
   * dropped, so a client spraying fresh keys (IPv6 addresses) evicts only idle buckets,
   * never the bucket of a client it is competing with.
   */
  maxKeys?: number;
}

/**
 * A token bucket per key: `limit` requests of burst, refilled continuously over the window,
 * so a client that keeps to the rate is never refused and Retry-After is exact.
 */
export class RateLimiter {
  readonly #capacity: number;
  readonly #perMs: number;
  readonly #maxKeys: number;
  /** In least recently used order: a bucket is moved to the end on each take. */
  readonly #buckets = new Map<string, { tokens: number; at: number }>();

  constructor(limit: RateLimit, options: RateLimiterOptions = {}) {
    this.#capacity = limit.limit;
    this.#perMs = limit.limit / limit.windowMs;
    this.#maxKeys = options.maxKeys ?? 100_000;
    if (!Number.isInteger(this.#maxKeys) || this.#maxKeys < 1) {
      throw new AppError(
        'CONFIG_INVALID',
        `rate limiter maxKeys must be a positive integer, got ${this.#maxKeys}`,
      );
    }
  }

  /** Keys holding a bucket now. */
  get size(): number {
    return this.#buckets.size;
  }

  /** Takes one token for `key`, or throws RATE_LIMITED with `retry_after` in seconds. */
  take(key: string, now = Date.now()): void {
    let b = this.#buckets.get(key);
    if (b === undefined) {
      b = { tokens: this.#capacity, at: now };
      if (this.#buckets.size >= this.#maxKeys) {
        // the first key in insertion order is the least recently used one
        this.#buckets.delete(this.#buckets.keys().next().value as string);
      }
    } else {
      this.#buckets.delete(key);
      b.tokens = Math.min(this.#capacity, b.tokens + (now - b.at) * this.#perMs);
      b.at = now;
    }
    this.#buckets.set(key, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return;
    }
    const retryAfter = Math.max(1, Math.ceil((1 - b.tokens) / this.#perMs / 1000));
    throw new AppError('RATE_LIMITED', `at most ${this.#capacity} requests per window for this client`, {
      extra: { retry_after: retryAfter },
    });
  }
}
