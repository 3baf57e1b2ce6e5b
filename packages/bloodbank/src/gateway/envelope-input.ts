import { hostname } from 'node:os';
import {
  AppError,
  completeEnvelope,
  type EventEnvelope,
  type EventSource,
  envelopeViolations as envelopeRules,
  isUuid,
  type Violation,
} from '@33god/core';

/** What the request contributes to an envelope beyond its body. */
export interface EnvelopeContext {
  /** A caller-supplied correlation id that already passed `acceptedId`. */
  correlationId?: string | undefined;
  causationId?: string | undefined;
  /** `source.app` when the body has none: the authenticated service, else the gateway. */
  app: string;
  triggerType?: EventSource['trigger_type'];
  /** `source.host` when the body has none (read once: `os.hostname()` is a system call). */
  host?: string;
}

const HOST = hostname();

/**
 * An id from a header is accepted only when it is a canonical UUID (what the envelope schema
 * requires of correlation and causation ids); anything else is ignored rather than trusted.
 */
export function acceptedId(header: string | string[] | undefined): string | undefined {
  const v = Array.isArray(header) ? header[0] : header;
  if (v === undefined || v.length > 36) return undefined;
  const t = v.trim().toLowerCase();
  return isUuid(t) ? t : undefined;
}

/**
 * The envelope members a producer sent, checked by core's one rule set (pointers under
 * `prefix`, e.g. `/3` inside a batch) before completion. Schema validation comes after; this
 * step is what turns "missing event_type" into a 422.
 */
export function envelopeViolations(input: unknown, prefix = ''): Violation[] {
  return envelopeRules(input, { mode: 'input', prefix });
}

/** Throws INVALID_ENVELOPE with every violation, else returns the completed envelope. */
export function toEnvelope(input: unknown, ctx: EnvelopeContext, prefix = ''): EventEnvelope {
  const violations = envelopeViolations(input, prefix);
  if (violations.length > 0) {
    throw new AppError('INVALID_ENVELOPE', 'the event envelope is not valid', { violations });
  }
  return completeChecked(input as Partial<EventEnvelope>, ctx);
}

/** Completes an envelope that passed `envelopeViolations`. */
export function completeChecked(body: Partial<EventEnvelope>, ctx: EnvelopeContext): EventEnvelope {
  const partial = { ...body } as Partial<EventEnvelope> & Pick<EventEnvelope, 'event_type' | 'payload'>;
  if (partial.correlation_id == null && ctx.correlationId) partial.correlation_id = ctx.correlationId;
  if (partial.causation_id == null && ctx.causationId) partial.causation_id = ctx.causationId;
  return completeEnvelope(partial, {
    app: ctx.app,
    host: ctx.host ?? HOST,
    trigger_type: ctx.triggerType ?? 'api',
  });
}
