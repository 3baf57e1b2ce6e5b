import { randomUUID } from 'node:crypto';
import { AppError, isAppError } from '@33god/core';
import { InFlight, StateListeners } from '../inflight.js';
import type {
  BindingInfo,
  ConsumeOptions,
  Consumer,
  Delivery,
  DeliveryHandler,
  ExchangeOptions,
  ExchangeType,
  MessageProperties,
  OutgoingMessage,
  QueueInfo,
  QueueOptions,
  Transport,
  TransportFeatures,
  TransportState,
} from '../transport.js';
import { DEFAULT_DRAIN_TIMEOUT_MS, DEFAULT_PREFETCH } from '../transport.js';
import {
  type ConsumerSlot,
  type EmbeddedBroker,
  type EmbeddedQueue,
  type StoredMessage,
  sharedEmbeddedBroker,
} from './broker.js';

export interface EmbeddedTransportOptions {
  /** The broker to connect to. Default: the process-wide `sharedEmbeddedBroker()`. */
  broker?: EmbeddedBroker;
}

export const EMBEDDED_FEATURES: TransportFeatures = Object.freeze({
  brokerRestart: false,
  durableAcrossProcessRestart: false,
  quorumQueues: false,
  listBindings: true,
  queueBound: true,
});

/** The features of a transport on a durable embedded broker (`openEmbeddedBroker`). */
export const DURABLE_EMBEDDED_FEATURES: TransportFeatures = Object.freeze({
  ...EMBEDDED_FEATURES,
  durableAcrossProcessRestart: true,
});

/** A transport connected to an in-process broker; see `EmbeddedBroker` for the semantics. */
export function createEmbeddedTransport(options: EmbeddedTransportOptions = {}): Transport {
  return new EmbeddedTransport(options.broker ?? sharedEmbeddedBroker());
}

class EmbeddedDelivery implements Delivery {
  readonly body: Buffer;
  readonly exchange: string;
  readonly routingKey: string;
  readonly properties: MessageProperties;
  readonly redelivered: boolean;
  readonly queue: string;
  settled = false;
  readonly #owner: EmbeddedTransport;
  readonly #q: EmbeddedQueue;
  readonly #slot: ConsumerSlot | null;
  readonly #message: StoredMessage;

  constructor(owner: EmbeddedTransport, q: EmbeddedQueue, slot: ConsumerSlot | null, m: StoredMessage) {
    this.body = m.body;
    this.exchange = m.exchange;
    this.routingKey = m.routingKey;
    this.properties = m.properties;
    this.redelivered = m.redelivered;
    this.queue = q.name;
    this.#owner = owner;
    this.#q = q;
    this.#slot = slot;
    this.#message = m;
  }

  ack(): void {
    this.settle('ack');
  }

  nack(options?: { requeue?: boolean }): void {
    this.settle(options?.requeue === false ? 'reject' : 'requeue');
  }

  /** Settling twice, or after the transport returned the message on close, is a no-op. */
  settle(outcome: 'ack' | 'requeue' | 'reject'): void {
    if (this.settled) return;
    this.settled = true;
    this.#owner.forget(this);
    this.#owner.broker.settle(this.#q, this.#slot, this.#message, outcome);
  }
}

/** A peeked message: a copy to read; settling it does nothing (it never left the queue). */
class PeekedDelivery implements Delivery {
  readonly body: Buffer;
  readonly exchange: string;
  readonly routingKey: string;
  readonly properties: MessageProperties;
  readonly redelivered = true;
  readonly queue: string;
  constructor(queue: string, m: StoredMessage) {
    this.body = m.body;
    this.exchange = m.exchange;
    this.routingKey = m.routingKey;
    this.properties = m.properties;
    this.queue = queue;
  }
  ack(): void {}
  nack(): void {}
}

interface ConsumerRecord extends Consumer {
  readonly q: EmbeddedQueue;
  readonly slot: ConsumerSlot;
  readonly inflight: InFlight;
}

class EmbeddedTransport implements Transport {
  readonly kind = 'embedded' as const;
  readonly features: TransportFeatures;
  readonly broker: EmbeddedBroker;
  #state: TransportState = 'connected';
  readonly #listeners = new StateListeners<TransportState>();
  readonly #consumers = new Set<ConsumerRecord>();
  readonly #open = new Set<EmbeddedDelivery>();
  /** Identity for exclusive queues. */
  readonly #identity = {};

  constructor(broker: EmbeddedBroker) {
    this.broker = broker;
    this.features = broker.durable ? DURABLE_EMBEDDED_FEATURES : EMBEDDED_FEATURES;
  }

  get state(): TransportState {
    return this.#state;
  }

  get journal(): { location: string; error: string | null } | undefined {
    const j = this.broker.journal;
    return j ? { location: j.location, error: j.failure?.message ?? null } : undefined;
  }

  onStateChange(listener: (state: TransportState, error?: Error) => void): () => void {
    return this.#listeners.add(listener);
  }

  async assertExchange(name: string, type: ExchangeType, options?: ExchangeOptions): Promise<void> {
    this.#live();
    this.broker.assertExchange(name, type, options);
  }

  async assertQueue(name: string, options?: QueueOptions): Promise<QueueInfo> {
    this.#live();
    return this.broker.assertQueue(name, options, this.#identity);
  }

  async bindQueue(queue: string, exchange: string, pattern: string): Promise<void> {
    this.#live();
    this.broker.bindQueue(queue, exchange, pattern);
  }

  async unbindQueue(queue: string, exchange: string, pattern: string): Promise<void> {
    this.#live();
    this.broker.unbindQueue(queue, exchange, pattern);
  }

  async checkQueue(name: string): Promise<QueueInfo | null> {
    this.#live();
    return this.broker.checkQueue(name);
  }

  async checkExchange(name: string): Promise<boolean> {
    this.#live();
    return this.broker.hasExchange(name);
  }

  async listBindings(queue: string): Promise<BindingInfo[]> {
    this.#live();
    return this.broker.listBindings(queue);
  }

  async deleteQueue(name: string): Promise<void> {
    this.#live();
    this.broker.deleteQueue(name);
  }

  async deleteExchange(name: string): Promise<void> {
    this.#live();
    this.broker.deleteExchange(name);
  }

  async purgeQueue(name: string): Promise<number> {
    this.#live();
    return this.broker.purgeQueue(name);
  }

  async publish(message: OutgoingMessage): Promise<void> {
    this.#live();
    // A durable broker confirms once the copies are on disk (group commit).
    const written = this.broker.publish(message);
    if (written) {
      await written.catch((err: Error) => {
        throw isAppError(err)
          ? err
          : new AppError(
              'PUBLISH_NACKED',
              `the embedded broker could not write its journal: ${err.message}`,
              {
                cause: err,
              },
            );
      });
    }
  }

  async consume(queue: string, handler: DeliveryHandler, options: ConsumeOptions = {}): Promise<Consumer> {
    this.#live();
    const q = this.broker.requireQueue(queue);
    const prefetch = options.prefetch ?? DEFAULT_PREFETCH;
    if (!Number.isInteger(prefetch) || prefetch < 1) {
      throw new AppError('CONFIG_INVALID', `prefetch must be a whole number >= 1, got ${prefetch}`);
    }
    const inflight = new InFlight();
    const slot: ConsumerSlot = {
      tag: options.consumerTag ?? `embedded-${randomUUID()}`,
      prefetch,
      unacked: 0,
      active: true,
      deliver: (from, m) => this.#dispatch(from, slot, m, handler, inflight),
    };
    let cancelled: Promise<void> | undefined;
    const record: ConsumerRecord = {
      queue,
      q,
      slot,
      inflight,
      cancel: () => {
        cancelled ??= (async () => {
          this.broker.removeConsumer(q, slot);
          this.#consumers.delete(record);
          await inflight.idle();
        })();
        return cancelled;
      },
    };
    this.broker.addConsumer(q, slot);
    this.#consumers.add(record);
    return record;
  }

  #dispatch(
    q: EmbeddedQueue,
    slot: ConsumerSlot,
    m: StoredMessage,
    handler: DeliveryHandler,
    inflight: InFlight,
  ): void {
    const d = new EmbeddedDelivery(this, q, slot, m);
    this.#open.add(d);
    inflight.enter();
    let result: void | Promise<void>;
    try {
      result = handler(d);
    } catch {
      settleFailed(d);
      inflight.leave();
      return;
    }
    if (result && typeof (result as Promise<void>).then === 'function') {
      (result as Promise<void>).then(
        () => inflight.leave(),
        () => {
          settleFailed(d);
          inflight.leave();
        },
      );
    } else {
      inflight.leave();
    }
  }

  async get(queue: string): Promise<Delivery | null> {
    this.#live();
    const q = this.broker.requireQueue(queue);
    const m = this.broker.take(q);
    if (!m) return null;
    await this.broker.markDelivered(q, m)?.catch(() => {});
    const d = new EmbeddedDelivery(this, q, null, m);
    this.#open.add(d);
    return d;
  }

  async peek(queue: string, limit: number): Promise<Delivery[]> {
    this.#live();
    const q = this.broker.requireQueue(queue);
    return this.broker.peek(q, limit).map((m) => new PeekedDelivery(queue, m));
  }

  async browse(queue: string, max: number, visit: (delivery: Delivery) => boolean): Promise<number> {
    this.#live();
    const q = this.broker.requireQueue(queue);
    return this.broker.browse(q, max, (m) => visit(new PeekedDelivery(queue, m)));
  }

  forget(d: EmbeddedDelivery): void {
    this.#open.delete(d);
  }

  async close(options: { drainTimeoutMs?: number } = {}): Promise<void> {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    const consumers = [...this.#consumers];
    for (const c of consumers) this.broker.removeConsumer(c.q, c.slot);
    const timeout = options.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS;
    await Promise.all(consumers.map((c) => c.inflight.idle(timeout)));
    this.#consumers.clear();
    // Like a closed AMQP channel: whatever is still unsettled goes back to its queue.
    for (const d of [...this.#open]) d.settle('requeue');
    this.#open.clear();
    this.broker.releaseOwner(this.#identity);
    this.#listeners.emit('closed');
  }

  #live(): void {
    if (this.#state === 'closed') throw new AppError('TRANSPORT_CLOSED', 'the embedded transport was closed');
  }
}

/**
 * A handler that threw without settling: the message goes back to its queue (nothing
 * accepted is lost). The SDK's retry middleware settles before this can happen.
 */
function settleFailed(d: EmbeddedDelivery): void {
  if (!d.settled) d.settle('requeue');
}
