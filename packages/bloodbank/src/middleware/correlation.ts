import { AsyncLocalStorage } from 'node:async_hooks';
import type { EventEnvelope } from '@33god/core';
import type { Middleware } from './types.js';

const scope = new AsyncLocalStorage<EventEnvelope>();

/**
 * Runs the rest of the chain inside the event's scope, so everything the handler
 * publishes (however deep in its call tree) inherits the correlation.
 */
export function correlation(): Middleware {
  return (next) => (message) =>
    message.event ? scope.run(message.event, () => next(message)) : next(message);
}

/** The event whose handler is running, if any. */
export function currentEvent(): EventEnvelope | undefined {
  return scope.getStore();
}

/** Runs `fn` as if handling `event` (for code that consumes without `subscribe`). */
export function withEventScope<T>(event: EventEnvelope, fn: () => T): T {
  return scope.run(event, fn);
}

/**
 * The correlation an event published now gets: the running handler's
 * `correlation_id` (or its event id when it has none) and its `event_id` as cause.
 */
export function inheritedCorrelation(): { correlation_id: string; causation_id: string } | undefined {
  const parent = scope.getStore();
  if (!parent) return undefined;
  return { correlation_id: parent.correlation_id ?? parent.event_id, causation_id: parent.event_id };
}
