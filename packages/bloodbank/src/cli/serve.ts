import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import {
  AMQP_URL,
  accessConfigFromEnv,
  defaultRegistryPath,
  defaultSchemasDir,
  HOLYFIELDS_SCHEMAS,
  LOG_LEVEL,
  readEnv,
  SERVICES_REGISTRY,
} from '@33god/core';
import {
  BLOODBANK_BATCH_MAX,
  BLOODBANK_BODY_LIMIT,
  BLOODBANK_HEALTH_INTERVAL,
  BLOODBANK_HOST,
  BLOODBANK_PORT,
  BLOODBANK_RATE_LIMIT,
  GITHUB_WEBHOOK_SECRET,
  PLANE_WEBHOOK_SECRET,
} from '../gateway/config.js';
import { type GatewayOptions, startGateway } from '../gateway/server.js';
import { BLOODBANK_PUSH } from '../push/config.js';
import { BLOODBANK_UNKNOWN_TYPES } from '../sdk/config.js';
import { BLOODBANK_DLX, BLOODBANK_EXCHANGE } from '../topology/config.js';
import { type CliIo, EXIT, guarded, stdio } from './command.js';

/** Resolves on the first SIGINT or SIGTERM. */
export function signalled(): Promise<void> {
  return new Promise((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

export const SERVE_USAGE = `bloodbank serve [--port N] [--host H]

Runs the HTTP gateway (POST /events, /events/batch, /publish, /webhooks/:provider; GET /health,
/metrics, /docs, /schemas). Configured by environment variables (see the README): AMQP_URL
(unset: embedded broker), BLOODBANK_PORT, BLOODBANK_HOST (default 127.0.0.1), HOLYFIELDS_SCHEMAS,
SERVICES_REGISTRY, BLOODBANK_UNKNOWN_TYPES, AUTH_TOKENS, AUTH_TOKENS_FILE, BLOODBANK_AUTH_TOKENS,
ALLOW_UNAUTHENTICATED, ALLOWED_HOSTS, ALLOWED_ORIGINS, BLOODBANK_RATE_LIMIT, BLOODBANK_BODY_LIMIT,
BLOODBANK_BATCH_MAX, PLANE_WEBHOOK_SECRET, GITHUB_WEBHOOK_SECRET, BLOODBANK_PUSH (the registry's
push subscriptions run here unless false; docs/push.md). Without tokens it listens on
loopback only; docs/gateway.md lists the scope each route needs.`;

/** Gateway options from the environment (defaults first, then validation by each envVar). */
export function gatewayOptionsFromEnv(env: NodeJS.ProcessEnv): GatewayOptions {
  const registry = readEnv(SERVICES_REGISTRY, env);
  const fallbackRegistry = defaultRegistryPath();
  const options: GatewayOptions = {
    port: readEnv(BLOODBANK_PORT, env)!,
    host: readEnv(BLOODBANK_HOST, env)!,
    exchange: readEnv(BLOODBANK_EXCHANGE, env)!,
    dlx: readEnv(BLOODBANK_DLX, env)!,
    schemasDir: readEnv(HOLYFIELDS_SCHEMAS, env) ?? defaultSchemasDir(),
    registryPath: registry ?? (existsSync(fallbackRegistry) ? fallbackRegistry : null),
    unknownTypes: readEnv(BLOODBANK_UNKNOWN_TYPES, env)!,
    bodyLimit: readEnv(BLOODBANK_BODY_LIMIT, env)!,
    batchMax: readEnv(BLOODBANK_BATCH_MAX, env)!,
    healthIntervalMs: readEnv(BLOODBANK_HEALTH_INTERVAL, env)! * 1000,
    webhookSecrets: {
      plane: readEnv(PLANE_WEBHOOK_SECRET, env),
      github: readEnv(GITHUB_WEBHOOK_SECRET, env),
    },
    logLevel: readEnv(LOG_LEVEL, env)!,
    access: accessConfigFromEnv(env),
    push: readEnv(BLOODBANK_PUSH, env)!,
    env,
  };
  const amqpUrl = readEnv(AMQP_URL, env);
  if (amqpUrl) options.amqpUrl = amqpUrl;
  const rate = readEnv(BLOODBANK_RATE_LIMIT, env);
  if (rate) options.rateLimit = rate;
  return options;
}

/** `bloodbank serve`: runs until SIGTERM/SIGINT, then stops accepting, drains and closes. */
export async function run(
  argv: string[],
  io: CliIo & { interrupted?: Promise<void> } = stdio,
): Promise<number> {
  return guarded(io, SERVE_USAGE, async () => {
    const { values } = parseArgs({
      args: argv,
      options: { port: { type: 'string' }, host: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    });
    if (values.help) {
      io.out(SERVE_USAGE);
      return EXIT.ok;
    }
    const options = gatewayOptionsFromEnv(io.env);
    if (values.port !== undefined) options.port = Number(values.port);
    if (values.host !== undefined) options.host = values.host;
    const gateway = await startGateway(options);
    io.out(
      `bloodbank gateway listening on ${gateway.url} (broker: ${gateway.transport?.kind ?? 'external'}, ${gateway.schemas.status.schemas} schemas, docs at ${gateway.url}/docs)`,
    );
    await (io.interrupted ?? signalled());
    io.out('bloodbank gateway stopping: finishing in-flight publishes');
    await gateway.close();
    return EXIT.ok;
  });
}
