import { AMQP_URL, envVar, parse, readEnv } from '@33god/core';

export const AMQP_MANAGEMENT_URL = envVar({
  name: 'AMQP_MANAGEMENT_URL',
  doc: 'RabbitMQ management API base URL (lists bindings for `topology check`). Default: the AMQP host, port 15672, same credentials.',
  parse: parse.url(['http', 'https']),
});

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
