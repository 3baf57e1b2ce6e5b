import { AppError, type RateLimit } from '@33god/core';

// The limiter is core's (the dashboard's login limit uses it too); the gateway adds its setting.
export { type RateLimit, RateLimiter, type RateLimiterOptions } from '@33god/core';

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
