import { AppError, type EventEnvelope, eventTypeProblem, isUuid, type Violation } from '@33god/core';
import type { Middleware } from './types.js';

/** Structural problems of a would-be envelope, each with its JSON pointer. Empty when it is one. */
export function envelopeViolations(value: unknown): Violation[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return [{ pointer: '', message: 'must be a JSON object (an event envelope)' }];
  }
  const v = value as Record<string, unknown>;
  const out: Violation[] = [];
  const req = (name: string, ok: boolean, message: string): void => {
    if (!ok) out.push({ pointer: `/${name}`, message: v[name] === undefined ? 'is required' : message });
  };
  req('event_id', isUuid(v.event_id), 'must be a UUID');
  const typeProblem = eventTypeProblem(v.event_type);
  req('event_type', typeProblem === null, typeProblem ?? '');
  req(
    'timestamp',
    typeof v.timestamp === 'string' && !Number.isNaN(Date.parse(v.timestamp)),
    'must be an RFC 3339 date-time',
  );
  req('version', typeof v.version === 'string' && v.version.length > 0, 'must be a non-empty string');
  const src = v.source as Record<string, unknown> | undefined;
  req('source', typeof src === 'object' && src !== null && !Array.isArray(src), 'must be an object');
  if (typeof src === 'object' && src !== null && typeof src.app !== 'string') {
    out.push({ pointer: '/source/app', message: 'is required (a string)' });
  }
  for (const link of ['correlation_id', 'causation_id']) {
    const x = v[link];
    if (x !== undefined && x !== null && typeof x !== 'string') {
      out.push({ pointer: `/${link}`, message: 'must be a string or null' });
    }
  }
  const p = v.payload;
  req('payload', typeof p === 'object' && p !== null && !Array.isArray(p), 'must be an object');
  return out;
}

/** Parses a message body into an envelope, or throws MESSAGE_NOT_JSON / INVALID_ENVELOPE (neither is retryable). */
export function parseEnvelope(body: Buffer): EventEnvelope {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    throw new AppError('MESSAGE_NOT_JSON', `the message body (${body.length} bytes) is not JSON`);
  }
  const violations = envelopeViolations(value);
  if (violations.length > 0) {
    throw new AppError(
      'INVALID_ENVELOPE',
      violations.map((x) => `${x.pointer || '/'} ${x.message}`).join('; '),
      {
        violations,
      },
    );
  }
  return value as EventEnvelope;
}

/** Decodes the body into `message.event`; a body that is not an envelope fails permanently. */
export function decodeEnvelope(): Middleware {
  return (next) => async (message) => {
    message.event = parseEnvelope(message.delivery.body);
    await next(message);
  };
}
