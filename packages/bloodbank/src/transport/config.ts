import { AMQP_URL, envVar, parse, readEnv } from '@33god/core';

export const AMQP_MANAGEMENT_URL = envVar({
  name: 'AMQP_MANAGEMENT_URL',
  doc: "RabbitMQ management API base URL (lists bindings for `topology check`): one URL, or with a node list in AMQP_URL a comma-separated list with one per node, in the same order. Default: the connected node's host, port 15672, same credentials.",
  parse: (raw, name) =>
    raw
      .split(',')
      .map((u) => parse.url(['http', 'https'])(u.trim(), name))
      .join(','),
});

export const BLOODBANK_EMBEDDED_MAX_QUEUE_MESSAGES = envVar({
  name: 'BLOODBANK_EMBEDDED_MAX_QUEUE_MESSAGES',
  doc: 'Embedded broker only: ready messages one queue may hold; beyond it a publish routed to that queue is refused (503, retryable).',
  default: '100000',
  parse: parse.int(1),
});

export const BLOODBANK_EMBEDDED_MAX_QUEUE_BYTES = envVar({
  name: 'BLOODBANK_EMBEDDED_MAX_QUEUE_BYTES',
  doc: 'Embedded broker only: message body bytes one queue may hold; beyond it a publish routed to that queue is refused (503, retryable).',
  default: String(64 * 1024 * 1024),
  parse: parse.int(1),
});

export const BLOODBANK_EMBEDDED_MAX_TOTAL_MESSAGES = envVar({
  name: 'BLOODBANK_EMBEDDED_MAX_TOTAL_MESSAGES',
  doc: 'Embedded broker only: ready messages all queues together may hold; beyond it every publish that would add one is refused (503, retryable).',
  default: '250000',
  parse: parse.int(1),
});

export const BLOODBANK_EMBEDDED_MAX_TOTAL_BYTES = envVar({
  name: 'BLOODBANK_EMBEDDED_MAX_TOTAL_BYTES',
  doc: 'Embedded broker only: message body bytes all queues together may hold; beyond it every publish that would add one is refused (503, retryable).',
  default: String(128 * 1024 * 1024),
  parse: parse.int(1),
});

export const BLOODBANK_EMBEDDED_STORAGE = envVar({
  name: 'BLOODBANK_EMBEDDED_STORAGE',
  doc: "`npm start` without AMQP_URL: `durable` (the default) keeps the embedded broker's queues in a journal in the data directory (`.data/bloodbank`), so what it confirmed survives a crash; `memory` keeps them in the process only (tests, benchmarks).",
  default: 'durable',
  parse: parse.oneOf(['durable', 'memory'] as const),
});

/** The embedded broker's memory bounds, per queue and in total (see `EmbeddedBroker`). */
export function embeddedLimitsFromEnv(env: NodeJS.ProcessEnv = process.env): {
  maxQueueMessages: number;
  maxQueueBytes: number;
  maxTotalMessages: number;
  maxTotalBytes: number;
} {
  return {
    maxQueueMessages: readEnv(BLOODBANK_EMBEDDED_MAX_QUEUE_MESSAGES, env)!,
    maxQueueBytes: readEnv(BLOODBANK_EMBEDDED_MAX_QUEUE_BYTES, env)!,
    maxTotalMessages: readEnv(BLOODBANK_EMBEDDED_MAX_TOTAL_MESSAGES, env)!,
    maxTotalBytes: readEnv(BLOODBANK_EMBEDDED_MAX_TOTAL_BYTES, env)!,
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
