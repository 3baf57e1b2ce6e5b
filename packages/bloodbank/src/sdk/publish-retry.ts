import { AppError } from '@33god/core';

/** First wait after a refused publish; it doubles up to `MAX_DELAY_MS`. */
const FIRST_DELAY_MS = 50;
const MAX_DELAY_MS = 2000;

/** The broker refused for now (queue full, no confirm, connection lost): worth another try. */
export function isRetryablePublishError(error: unknown): boolean {
  return error instanceof AppError && error.retryable;
}

/**
 * Calls `attempt` again after `first` failed, with jittered backoff, until it succeeds, fails
 * with a non-retryable error, `stopped()` turns true, or the next wait would pass `budgetMs`.
 * The caller resends the same message each time, so the event id does not change and
 * consumers and the store deduplicate a publish that did land but was not confirmed.
 */
export async function retryPublish(
  attempt: () => Promise<unknown>,
  first: unknown,
  budgetMs: number,
  stopped: () => boolean,
  onRetry?: (error: unknown, waitMs: number) => void,
): Promise<void> {
  const deadline = Date.now() + budgetMs;
  let error = first;
  let delay = FIRST_DELAY_MS;
  for (;;) {
    if (!isRetryablePublishError(error) || stopped()) throw error;
    // Half to full delay: publishers refused together do not come back together.
    const wait = Math.round(delay * (0.5 + Math.random() * 0.5));
    if (Date.now() + wait > deadline) throw error;
    onRetry?.(error, wait);
    await new Promise((resolve) => setTimeout(resolve, wait));
    delay = Math.min(delay * 2, MAX_DELAY_MS);
    try {
      await attempt();
      return;
    } catch (err) {
      error = err;
    }
  }
}
