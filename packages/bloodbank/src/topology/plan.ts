import { AppError, patternProblem } from '@33god/core';
import type { ExchangeOptions, ExchangeType, QueueOptions } from '../transport/transport.js';
import { dlqName, retryQueueName } from './names.js';
import type { ResolvedTopologyOptions } from './options.js';
import type { TopologyRegistry } from './registry.js';

export interface PlannedExchange {
  readonly name: string;
  readonly type: ExchangeType;
  readonly options: ExchangeOptions;
}

export interface PlannedQueue {
  readonly name: string;
  readonly options: QueueOptions;
  /** What the queue is for: a service inbox, its dead letters, a retry tier, or infrastructure. */
  readonly role: 'service' | 'dlq' | 'retry' | 'unroutable' | 'monitor';
}

export interface PlannedBinding {
  readonly queue: string;
  readonly exchange: string;
  readonly pattern: string;
}

/** Everything one topology declares, in declaration order (exchanges, queues, bindings). */
export interface TopologyPlan {
  readonly exchanges: readonly PlannedExchange[];
  readonly queues: readonly PlannedQueue[];
  readonly bindings: readonly PlannedBinding[];
}

/** Per-queue settings a service may override in the registry. */
export interface QueueSettings {
  /** null: messages never expire (the store's queue: its backlog must outlive a database outage). */
  messageTtlMs?: number | null;
  queueType?: ResolvedTopologyOptions['queueType'];
}

/** The exchanges every topology has: events (with its alternate exchange) and dead letters. */
/**
 * `x-delivery-limit` of quorum dead-letter queues. Dead letters have nowhere further to go,
 * and the DLQ tools put back every message they read but do not take (a redrive or discard
 * of some ids): with RabbitMQ 4's default of 20, a dead letter browsed past 20 times would be
 * dropped. The limit is meant to be off, but `-1`, which RabbitMQ 4 reads as "no limit",
 * RabbitMQ 3.x accepts and reads as "drop at the first return" (checked on 3.10: a message
 * nacked with requeue once was gone). The largest 32-bit value means "never" on both.
 */
export const DLQ_DELIVERY_LIMIT = 2_147_483_647;

export function planExchanges(opts: ResolvedTopologyOptions): TopologyPlan {
  const exchanges: PlannedExchange[] = [
    { name: opts.unroutable, type: 'fanout', options: { durable: true } },
    { name: opts.exchange, type: 'topic', options: { durable: true, alternateExchange: opts.unroutable } },
    { name: opts.dlx, type: 'topic', options: { durable: true } },
  ];
  const queues: PlannedQueue[] = [
    {
      name: opts.unroutable,
      role: 'unroutable',
      options: { durable: true, messageTtlMs: opts.unroutableTtlMs, queueType: opts.queueType },
    },
  ];
  // A fanout exchange ignores the key; '' is what RabbitMQ lists for such a binding.
  const bindings: PlannedBinding[] = [{ queue: opts.unroutable, exchange: opts.unroutable, pattern: '' }];
  if (opts.monitorQueue) {
    // Bounded like the unroutable queue: copies pile up only while no monitor runs.
    queues.push({
      name: opts.monitorQueue,
      role: 'monitor',
      options: { durable: true, queueType: opts.queueType, messageTtlMs: opts.unroutableTtlMs },
    });
    bindings.push({ queue: opts.monitorQueue, exchange: opts.dlx, pattern: '#' });
  }
  return { exchanges, queues, bindings };
}

/**
 * One service queue with its dead-letter queue and retry queues. A retry queue has
 * no binding at all: messages enter it through the default exchange and, when their
 * delay expires, leave through the default exchange with the routing key `<queue>`,
 * so they come back to this queue only, never through the topic exchange where
 * another queue's binding could match them again.
 */
export function planQueue(
  queue: string,
  patterns: readonly string[],
  opts: ResolvedTopologyOptions,
  settings: QueueSettings = {},
): TopologyPlan {
  for (const p of patterns) {
    const problem = patternProblem(p);
    if (problem) {
      throw new AppError(
        'REGISTRY_INVALID',
        `queue '${queue}': ${JSON.stringify(p)} is not a valid routing key pattern: it ${problem}`,
      );
    }
  }
  const queueType = settings.queueType ?? opts.queueType;
  const messageTtlMs = settings.messageTtlMs === undefined ? opts.messageTtlMs : settings.messageTtlMs;
  const queues: PlannedQueue[] = [
    {
      name: queue,
      role: 'service',
      options: {
        durable: true,
        queueType,
        ...(messageTtlMs === null ? {} : { messageTtlMs }),
        deadLetterExchange: opts.dlx,
        deadLetterRoutingKey: queue,
      },
    },
    {
      name: dlqName(queue),
      role: 'dlq',
      options: {
        durable: true,
        queueType,
        ...(queueType === 'quorum' ? { deliveryLimit: DLQ_DELIVERY_LIMIT } : {}),
      },
    },
  ];
  for (const tier of opts.retryTiersMs) {
    queues.push({
      name: retryQueueName(queue, tier),
      role: 'retry',
      options: {
        durable: true,
        queueType,
        messageTtlMs: tier,
        deadLetterExchange: '',
        deadLetterRoutingKey: queue,
      },
    });
  }
  const bindings: PlannedBinding[] = [
    ...unique(patterns).map((pattern) => ({ queue, exchange: opts.exchange, pattern })),
    { queue: dlqName(queue), exchange: opts.dlx, pattern: queue },
  ];
  return { exchanges: [], queues, bindings };
}

/**
 * The whole topology of a registry. When a service lists several queues and exactly
 * as many routing keys, queue i is bound to key i (the multi-queue layout of the
 * original registry, one queue per trigger); otherwise every queue gets every key.
 */
export function planTopology(registry: TopologyRegistry, opts: ResolvedTopologyOptions): TopologyPlan {
  const infrastructure = planExchanges(opts);
  const plans: TopologyPlan[] = [infrastructure];
  // Every queue name of the plan, service queues and the names derived from them alike, with
  // what declares it: two declarations of one name would share (or fight over) one queue.
  const owner = new Map<string, { what: string; role: PlannedQueue['role']; service?: string }>();
  for (const q of infrastructure.queues)
    owner.set(q.name, { what: `the ${q.role} queue of the topology`, role: q.role });
  for (const service of registry.services) {
    if (service.status !== undefined && opts.skipStatuses.includes(service.status)) continue;
    const { queues, routingKeys } = service;
    const paired = queues.length > 1 && queues.length === routingKeys.length;
    queues.forEach((queue, i) => {
      const keys = paired ? [routingKeys[i]!] : routingKeys;
      const settings: QueueSettings = {};
      if (service.queue?.messageTtlMs !== undefined) settings.messageTtlMs = service.queue.messageTtlMs;
      if (service.queue?.queueType !== undefined) settings.queueType = service.queue.queueType;
      const plan = planQueue(queue, keys, opts, settings);
      for (const q of plan.queues) {
        const what = q.role === 'service' ? `queue '${q.name}'` : `${q.role} queue '${q.name}' of '${queue}'`;
        const previous = owner.get(q.name);
        if (previous !== undefined) {
          throw new AppError(
            'REGISTRY_INVALID',
            q.role === 'service' && previous.role === 'service'
              ? `services.${service.id}: queue '${q.name}' is declared by '${previous.service}' and '${service.id}'`
              : `services.${service.id}: its ${what} is also ${previous.what}`,
          );
        }
        const bytes = Buffer.byteLength(q.name, 'utf8');
        if (bytes > MAX_QUEUE_NAME_BYTES) {
          throw new AppError(
            'REGISTRY_INVALID',
            `services.${service.id}: its ${what} is ${bytes} bytes long; AMQP allows at most ${MAX_QUEUE_NAME_BYTES}`,
          );
        }
        owner.set(q.name, {
          what: `the ${what} of service '${service.id}'`,
          role: q.role,
          service: service.id,
        });
      }
      plans.push(plan);
    });
  }
  return mergePlans(plans);
}

/** AMQP's limit on a queue name (a short string), in bytes. */
export const MAX_QUEUE_NAME_BYTES = 255;

export function mergePlans(plans: readonly TopologyPlan[]): TopologyPlan {
  return {
    exchanges: plans.flatMap((p) => p.exchanges),
    queues: plans.flatMap((p) => p.queues),
    bindings: plans.flatMap((p) => p.bindings),
  };
}

function unique<T>(items: readonly T[]): T[] {
  return [...new Set(items)];
}
