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
  newEventId,
  type ProblemDocument,
  readEnv,
} from '@33god/core';
import { loadSchemaTree } from '@33god/holyfields';
import { transportPublisher } from '../gateway/publisher.js';
import { retryPublish } from '../sdk/publish-retry.js';
import { openTransport } from '../sdk/transport.js';
import { BLOODBANK_EXCHANGE } from '../topology/config.js';
import { resolveTopologyOptions } from '../topology/options.js';
import { redactUrl } from '../transport/rabbitmq/url.js';
import type { Transport } from '../transport/transport.js';
import { type CliIo, EXIT, guarded, stdio, UsageError } from './command.js';
import { networkReason } from './health.js';

/** Default of --retry-for, in seconds. */
const DEFAULT_RETRY_FOR_S = 30;
/** The longest a Retry-After answer makes the command wait before sending again. */
const RETRY_WAIT_CAP_S = 10;

export const PUBLISH_USAGE = `bb publish <event_type> --payload JSON|@file [--correlation-id ID] [--causation-id ID]
           [--gateway URL | --amqp-url URL] [--token TOKEN] [--exchange NAME] [--retry-for SECONDS]

Publishes one event and prints its id once the broker confirmed it. Through the gateway
(default ${'$'}BLOODBANK_URL, http://127.0.0.1:8682) or, with --amqp-url, straight to RabbitMQ
(validated against HOLYFIELDS_SCHEMAS first).

The event id is made here, so a retry carries the same one and consumers deduplicate it.
When the gateway answers 503 or 429, or cannot be reached, the command waits Retry-After
seconds (at most ${RETRY_WAIT_CAP_S}; 1 when absent) and sends again, printing one line to stderr
per retry, for up to --retry-for seconds (default ${DEFAULT_RETRY_FOR_S}; 0: no retry). With --amqp-url a
refusal the broker calls retryable (queue full, no confirm, connection lost) is retried with
backoff within the same time. Any other error fails at once.`;

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

/** Seconds to wait from a Retry-After header (seconds or HTTP date), capped; 1 when unusable. */
function retryAfterSeconds(header: string | null): number {
  if (header === null) return 1;
  let seconds = /^\d+$/.test(header.trim()) ? Number(header) : (Date.parse(header) - Date.now()) / 1000;
  if (!Number.isFinite(seconds)) seconds = 1;
  return Math.min(Math.max(seconds, 0), RETRY_WAIT_CAP_S);
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
        'retry-for': { type: 'string' },
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
    const retryFor = values['retry-for'] === undefined ? DEFAULT_RETRY_FOR_S : Number(values['retry-for']);
    if (!Number.isFinite(retryFor) || retryFor < 0) {
      throw new UsageError('--retry-for takes a number of seconds, 0 or more');
    }
    const deadline = Date.now() + retryFor * 1000;
    const payload = readPayload(values.payload ?? '{}');
    const partial = {
      // Made here, not by the gateway, so that every retry carries the same id.
      event_id: newEventId(),
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
        // The bus's exchanges as this command's environment names them (BLOODBANK_DLX…), declared where missing.
        const publisher = transportPublisher(
          transport,
          exchange,
          resolveTopologyOptions({ exchange }, io.env),
        );
        const attempt = () => publisher.publishEnvelope(envelope);
        try {
          await attempt();
        } catch (error) {
          await retryPublish(
            attempt,
            error,
            retryFor * 1000,
            () => false,
            (err, waitMs) =>
              io.err(`bb publish: ${(err as Error).message}; retrying ${envelope.event_id} in ${waitMs} ms`),
          );
        }
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
    // With a token the gateway names the source after its principal; a caller cannot claim another.
    const request = JSON.stringify({
      ...partial,
      source: token ? { trigger_type: 'cli' } : { app: 'bb-cli', trigger_type: 'cli' },
    });
    let res: Response;
    for (;;) {
      let refusal: string;
      let waitS = 1;
      try {
        res = await fetch(new URL('/events', base), {
          method: 'POST',
          headers,
          body: request,
          signal: AbortSignal.timeout(15_000),
        });
        if (res.status !== 503 && res.status !== 429) break;
        refusal = `the gateway answered ${res.status}`;
        waitS = retryAfterSeconds(res.headers.get('retry-after'));
        if (Date.now() + waitS * 1000 > deadline) break;
        await res.body?.cancel();
      } catch (err) {
        refusal = `cannot reach the gateway at ${base} (${networkReason(err)})`;
        if (Date.now() + waitS * 1000 > deadline) throw new AppError('SERVICE_UNAVAILABLE', refusal);
      }
      io.err(`bb publish: ${refusal}; retrying ${partial.event_id} in ${waitS} s`);
      await new Promise((resolve) => setTimeout(resolve, waitS * 1000));
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
