import { AppError } from '@33god/core';
import { transportOptionsFromEnv } from '../transport/config.js';
import { createTransport } from '../transport/create.js';
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
 * The transport for a URL: RabbitMQ for `amqp://`/`amqps://`, the process's shared
 * embedded broker when there is no URL (see `createTransport`). By default an
 * unreachable broker fails here as BROKER_UNAVAILABLE naming the cause;
 * `initialConnect: 'retry'` starts disconnected and keeps reconnecting instead (servers).
 */
export async function openTransport(options: {
  url?: string;
  publishTimeoutMs?: number;
  initialConnect?: 'fail' | 'retry';
}): Promise<Transport> {
  if (options.url !== undefined) checkBrokerUrl(options.url);
  // Only the management URL comes from the environment: no URL here means embedded.
  const { managementUrl } = transportOptionsFromEnv();
  return createTransport({ ...(managementUrl ? { managementUrl } : {}), ...options });
}
