import { AppError } from '@33god/core';
import { dlqName, queueOfDlq } from '../topology/names.js';
import {
  type ResolvedTopologyOptions,
  resolveTopologyOptions,
  type TopologyOptions,
} from '../topology/options.js';
import type { TopologyRegistry } from '../topology/registry.js';
import type { Delivery, Transport } from '../transport/transport.js';
import { type DeadLetterCursor, decodeDeadLetterCursor, encodeDeadLetterCursor } from './cursor.js';
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

export interface DeadLetterPage {
  /** Oldest first, at most the page's limit. */
  items: DeadLetter[];
  /**
   * Pass as `cursor` for the next page; null after the last one, and at MAX_SCAN messages
   * deep (compare `count`: a listing does not reach past it).
   */
  nextCursor: string | null;
  /** Messages in the dead-letter queue when the page was read. */
  count: number;
}

export interface DeadLetterListOptions {
  /** Dead letters in the page: 1 to MAX_LIST_LIMIT, default DEFAULT_LIST_LIMIT. */
  limit?: number;
  /** The `nextCursor` of the page before; none: from the head of the queue. */
  cursor?: string;
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
  /** The first `limit` dead letters (default 50, at most 500), oldest first: `listPage`'s items. */
  list(queue: string, limit?: number): Promise<DeadLetter[]>;
  /**
   * One page of dead letters, oldest first, read without removing them. A request holds
   * one page in memory however deep the queue is, and reads at most MAX_SCAN messages.
   * INVALID_CURSOR when the dead letter the cursor continues after has left the queue.
   */
  listPage(queue: string, options?: DeadLetterListOptions): Promise<DeadLetterPage>;
  /**
   * The dead letter with this id, searched from the head one message at a time, keeping only
   * the match; NOT_FOUND when it is not among the first MAX_SCAN messages.
   */
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

/** Most messages one list page, show, redrive or purge reads from the head of a queue. */
export const MAX_SCAN = 100_000;
export const DEFAULT_LIST_LIMIT = 50;
/** Most dead letters in one list page. */
export const MAX_LIST_LIMIT = 500;

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
   * One page: at most `limit` messages after the cursor's anchor (from the head without a
   * cursor), and where the next page starts. Messages only leave a queue or join its tail,
   * so an anchor still there is at or before its old place: the read goes `limit + 1` past
   * that place and no further, keeping the page and nothing else. Of an id seen more than
   * once there, the last occurrence is the anchor.
   */
  const readPage = async (
    dlq: string,
    limit: number,
    from: DeadLetterCursor | null,
  ): Promise<{ items: Delivery[]; next: DeadLetterCursor | null }> => {
    let anchored = from === null;
    let items: Delivery[] = [];
    let lastIndex = -1;
    let more = false;
    let index = 0;
    await transport.browse(dlq, Math.min((from?.offset ?? 0) + limit + 1, MAX_SCAN), (d) => {
      const i = index++;
      if (from && i < from.offset && deadLetterId(d) === from.after) {
        anchored = true;
        items = [];
        more = false;
        return true;
      }
      if (!anchored) return true;
      if (items.length < limit) {
        items.push(d);
        lastIndex = i;
        return true;
      }
      more = true;
      // until the anchor's old place a later occurrence of it may still restart the page
      return from !== null && i < from.offset;
    });
    if (!anchored) {
      throw new AppError(
        'INVALID_CURSOR',
        `the dead letter this cursor continues after ('${from!.after}') has left '${dlq}' (redriven or purged); list again from the start`,
      );
    }
    const last = items.at(-1);
    return { items, next: more && last ? { offset: lastIndex + 1, after: deadLetterId(last) } : null };
  };

  const listPage: DeadLetterOperations['listPage'] = async (queue, options = {}) => {
    const limit = options.limit ?? DEFAULT_LIST_LIMIT;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT) {
      throw new AppError('INVALID_REQUEST', `limit must be a whole number from 1 to ${MAX_LIST_LIMIT}`);
    }
    const from = options.cursor === undefined ? null : decodeDeadLetterCursor(options.cursor);
    const { dlq } = target(queue);
    const count = await requireDlq(dlq);
    const page = await readPage(dlq, limit, from);
    return {
      items: page.items.map((d) => describeDeadLetter(d, dlq)),
      nextCursor: page.next && encodeDeadLetterCursor(page.next),
      count,
    };
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
      return (await listPage(queue, { limit })).items;
    },

    listPage,

    async show(queue, id) {
      const { dlq } = target(queue);
      const count = await requireDlq(dlq);
      let found: Delivery | undefined;
      const read =
        count === 0
          ? 0
          : await transport.browse(dlq, MAX_SCAN, (d) => {
              if (deadLetterId(d) !== id) return true;
              found = d;
              return false;
            });
      if (!found) {
        throw new AppError(
          'NOT_FOUND',
          read >= MAX_SCAN
            ? `no dead letter '${id}' among the first ${MAX_SCAN} of '${dlq}' (a search reads no further; redrive or purge the ones ahead of it)`
            : `no dead letter '${id}' in '${dlq}'`,
        );
      }
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
