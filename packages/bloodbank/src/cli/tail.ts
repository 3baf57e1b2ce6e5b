import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { AMQP_URL, AppError, type EventEnvelope, isValidPattern, readEnv } from '@33god/core';
import { openTransport, redact } from '../sdk/transport.js';
import { BLOODBANK_EXCHANGE } from '../topology/config.js';
import type { Delivery } from '../transport/transport.js';
import { type CliIo, EXIT, guarded, stdio, UsageError } from './command.js';
import { waitConnected } from './publish.js';
import { signalled } from './serve.js';

export const TAIL_USAGE = `bb tail [pattern] [--amqp-url URL] [--exchange NAME] [--json]

Prints live events matching a topic pattern (default '#'), one line each: time, type,
source, short correlation id, payload preview. Reads from a private queue that disappears
when the command stops (Ctrl-C). Needs RabbitMQ (AMQP_URL or --amqp-url).`;

const color = (on: boolean) => (code: number, s: string) => (on ? `\x1b[${code}m${s}\x1b[0m` : s);

/** One readable line for an event (or a raw message that is not an envelope). */
export function formatTailLine(d: Delivery, width: number, colors = false): string {
  const c = color(colors);
  let env: Partial<EventEnvelope> | null = null;
  try {
    env = JSON.parse(d.body.toString('utf8')) as Partial<EventEnvelope>;
  } catch {
    env = null;
  }
  const at = env?.timestamp ? new Date(env.timestamp) : new Date();
  const time = Number.isNaN(at.getTime()) ? '--:--:--.---' : at.toISOString().slice(11, 23);
  if (env === null || typeof env !== 'object') {
    return `${c(2, time)}  ${c(33, d.routingKey)}  (not JSON, ${d.body.length} bytes)`;
  }
  const type = String(env.event_type ?? d.routingKey);
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
    const url = values['amqp-url'] ?? readEnv(AMQP_URL, io.env);
    if (!url) {
      throw new AppError(
        'CONFIG_INVALID',
        'bb tail reads from RabbitMQ: set AMQP_URL or pass --amqp-url (the embedded broker lives inside `bloodbank serve`)',
      );
    }
    const exchange = values.exchange ?? readEnv(BLOODBANK_EXCHANGE, io.env)!;
    const transport = await openTransport({ url });
    const queue = `bb.tail.${hostname()}.${randomBytes(4).toString('hex')}`;
    try {
      await waitConnected(transport, url);
      if (!(await transport.checkExchange(exchange))) {
        throw new AppError('EXCHANGE_NOT_FOUND', `exchange '${exchange}' does not exist on ${redact(url)}`);
      }
      await transport.assertQueue(queue, { durable: false, autoDelete: true, exclusive: true });
      await transport.bindQueue(queue, exchange, pattern);
      const width = process.stdout.columns ?? 120;
      const colors = io.env.NO_COLOR === undefined && process.stdout.isTTY === true;
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
