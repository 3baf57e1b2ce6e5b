import { transportOptionsFromEnv } from '../transport/config.js';
import { createTransport } from '../transport/create.js';
import { parseBrokerUrls } from '../transport/rabbitmq/nodes.js';
import type { Transport } from '../transport/transport.js';

/**
 * Checks the URL (or the comma-separated node list) before anything connects, so a typo reads
 * as what it is (INVALID_BROKER_URL, naming the bad entry of a list).
 */
export function checkBrokerUrl(url: string): void {
  parseBrokerUrls(url, 0);
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
