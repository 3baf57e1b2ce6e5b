import {
  decodeEnvelopeOrThrow,
  type EventEnvelope,
  envelopeViolations as envelopeRules,
  type Violation,
} from '@33god/core';
import type { Middleware } from './types.js';

/** Structural problems of an envelope on the wire (core's one rule set), each with its JSON pointer. */
export function envelopeViolations(value: unknown): Violation[] {
  return envelopeRules(value, { mode: 'complete' });
}

/** Parses a message body into an envelope, or throws MESSAGE_NOT_JSON / INVALID_ENVELOPE (neither is retryable). */
export function parseEnvelope(body: Buffer): EventEnvelope {
  return decodeEnvelopeOrThrow(body);
}

/** Decodes the body into `message.event`; a body that is not an envelope fails permanently. */
export function decodeEnvelope(): Middleware {
  // Not an async function: one promise less per message, the same settled outcome.
  return (next) => (message) => {
    try {
      message.event = parseEnvelope(message.delivery.body);
    } catch (error) {
      return Promise.reject(error);
    }
    return next(message);
  };
}
