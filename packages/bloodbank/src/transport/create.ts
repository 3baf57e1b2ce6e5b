import { AppError } from '@33god/core';
import type { EmbeddedBroker } from './embedded/broker.js';
import { createEmbeddedTransport } from './embedded/transport.js';
import { createRabbitMqTransport, type RabbitMqTransportOptions } from './rabbitmq/transport.js';
import { redactUrl } from './rabbitmq/url.js';
import type { Transport } from './transport.js';

export interface CreateTransportOptions extends Omit<RabbitMqTransportOptions, 'url'> {
  /**
   * An amqp:// or amqps:// URL, or a comma-separated list of them (the nodes of one cluster),
   * gives RabbitMQ; none (or empty) gives the embedded broker.
   */
  url?: string | undefined;
  /** Embedded mode only: the broker to use. Default: the process-wide shared broker. */
  broker?: EmbeddedBroker;
}

/** The one place that picks a backend, so the rest of the code knows only `Transport`. */
export async function createTransport(options: CreateTransportOptions = {}): Promise<Transport> {
  const { url, broker, ...rabbit } = options;
  if (url === undefined || url.trim() === '') {
    return createEmbeddedTransport(broker ? { broker } : {});
  }
  // A list (the nodes of a cluster) is checked entry by entry where it is parsed, naming the bad one.
  if (!url.includes(',') && !/^amqps?:\/\//i.test(url.trim())) {
    throw new AppError(
      'INVALID_BROKER_URL',
      `'${redactUrl(url)}' is not an AMQP URL: use amqp://user:password@host:5672/vhost, or leave it unset for the embedded broker`,
    );
  }
  return createRabbitMqTransport({ ...rabbit, url: url.trim() });
}
