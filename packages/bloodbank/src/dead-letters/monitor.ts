import {
  childOf,
  completeEnvelope,
  type EventEnvelope,
  formatTraceparent,
  parseTraceparent,
} from '@33god/core';
import type { BloodbankMessageDlqV1Payload } from '@33god/events';
import type { Consumer, Delivery, Transport } from '../transport/transport.js';
import type { DeadLetterReasonCode } from './dead-letter.js';
import { type DeadLetter, describeDeadLetter } from './describe.js';
import { DEAD_LETTER_HEADERS as H, headerString } from './headers.js';

export const DLQ_EVENT_TYPE = 'bloodbank.message.dlq';

/**
 * Payload of a `bloodbank.message.dlq` event (`schemas/bloodbank/message.dlq.v1.json`), plus
 * `dead_letter_id`, the id `show`, `redrive` and `purge` take (the schema allows extra members).
 */
export type DeadLetterEventPayload = BloodbankMessageDlqV1Payload & { dead_letter_id: string };

// Every code of the schema once: the compiler fails here when the schema's list changes.
const REASON_CODES: Record<DeadLetterReasonCode, true> = {
  handler_failed: true,
  handler_rejected: true,
  not_json: true,
  invalid_envelope: true,
  expired: true,
  rejected: true,
  max_attempts: true,
};

// RabbitMQ's `x-death` reasons. The schema has no code for a full queue; the broker refused it.
const BROKER_REASON_CODES: Record<string, DeadLetterReasonCode> = {
  expired: 'expired',
  rejected: 'rejected',
  maxlen: 'rejected',
  delivery_limit: 'max_attempts',
};

const MAX_ERROR_MESSAGE = 4096;

function reasonCode(letter: DeadLetter): DeadLetterReasonCode {
  const recorded = headerString(letter.headers, H.reasonCode);
  if (recorded !== undefined && Object.hasOwn(REASON_CODES, recorded)) {
    return recorded as DeadLetterReasonCode;
  }
  if (letter.errorClass.startsWith('broker:')) {
    return BROKER_REASON_CODES[letter.errorClass.slice('broker:'.length)] ?? 'rejected';
  }
  // Written before the code was recorded, or by a client that does not record it.
  return 'handler_failed';
}

// Headers come from any client, and the gateway refuses an event that breaks its schema (the
// monitor would retry it forever): a time that parses is normalised, anything else dropped.
function timestamp(value: string | null): string | undefined {
  if (value === null) return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
}

function truncate(text: string, max: number): string {
  // UTF-16 length bounds the code point count the schema limits.
  return text.length <= max ? text : [...text].slice(0, max).join('');
}

export function deadLetterEvent(letter: DeadLetter, app: string): EventEnvelope<DeadLetterEventPayload> {
  // Only an envelope names an event; the message id of any other body does not.
  const originalEventId = letter.envelope?.event_id ?? null;
  const payload: DeadLetterEventPayload = {
    dead_letter_id: letter.id,
    original_event_id: originalEventId,
    original_event_type: letter.eventType,
    queue: letter.queue,
    dlq: letter.dlq,
    reason: reasonCode(letter),
    error_class: letter.errorClass,
    error_message: truncate(letter.reason, MAX_ERROR_MESSAGE),
    handler: letter.handler,
    // The schema counts the first delivery; what the broker dead-lettered unconsumed records none.
    attempts: Math.max(1, letter.attempts ?? 1),
    original_routing_key: letter.originalRoutingKey ?? letter.eventType ?? '',
    last_failed_at: timestamp(letter.lastFailureAt) ?? new Date().toISOString(),
  };
  const firstFailedAt = timestamp(letter.firstFailureAt);
  if (firstFailedAt !== undefined) payload.first_failed_at = firstFailedAt;
  const envelope = completeEnvelope<DeadLetterEventPayload>(
    {
      event_type: DLQ_EVENT_TYPE,
      // The dead letter stays in the chain of the event that failed.
      correlation_id: letter.envelope?.correlation_id ?? originalEventId,
      causation_id: originalEventId,
      payload,
    },
    { app, trigger_type: 'event' },
  );
  // ...and in its trace: a child of the failed event's span, with its tracestate.
  const failed = parseTraceparent(letter.envelope?.traceparent);
  if (failed) {
    envelope.traceparent = formatTraceparent(childOf(failed));
    const state = letter.envelope?.tracestate;
    if (typeof state === 'string') envelope.tracestate = state;
  }
  return envelope;
}

export interface DeadLetterMonitorOptions {
  transport: Transport;
  /** Publishes the event (the bus's `publishEnvelope`). */
  publish: (envelope: EventEnvelope<DeadLetterEventPayload>) => Promise<void>;
  /** The queue bound `#` on the dead-letter exchange (the topology's `monitorQueue`). */
  queue: string;
  app: string;
  prefetch?: number;
  /** Called when the event could not be published (the dead letter is retried after `retryDelayMs`). */
  onError?: (err: unknown, letter: DeadLetter) => void;
  retryDelayMs?: number;
}

export interface DeadLetterMonitor {
  readonly queue: string;
  stop(): Promise<void>;
}

/**
 * Reads the copy of every dead letter that the dead-letter exchange routes to the
 * monitor queue (bound `#`, so it also sees what the broker dead-lettered on its own,
 * such as expired messages) and publishes a `bloodbank.message.dlq` event for each.
 * A dead letter of a `bloodbank.message.dlq` event produces no new event: a consumer
 * failing on those would otherwise feed itself forever.
 */
export async function startDeadLetterMonitor(options: DeadLetterMonitorOptions): Promise<DeadLetterMonitor> {
  const { transport } = options;
  const retryDelayMs = options.retryDelayMs ?? 1000;
  const timers = new Map<NodeJS.Timeout, () => void>();
  let stopped = false;
  const handle = async (d: Delivery): Promise<void> => {
    const letter = describeDeadLetter(d, d.queue);
    if (letter.eventType === DLQ_EVENT_TYPE) {
      d.ack();
      return;
    }
    try {
      await options.publish(deadLetterEvent(letter, options.app));
      d.ack();
    } catch (err) {
      options.onError?.(err, letter);
      if (stopped) {
        d.nack({ requeue: true });
        return;
      }
      // Back off before the broker hands the same letter over again.
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          timers.delete(t);
          resolve();
        }, retryDelayMs);
        timers.set(t, resolve);
      });
      d.nack({ requeue: true });
    }
  };
  const consumer: Consumer = await transport.consume(options.queue, handle, {
    prefetch: options.prefetch ?? 16,
  });
  return {
    queue: options.queue,
    async stop() {
      stopped = true;
      for (const [t, resolve] of timers) {
        clearTimeout(t);
        resolve();
      }
      timers.clear();
      await consumer.cancel();
    },
  };
}
