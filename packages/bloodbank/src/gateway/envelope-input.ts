import { hostname } from 'node:os';
import {
  AppError,
  completeEnvelope,
  type EventEnvelope,
  type EventSource,
  eventTypeProblem,
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
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$/;

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
 * Checks the envelope members the gateway relies on, collecting every problem (with JSON
 * pointers under `prefix`, e.g. `/3` inside a batch), then fills what is missing. Schema
 * validation comes after; this step is what turns "missing event_type" into a 422.
 */
export function envelopeViolations(input: unknown, prefix = ''): Violation[] {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    return [{ pointer: prefix, message: 'must be a JSON object (an event envelope)' }];
  }
  const v: Violation[] = [];
  const body = input as Record<string, unknown>;
  if (body.event_type === undefined) {
    v.push({ pointer: `${prefix}/event_type`, message: 'is required', keyword: 'required' });
  } else {
    const problem = eventTypeProblem(body.event_type);
    if (problem) v.push({ pointer: `${prefix}/event_type`, message: problem, keyword: 'pattern' });
  }
  if (body.payload === undefined) {
    v.push({ pointer: `${prefix}/payload`, message: 'is required', keyword: 'required' });
  } else if (body.payload === null || typeof body.payload !== 'object' || Array.isArray(body.payload)) {
    v.push({ pointer: `${prefix}/payload`, message: 'must be an object', keyword: 'type' });
  }
  if (body.event_id !== undefined && !isUuid(body.event_id)) {
    v.push({ pointer: `${prefix}/event_id`, message: 'must be a UUID', keyword: 'format' });
  }
  for (const key of ['correlation_id', 'causation_id'] as const) {
    const id = body[key];
    if (id !== undefined && id !== null && !isUuid(id)) {
      v.push({ pointer: `${prefix}/${key}`, message: 'must be a UUID or null', keyword: 'format' });
    }
  }
  if (body.timestamp !== undefined) {
    const ts = body.timestamp;
    if (typeof ts !== 'string' || !RFC3339.test(ts) || Number.isNaN(Date.parse(ts))) {
      v.push({ pointer: `${prefix}/timestamp`, message: 'must be an RFC 3339 date-time', keyword: 'format' });
    }
  }
  if (body.version !== undefined && (typeof body.version !== 'string' || body.version === '')) {
    v.push({ pointer: `${prefix}/version`, message: 'must be a non-empty string', keyword: 'type' });
  }
  if (body.source !== undefined) {
    const s = body.source;
    if (s === null || typeof s !== 'object' || Array.isArray(s)) {
      v.push({ pointer: `${prefix}/source`, message: 'must be an object', keyword: 'type' });
    } else {
      for (const [k, val] of Object.entries(s)) {
        if (typeof val !== 'string') {
          v.push({ pointer: `${prefix}/source/${k}`, message: 'must be a string', keyword: 'type' });
        }
      }
    }
  }
  return v;
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
