import { randomUUID } from 'node:crypto';
import { isAppError, readEnv } from '@33god/core';
import type { BloodbankMessageDlqV1Payload } from '@33god/events';
import { errorClassOf, errorReasonOf, isRetryable } from '../middleware/errors.js';
import { BLOODBANK_DLX } from '../topology/config.js';
import type { Delivery, MessageProperties, Transport } from '../transport/transport.js';
import { DEAD_LETTER_HEADERS as H, headerString, withoutBrokerDeath } from './headers.js';

export interface DeadLetterReason {
  /** What went wrong; its message becomes the reason and its class the error class. */
  error: unknown;
  /** Name of the handler (or component) that gave up. */
  handler: string;
  /** Attempts made, the last one included. */
  attempts: number;
  /** When the first attempt failed. Default: the `x-first-failure-at` header, else now. */
  firstFailureAt?: Date;
}

/** Why a message was dead-lettered, as `bloodbank.message.dlq` names it. */
export type DeadLetterReasonCode = BloodbankMessageDlqV1Payload['reason'];

/**
 * The reason code of a dead letter the consumer writes itself, decided where the error is still
 * at hand (the error class alone cannot tell a rejection from a retryable failure).
 */
export function deadLetterReasonCode(error: unknown, attempts: number): DeadLetterReasonCode {
  const code = isAppError(error) ? error.code : undefined;
  if (code === 'MESSAGE_NOT_JSON') return 'not_json';
  if (code === 'INVALID_ENVELOPE') return 'invalid_envelope';
  if (!isRetryable(error)) return 'handler_rejected';
  // A retryable error reaches the dead letters on the last attempt the policy allows.
  return attempts > 1 ? 'max_attempts' : 'handler_failed';
}

export interface DeadLetterOptions {
  /** The dead-letter exchange. Default `BLOODBANK_DLX` (`bloodbank.dlx`). */
  dlx?: string;
  /** The queue the message failed in. Default `delivery.queue`. */
  queue?: string;
}

/** The message that goes to the dead letters for a failed delivery: the original body with reason headers. */
export function deadLetterMessage(
  delivery: Delivery,
  reason: DeadLetterReason,
  queue: string = delivery.queue,
): { routingKey: string; body: Buffer; properties: MessageProperties } {
  const now = new Date().toISOString();
  const old = delivery.properties.headers;
  const headers: Record<string, unknown> = {
    ...withoutBrokerDeath(old),
    [H.reason]: errorReasonOf(reason.error),
    [H.reasonCode]: deadLetterReasonCode(reason.error, reason.attempts),
    [H.errorClass]: errorClassOf(reason.error),
    [H.handler]: reason.handler,
    [H.attempts]: reason.attempts,
    // A retried copy arrives through the default exchange; the headers keep where it first came from.
    [H.originalRoutingKey]: headerString(old, H.originalRoutingKey) ?? delivery.routingKey,
    [H.originalExchange]: headerString(old, H.originalExchange) ?? delivery.exchange,
    [H.originalQueue]: queue,
    [H.firstFailureAt]: reason.firstFailureAt?.toISOString() ?? headerString(old, H.firstFailureAt) ?? now,
    [H.lastFailureAt]: now,
  };
  delete headers[H.lastError];
  delete headers[H.retryDelayMs];
  const { expiration: _noTtl, ...props } = delivery.properties;
  return {
    // The dead-letter queue of `<queue>` is bound with exactly this key.
    routingKey: queue,
    body: delivery.body,
    // Every dead letter needs an id for show/redrive/purge; non-envelope bodies get one here.
    properties: { ...props, messageId: props.messageId ?? randomUUID(), persistent: true, headers },
  };
}

/** Publishes the dead letter (confirmed) without settling the delivery. */
export async function publishDeadLetter(
  transport: Transport,
  delivery: Delivery,
  reason: DeadLetterReason,
  options: DeadLetterOptions = {},
): Promise<void> {
  const dlx = options.dlx ?? readEnv(BLOODBANK_DLX)!;
  const msg = deadLetterMessage(delivery, reason, options.queue ?? delivery.queue);
  await transport.publish({ exchange: dlx, ...msg, mandatory: true });
}

/**
 * Sends a delivery to `<queue>.dlq` with the reason headers and acks it once the
 * broker confirmed the dead letter. When the publish fails the delivery is left
 * unsettled and the error is thrown: the caller decides (usually `nack({ requeue: true })`),
 * so the message is never lost.
 */
export async function deadLetter(
  transport: Transport,
  delivery: Delivery,
  reason: DeadLetterReason,
  options: DeadLetterOptions = {},
): Promise<void> {
  await publishDeadLetter(transport, delivery, reason, options);
  delivery.ack();
}
