import { DEAD_LETTER_HEADERS as H, headerString, withoutBrokerDeath } from '../dead-letters/headers.js';
import { retryQueueName } from '../topology/names.js';
import type { Transport } from '../transport/transport.js';
import { backoffDelay, type RetryPolicy, tierFor } from './backoff.js';
import { errorReasonOf, isRetryable, RequeueSignal, retryAfterOf } from './errors.js';
import type { MessageContext, Middleware } from './types.js';

export interface RetryOptions {
  transport: Transport;
  policy: RetryPolicy;
  /** Delay tiers of the queue's retry queues (the topology's `retryTiersMs`). */
  tiersMs: readonly number[];
  /** Overrides the error-class decision (`isRetryable`). */
  isRetryable?: (err: unknown) => boolean;
  random?: () => number;
  /** Called after a retry was scheduled (logging, metrics). */
  onRetry?: (info: { message: MessageContext; error: unknown; delayMs: number }) => void;
}

/**
 * Retries a failed message later instead of in a loop: a copy goes to the retry
 * queue of its tier with a per-message expiration of the backoff delay, and comes
 * back to its own queue (only) when that expires. An error that asks for a later retry
 * (`retryAfterOf`, e.g. a push endpoint's 429 with Retry-After) waits at least that long,
 * bounded by the largest tier. The original is acked by the
 * consumer only after the broker confirmed the copy. Errors that must not be
 * retried, and the last attempt's error, pass through to the dead-letter middleware.
 */
export function retry(options: RetryOptions): Middleware {
  const decide = options.isRetryable ?? isRetryable;
  return (next) => async (message) => {
    try {
      await next(message);
    } catch (err) {
      if (err instanceof RequeueSignal) throw err;
      if (message.attempt >= options.policy.maxAttempts || !decide(err)) throw err;
      const delayMs = Math.max(
        backoffDelay(options.policy, message.attempt, options.random),
        Math.min(retryAfterOf(err) ?? 0, options.tiersMs[options.tiersMs.length - 1] ?? 0),
      );
      await scheduleRetry(options.transport, message, err, delayMs, options.tiersMs);
      options.onRetry?.({ message, error: err, delayMs });
    }
  };
}

async function scheduleRetry(
  transport: Transport,
  message: MessageContext,
  err: unknown,
  delayMs: number,
  tiersMs: readonly number[],
): Promise<void> {
  const { delivery, queue } = message;
  const old = delivery.properties.headers;
  const now = new Date().toISOString();
  const headers: Record<string, unknown> = {
    ...withoutBrokerDeath(old),
    [H.attempts]: message.attempt,
    [H.originalRoutingKey]: headerString(old, H.originalRoutingKey) ?? delivery.routingKey,
    [H.originalExchange]: headerString(old, H.originalExchange) ?? delivery.exchange,
    [H.firstFailureAt]: headerString(old, H.firstFailureAt) ?? now,
    [H.lastFailureAt]: now,
    [H.lastError]: errorReasonOf(err),
    [H.retryDelayMs]: delayMs,
  };
  await transport.publish({
    exchange: '',
    routingKey: retryQueueName(queue, tierFor(delayMs, tiersMs)),
    body: delivery.body,
    properties: { ...delivery.properties, persistent: true, expiration: String(delayMs), headers },
    mandatory: true,
  });
}
