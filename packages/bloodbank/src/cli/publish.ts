import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import {
  AppError,
  assertEnvelope,
  BB_TOKEN,
  BLOODBANK_URL,
  completeEnvelope,
  defaultSchemasDir,
  HOLYFIELDS_SCHEMAS,
  type ProblemDocument,
  readEnv,
} from '@33god/core';
import { loadSchemaTree } from '@33god/holyfields';
import { transportPublisher } from '../gateway/publisher.js';
import { openTransport } from '../sdk/transport.js';
import { BLOODBANK_EXCHANGE } from '../topology/config.js';
import { redactUrl } from '../transport/rabbitmq/url.js';
import type { Transport } from '../transport/transport.js';
import { type CliIo, EXIT, guarded, stdio, UsageError } from './command.js';
import { networkReason } from './health.js';

export const PUBLISH_USAGE = `bb publish <event_type> --payload JSON|@file [--correlation-id ID] [--causation-id ID]
           [--gateway URL | --amqp-url URL] [--token TOKEN] [--exchange NAME]

Publishes one event and prints its id once the broker confirmed it. Through the gateway
(default ${'$'}BLOODBANK_URL, http://127.0.0.1:8682) or, with --amqp-url, straight to RabbitMQ
(validated against HOLYFIELDS_SCHEMAS first).`;

function readPayload(spec: string): Record<string, unknown> {
  let text = spec;
  if (spec.startsWith('@')) {
    try {
      text = readFileSync(spec.slice(1), 'utf8');
    } catch (err) {
      throw new AppError(
        'INVALID_REQUEST',
        `cannot read ${spec.slice(1)} (${(err as NodeJS.ErrnoException).code})`,
      );
    }
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new AppError('MALFORMED_JSON', '--payload is not valid JSON');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new AppError('INVALID_REQUEST', '--payload must be a JSON object');
  }
  return value as Record<string, unknown>;
}

/** Waits for the transport's first connection, so an unreachable broker fails in seconds. */
export async function waitConnected(transport: Transport, url: string, timeoutMs = 5000): Promise<void> {
  if (transport.state === 'connected') return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new AppError('BROKER_UNAVAILABLE', `cannot reach the broker at ${redactUrl(url)}`));
    }, timeoutMs);
    const off = transport.onStateChange((state) => {
      if (state === 'connected') {
        clearTimeout(timer);
        off();
        resolve();
      }
    });
    if (transport.state === 'connected') {
      clearTimeout(timer);
      off();
      resolve();
    }
  });
}

export async function run(argv: string[], io: CliIo = stdio): Promise<number> {
  return guarded(io, PUBLISH_USAGE, async () => {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        payload: { type: 'string', short: 'p' },
        'correlation-id': { type: 'string' },
        'causation-id': { type: 'string' },
        gateway: { type: 'string' },
        'amqp-url': { type: 'string' },
        token: { type: 'string' },
        exchange: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) {
      io.out(PUBLISH_USAGE);
      return EXIT.ok;
    }
    const eventType = positionals[0];
    if (!eventType || positionals.length > 1) throw new UsageError('give exactly one event type');
    if (values.gateway !== undefined && values['amqp-url'] !== undefined) {
      throw new UsageError('give --gateway or --amqp-url, not both');
    }
    const payload = readPayload(values.payload ?? '{}');
    const partial = {
      event_type: eventType,
      payload,
      ...(values['correlation-id'] ? { correlation_id: values['correlation-id'] } : {}),
      ...(values['causation-id'] ? { causation_id: values['causation-id'] } : {}),
    };
    const amqpUrl = values['amqp-url'];
    if (amqpUrl !== undefined) {
      const envelope = completeEnvelope(partial, { app: 'bb-cli', trigger_type: 'cli' });
      assertEnvelope(envelope, { mode: 'complete' });
      const schemas = await loadSchemaTree(readEnv(HOLYFIELDS_SCHEMAS, io.env) ?? defaultSchemasDir());
      const result = schemas.validate(envelope);
      if (!result.known) throw new AppError('UNKNOWN_EVENT_TYPE', `no schema for '${eventType}'`);
      if (!result.ok) {
        throw new AppError('SCHEMA_VIOLATION', `the event does not match the schema of '${eventType}'`, {
          violations: result.violations,
        });
      }
      const transport = await openTransport({ url: amqpUrl });
      try {
        await waitConnected(transport, amqpUrl);
        const exchange = values.exchange ?? readEnv(BLOODBANK_EXCHANGE, io.env)!;
        await transportPublisher(transport, exchange).publishEnvelope(envelope);
      } finally {
        await transport.close();
      }
      io.out(`published ${envelope.event_id} ${eventType} correlation ${envelope.correlation_id}`);
      return EXIT.ok;
    }
    if (values.exchange !== undefined) throw new UsageError('--exchange applies to --amqp-url only');
    const base = values.gateway ?? readEnv(BLOODBANK_URL, io.env)!;
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    const token = values.token ?? readEnv(BB_TOKEN, io.env);
    if (token) headers.authorization = `Bearer ${token}`;
    let res: Response;
    try {
      res = await fetch(new URL('/events', base), {
        method: 'POST',
        headers,
        // With a token the gateway names the source after its principal; a caller cannot claim another.
        body: JSON.stringify({
          ...partial,
          source: token ? { trigger_type: 'cli' } : { app: 'bb-cli', trigger_type: 'cli' },
        }),
        signal: AbortSignal.timeout(15_000),
      });
    } catch (err) {
      throw new AppError(
        'SERVICE_UNAVAILABLE',
        `cannot reach the gateway at ${base} (${networkReason(err)})`,
      );
    }
    const body = (await res.json().catch(() => ({}))) as Record<string, unknown>;
    if (res.status !== 202) {
      const p = body as Partial<ProblemDocument>;
      io.err(`error ${p.code ?? res.status}: ${p.title ?? res.statusText}${p.detail ? `: ${p.detail}` : ''}`);
      for (const v of p.errors ?? []) io.err(`  ${v.pointer || '/'}: ${v.message}`);
      return EXIT.failed;
    }
    io.out(`published ${body.event_id} ${body.event_type} correlation ${body.correlation_id}`);
    return EXIT.ok;
  });
}
