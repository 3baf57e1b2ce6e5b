import type { EventEnvelope } from '@33god/core';
import type { Middleware } from '../middleware/types.js';

/** The ordering key of an event: its correlation id, else its own id (no order to keep). */
export function orderingKey(event: EventEnvelope<unknown>): string {
  return event.correlation_id ?? event.event_id;
}

/**
 * Runs messages with the same key one at a time, in the order they reached the middleware,
 * and messages with different keys side by side. The SDK calls the chain for each delivery in
 * queue order and reaches this middleware without awaiting anything, so "the order they
 * reached it" is the queue order. Needs the decoded event (place it after `decodeEnvelope`,
 * which `subscribe`'s `middleware` option does).
 */
export function orderedByKey(keyOf: (event: EventEnvelope<unknown>) => string = orderingKey): Middleware {
  const tails = new Map<string, Promise<void>>();
  return (next) => (message) => {
    const key = message.event ? keyOf(message.event) : message.delivery.properties.messageId;
    if (key === undefined) return next(message);
    const before = tails.get(key) ?? Promise.resolve();
    const run = before.then(() => next(message));
    const tail = run.then(
      () => {},
      () => {},
    );
    tails.set(key, tail);
    void tail.then(() => {
      if (tails.get(key) === tail) tails.delete(key);
    });
    return run;
  };
}
