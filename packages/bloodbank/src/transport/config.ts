import { AMQP_URL, envVar, parse, readEnv } from '@33god/core';

export const AMQP_MANAGEMENT_URL = envVar({
  name: 'AMQP_MANAGEMENT_URL',
  doc: 'RabbitMQ management API base URL (lists bindings for `topology check`). Default: the AMQP host, port 15672, same credentials.',
  parse: parse.url(['http', 'https']),
});

export const BLOODBANK_EMBEDDED_MAX_QUEUE_MESSAGES = envVar({
  name: 'BLOODBANK_EMBEDDED_MAX_QUEUE_MESSAGES',
  doc: 'Embedded broker only: ready messages one queue may hold; beyond it a publish routed to that queue is refused (503, retryable).',
  default: '1000000',
  parse: parse.int(1),
});

export const BLOODBANK_EMBEDDED_MAX_QUEUE_BYTES = envVar({
  name: 'BLOODBANK_EMBEDDED_MAX_QUEUE_BYTES',
  doc: 'Embedded broker only: message body bytes one queue may hold; beyond it a publish routed to that queue is refused (503, retryable).',
  default: String(256 * 1024 * 1024),
  parse: parse.int(1),
});

/** The embedded broker's per-queue memory bounds (see `EmbeddedBroker`). */
export function embeddedLimitsFromEnv(env: NodeJS.ProcessEnv = process.env): {
  maxQueueMessages: number;
  maxQueueBytes: number;
} {
  return {
    maxQueueMessages: readEnv(BLOODBANK_EMBEDDED_MAX_QUEUE_MESSAGES, env)!,
    maxQueueBytes: readEnv(BLOODBANK_EMBEDDED_MAX_QUEUE_BYTES, env)!,
  };
}

/** The transport settings an application reads from its environment (tests pass options instead). */
export function transportOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): {
  url?: string;
  managementUrl?: string;
} {
  const out: { url?: string; managementUrl?: string } = {};
  const url = readEnv(AMQP_URL, env);
  if (url !== undefined) out.url = url;
  const managementUrl = readEnv(AMQP_MANAGEMENT_URL, env);
  if (managementUrl !== undefined) out.managementUrl = managementUrl;
  return out;
}
