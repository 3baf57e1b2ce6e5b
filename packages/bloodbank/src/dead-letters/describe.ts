import { createHash } from 'node:crypto';
import type { EventEnvelope } from '@33god/core';
import { envelopeViolations } from '../middleware/decode.js';
import { queueOfDlq } from '../topology/names.js';
import type { Delivery } from '../transport/transport.js';
import { DEAD_LETTER_HEADERS as H, headerNumber, headerString } from './headers.js';

/** One dead letter as the SDK, the CLI and the HTTP API show it. */
export interface DeadLetter {
  /** Id used by show/redrive/purge: the message id (the event id for envelopes). */
  id: string;
  /** The queue the message failed in (where a redrive returns it). */
  queue: string;
  /** The dead-letter queue holding it. */
  dlq: string;
  eventId: string | null;
  eventType: string | null;
  correlationId: string | null;
  reason: string;
  errorClass: string;
  handler: string | null;
  attempts: number | null;
  originalRoutingKey: string | null;
  originalExchange: string | null;
  firstFailureAt: string | null;
  lastFailureAt: string | null;
  /** The envelope, when the body is one. */
  envelope: EventEnvelope | null;
  /** The body as text (UTF-8), for bodies that are not envelopes. */
  body: string;
  headers: Record<string, unknown>;
}

interface Death {
  reason: string;
  queue: string;
  exchange?: string;
  routingKey?: string;
  time?: string;
}

/** The newest entry of RabbitMQ's `x-death` bookkeeping (the broker dead-lettered it: TTL, reject, max-length). */
function lastDeath(headers: Record<string, unknown>): Death | null {
  const list = headers['x-death'];
  if (!Array.isArray(list) || list.length === 0) return null;
  const d = list[0] as Record<string, unknown>;
  const keys = d['routing-keys'];
  const t = d.time as unknown;
  const seconds =
    typeof t === 'number'
      ? t
      : typeof t === 'object' && t !== null && 'value' in t
        ? Number(t.value)
        : undefined;
  const out: Death = { reason: String(d.reason ?? 'unknown'), queue: String(d.queue ?? '') };
  if (typeof d.exchange === 'string') out.exchange = d.exchange;
  if (Array.isArray(keys) && keys.length > 0) out.routingKey = String(keys[0]);
  if (seconds !== undefined && Number.isFinite(seconds)) out.time = new Date(seconds * 1000).toISOString();
  return out;
}

const BROKER_REASONS: Record<string, string> = {
  expired: 'the message expired (queue message TTL) before a consumer took it',
  rejected: 'a consumer rejected the message without requeueing it',
  maxlen: 'the queue was full (max-length)',
  delivery_limit: 'the message exceeded the delivery limit of its quorum queue',
};

export function deadLetterId(d: Delivery): string {
  return d.properties.messageId ?? createHash('sha256').update(d.body).digest('hex').slice(0, 32);
}

export function describeDeadLetter(d: Delivery, dlq: string = d.queue): DeadLetter {
  const headers = { ...(d.properties.headers ?? {}) };
  const death = lastDeath(headers);
  const body = d.body.toString('utf8');
  let envelope: EventEnvelope | null = null;
  try {
    const v: unknown = JSON.parse(body);
    if (envelopeViolations(v).length === 0) envelope = v as EventEnvelope;
  } catch {
    // Not JSON: the body is shown as text.
  }
  const queue =
    headerString(headers, H.originalQueue) ??
    (death && death.queue !== dlq ? death.queue : null) ??
    queueOfDlq(dlq) ??
    dlq;
  const deathReason = death
    ? (BROKER_REASONS[death.reason] ?? `dead-lettered by the broker (${death.reason})`)
    : null;
  return {
    id: deadLetterId(d),
    queue,
    dlq,
    eventId: envelope?.event_id ?? d.properties.messageId ?? null,
    eventType: envelope?.event_type ?? d.properties.type ?? null,
    correlationId: envelope?.correlation_id ?? d.properties.correlationId ?? null,
    reason: headerString(headers, H.reason) ?? deathReason ?? 'unknown',
    errorClass: headerString(headers, H.errorClass) ?? (death ? `broker:${death.reason}` : 'unknown'),
    handler: headerString(headers, H.handler) ?? null,
    attempts: headerNumber(headers, H.attempts) ?? null,
    originalRoutingKey: headerString(headers, H.originalRoutingKey) ?? death?.routingKey ?? null,
    originalExchange: headerString(headers, H.originalExchange) ?? death?.exchange ?? null,
    firstFailureAt: headerString(headers, H.firstFailureAt) ?? death?.time ?? null,
    lastFailureAt: headerString(headers, H.lastFailureAt) ?? death?.time ?? null,
    envelope,
    body,
    headers,
  };
}
