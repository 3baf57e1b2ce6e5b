import { AMQP_HEADERS } from '@33god/core';

/** Headers a dead letter carries (and the retry bookkeeping that leads to one). */
export const DEAD_LETTER_HEADERS = {
  reason: 'x-dead-letter-reason',
  /** The `bloodbank.message.dlq` reason code (`handler_failed`, `max_attempts`...); `reason` holds the text. */
  reasonCode: 'x-dead-letter-reason-code',
  errorClass: 'x-dead-letter-error-class',
  handler: 'x-dead-letter-handler',
  attempts: AMQP_HEADERS.attempts,
  originalRoutingKey: 'x-original-routing-key',
  originalExchange: 'x-original-exchange',
  originalQueue: 'x-original-queue',
  firstFailureAt: 'x-first-failure-at',
  lastFailureAt: 'x-last-failure-at',
  /** Set on retry copies: the error of the last failed attempt. */
  lastError: 'x-last-error',
  /** Set on retry copies: how long the copy waits before returning to its queue. */
  retryDelayMs: 'x-retry-delay-ms',
  /** Set by the redelivery guard: how often a consumer stopped while holding the message. */
  redeliveries: 'x-redeliveries',
} as const;

/** Headers that describe a failure or the broker's dead-lettering, removed when a message is redriven. */
export const FAILURE_HEADERS: readonly string[] = [
  ...Object.values(DEAD_LETTER_HEADERS),
  'x-death',
  'x-first-death-reason',
  'x-first-death-queue',
  'x-first-death-exchange',
  'x-last-death-reason',
  'x-last-death-queue',
  'x-last-death-exchange',
];

export function headerString(headers: Record<string, unknown> | undefined, name: string): string | undefined {
  const v = headers?.[name];
  if (v === undefined || v === null) return undefined;
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  return String(v);
}

export function headerNumber(headers: Record<string, unknown> | undefined, name: string): number | undefined {
  const v = headers?.[name];
  const n = typeof v === 'number' ? v : typeof v === 'string' ? Number(v) : Number.NaN;
  return Number.isFinite(n) ? n : undefined;
}

/** The attempt number of a delivery: 1 plus the attempts recorded by earlier retries. */
export function attemptOf(headers: Record<string, unknown> | undefined): number {
  return (headerNumber(headers, DEAD_LETTER_HEADERS.attempts) ?? 0) + 1;
}

/** Headers without any failure bookkeeping (what a redriven message starts with). */
export function cleanHeaders(headers: Record<string, unknown> | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(headers ?? {})) if (!FAILURE_HEADERS.includes(k)) out[k] = v;
  return out;
}

/** Broker bookkeeping that must not be copied onto a message we publish ourselves. */
export function withoutBrokerDeath(headers: Record<string, unknown> | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(headers ?? {})) {
    if (k === 'x-death' || k.startsWith('x-first-death-') || k.startsWith('x-last-death-')) continue;
    out[k] = v;
  }
  return out;
}
