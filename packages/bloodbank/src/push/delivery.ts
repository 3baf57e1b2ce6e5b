import { AppError, type EventEnvelope, envelopeToCloudEvent } from '@33god/core';
import { type HttpAnswer, HttpTimeoutError, type PushHttpClient } from './http-client.js';
import { signWebhook, type WebhookKey } from './signature.js';

/** Characters of the endpoint's answer kept in a dead letter's reason. */
export const REASON_BODY_CHARS = 256;

/** The longest Retry-After honoured (the retry queues' largest tier bounds it again). */
const MAX_RETRY_AFTER_MS = 10 * 60_000;

export interface DeliveryRequest {
  readonly headers: Record<string, string>;
  readonly body: Buffer;
}

/**
 * The HTTP request of one event: the structured CloudEvent (core's one mapping) as the body,
 * the Standard Webhooks headers (signed when there is a key), and the event's trace context.
 */
export function deliveryRequest(
  event: EventEnvelope<unknown>,
  key: WebhookKey | null,
  now: () => number = Date.now,
): DeliveryRequest {
  const body = Buffer.from(JSON.stringify(envelopeToCloudEvent(event)));
  const timestamp = Math.floor(now() / 1000);
  const headers: Record<string, string> = {
    'content-type': 'application/cloudevents+json',
    'user-agent': 'bloodbank-push/1',
    'webhook-id': event.event_id,
    'webhook-timestamp': String(timestamp),
  };
  if (key) headers['webhook-signature'] = signWebhook(key, event.event_id, timestamp, body);
  const { traceparent, tracestate } = event;
  if (fitsOneLine(traceparent)) headers.traceparent = traceparent;
  if (fitsOneLine(tracestate)) headers.tracestate = tracestate;
  return { headers, body };
}

/** A trace-context member that can travel as a header: a string of 1-512 characters on one line. */
function fitsOneLine(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= 512 && !/[\r\n]/.test(value);
}

/**
 * What an answer means for the event: null when it was taken (2xx); PUSH_DELIVERY_FAILED
 * (retryable) for 408, 429 and 5xx, carrying Retry-After as `retry_after_ms`;
 * PUSH_DELIVERY_REJECTED (dead-lettered at once) for anything else, redirects included.
 * The detail holds the status and the start of the body.
 */
export function answerError(answer: HttpAnswer, now: () => number = Date.now): AppError | null {
  const { status } = answer;
  if (status >= 200 && status < 300) return null;
  const start = oneLine(answer.body).slice(0, REASON_BODY_CHARS);
  let detail = `endpoint answered ${status}${start ? `: ${start}` : ''}`;
  if (status === 408 || status === 429 || status >= 500) {
    const extra: Record<string, unknown> = { status };
    const wait = retryAfterMs(answer.retryAfter, now);
    if (wait !== undefined) extra.retry_after_ms = wait;
    return new AppError('PUSH_DELIVERY_FAILED', detail, { extra });
  }
  if (status >= 300 && status < 400) detail += ' (redirects are not followed)';
  return new AppError('PUSH_DELIVERY_REJECTED', detail, { extra: { status } });
}

/** A failure before any answer: a timeout or a connection that could not be made or broke. */
export function transportError(error: unknown): AppError {
  if (error instanceof HttpTimeoutError)
    return new AppError('PUSH_DELIVERY_FAILED', error.message, { cause: error });
  const code = (error as NodeJS.ErrnoException).code;
  const what = error instanceof Error ? error.message : String(error);
  return new AppError('PUSH_DELIVERY_FAILED', `could not reach the endpoint: ${code ?? what}`, {
    cause: error,
  });
}

/** POSTs one event and throws the failure's AppError, or resolves once the endpoint took it. */
export async function deliver(client: PushHttpClient, request: DeliveryRequest): Promise<void> {
  let answer: HttpAnswer;
  try {
    answer = await client.post(request.headers, request.body);
  } catch (error) {
    throw transportError(error);
  }
  const failure = answerError(answer);
  if (failure) throw failure;
}

/** `Retry-After` (seconds or an HTTP date) in ms, bounded; undefined when absent or unreadable. */
export function retryAfterMs(value: string | undefined, now: () => number = Date.now): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  let ms: number;
  if (/^\d+$/.test(text)) ms = Number(text) * 1000;
  else {
    const at = Date.parse(text);
    if (Number.isNaN(at)) return undefined;
    ms = at - now();
  }
  return Math.min(MAX_RETRY_AFTER_MS, Math.max(0, ms));
}

function oneLine(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is removed
  return text.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
}
