import { AppError } from '../errors.js';

export interface RateLimit {
  /** Requests allowed per window. */
  limit: number;
  windowMs: number;
}

export interface RateLimiterOptions {
  /**
   * Most keys with a bucket (default 100,000). Past it the least recently used bucket is
   * dropped, so a client spraying fresh keys (IPv6 addresses) evicts only idle buckets,
   * never the bucket of a client it is competing with.
   */
  maxKeys?: number;
  /** What a refusal's detail says is limited. Default `requests`. */
  what?: string;
}

interface Bucket {
  tokens: number;
  at: number;
}

/**
 * A token bucket per key: `limit` requests of burst, refilled continuously over the window,
 * so a client that keeps to the rate is never refused and Retry-After is exact. Shared by the
 * gateway's request limit and the dashboard's failed logins.
 */
export class RateLimiter {
  readonly #capacity: number;
  readonly #perMs: number;
  readonly #maxKeys: number;
  readonly #what: string;
  /** In least recently used order: a bucket is moved to the end on each take. */
  readonly #buckets = new Map<string, Bucket>();

  constructor(limit: RateLimit, options: RateLimiterOptions = {}) {
    this.#capacity = limit.limit;
    this.#perMs = limit.limit / limit.windowMs;
    this.#maxKeys = options.maxKeys ?? 100_000;
    this.#what = options.what ?? 'requests';
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
      this.#refill(key, b, now);
    }
    this.#buckets.set(key, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return;
    }
    throw this.#refusal(b);
  }

  /**
   * Throws as `take` would, taking nothing: for a limit that counts only some outcomes (failed
   * logins), checked before the attempt and taken after a failure. A key with no bucket is not
   * given one.
   */
  check(key: string, now = Date.now()): void {
    const b = this.#buckets.get(key);
    if (b === undefined) return;
    this.#refill(key, b, now);
    this.#buckets.set(key, b);
    if (b.tokens < 1) throw this.#refusal(b);
  }

  #refill(key: string, b: Bucket, now: number): void {
    this.#buckets.delete(key);
    b.tokens = Math.min(this.#capacity, b.tokens + (now - b.at) * this.#perMs);
    b.at = now;
  }

  #refusal(b: Bucket): AppError {
    const retryAfter = Math.max(1, Math.ceil((1 - b.tokens) / this.#perMs / 1000));
    return new AppError(
      'RATE_LIMITED',
      `at most ${this.#capacity} ${this.#what} per window for this client`,
      {
        extra: { retry_after: retryAfter },
      },
    );
  }
}
