import { AppError } from '@33god/core';
import { embeddedLimitsFromEnv } from '../config.js';
import type {
  BindingInfo,
  ExchangeOptions,
  ExchangeType,
  MessageProperties,
  OutgoingMessage,
  QueueInfo,
  QueueOptions,
} from '../transport.js';
import { addDeath, closesCycle, type DeathReason } from './dead-letter.js';
import { Dispatcher } from './dispatch.js';
import { ExpiryTimers } from './expiry.js';
import type { BrokerJournal, JournalContents } from './journal.js';
import { checkLimits, type EmbeddedBrokerLimits } from './limits.js';
import { MemoryBudget } from './memory-budget.js';
import type { ConsumerSlot, EmbeddedQueue, StoredMessage } from './queue.js';
import { Topology } from './topology.js';

export type { DeathReason, DeathRecord } from './dead-letter.js';
export type { EmbeddedBrokerLimits } from './limits.js';
export { DEFAULT_EMBEDDED_LIMITS } from './limits.js';
export type { ConsumerSlot, StoredMessage } from './queue.js';
export { EmbeddedQueue } from './queue.js';

export interface EmbeddedBrokerOptions extends Partial<EmbeddedBrokerLimits> {
  /**
   * Makes the broker durable: durable exchanges, queues and bindings, and the persistent
   * messages of durable queues, are written to it, and a publish is confirmed only once its
   * copies are on disk. See `openEmbeddedBroker`, which reads a journal back at start.
   */
  journal?: BrokerJournal;
}

export interface EmbeddedBrokerStats {
  exchanges: number;
  queues: number;
  consumers: number;
  /** Ready messages in all queues. */
  messages: number;
  /** Body bytes of the ready messages in all queues. */
  bytes: number;
  /** Allocated queue slots (bounded: shrinks when queues drain). */
  queueSlots: number;
  /** Cached routing decisions (bounded per exchange). */
  routeCacheEntries: number;
}

/**
 * An in-process message broker with RabbitMQ's semantics for everything the
 * `Transport` contract covers: topic/direct/fanout exchanges, the default exchange,
 * alternate exchanges, one copy per queue, competing consumers served round robin,
 * per-consumer prefetch, ack/nack/requeue (requeue goes back to the head, marked
 * redelivered), per-queue and per-message TTL, dead-lettering with `x-death`,
 * `max-length` (drop-head) and exclusive/auto-delete queues.
 *
 * Memory is bounded: beyond `limits` (ready messages and body bytes per queue, and in all
 * queues together) a publish that would route to a full queue, or add to a full broker, is
 * refused whole with `PUBLISH_NACKED`, so a store
 * that falls behind slows its publishers instead of growing the process until it dies.
 * Requeues and dead letters are never refused: they move a message the broker already
 * holds, and refusing them would lose it.
 *
 * With a `journal` (see `openEmbeddedBroker`) it is durable, as RabbitMQ is: durable
 * exchanges, queues and bindings and the persistent messages of durable queues survive a
 * crash, a publish is confirmed once its copies are on disk, and a copy is handed to a
 * consumer once its delivery mark is, so a crash redelivers it marked `redelivered`. Without
 * one nothing survives the process. Not supported: `headers` exchanges, exchange-to-exchange
 * bindings, priorities, streams; like RabbitMQ, a per-message TTL is only enforced when the
 * message reaches the head of its queue.
 *
 * Several transports share one broker (see `sharedEmbeddedBroker`), so every part of
 * the all-in-one process sees the same queues.
 */
export class EmbeddedBroker {
  readonly limits: Readonly<EmbeddedBrokerLimits>;
  readonly journal: BrokerJournal | undefined;
  readonly #topology: Topology;
  readonly #budget: MemoryBudget;
  readonly #expiry: ExpiryTimers;
  readonly #dispatcher: Dispatcher;
  #nextSeq = 1;

  constructor(options: EmbeddedBrokerOptions = {}) {
    const { journal, ...limits } = options;
    this.limits = Object.freeze(checkLimits(limits));
    this.journal = journal;
    this.#topology = new Topology(journal);
    this.#budget = new MemoryBudget(this.limits);
    this.#expiry = new ExpiryTimers(this.#budget, this);
    this.#dispatcher = new Dispatcher(this.#budget, this.#expiry, this);
  }

  get durable(): boolean {
    return this.journal !== undefined;
  }

  /** Closes the journal once everything written so far is on disk (transports close first). */
  async close(): Promise<void> {
    await this.journal?.close();
  }

  /**
   * Rebuilds what a journal holds (before anything else touches the broker): durable
   * exchanges, queues and bindings, then every queue's messages in order, those handed out
   * before marked redelivered. Expired ones are dead-lettered as the queues are armed.
   */
  restore(contents: JournalContents): void {
    const journal = this.journal;
    if (!journal) throw new AppError('TOPOLOGY_CONFLICT', 'only a durable broker restores a journal');
    this.#topology.restore(contents);
    for (const q of this.#topology.queues()) {
      for (const m of contents.messagesOf(q.name)) {
        if (m.seq >= this.#nextSeq) this.#nextSeq = m.seq + 1;
        this.#budget.push(q, {
          seq: m.seq,
          body: m.body,
          exchange: m.exchange,
          routingKey: m.routingKey,
          properties: m.properties,
          redelivered: m.delivered,
          expiresAt: m.expiresAt,
          journaled: true,
        });
      }
      this.#dispatcher.schedule(q);
    }
  }

  // --- topology (see `Topology`) ---

  assertExchange(name: string, type: ExchangeType, options: ExchangeOptions = {}): void {
    this.#topology.assertExchange(name, type, options);
  }

  deleteExchange(name: string): void {
    this.#topology.deleteExchange(name);
  }

  hasExchange(name: string): boolean {
    return this.#topology.hasExchange(name);
  }

  assertQueue(name: string, options: QueueOptions = {}, owner?: object): QueueInfo {
    return this.#topology.assertQueue(name, options, owner);
  }

  queue(name: string): EmbeddedQueue | undefined {
    return this.#topology.queue(name);
  }

  requireQueue(name: string): EmbeddedQueue {
    return this.#topology.requireQueue(name);
  }

  checkQueue(name: string): QueueInfo | null {
    return this.#topology.checkQueue(name);
  }

  bindQueue(queue: string, exchange: string, pattern: string): void {
    this.#topology.bindQueue(queue, exchange, pattern);
  }

  unbindQueue(queue: string, exchange: string, pattern: string): void {
    this.#topology.unbindQueue(queue, exchange, pattern);
  }

  listBindings(queue: string): BindingInfo[] {
    return this.#topology.listBindings(queue);
  }

  deleteQueue(name: string): void {
    const q = this.#topology.queue(name);
    if (!q) return;
    q.deleted = true;
    this.#topology.removeQueue(q);
    this.#budget.clearReady(q);
    for (const c of q.consumers) c.active = false;
    q.consumers.length = 0;
    this.#expiry.clear(q);
  }

  purgeQueue(name: string): number {
    const q = this.requireQueue(name);
    const n = q.messages.length;
    // Delivered, unacked copies stay (as on RabbitMQ) and are forgotten when settled.
    for (let i = 0; i < n; i++) this.#forget(q, q.messages.at(i)!);
    this.#budget.clearReady(q);
    this.#expiry.clear(q);
    return n;
  }

  /** Deletes the exclusive queues of a connection that went away. */
  releaseOwner(owner: object): void {
    for (const q of [...this.#topology.queues()]) if (q.owner === owner) this.deleteQueue(q.name);
  }

  /** Counts for health pages and for tests that check nothing grows without bound. */
  stats(): EmbeddedBrokerStats {
    let messages = 0;
    let bytes = 0;
    let slots = 0;
    let consumers = 0;
    for (const q of this.#topology.queues()) {
      messages += q.messages.length;
      bytes += q.bytes;
      slots += q.messages.capacity;
      consumers += q.consumers.length;
    }
    return {
      exchanges: this.#topology.exchangeCount,
      queues: this.#topology.queueCount,
      consumers,
      messages,
      bytes,
      queueSlots: slots,
      routeCacheEntries: this.#topology.routeCacheEntries(),
    };
  }

  // --- publishing ---

  /**
   * Routes and enqueues synchronously; consumers are served on a later turn. Refused whole
   * (no queue takes it) with `PUBLISH_NACKED` when one of them is at the broker's limits.
   * Returns, on a durable broker, the promise that every journaled copy is on disk (the
   * publish is confirmed when it resolves), else undefined: confirmed at once.
   */
  publish(message: OutgoingMessage): Promise<void> | undefined {
    const exchange = message.exchange;
    if (exchange !== '') this.#topology.checkPublishable(exchange);
    const targets = this.#topology.route(exchange, message.routingKey);
    if (targets.length === 0) {
      if (message.mandatory ?? true) {
        throw new AppError(
          'PUBLISH_UNROUTABLE',
          `no queue is bound to exchange '${exchange}' for routing key '${message.routingKey}'`,
        );
      }
      return undefined;
    }
    this.#budget.checkPublish(targets, message.body.length);
    // The caller may reuse its buffer once publish returned; RabbitMQ would have copied it too.
    const body = Buffer.from(message.body);
    // Headers are copied for the same reason; values are JSON-like, one level is what callers touch.
    const given = message.properties ?? {};
    const properties = given.headers ? { ...given, headers: { ...given.headers } } : given;
    const seq = this.#nextSeq++;
    let written: Promise<void>[] | undefined;
    for (const q of targets) {
      const w = this.#enqueue(q, seq, body, exchange, message.routingKey, properties);
      if (!w) continue;
      written ??= [];
      written.push(w);
    }
    if (!written) return undefined;
    return written.length === 1 ? written[0] : Promise.all(written).then(() => undefined);
  }

  /** Returns the journal write of the copy, when it is journaled. */
  #enqueue(
    q: EmbeddedQueue,
    seq: number,
    body: Buffer,
    exchange: string,
    routingKey: string,
    properties: MessageProperties,
  ): Promise<void> | undefined {
    let expiresAt: number | undefined;
    const ttls: number[] = [];
    if (q.options.messageTtlMs !== undefined) ttls.push(q.options.messageTtlMs);
    if (properties.expiration !== undefined) {
      const n = Number(properties.expiration);
      if (Number.isFinite(n) && n >= 0) ttls.push(n);
    }
    if (ttls.length > 0) expiresAt = Date.now() + Math.min(...ttls);
    const journaled = q.journaled && properties.persistent === true;
    const m: StoredMessage = {
      seq,
      body,
      exchange,
      routingKey,
      properties,
      redelivered: false,
      expiresAt,
      journaled,
    };
    // Written before any dead-lettering below, so a crash never keeps the drop without the copy.
    const written = journaled ? this.journal?.putMessage(q.name, m) : undefined;
    this.#budget.push(q, m);
    const max = q.options.maxLength;
    if (max !== undefined) {
      while (q.messages.length > max) {
        const dropped = this.#budget.shift(q);
        if (dropped) this.deadLetter(q, dropped, 'maxlen');
      }
    }
    this.#dispatcher.schedule(q);
    return written;
  }

  /** The copy left its queue for good: the journal forgets it. */
  #forget(q: EmbeddedQueue, m: StoredMessage): void {
    if (m.journaled && q.journaled) this.journal?.removeMessage(q.name, m.seq);
  }

  // --- consuming ---

  addConsumer(q: EmbeddedQueue, slot: ConsumerSlot): void {
    if (q.deleted) throw new AppError('QUEUE_NOT_FOUND', `queue '${q.name}' does not exist`);
    q.consumers.push(slot);
    q.hadConsumer = true;
    this.#dispatcher.schedule(q);
  }

  removeConsumer(q: EmbeddedQueue, slot: ConsumerSlot): void {
    slot.active = false;
    const i = q.consumers.indexOf(slot);
    if (i >= 0) q.consumers.splice(i, 1);
    if (q.consumers.length === 0 && q.options.autoDelete && q.hadConsumer && !q.deleted) {
      this.deleteQueue(q.name);
    }
  }

  /** basic.get: the first live message, or undefined. */
  take(q: EmbeddedQueue): StoredMessage | undefined {
    const now = Date.now();
    for (;;) {
      const m = this.#budget.shift(q);
      if (!m) return undefined;
      if (m.expiresAt !== undefined && now > m.expiresAt) {
        this.deadLetter(q, m, 'expired');
        continue;
      }
      this.#expiry.arm(q);
      return m;
    }
  }

  /** The first `limit` live messages, left in place. */
  peek(q: EmbeddedQueue, limit: number): StoredMessage[] {
    const out: StoredMessage[] = [];
    this.browse(q, limit, (m) => {
      out.push(m);
      return true;
    });
    return out;
  }

  /**
   * Hands the first `max` live messages to `visit` in order, left in place, until it returns
   * false; returns how many it handed.
   */
  browse(q: EmbeddedQueue, max: number, visit: (m: StoredMessage) => boolean): number {
    const now = Date.now();
    let read = 0;
    for (let i = 0; i < q.messages.length && read < max; i++) {
      const m = q.messages.at(i);
      if (!m || (m.expiresAt !== undefined && now > m.expiresAt)) continue;
      // RabbitMQ delivers and requeues to peek, so the message counts as delivered once.
      if (!m.redelivered) void this.markDelivered(q, m)?.catch(() => {});
      m.redelivered = true;
      read++;
      if (!visit(m)) break;
    }
    return read;
  }

  /** Settles a delivery. `slot` is null for messages taken with `get`. */
  settle(
    q: EmbeddedQueue,
    slot: ConsumerSlot | null,
    m: StoredMessage,
    outcome: 'ack' | 'requeue' | 'reject',
  ): void {
    if (slot) slot.unacked--;
    if (outcome === 'requeue') {
      if (!q.deleted) {
        m.redelivered = true;
        this.#budget.push(q, m, true);
        this.#expiry.arm(q);
      }
    } else if (outcome === 'reject') {
      this.deadLetter(q, m, 'rejected');
    } else {
      this.#forget(q, m);
    }
    this.#dispatcher.schedule(q);
  }

  /** Serves `q`'s consumers on a later turn (see `Dispatcher`). */
  schedule(q: EmbeddedQueue): void {
    this.#dispatcher.schedule(q);
  }

  /**
   * Writes the delivery mark of a journaled copy; the promise resolves once it is on disk.
   * Undefined when there is nothing to write.
   */
  markDelivered(q: EmbeddedQueue, m: StoredMessage): Promise<void> | undefined {
    if (!m.journaled || !q.journaled) return undefined;
    return this.journal?.markDelivered(q.name, m.seq);
  }

  // --- dead letters ---

  /**
   * Republishes a dead message to the queue's dead-letter exchange with RabbitMQ's
   * `x-death` bookkeeping, or drops it when the queue has none (as RabbitMQ does).
   */
  deadLetter(q: EmbeddedQueue, m: StoredMessage, reason: DeathReason): void {
    this.#deadLetterCopies(q, m, reason);
    // After the copies were written: a crash between the two keeps both, never neither.
    this.#forget(q, m);
  }

  #deadLetterCopies(q: EmbeddedQueue, m: StoredMessage, reason: DeathReason): void {
    const dlx = q.options.deadLetterExchange;
    if (dlx === undefined) return;
    const routingKey = q.options.deadLetterRoutingKey ?? m.routingKey;
    const routed = this.#topology.route(dlx, routingKey);
    if (routed.length === 0) return;
    const headers: Record<string, unknown> = { ...(m.properties.headers ?? {}) };
    const deaths = addDeath(headers['x-death'], {
      count: 1,
      reason,
      queue: q.name,
      time: Math.floor(Date.now() / 1000),
      exchange: m.exchange,
      'routing-keys': [m.routingKey],
    });
    headers['x-death'] = deaths;
    // As RabbitMQ: no copy into a queue that would close a cycle without a rejection in it.
    const targets = routed.filter((t) => !closesCycle(t.name, deaths));
    if (targets.length === 0) return;
    if (headers['x-first-death-reason'] === undefined) {
      headers['x-first-death-reason'] = reason;
      headers['x-first-death-queue'] = q.name;
      headers['x-first-death-exchange'] = m.exchange;
    }
    // RabbitMQ drops the per-message TTL when dead-lettering so the copy does not expire again at once.
    const { expiration: _dropped, ...rest } = m.properties;
    const properties: MessageProperties = { ...rest, headers };
    const seq = this.#nextSeq++;
    for (const target of targets)
      void this.#enqueue(target, seq, m.body, dlx, routingKey, properties)?.catch(() => {});
  }
}

let shared: EmbeddedBroker | undefined;

/**
 * The process-wide broker: every embedded transport without an explicit broker uses it.
 * Its limits come from the environment (`embeddedLimitsFromEnv`).
 */
export function sharedEmbeddedBroker(): EmbeddedBroker {
  shared ??= new EmbeddedBroker(embeddedLimitsFromEnv());
  return shared;
}
