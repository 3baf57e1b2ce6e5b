import { hostname } from 'node:os';
import {
  AppError,
  acceptedTraceparent,
  acceptedTracestate,
  completeEnvelope,
  type EventEnvelope,
  type EventSource,
  envelopeErrorCode,
  envelopeViolations as envelopeRules,
  isUuid,
  type Violation,
} from '@33god/core';
import type { RequestTrace } from './pipeline.js';

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

/**
 * The trace context of a request's `traceparent`/`tracestate` headers, or undefined. An
 * invalid `traceparent` is ignored (the spec: start a new trace), and its `tracestate` with
 * it; an invalid `tracestate` alone is dropped. Only the envelope's own members are refused.
 */
export function requestTrace(
  headers: Record<string, string | string[] | undefined>,
): RequestTrace | undefined {
  const raw = headers.traceparent;
  const parent = acceptedTraceparent(raw);
  if (parent === undefined) return undefined;
  return { parent, traceparent: raw as string, tracestate: acceptedTracestate(headers.tracestate) };
}

/**
 * Throws INVALID_ENVELOPE (422) with every violation, or INVALID_TRACE_CONTEXT (400) when a
 * malformed `traceparent`/`tracestate` member is all that is wrong; else completes it.
 */
export function toEnvelope(input: unknown, ctx: EnvelopeContext, prefix = ''): EventEnvelope {
  const violations = envelopeViolations(input, prefix);
  if (violations.length > 0) {
    const code = envelopeErrorCode(violations);
    throw new AppError(
      code,
      code === 'INVALID_TRACE_CONTEXT'
        ? "the envelope's trace context is malformed (leave it out to start a new trace)"
        : 'the event envelope is not valid',
      { violations },
    );
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
