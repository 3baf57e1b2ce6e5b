import { completeEnvelope, type EventEnvelope } from '@33god/core';
import type { Consumer, Delivery, Transport } from '../transport/transport.js';
import { type DeadLetter, describeDeadLetter } from './describe.js';

export const DLQ_EVENT_TYPE = 'bloodbank.message.dlq';

/** Payload of a `bloodbank.message.dlq` event. */
export interface DeadLetterEventPayload {
  [key: string]: unknown;
  dead_letter_id: string;
  original_event_id: string | null;
  original_event_type: string | null;
  queue: string;
  dlq: string;
  reason: string;
  error_class: string;
  handler: string | null;
  attempts: number | null;
  original_routing_key: string | null;
  first_failure_at: string | null;
  last_failure_at: string | null;
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

export function deadLetterEvent(letter: DeadLetter, app: string): EventEnvelope<DeadLetterEventPayload> {
  return completeEnvelope<DeadLetterEventPayload>(
    {
      event_type: DLQ_EVENT_TYPE,
      // The dead letter stays in the chain of the event that failed.
      correlation_id: letter.correlationId ?? letter.eventId ?? null,
      causation_id: letter.eventId,
      payload: {
        dead_letter_id: letter.id,
        original_event_id: letter.eventId,
        original_event_type: letter.eventType,
        queue: letter.queue,
        dlq: letter.dlq,
        reason: letter.reason,
        error_class: letter.errorClass,
        handler: letter.handler,
        attempts: letter.attempts,
        original_routing_key: letter.originalRoutingKey,
        first_failure_at: letter.firstFailureAt,
        last_failure_at: letter.lastFailureAt,
      },
    },
    { app, trigger_type: 'event' },
  );
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
