import { AppError } from '@33god/core';

export interface RetryPolicy {
  /** Attempts in total, the first one included. 1 means no retry. Default 5. */
  maxAttempts: number;
  /** Delay before the second attempt. Default 1000 ms. */
  initialDelayMs: number;
  /** Upper bound of any delay. Default 60 000 ms. */
  maxDelayMs: number;
  /** Growth factor per attempt. Default 2. */
  multiplier: number;
  /**
   * Fraction (0..1) of each delay that is random: the delay is drawn from
   * [d·(1−jitter), d], so consumers that failed together do not retry together,
   * and no delay exceeds its exponential value. Default 0.2.
   */
  jitter: number;
}

export const DEFAULT_RETRY_POLICY: Readonly<RetryPolicy> = Object.freeze({
  maxAttempts: 5,
  initialDelayMs: 1000,
  maxDelayMs: 60_000,
  multiplier: 2,
  jitter: 0.2,
});

export function resolveRetryPolicy(policy: Partial<RetryPolicy> = {}): RetryPolicy {
  const p: RetryPolicy = { ...DEFAULT_RETRY_POLICY };
  for (const [k, v] of Object.entries(policy))
    if (v !== undefined) (p as unknown as Record<string, number>)[k] = v;
  const bad = (what: string): never => {
    throw new AppError('CONFIG_INVALID', `retry policy: ${what}`);
  };
  if (!Number.isInteger(p.maxAttempts) || p.maxAttempts < 1) bad(`maxAttempts must be a whole number >= 1`);
  if (!(p.initialDelayMs >= 0)) bad('initialDelayMs must be >= 0');
  if (!(p.maxDelayMs >= p.initialDelayMs)) bad('maxDelayMs must be >= initialDelayMs');
  if (!(p.multiplier >= 1)) bad('multiplier must be >= 1');
  if (!(p.jitter >= 0 && p.jitter <= 1)) bad('jitter must be from 0 to 1');
  return p;
}

/**
 * The delay before the next attempt after `failedAttempts` failures (1 after the
 * first): `min(maxDelay, initial · multiplier^(failed−1))`, less a random share.
 */
export function backoffDelay(
  policy: RetryPolicy,
  failedAttempts: number,
  random: () => number = Math.random,
): number {
  const exp = policy.initialDelayMs * policy.multiplier ** Math.max(0, failedAttempts - 1);
  const base = Math.min(policy.maxDelayMs, exp);
  return Math.round(base * (1 - policy.jitter * random()));
}

/** The smallest tier that holds a delay, or the largest tier when none does. */
export function tierFor(delayMs: number, tiersMs: readonly number[]): number {
  for (const t of tiersMs) if (t >= delayMs) return t;
  return tiersMs[tiersMs.length - 1]!;
}
