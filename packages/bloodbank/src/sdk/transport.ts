import { AppError } from '@33god/core';
import { createEmbeddedTransport } from '../transport/embedded/transport.js';
import { createRabbitMqTransport, type RabbitMqTransportOptions } from '../transport/rabbitmq/transport.js';
import type { Transport } from '../transport/transport.js';

/** Checks the URL before anything connects, so a typo reads as what it is. */
export function checkBrokerUrl(url: string): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new AppError(
      'INVALID_BROKER_URL',
      `'${redact(url)}' is not a URL; expected amqp://user:password@host:5672`,
    );
  }
  if (parsed.protocol !== 'amqp:' && parsed.protocol !== 'amqps:') {
    throw new AppError(
      'INVALID_BROKER_URL',
      `'${redact(url)}' uses ${parsed.protocol}; expected amqp:// or amqps://`,
    );
  }
  if (!parsed.hostname) throw new AppError('INVALID_BROKER_URL', `'${redact(url)}' has no host`);
}

/** A URL without its password, for messages. */
export function redact(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@/]*@/, '//$1:***@');
}

/**
 * The transport for a URL: RabbitMQ for `amqp://`/`amqps://` (connected before this
 * resolves; an unreachable broker is BROKER_UNAVAILABLE naming the cause), the
 * process's shared embedded broker when there is no URL.
 */
export async function openTransport(options: {
  url?: string;
  publishTimeoutMs?: number;
}): Promise<Transport> {
  if (options.url === undefined) return createEmbeddedTransport();
  checkBrokerUrl(options.url);
  const rabbit: RabbitMqTransportOptions = { url: options.url };
  if (options.publishTimeoutMs !== undefined) rabbit.publishTimeoutMs = options.publishTimeoutMs;
  return createRabbitMqTransport(rabbit);
}
