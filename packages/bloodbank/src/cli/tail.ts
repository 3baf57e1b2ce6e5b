import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import {
  AMQP_URL,
  AppError,
  BB_TOKEN,
  CANDYSTORE_URL,
  ENVELOPE_FIELDS,
  type EventEnvelope,
  isValidPattern,
  readEnv,
} from '@33god/core';
import WebSocket from 'ws';
import { openTransport } from '../sdk/transport.js';
import { BLOODBANK_EXCHANGE } from '../topology/config.js';
import { redactUrl } from '../transport/rabbitmq/url.js';
import type { Delivery } from '../transport/transport.js';
import { type CliIo, EXIT, guarded, stdio, UsageError } from './command.js';
import { networkReason } from './health.js';
import { waitConnected } from './publish.js';
import { signalled } from './serve.js';

export const TAIL_USAGE = `bb tail [pattern] [--store-url URL [--token TOKEN] | --amqp-url URL [--exchange NAME]] [--json]

Prints live events matching a topic pattern (default '#'), one line each: time, type,
source, short correlation id, payload preview, until Ctrl-C.
Without an AMQP URL it follows Candystore's live stream (--store-url, default
${'$'}CANDYSTORE_URL, http://127.0.0.1:8080): what works against \`npm start\` with its
embedded broker. With --amqp-url (or AMQP_URL) it reads RabbitMQ directly, from a
private queue that disappears when the command stops. When the store has tokens
configured, give one with the read scope (--token, or BB_TOKEN).`;

const color = (on: boolean) => (code: number, s: string) => (on ? `\x1b[${code}m${s}\x1b[0m` : s);

/** One readable line for an event (or a raw message that is not an envelope). */
export function formatTailLine(d: Delivery, width: number, colors = false): string {
  let env: Partial<EventEnvelope> | null = null;
  try {
    env = JSON.parse(d.body.toString('utf8')) as Partial<EventEnvelope>;
  } catch {
    env = null;
  }
  return formatEventLine(env, d.routingKey, d.body.length, width, colors);
}

/** The line of `formatTailLine` for an already parsed envelope (`null`: not JSON). */
export function formatEventLine(
  env: Partial<EventEnvelope> | null,
  routingKey: string,
  bytes: number,
  width: number,
  colors = false,
): string {
  const c = color(colors);
  const at = env?.timestamp ? new Date(env.timestamp) : new Date();
  const time = Number.isNaN(at.getTime()) ? '--:--:--.---' : at.toISOString().slice(11, 23);
  if (env === null || typeof env !== 'object') {
    return `${c(2, time)}  ${c(33, routingKey)}  (not JSON, ${bytes} bytes)`;
  }
  const type = String(env.event_type ?? routingKey);
  const src = env.source ? `${env.source.app ?? '?'}@${env.source.host ?? '?'}` : '?';
  const corr = env.correlation_id ? String(env.correlation_id).slice(-8) : '--------';
  let preview = JSON.stringify(env.payload ?? null);
  const room = Math.max(20, width - 12 - type.length - src.length - 8 - 8);
  if (preview.length > room) preview = `${preview.slice(0, room - 1)}…`;
  return `${c(2, time)}  ${c(36, type)}  ${c(35, src)}  ${c(2, corr)}  ${preview}`;
}

export async function run(
  argv: string[],
  io: CliIo & { interrupted?: Promise<void> } = stdio,
): Promise<number> {
  return guarded(io, TAIL_USAGE, async () => {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        'amqp-url': { type: 'string' },
        'store-url': { type: 'string' },
        token: { type: 'string' },
        exchange: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) {
      io.out(TAIL_USAGE);
      return EXIT.ok;
    }
    const pattern = positionals[0] ?? '#';
    if (!isValidPattern(pattern)) {
      throw new UsageError(`'${pattern}' is not a topic pattern (words, * and #, dot-separated)`);
    }
    if (values['store-url'] !== undefined && values['amqp-url'] !== undefined) {
      throw new UsageError('give --store-url or --amqp-url, not both');
    }
    const width = process.stdout.columns ?? 120;
    const colors = io.env.NO_COLOR === undefined && process.stdout.isTTY === true;
    const url =
      values['store-url'] === undefined ? (values['amqp-url'] ?? readEnv(AMQP_URL, io.env)) : undefined;
    if (!url) {
      if (values.exchange !== undefined) throw new UsageError('--exchange applies to an AMQP URL only');
      const storeUrl = values['store-url'] ?? readEnv(CANDYSTORE_URL, io.env)!;
      const token = values.token ?? readEnv(BB_TOKEN, io.env);
      return tailStore(storeUrl, pattern, token, io, (e) =>
        io.out(
          values.json
            ? JSON.stringify(e.envelope)
            : formatEventLine(e.envelope, e.routingKey, 0, width, colors),
        ),
      );
    }
    const exchange = values.exchange ?? readEnv(BLOODBANK_EXCHANGE, io.env)!;
    const transport = await openTransport({ url });
    const queue = `bb.tail.${hostname()}.${randomBytes(4).toString('hex')}`;
    try {
      await waitConnected(transport, url);
      if (!(await transport.checkExchange(exchange))) {
        throw new AppError(
          'EXCHANGE_NOT_FOUND',
          `exchange '${exchange}' does not exist on ${redactUrl(url)}`,
        );
      }
      await transport.assertQueue(queue, { durable: false, autoDelete: true, exclusive: true });
      await transport.bindQueue(queue, exchange, pattern);
      const consumer = await transport.consume(
        queue,
        (d) => {
          io.out(values.json ? d.body.toString('utf8') : formatTailLine(d, width, colors));
          d.ack();
        },
        { prefetch: 100 },
      );
      io.err(`tailing '${pattern}' on ${exchange} (Ctrl-C to stop)`);
      await (io.interrupted ?? signalled());
      await consumer.cancel();
      await transport.deleteQueue(queue).catch(() => {});
    } finally {
      await transport.close();
    }
    return EXIT.ok;
  });
}

/** A stored event as the stream sends it: the envelope fields plus the store's own. */
interface StoredEventMessage extends Record<string, unknown> {
  routing_key?: string;
}

type StreamMessage =
  | { kind: 'event'; event: StoredEventMessage }
  | { kind: 'caught_up'; position: string }
  | { kind: 'heartbeat'; position: string };

/**
 * Follows Candystore's `GET /stream?from=now` WebSocket until interrupted. Exits 1 with one
 * line when the store cannot be reached, refuses the request, or ends the stream.
 */
async function tailStore(
  storeUrl: string,
  pattern: string,
  token: string | undefined,
  io: CliIo & { interrupted?: Promise<void> },
  print: (e: { envelope: Partial<EventEnvelope>; routingKey: string }) => void,
  connectTimeoutMs = 5000,
): Promise<number> {
  const base = storeUrl.replace(/\/+$/, '');
  const query = new URLSearchParams({ from: 'now' });
  if (pattern !== '#') query.set('type', pattern);
  const wsUrl = `${base.replace(/^http/, 'ws')}/stream?${query}`;
  const unreachable = (why: string) =>
    new AppError('SERVICE_UNAVAILABLE', `cannot reach the event store at ${base} (${why})`);

  const ws = new WebSocket(wsUrl, {
    handshakeTimeout: connectTimeoutMs,
    ...(token ? { headers: { authorization: `Bearer ${token}` } } : {}),
  });
  let live = false;
  const ended = new Promise<AppError | null>((resolve) => {
    ws.on('unexpected-response', (_req, res) => {
      // A refused request (bad pattern) is a problem document, answered before the upgrade.
      let text = '';
      res.on('data', (chunk: Buffer) => {
        text += chunk.toString('utf8');
      });
      res.on('end', () => {
        let detail = `HTTP ${res.statusCode}`;
        try {
          const p = JSON.parse(text) as { code?: string; detail?: string; title?: string };
          detail = [p.code, p.detail ?? p.title].filter(Boolean).join(': ') || detail;
        } catch {}
        resolve(
          new AppError('SERVICE_UNAVAILABLE', `the event store at ${base} refused the stream (${detail})`),
        );
      });
      res.on('error', () => resolve(unreachable(`HTTP ${res.statusCode}`)));
    });
    ws.on('error', (err) => resolve(unreachable(live ? 'connection lost' : networkReason({ cause: err }))));
    ws.on('close', (code, reason) => {
      const why = reason.toString('utf8');
      resolve(
        live
          ? new AppError(
              'SERVICE_UNAVAILABLE',
              `the event store at ${base} ended the stream (${why || `code ${code}`})`,
            )
          : unreachable(why || `closed with code ${code}`),
      );
    });
  });
  ws.on('message', (data) => {
    let m: StreamMessage;
    try {
      m = JSON.parse(data.toString()) as StreamMessage;
    } catch {
      return;
    }
    if (m.kind === 'caught_up' && !live) {
      live = true;
      io.err(`tailing '${pattern}' from ${base} (Ctrl-C to stop)`);
    } else if (m.kind === 'event') {
      const envelope: Record<string, unknown> = {};
      for (const f of ENVELOPE_FIELDS) if (m.event[f] !== undefined) envelope[f] = m.event[f];
      print({
        envelope: envelope as Partial<EventEnvelope>,
        routingKey: m.event.routing_key ?? String(envelope.event_type ?? ''),
      });
    }
  });
  const stop = io.interrupted ?? signalled();
  const outcome = await Promise.race([ended, stop.then(() => 'interrupted' as const)]);
  if (outcome === 'interrupted') {
    ws.removeAllListeners('close');
    ws.on('error', () => {});
    ws.close(1000, 'bye');
    return EXIT.ok;
  }
  ws.terminate();
  if (outcome) throw outcome;
  return EXIT.ok;
}
