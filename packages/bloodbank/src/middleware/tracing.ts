import { AsyncLocalStorage } from 'node:async_hooks';
import { parseTraceparent, type TraceContext } from '@33god/core';
import type { Tracer } from '../tracing/tracer.js';
import type { Middleware } from './types.js';

const handling = new AsyncLocalStorage<TraceContext>();

/**
 * Records a `deliver` span (child of the event's `traceparent`) around the rest of the chain
 * and a `handle` span inside it, and runs the handler in the `handle` span's scope, so an
 * event it publishes is that span's child. Added to a subscription only when the tracer
 * records: without OpenTelemetry the chain has no tracing step at all.
 */
export function tracing(tracer: Tracer): Middleware {
  return (next) => async (message) => {
    const event = message.event;
    if (!event) return next(message);
    const attributes = { event_id: event.event_id, event_type: event.event_type, destination: message.queue };
    const deliver = tracer.startSpan('deliver', parseTraceparent(event.traceparent), attributes);
    const handle = tracer.startSpan('handle', deliver.context, attributes);
    try {
      await handling.run(handle.context, () => next(message));
      handle.end();
      deliver.end();
    } catch (err) {
      handle.end(err);
      deliver.end(err);
      throw err;
    }
  };
}

/** The `handle` span running now, when a recording tracer is on. */
export function currentHandleSpan(): TraceContext | undefined {
  return handling.getStore();
}
