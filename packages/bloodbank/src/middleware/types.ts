import type { EventEnvelope } from '@33god/core';
import type { Delivery } from '../transport/transport.js';

/**
 * What every middleware sees of one delivery. `event` is filled by the decode
 * middleware; everything outside it works on the raw delivery only, so a body that
 * is not an envelope can still be retried or dead-lettered.
 */
export interface MessageContext {
  readonly delivery: Delivery;
  /** The queue consumed (also `delivery.queue`). */
  readonly queue: string;
  /** Name of the handler, recorded on dead letters. */
  readonly handler: string;
  /** 1 on the first delivery; retries count up from the `x-attempts` header. */
  readonly attempt: number;
  event?: EventEnvelope;
}

/** The one handler type middleware wraps. Resolving means "done, ack it". */
export type MessageHandler = (message: MessageContext) => Promise<void>;

export type Middleware = (next: MessageHandler) => MessageHandler;

/** Wraps `handler` so that the first middleware is the outermost one. */
export function compose(middlewares: readonly Middleware[], handler: MessageHandler): MessageHandler {
  return middlewares.reduceRight<MessageHandler>((next, mw) => mw(next), handler);
}
