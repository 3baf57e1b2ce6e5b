import { type EventEnvelope, encodeEnvelope } from '@33god/core';
import { ensureExchanges } from '../topology/apply.js';
import type { TopologyOptions } from '../topology/options.js';
import type { Transport } from '../transport/transport.js';

/**
 * What the gateway needs to put an envelope on the bus: a confirmed publish. The SDK's
 * `Bus` satisfies it (`bus.publishEnvelope`); `transportPublisher` is the same thing made
 * straight from a transport. It must not retry a refused publish: the gateway answers 503
 * with Retry-After and its client retries, so a `Bus` given here needs `publishRetryMs: 0`.
 */
export interface EnvelopePublisher {
  publishEnvelope(envelope: EventEnvelope, options?: { headers?: Record<string, unknown> }): Promise<unknown>;
}

/**
 * Publishes an envelope to `exchange` with its event type as routing key, the envelope's
 * AMQP properties (message id, correlation id, type, x-* headers) and persistence, and
 * resolves on the broker's confirm. The exchange is declared once, lazily, so a gateway
 * can start while the broker is down and serve as soon as it is back.
 */
export function transportPublisher(
  transport: Transport,
  exchange: string,
  topology: TopologyOptions = { exchange },
): EnvelopePublisher {
  let declared: Promise<void> | null = null;
  const ensureExchange = (): Promise<void> => {
    if (declared === null) {
      // The full set (events exchange with its alternate exchange, dead letters), declared
      // only where missing, so `topology apply` and the gateway never disagree on arguments.
      declared = ensureExchanges(transport, topology).then(() => undefined);
      declared.catch(() => {
        declared = null;
      });
    }
    return declared;
  };
  return {
    async publishEnvelope(envelope, options) {
      await ensureExchange();
      const { routingKey, body, properties: props } = encodeEnvelope(envelope);
      await transport.publish({
        exchange,
        routingKey,
        body,
        properties: {
          ...props,
          headers: options?.headers ? { ...props.headers, ...options.headers } : props.headers,
          persistent: true,
        },
      });
    },
  };
}
