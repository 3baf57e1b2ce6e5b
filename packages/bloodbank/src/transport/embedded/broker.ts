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
import { addDeath, type DeathReason } from './dead-letter.js';
import type { BrokerJournal, JournalContents } from './journal.js';
import { checkLimits, type EmbeddedBrokerLimits } from './limits.js';
import {
  type ConsumerSlot,
  EmbeddedQueue,
  normaliseQueueOptions,
  type StoredMessage,
  sameQueueOptions,
} from './queue.js';
import { ExchangeRouter } from './router.js';

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

interface ExchangeRecord {
  readonly name: string;
  readonly type: ExchangeType;
  readonly options: Required<Pick<ExchangeOptions, 'durable' | 'internal'>> & ExchangeOptions;
  readonly router: ExchangeRouter;
}

/** Deliveries handed out in one dispatch turn before yielding to I/O. */
const DISPATCH_BATCH = 512;

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
  readonly #exchanges = new Map<string, ExchangeRecord>();
  readonly #queues = new Map<string, EmbeddedQueue>();
  readonly limits: Readonly<EmbeddedBrokerLimits>;
  readonly journal: BrokerJournal | undefined;
  #nextSeq = 1;
  /** Ready messages and their body bytes in all queues (the total limits). */
  #totalMessages = 0;
  #totalBytes = 0;

  constructor(options: EmbeddedBrokerOptions = {}) {
    const { journal, ...limits } = options;
    this.limits = Object.freeze(checkLimits(limits));
    this.journal = journal;
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
    for (const e of contents.exchanges) {
      this.#exchanges.set(e.name, {
        name: e.name,
        type: e.type,
        options: { durable: true, internal: e.internal, alternateExchange: e.alternateExchange },
        router: new ExchangeRouter(e.type),
      });
    }
    for (const { name, options } of contents.queues) {
      this.#queues.set(name, new EmbeddedQueue(name, normaliseQueueOptions(options), undefined, true));
    }
    for (const b of contents.bindings) {
      if (this.#queues.has(b.queue)) this.#exchanges.get(b.exchange)?.router.bind(b.queue, b.pattern);
    }
    for (const q of this.#queues.values()) {
      for (const m of contents.messagesOf(q.name)) {
        if (m.seq >= this.#nextSeq) this.#nextSeq = m.seq + 1;
        this.#push(q, {
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
      this.schedule(q);
    }
  }

  // --- topology ---

  assertExchange(name: string, type: ExchangeType, options: ExchangeOptions = {}): void {
    if (name === '' || name.startsWith('amq.')) {
      throw new AppError('TOPOLOGY_CONFLICT', `exchange name '${name}' is reserved`);
    }
    if (type === 'headers') {
      throw new AppError('TOPOLOGY_CONFLICT', 'the embedded broker has no headers exchanges');
    }
    const wanted = {
      durable: options.durable ?? true,
      internal: options.internal ?? false,
      alternateExchange: options.alternateExchange,
    };
    const existing = this.#exchanges.get(name);
    if (existing) {
      if (
        existing.type !== type ||
        existing.options.durable !== wanted.durable ||
        existing.options.internal !== wanted.internal ||
        existing.options.alternateExchange !== wanted.alternateExchange
      ) {
        throw new AppError(
          'TOPOLOGY_CONFLICT',
          `exchange '${name}' exists as ${existing.type} with other options than declared (${type})`,
        );
      }
      return;
    }
    this.#exchanges.set(name, { name, type, options: wanted, router: new ExchangeRouter(type) });
    if (wanted.durable) {
      this.journal?.saveExchange({
        name,
        type,
        internal: wanted.internal,
        alternateExchange: wanted.alternateExchange,
      });
    }
  }

  deleteExchange(name: string): void {
    if (name === '') return;
    const ex = this.#exchanges.get(name);
    this.#exchanges.delete(name);
    if (ex?.options.durable) this.journal?.removeExchange(name);
  }

  hasExchange(name: string): boolean {
    return name === '' || this.#exchanges.has(name);
  }

  assertQueue(name: string, options: QueueOptions = {}, owner?: object): QueueInfo {
    if (name === '') throw new AppError('TOPOLOGY_CONFLICT', 'a queue needs a name');
    const wanted = normaliseQueueOptions(options);
    const existing = this.#queues.get(name);
    if (existing) {
      if (existing.owner !== undefined && existing.owner !== owner) {
        throw new AppError('TOPOLOGY_CONFLICT', `queue '${name}' is exclusive to another connection`);
      }
      const diff = sameQueueOptions(existing.options, wanted);
      if (diff)
        throw new AppError('TOPOLOGY_CONFLICT', `queue '${name}' exists with other arguments: ${diff}`);
      return this.#info(existing);
    }
    // A durable queue survives a restart; an exclusive one belongs to its connection, and an
    // auto-delete one to its consumers, which died with the process: back without them, it
    // would fill up unread until the broker refused every publish routed to it.
    const journaled =
      this.durable && wanted.durable === true && wanted.exclusive !== true && wanted.autoDelete !== true;
    const q = new EmbeddedQueue(name, wanted, wanted.exclusive ? owner : undefined, journaled);
    this.#queues.set(name, q);
    if (journaled) this.journal?.saveQueue(name, wanted);
    return this.#info(q);
  }

  queue(name: string): EmbeddedQueue | undefined {
    return this.#queues.get(name);
  }

  requireQueue(name: string): EmbeddedQueue {
    const q = this.#queues.get(name);
    if (!q) throw new AppError('QUEUE_NOT_FOUND', `queue '${name}' does not exist`);
    return q;
  }

  checkQueue(name: string): QueueInfo | null {
    const q = this.#queues.get(name);
    return q ? this.#info(q) : null;
  }

  bindQueue(queue: string, exchange: string, pattern: string): void {
    const q = this.requireQueue(queue);
    const ex = this.#requireBindableExchange(exchange);
    ex.router.bind(queue, pattern);
    if (q.journaled && ex.options.durable) this.journal?.saveBinding({ queue, exchange, pattern });
  }

  unbindQueue(queue: string, exchange: string, pattern: string): void {
    this.#exchanges.get(exchange)?.router.unbind(queue, pattern);
    if (this.#queues.get(queue)?.journaled) this.journal?.removeBinding({ queue, exchange, pattern });
  }

  listBindings(queue: string): BindingInfo[] {
    this.requireQueue(queue);
    const out: BindingInfo[] = [];
    for (const ex of this.#exchanges.values()) {
      for (const pattern of ex.router.patternsOf(queue)) out.push({ exchange: ex.name, queue, pattern });
    }
    return out.sort((a, b) => a.exchange.localeCompare(b.exchange) || a.pattern.localeCompare(b.pattern));
  }

  deleteQueue(name: string): void {
    const q = this.#queues.get(name);
    if (!q) return;
    q.deleted = true;
    this.#queues.delete(name);
    for (const ex of this.#exchanges.values()) ex.router.removeQueue(name);
    this.#clearReady(q);
    for (const c of q.consumers) c.active = false;
    q.consumers.length = 0;
    this.#clearExpiry(q);
    if (q.journaled) this.journal?.removeQueue(name);
  }

  purgeQueue(name: string): number {
    const q = this.requireQueue(name);
    const n = q.messages.length;
    // Delivered, unacked copies stay (as on RabbitMQ) and are forgotten when settled.
    for (let i = 0; i < n; i++) this.#forget(q, q.messages.at(i)!);
    this.#clearReady(q);
    this.#clearExpiry(q);
    return n;
  }

  /** Deletes the exclusive queues of a connection that went away. */
  releaseOwner(owner: object): void {
    for (const q of [...this.#queues.values()]) if (q.owner === owner) this.deleteQueue(q.name);
  }

  /** Counts for health pages and for tests that check nothing grows without bound. */
  stats(): EmbeddedBrokerStats {
    let messages = 0;
    let bytes = 0;
    let slots = 0;
    let consumers = 0;
    for (const q of this.#queues.values()) {
      messages += q.messages.length;
      bytes += q.bytes;
      slots += q.messages.capacity;
      consumers += q.consumers.length;
    }
    let routeCacheEntries = 0;
    for (const ex of this.#exchanges.values()) routeCacheEntries += ex.router.cachedKeys;
    return {
      exchanges: this.#exchanges.size,
      queues: this.#queues.size,
      consumers,
      messages,
      bytes,
      queueSlots: slots,
      routeCacheEntries,
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
    if (exchange !== '') {
      const ex = this.#exchanges.get(exchange);
      if (!ex) throw new AppError('EXCHANGE_NOT_FOUND', `exchange '${exchange}' does not exist`);
      if (ex.options.internal) {
        throw new AppError(
          'TOPOLOGY_CONFLICT',
          `exchange '${exchange}' is internal: it cannot be published to`,
        );
      }
    }
    const targets = this.#route(exchange, message.routingKey);
    if (targets.length === 0) {
      if (message.mandatory ?? true) {
        throw new AppError(
          'PUBLISH_UNROUTABLE',
          `no queue is bound to exchange '${exchange}' for routing key '${message.routingKey}'`,
        );
      }
      return undefined;
    }
    this.#checkTotal(targets.length, message.body.length);
    for (const q of targets) this.#checkRoom(q, message.body.length);
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

  #route(exchange: string, routingKey: string): EmbeddedQueue[] {
    if (exchange === '') {
      const q = this.#queues.get(routingKey);
      return q ? [q] : [];
    }
    const seen = new Set<string>();
    let name: string | undefined = exchange;
    while (name !== undefined && !seen.has(name)) {
      seen.add(name);
      const ex = this.#exchanges.get(name);
      if (!ex) return [];
      const names = ex.router.route(routingKey);
      if (names.length > 0) {
        const out: EmbeddedQueue[] = [];
        for (const n of names) {
          const q = this.#queues.get(n);
          if (q) out.push(q);
        }
        return out;
      }
      name = ex.options.alternateExchange;
    }
    return [];
  }

  /** Throws when taking one more message of `size` bytes would put `q` over the limits. */
  #checkRoom(q: EmbeddedQueue, size: number): void {
    const { maxQueueMessages, maxQueueBytes } = this.limits;
    // A drop-head `maxLength` makes room itself: count what the queue holds after it did.
    const max = q.options.maxLength;
    const dropped = max === undefined ? 0 : Math.max(0, q.messages.length + 1 - max);
    let freed = 0;
    for (let i = 0; i < dropped; i++) freed += q.messages.at(i)?.body.length ?? 0;
    const count = q.messages.length + 1 - dropped;
    if (count > maxQueueMessages) {
      throw queueFull(q, `it holds ${q.messages.length} messages, the limit is ${maxQueueMessages}`, {
        limit: 'messages',
        max: maxQueueMessages,
      });
    }
    if (q.bytes - freed + size > maxQueueBytes) {
      throw queueFull(
        q,
        `it holds ${q.bytes} bytes, this message has ${size}, the limit is ${maxQueueBytes} bytes`,
        { limit: 'bytes', max: maxQueueBytes },
      );
    }
  }

  /**
   * Throws when `copies` more messages of `size` bytes would put all queues together over the
   * limits. Counted before any drop-head `maxLength` makes room: the total bound is the
   * process's safety net, a little early is fine.
   */
  #checkTotal(copies: number, size: number): void {
    const { maxTotalMessages, maxTotalBytes } = this.limits;
    const why =
      this.#totalMessages + copies > maxTotalMessages
        ? `its queues hold ${this.#totalMessages} messages in all, the limit is ${maxTotalMessages}`
        : this.#totalBytes + copies * size > maxTotalBytes
          ? `its queues hold ${this.#totalBytes} bytes in all, this message adds ${copies * size}, the limit is ${maxTotalBytes} bytes`
          : undefined;
    if (why === undefined) return;
    throw new AppError('PUBLISH_NACKED', `the embedded broker is full: ${why}; it refused the publish`, {
      extra: { limit: 'total', messages: this.#totalMessages, bytes: this.#totalBytes },
    });
  }

  #push(q: EmbeddedQueue, m: StoredMessage, atHead = false): void {
    if (atHead) q.messages.unshift(m);
    else q.messages.push(m);
    q.bytes += m.body.length;
    this.#totalBytes += m.body.length;
    this.#totalMessages++;
  }

  #shift(q: EmbeddedQueue): StoredMessage | undefined {
    const m = q.messages.shift();
    if (m) {
      q.bytes -= m.body.length;
      this.#totalBytes -= m.body.length;
      this.#totalMessages--;
    }
    return m;
  }

  /** Empties `q`'s ready messages (delete, purge). */
  #clearReady(q: EmbeddedQueue): void {
    this.#totalBytes -= q.bytes;
    this.#totalMessages -= q.messages.length;
    q.messages.clear();
    q.bytes = 0;
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
    this.#push(q, m);
    const max = q.options.maxLength;
    if (max !== undefined) {
      while (q.messages.length > max) {
        const dropped = this.#shift(q);
        if (dropped) this.deadLetter(q, dropped, 'maxlen');
      }
    }
    this.schedule(q);
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
    this.schedule(q);
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
      const m = this.#shift(q);
      if (!m) return undefined;
      if (m.expiresAt !== undefined && now > m.expiresAt) {
        this.deadLetter(q, m, 'expired');
        continue;
      }
      this.#armExpiry(q);
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
        this.#push(q, m, true);
        this.#armExpiry(q);
      }
    } else if (outcome === 'reject') {
      this.deadLetter(q, m, 'rejected');
    } else {
      this.#forget(q, m);
    }
    this.schedule(q);
  }

  schedule(q: EmbeddedQueue): void {
    if (q.pumpScheduled || q.deleted) return;
    if (q.consumers.length === 0) {
      this.#armExpiry(q);
      return;
    }
    q.pumpScheduled = true;
    setImmediate(() => this.#pump(q));
  }

  #pump(q: EmbeddedQueue): void {
    q.pumpScheduled = false;
    if (q.deleted) return;
    const now = Date.now();
    let handed = 0;
    let batch: [ConsumerSlot, StoredMessage][] | undefined;
    let marked: Promise<void> | undefined;
    while (q.messages.length > 0) {
      if (handed >= DISPATCH_BATCH) {
        this.schedule(q);
        break;
      }
      const slot = this.#nextSlot(q);
      if (!slot) break;
      const m = this.#shift(q)!;
      if (m.expiresAt !== undefined && now > m.expiresAt) {
        this.deadLetter(q, m, 'expired');
        continue;
      }
      slot.unacked++;
      handed++;
      const mark = m.redelivered ? undefined : this.markDelivered(q, m);
      if (mark) marked = mark;
      if (!marked && !q.handover) slot.deliver(q, m);
      else {
        batch ??= [];
        batch.push([slot, m]);
      }
    }
    this.#armExpiry(q);
    if (batch) this.#handOverLater(q, batch, marked);
  }

  /**
   * A durable broker hands a copy over once its delivery mark is on disk (so a crash after the
   * hand-over brings it back marked redelivered), in order behind any batch still waiting.
   * A consumer that went away meanwhile gets nothing: its copies go back to the queue's head.
   */
  #handOverLater(
    q: EmbeddedQueue,
    batch: [ConsumerSlot, StoredMessage][],
    marked: Promise<void> | undefined,
  ): void {
    const before = q.handover;
    const after = Promise.all([before, marked?.catch(() => {})]).then(() => {
      if (q.handover === after) q.handover = undefined;
      const back: [ConsumerSlot, StoredMessage][] = [];
      for (const [slot, m] of batch) {
        if (slot.active && !q.deleted) slot.deliver(q, m);
        else back.push([slot, m]);
      }
      for (let i = back.length - 1; i >= 0; i--) {
        const [slot, m] = back[i]!;
        slot.unacked--;
        if (q.deleted) continue;
        this.#push(q, m, true);
      }
      if (back.length > 0) this.schedule(q);
    });
    q.handover = after;
  }

  /**
   * Writes the delivery mark of a journaled copy; the promise resolves once it is on disk.
   * Undefined when there is nothing to write.
   */
  markDelivered(q: EmbeddedQueue, m: StoredMessage): Promise<void> | undefined {
    if (!m.journaled || !q.journaled) return undefined;
    return this.journal?.markDelivered(q.name, m.seq);
  }

  #nextSlot(q: EmbeddedQueue): ConsumerSlot | undefined {
    const n = q.consumers.length;
    for (let i = 0; i < n; i++) {
      const idx = (q.nextConsumer + i) % n;
      const c = q.consumers[idx]!;
      if (c.active && c.unacked < c.prefetch) {
        q.nextConsumer = (idx + 1) % n;
        return c;
      }
    }
    return undefined;
  }

  // --- expiry and dead letters ---

  #armExpiry(q: EmbeddedQueue): void {
    const head = q.messages.peekFirst();
    const at = head?.expiresAt;
    if (at === undefined) {
      this.#clearExpiry(q);
      return;
    }
    if (q.expiryTimer && q.expiryAt <= at) return;
    this.#clearExpiry(q);
    q.expiryAt = at;
    q.expiryTimer = setTimeout(() => this.#expireHead(q), Math.max(0, at - Date.now() + 1));
    // A 24 h TTL must not keep an otherwise finished process alive.
    q.expiryTimer.unref();
  }

  #clearExpiry(q: EmbeddedQueue): void {
    if (q.expiryTimer) clearTimeout(q.expiryTimer);
    q.expiryTimer = undefined;
    q.expiryAt = Number.POSITIVE_INFINITY;
  }

  #expireHead(q: EmbeddedQueue): void {
    q.expiryTimer = undefined;
    q.expiryAt = Number.POSITIVE_INFINITY;
    if (q.deleted) return;
    const now = Date.now();
    for (;;) {
      const head = q.messages.peekFirst();
      if (!head || head.expiresAt === undefined || now <= head.expiresAt) break;
      this.#shift(q);
      this.deadLetter(q, head, 'expired');
    }
    this.#armExpiry(q);
  }

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
    const targets = this.#route(dlx, routingKey);
    if (targets.length === 0) return;
    const headers: Record<string, unknown> = { ...(m.properties.headers ?? {}) };
    headers['x-death'] = addDeath(headers['x-death'], {
      count: 1,
      reason,
      queue: q.name,
      time: Math.floor(Date.now() / 1000),
      exchange: m.exchange,
      'routing-keys': [m.routingKey],
    });
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

  #requireBindableExchange(name: string): ExchangeRecord {
    if (name === '') throw new AppError('TOPOLOGY_CONFLICT', 'the default exchange cannot be bound to');
    const ex = this.#exchanges.get(name);
    if (!ex) throw new AppError('EXCHANGE_NOT_FOUND', `exchange '${name}' does not exist`);
    return ex;
  }

  #info(q: EmbeddedQueue): QueueInfo {
    return { name: q.name, messageCount: q.messages.length, consumerCount: q.consumers.length };
  }
}

function queueFull(q: EmbeddedQueue, why: string, extra: Record<string, unknown>): AppError {
  return new AppError(
    'PUBLISH_NACKED',
    `queue '${q.name}' is full: ${why}; the embedded broker refused the publish (no queue took it)`,
    { extra: { queue: q.name, ...extra } },
  );
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
