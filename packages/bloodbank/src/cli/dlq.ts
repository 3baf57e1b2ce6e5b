import { parseArgs } from 'node:util';
import {
  AMQP_URL,
  BB_TOKEN,
  BLOODBANK_URL,
  defaultRegistryPath,
  readEnv,
  SERVICES_REGISTRY,
} from '@33god/core';
import { loadServiceRegistry } from '@33god/holyfields';
import type { DeadLetter } from '../dead-letters/describe.js';
import {
  createDeadLetterOperations,
  DEFAULT_LIST_LIMIT,
  type DeadLetterOperations,
  MAX_LIST_LIMIT,
  MAX_SCAN,
} from '../dead-letters/operations.js';
import { resolveTopologyOptions, type TopologyOptions } from '../topology/options.js';
import type { Transport } from '../transport/transport.js';
import { type CliIo, cliTransport, EXIT, guarded, stdio, UsageError } from './command.js';
import { gatewayDeadLetterOperations } from './gateway-dead-letters.js';

export const USAGE = `usage: bloodbank dlq list [QUEUE] [--limit N] [--cursor C] [--json]
       bloodbank dlq show QUEUE ID [--json]
       bloodbank dlq redrive QUEUE (ID... | --all)
       bloodbank dlq purge QUEUE (ID... | --all)

  QUEUE is a service queue (its dead letters are in QUEUE.dlq); ID is a dead
  letter's id (the event id). list without QUEUE shows every dead-letter queue of
  the registry with its count. list and show never remove a message.

  list QUEUE shows one page, oldest first: --limit N of them (default ${DEFAULT_LIST_LIMIT}, at most
  ${MAX_LIST_LIMIT}); when more follow, the command for the next page (--cursor C) is printed on
  stderr. show searches the first ${MAX_SCAN} messages of the queue.

  Without an AMQP URL the commands go through the gateway's HTTP API (what
  works against \`npm start\` with its embedded broker); with one, straight to
  RabbitMQ.

  --gateway URL    default: BLOODBANK_URL (http://127.0.0.1:8682)
  --token TOKEN    bearer token when the gateway has tokens (read for list and show, operate
                   for redrive and purge); default: BB_TOKEN
  --amqp-url URL   default: AMQP_URL
  --registry FILE  with an AMQP URL; default: SERVICES_REGISTRY, else services/registry.yaml
  --dlx NAME       with an AMQP URL; default: BLOODBANK_DLX`;

export async function run(argv: string[], io: CliIo = stdio): Promise<number> {
  return guarded(io, USAGE, async () => {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        registry: { type: 'string' },
        'amqp-url': { type: 'string' },
        gateway: { type: 'string' },
        token: { type: 'string' },
        dlx: { type: 'string' },
        limit: { type: 'string' },
        cursor: { type: 'string' },
        all: { type: 'boolean' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) {
      io.out(USAGE);
      return EXIT.ok;
    }
    const [action, queue, ...ids] = positionals;
    if (!action || !['list', 'show', 'redrive', 'purge'].includes(action)) {
      throw new UsageError(action ? `unknown dlq action '${action}'` : 'list, show, redrive or purge?');
    }
    if (action !== 'list' && !queue) throw new UsageError(`dlq ${action} needs a QUEUE`);
    if (action === 'show' && ids.length !== 1) throw new UsageError('dlq show needs exactly one ID');
    if ((action === 'redrive' || action === 'purge') && ids.length === 0 && !values.all) {
      throw new UsageError(`dlq ${action} needs IDs, or --all for every dead letter of the queue`);
    }
    if ((action === 'redrive' || action === 'purge') && ids.length > 0 && values.all) {
      throw new UsageError('give IDs or --all, not both');
    }
    const limit = values.limit === undefined ? DEFAULT_LIST_LIMIT : Number(values.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT) {
      throw new UsageError(`--limit must be a whole number from 1 to ${MAX_LIST_LIMIT}`);
    }
    if (values.cursor !== undefined && (action !== 'list' || !queue)) {
      throw new UsageError('--cursor goes with dlq list QUEUE');
    }

    if (values.gateway !== undefined && values['amqp-url'] !== undefined) {
      throw new UsageError('give --gateway or --amqp-url, not both');
    }
    const amqpUrl =
      values.gateway === undefined ? (values['amqp-url'] ?? readEnv(AMQP_URL, io.env)) : undefined;
    let transport: Transport | null = null;
    let ops: DeadLetterOperations;
    if (amqpUrl === undefined) {
      if (values.registry !== undefined || values.dlx !== undefined) {
        throw new UsageError('--registry and --dlx apply with an AMQP URL only (the gateway uses its own)');
      }
      const token = values.token ?? readEnv(BB_TOKEN, io.env);
      ops = gatewayDeadLetterOperations(
        values.gateway ?? readEnv(BLOODBANK_URL, io.env)!,
        token === undefined ? {} : { token },
      );
    } else {
      const topology: TopologyOptions = values.dlx ? { dlx: values.dlx } : {};
      const options: Parameters<typeof createDeadLetterOperations>[1] = {
        topology: resolveTopologyOptions(topology, io.env),
      };
      if (action === 'list' && !queue) {
        options.registry = await loadServiceRegistry(
          values.registry ?? readEnv(SERVICES_REGISTRY, io.env) ?? defaultRegistryPath(),
        );
      }
      transport = await cliTransport(amqpUrl, io, `bloodbank dlq ${action}`);
      ops = createDeadLetterOperations(transport, options);
    }
    try {
      const print = (v: unknown, text: () => string[]): void => {
        if (values.json) io.out(JSON.stringify(v, null, 2));
        else for (const line of text()) io.out(line);
      };
      switch (action) {
        case 'list': {
          if (!queue) {
            const queues = await ops.queues();
            print(queues, () =>
              queues.map(
                (q) => `${String(q.messageCount).padStart(7)}  ${q.dlq}${q.exists ? '' : '  (not declared)'}`,
              ),
            );
            return EXIT.ok;
          }
          const page = await ops.listPage(queue, {
            limit,
            ...(values.cursor === undefined ? {} : { cursor: values.cursor }),
          });
          const letters = page.items;
          print(letters, () =>
            letters.length === 0 ? [`no dead letters in ${queue}`] : letters.map((l) => summaryLine(l)),
          );
          // stdout stays the letters alone (lines, or the JSON array); where to go on is a hint
          if (page.nextCursor) {
            io.err(
              `more dead letters (${page.count} in the queue): bloodbank dlq list ${queue} --limit ${limit} --cursor ${page.nextCursor}`,
            );
          }
          return EXIT.ok;
        }
        case 'show': {
          const letter = await ops.show(queue!, ids[0]!);
          print(letter, () => detailLines(letter));
          return EXIT.ok;
        }
        case 'redrive': {
          const res = await ops.redrive(queue!, values.all ? undefined : ids);
          print(res, () => [
            `redrove ${res.count} dead letter(s) to ${queue}`,
            ...res.notFound.map((id) => `not found: ${id}`),
          ]);
          return res.notFound.length > 0 ? EXIT.failed : EXIT.ok;
        }
        default: {
          const res = await ops.purge(queue!, values.all ? undefined : ids);
          print(res, () => [
            `purged ${res.count} dead letter(s) of ${queue}`,
            ...res.notFound.map((id) => `not found: ${id}`),
          ]);
          return res.notFound.length > 0 ? EXIT.failed : EXIT.ok;
        }
      }
    } finally {
      await transport?.close();
    }
  });
}

function summaryLine(l: DeadLetter): string {
  const attempts = l.attempts === null ? '' : ` after ${l.attempts} attempt(s)`;
  return `${l.id}  ${l.eventType ?? '(not an event)'}  ${l.errorClass}${attempts}: ${l.reason}`;
}

function detailLines(l: DeadLetter): string[] {
  const rows: [string, unknown][] = [
    ['id', l.id],
    ['queue', l.queue],
    ['event type', l.eventType],
    ['event id', l.eventId],
    ['correlation', l.correlationId],
    ['reason', l.reason],
    ['error class', l.errorClass],
    ['handler', l.handler],
    ['attempts', l.attempts],
    ['routing key', l.originalRoutingKey],
    ['exchange', l.originalExchange],
    ['first failure', l.firstFailureAt],
    ['last failure', l.lastFailureAt],
  ];
  const lines = rows
    .filter(([, v]) => v !== null && v !== undefined)
    .map(([k, v]) => `${k.padEnd(14)}${String(v)}`);
  lines.push('body:', l.envelope ? JSON.stringify(l.envelope, null, 2) : l.body);
  return lines;
}
