import { DEAD_LETTER_HEADERS as H, headerNumber, withoutBrokerDeath } from '../dead-letters/headers.js';
import type { Transport } from '../transport/transport.js';
import { NonRetryableError, RequeueSignal } from './errors.js';
import type { MessageContext, Middleware } from './types.js';

export interface RedeliveryGuardOptions {
  transport: Transport;
  /** Consumers that stopped while holding a message before it is dead-lettered. */
  maxRedeliveries: number;
}

/** Dead-letter reason of a message whose consumers kept stopping while handling it. */
export class ConsumerStoppedError extends NonRetryableError {}

/**
 * The crash-loop guard. A message the broker delivers again with `redelivered` set was held
 * by a consumer that stopped before settling it: the process crashed (an unhandled rejection
 * from a promise the handler never awaited, an out-of-memory kill), lost its connection, or
 * shut down with messages it had not started. Nothing inside the handler's chain sees that
 * stop, so neither retries nor dead-lettering count it, and a message that crashes its
 * consumer would come back forever. Classic queues do not count deliveries, so the count
 * travels on the message: a redelivered message is republished to the back of its own queue
 * with `x-redeliveries` one higher (the original is acked once the broker confirmed the copy),
 * and once the count passes `maxRedeliveries` it goes to the dead letters with the reason.
 * Must run inside the dead-letter middleware and outside retry.
 */
export function redeliveryGuard(options: RedeliveryGuardOptions): Middleware {
  return (next) => (message) =>
    // A first delivery (nearly all of them) goes straight on, without a promise of its own.
    message.delivery.redelivered ? guard(message) : next(message);
  async function guard(message: MessageContext): Promise<void> {
    const { delivery, queue } = message;
    const count = (headerNumber(delivery.properties.headers, H.redeliveries) ?? 0) + 1;
    if (count > options.maxRedeliveries) {
      throw new ConsumerStoppedError(
        `delivered ${count} times to a consumer that stopped before settling it (crashed, lost its connection or shut down); not handed to the handler again`,
      );
    }
    try {
      await options.transport.publish({
        exchange: '',
        routingKey: queue,
        body: delivery.body,
        properties: {
          ...delivery.properties,
          persistent: true,
          headers: { ...withoutBrokerDeath(delivery.properties.headers), [H.redeliveries]: count },
        },
        mandatory: true,
      });
    } catch {
      // The copy was not confirmed: keep the original (requeued, its count unchanged),
      // rather than let the dead-letter middleware take a broker hiccup for a poison message.
      throw new RequeueSignal();
    }
  }
}
