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

/**
 * A token bucket per key: `limit` requests of burst, refilled continuously over the window,
 * so a client that keeps to the rate is never refused and Retry-After is exact.
 */
export class RateLimiter {
  readonly #capacity: number;
  readonly #perMs: number;
  readonly #buckets = new Map<string, { tokens: number; at: number }>();

  constructor(limit: RateLimit) {
    this.#capacity = limit.limit;
    this.#perMs = limit.limit / limit.windowMs;
  }

  /** Takes one token for `key`, or throws RATE_LIMITED with `retry_after` in seconds. */
  take(key: string, now = Date.now()): void {
    let b = this.#buckets.get(key);
    if (b === undefined) {
      if (this.#buckets.size > 100_000) this.#buckets.clear();
      b = { tokens: this.#capacity, at: now };
      this.#buckets.set(key, b);
    } else {
      b.tokens = Math.min(this.#capacity, b.tokens + (now - b.at) * this.#perMs);
      b.at = now;
    }
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
