import { AppError } from '@33god/core';
import { dlqName, queueOfDlq } from '../topology/names.js';
import {
  type ResolvedTopologyOptions,
  resolveTopologyOptions,
  type TopologyOptions,
} from '../topology/options.js';
import type { TopologyRegistry } from '../topology/registry.js';
import type { Delivery, Transport } from '../transport/transport.js';
import { type DeadLetter, deadLetterId, describeDeadLetter } from './describe.js';
import { cleanHeaders } from './headers.js';

export interface DeadLetterQueueInfo {
  /** The service queue. */
  queue: string;
  /** Its dead-letter queue, `<queue>.dlq`. */
  dlq: string;
  /** False when the dead-letter queue was never declared (topology not applied). */
  exists: boolean;
  messageCount: number;
}

export interface DeadLetterActionResult {
  /** Ids acted on, in queue order. */
  ids: string[];
  /** Requested ids that were not in the dead-letter queue. */
  notFound: string[];
  count: number;
}

/**
 * Dead-letter operations. `queue` is the service queue (`orders`); its dead-letter
 * queue `orders.dlq` is also accepted. Errors are AppErrors: QUEUE_NOT_FOUND when
 * the dead-letter queue does not exist, NOT_FOUND when `show` finds no such id.
 */
export interface DeadLetterOperations {
  /** Every known service queue's dead-letter queue with its message count. */
  queues(): Promise<DeadLetterQueueInfo[]>;
  /** Up to `limit` dead letters, oldest first, read without removing them. */
  list(queue: string, limit?: number): Promise<DeadLetter[]>;
  show(queue: string, id: string): Promise<DeadLetter>;
  /**
   * Sends dead letters back to their original queue (through the default exchange,
   * so only that queue gets them), with the failure headers removed and the attempt
   * count reset. Without ids: every dead letter in the queue.
   */
  redrive(queue: string, ids?: readonly string[]): Promise<DeadLetterActionResult>;
  /** Deletes dead letters; without ids: all of them. */
  purge(queue: string, ids?: readonly string[]): Promise<DeadLetterActionResult>;
}

export interface DeadLetterOperationsOptions {
  /** Service queues come from here (what `queues()` lists). */
  registry?: TopologyRegistry;
  /** More service queues to list (e.g. queues subscribed in code). */
  queues?: () => Iterable<string>;
  topology?: TopologyOptions | ResolvedTopologyOptions;
}

/** Most messages one list/show/redrive/purge scans. */
export const MAX_SCAN = 100_000;
export const DEFAULT_LIST_LIMIT = 50;

export function createDeadLetterOperations(
  transport: Transport,
  options: DeadLetterOperationsOptions = {},
): DeadLetterOperations {
  const topo = resolveTopologyOptions(options.topology);

  const knownQueues = (): string[] => {
    const names = new Set<string>();
    for (const s of options.registry?.services ?? []) {
      if (s.status !== undefined && topo.skipStatuses.includes(s.status)) continue;
      for (const q of s.queues) names.add(q);
    }
    for (const q of options.queues?.() ?? []) names.add(q);
    return [...names].sort();
  };

  const target = (queue: string): { queue: string; dlq: string } => {
    const base = queueOfDlq(queue) ?? queue;
    if (!base) throw new AppError('INVALID_REQUEST', 'a queue name is required');
    return { queue: base, dlq: dlqName(base) };
  };

  const requireDlq = async (dlq: string): Promise<number> => {
    const info = await transport.checkQueue(dlq);
    if (!info) throw new AppError('QUEUE_NOT_FOUND', `dead-letter queue '${dlq}' does not exist`);
    return info.messageCount;
  };

  /**
   * Takes the queue's messages one by one (basic.get), lets `act` consume the chosen
   * ones, and returns every other one to the queue afterwards. The others are held
   * unsettled until the end so the scan never sees a message twice; they are
   * returned newest first, which restores their order on a broker that requeues at
   * the head and keeps it on one that requeues in place.
   */
  const scan = async (
    dlq: string,
    ids: readonly string[] | undefined,
    act: (d: Delivery) => Promise<void>,
  ): Promise<DeadLetterActionResult> => {
    const count = Math.min(await requireDlq(dlq), MAX_SCAN);
    const wanted = ids ? new Set(ids) : null;
    const held: Delivery[] = [];
    const done: string[] = [];
    try {
      for (let i = 0; i < count; i++) {
        if (wanted && done.length === wanted.size) break;
        const d = await transport.get(dlq);
        if (!d) break;
        const id = deadLetterId(d);
        if (wanted && (!wanted.has(id) || done.includes(id))) {
          held.push(d);
          continue;
        }
        try {
          await act(d);
        } catch (err) {
          d.nack({ requeue: true });
          throw err;
        }
        done.push(id);
      }
    } finally {
      for (let i = held.length - 1; i >= 0; i--) held[i]!.nack({ requeue: true });
    }
    const notFound = wanted ? [...wanted].filter((id) => !done.includes(id)) : [];
    return { ids: done, notFound, count: done.length };
  };

  return {
    async queues() {
      const out: DeadLetterQueueInfo[] = [];
      for (const queue of knownQueues()) {
        const info = await transport.checkQueue(dlqName(queue));
        out.push({
          queue,
          dlq: dlqName(queue),
          exists: info !== null,
          messageCount: info?.messageCount ?? 0,
        });
      }
      return out;
    },

    async list(queue, limit = DEFAULT_LIST_LIMIT) {
      const { dlq } = target(queue);
      await requireDlq(dlq);
      const n = Math.max(0, Math.min(Math.floor(limit), MAX_SCAN));
      if (n === 0) return [];
      return (await transport.peek(dlq, n)).map((d) => describeDeadLetter(d, dlq));
    },

    async show(queue, id) {
      const { dlq } = target(queue);
      const count = Math.min(await requireDlq(dlq), MAX_SCAN);
      const found =
        count > 0 ? (await transport.peek(dlq, count)).find((d) => deadLetterId(d) === id) : undefined;
      if (!found) throw new AppError('NOT_FOUND', `no dead letter '${id}' in '${dlq}'`);
      return describeDeadLetter(found, dlq);
    },

    async redrive(queue, ids) {
      const t = target(queue);
      if ((await transport.checkQueue(t.queue)) === null) {
        throw new AppError('QUEUE_NOT_FOUND', `queue '${t.queue}' does not exist: nothing to redrive to`);
      }
      return scan(t.dlq, ids, async (d) => {
        const { expiration: _ttl, ...props } = d.properties;
        await transport.publish({
          exchange: '',
          routingKey: t.queue,
          body: d.body,
          properties: { ...props, persistent: true, headers: cleanHeaders(props.headers) },
          mandatory: true,
        });
        d.ack();
      });
    },

    async purge(queue, ids) {
      const { dlq } = target(queue);
      if (!ids) {
        await requireDlq(dlq);
        const n = await transport.purgeQueue(dlq);
        return { ids: [], notFound: [], count: n };
      }
      return scan(dlq, ids, async (d) => d.ack());
    },
  };
}
