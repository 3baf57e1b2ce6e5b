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
import { Deque } from './deque.js';
import { ExchangeRouter } from './router.js';

/** One copy of a message in one queue. Body and properties are shared, never mutated. */
export interface StoredMessage {
  readonly body: Buffer;
  readonly exchange: string;
  readonly routingKey: string;
  readonly properties: MessageProperties;
  redelivered: boolean;
  /** Epoch milliseconds after which the message is dead ('expired'), or undefined. */
  readonly expiresAt: number | undefined;
}

/** A consumer as the broker sees it: a credit window and a way to hand a message over. */
export interface ConsumerSlot {
  readonly tag: string;
  readonly prefetch: number;
  unacked: number;
  active: boolean;
  /** Called from the broker's dispatch turn, never from inside `publish`. */
  deliver(queue: EmbeddedQueue, message: StoredMessage): void;
}

export type DeathReason = 'rejected' | 'expired' | 'maxlen';

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

export class EmbeddedQueue {
  readonly name: string;
  readonly options: QueueOptions;
  readonly messages = new Deque<StoredMessage>();
  /** Body bytes of the ready messages; kept with `messages` by the broker. */
  bytes = 0;
  readonly consumers: ConsumerSlot[] = [];
  /** Identity of the transport that owns an exclusive queue. */
  readonly owner: object | undefined;
  deleted = false;
  hadConsumer = false;
  nextConsumer = 0;
  pumpScheduled = false;
  expiryTimer: NodeJS.Timeout | undefined;
  expiryAt = Number.POSITIVE_INFINITY;

  constructor(name: string, options: QueueOptions, owner: object | undefined) {
    this.name = name;
    this.options = options;
    this.owner = owner;
  }
}

/** Deliveries handed out in one dispatch turn before yielding to I/O. */
const DISPATCH_BATCH = 512;

/**
 * The broker's safety bound on every queue, whatever its own `maxLength` says: the most
 * ready messages, and the most body bytes, one queue holds before publishes to it are refused.
 */
export interface EmbeddedBrokerLimits {
  maxQueueMessages: number;
  maxQueueBytes: number;
}

export const DEFAULT_EMBEDDED_LIMITS: Readonly<EmbeddedBrokerLimits> = Object.freeze({
  maxQueueMessages: 1_000_000,
  maxQueueBytes: 256 * 1024 * 1024,
});

function checkLimits(limits: Partial<EmbeddedBrokerLimits>): EmbeddedBrokerLimits {
  const out = { ...DEFAULT_EMBEDDED_LIMITS, ...limits };
  for (const [k, v] of Object.entries(out)) {
    if (!Number.isSafeInteger(v) || v < 1) {
      throw new AppError('CONFIG_INVALID', `${k} must be a whole number >= 1, got ${v}`);
    }
  }
  return out;
}

function normaliseQueueOptions(o: QueueOptions): QueueOptions {
  const out: QueueOptions = {
    durable: o.durable ?? true,
    queueType: o.queueType ?? 'classic',
    autoDelete: o.autoDelete ?? false,
    exclusive: o.exclusive ?? false,
  };
  if (o.messageTtlMs !== undefined) out.messageTtlMs = o.messageTtlMs;
  if (o.deadLetterExchange !== undefined) out.deadLetterExchange = o.deadLetterExchange;
  if (o.deadLetterRoutingKey !== undefined) out.deadLetterRoutingKey = o.deadLetterRoutingKey;
  if (o.maxLength !== undefined) out.maxLength = o.maxLength;
  return out;
}

function sameQueueOptions(a: QueueOptions, b: QueueOptions): string | null {
  const keys: (keyof QueueOptions)[] = [
    'durable',
    'queueType',
    'autoDelete',
    'exclusive',
    'messageTtlMs',
    'deadLetterExchange',
    'deadLetterRoutingKey',
    'maxLength',
  ];
  for (const k of keys) {
    if (a[k] !== b[k]) return `${k} is ${String(a[k])}, the declaration asks for ${String(b[k])}`;
  }
  return null;
}

/**
 * An in-process message broker with RabbitMQ's semantics for everything the
 * `Transport` contract covers: topic/direct/fanout exchanges, the default exchange,
 * alternate exchanges, one copy per queue, competing consumers served round robin,
 * per-consumer prefetch, ack/nack/requeue (requeue goes back to the head, marked
 * redelivered), per-queue and per-message TTL, dead-lettering with `x-death`,
 * `max-length` (drop-head) and exclusive/auto-delete queues.
 *
 * Memory is bounded: beyond `limits` (ready messages and body bytes per queue) a publish
 * that would route to a full queue is refused whole with `PUBLISH_NACKED`, so a store
 * that falls behind slows its publishers instead of growing the process until it dies.
 * Requeues and dead letters are never refused: they move a message the broker already
 * holds, and refusing them would lose it.
 *
 * What it does not do: nothing survives the process (durable only means "lives
 * as long as the broker object"); no `headers` exchanges, exchange-to-exchange
 * bindings, priorities or streams; like RabbitMQ, a per-message TTL is only
 * enforced when the message reaches the head of its queue.
 *
 * Several transports share one broker (see `sharedEmbeddedBroker`), so every part of
 * the all-in-one process sees the same queues.
 */
export class EmbeddedBroker {
  readonly #exchanges = new Map<string, ExchangeRecord>();
  readonly #queues = new Map<string, EmbeddedQueue>();
  readonly limits: Readonly<EmbeddedBrokerLimits>;

  constructor(limits: Partial<EmbeddedBrokerLimits> = {}) {
    this.limits = Object.freeze(checkLimits(limits));
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
  }

  deleteExchange(name: string): void {
    if (name === '') return;
    this.#exchanges.delete(name);
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
    const q = new EmbeddedQueue(name, wanted, wanted.exclusive ? owner : undefined);
    this.#queues.set(name, q);
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
    this.requireQueue(queue);
    this.#requireBindableExchange(exchange).router.bind(queue, pattern);
  }

  unbindQueue(queue: string, exchange: string, pattern: string): void {
    this.#exchanges.get(exchange)?.router.unbind(queue, pattern);
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
    q.messages.clear();
    q.bytes = 0;
    for (const c of q.consumers) c.active = false;
    q.consumers.length = 0;
    this.#clearExpiry(q);
  }

  purgeQueue(name: string): number {
    const q = this.requireQueue(name);
    const n = q.messages.length;
    q.messages.clear();
    q.bytes = 0;
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
   * Routes and enqueues synchronously; consumers are served on a later turn.
   * Returns the number of queues that took a copy. Refused whole (no queue takes it)
   * with `PUBLISH_NACKED` when one of them is at the broker's limits.
   */
  publish(message: OutgoingMessage): number {
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
      return 0;
    }
    for (const q of targets) this.#checkRoom(q, message.body.length);
    // The caller may reuse its buffer once publish returned; RabbitMQ would have copied it too.
    const body = Buffer.from(message.body);
    // Headers are copied for the same reason; values are JSON-like, one level is what callers touch.
    const given = message.properties ?? {};
    const properties = given.headers ? { ...given, headers: { ...given.headers } } : given;
    for (const q of targets) this.#enqueue(q, body, exchange, message.routingKey, properties);
    return targets.length;
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

  #push(q: EmbeddedQueue, m: StoredMessage, atHead = false): void {
    if (atHead) q.messages.unshift(m);
    else q.messages.push(m);
    q.bytes += m.body.length;
  }

  #shift(q: EmbeddedQueue): StoredMessage | undefined {
    const m = q.messages.shift();
    if (m) q.bytes -= m.body.length;
    return m;
  }

  #enqueue(
    q: EmbeddedQueue,
    body: Buffer,
    exchange: string,
    routingKey: string,
    properties: MessageProperties,
  ): void {
    let expiresAt: number | undefined;
    const ttls: number[] = [];
    if (q.options.messageTtlMs !== undefined) ttls.push(q.options.messageTtlMs);
    if (properties.expiration !== undefined) {
      const n = Number(properties.expiration);
      if (Number.isFinite(n) && n >= 0) ttls.push(n);
    }
    if (ttls.length > 0) expiresAt = Date.now() + Math.min(...ttls);
    this.#push(q, { body, exchange, routingKey, properties, redelivered: false, expiresAt });
    const max = q.options.maxLength;
    if (max !== undefined) {
      while (q.messages.length > max) {
        const dropped = this.#shift(q);
        if (dropped) this.deadLetter(q, dropped, 'maxlen');
      }
    }
    this.schedule(q);
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
      slot.deliver(q, m);
    }
    this.#armExpiry(q);
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
    for (const target of targets) this.#enqueue(target, m.body, dlx, routingKey, properties);
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

export interface DeathRecord {
  count: number;
  reason: DeathReason;
  queue: string;
  /** Seconds since the epoch (AMQP timestamp). */
  time: number;
  exchange: string;
  'routing-keys': string[];
}

/** RabbitMQ keeps one entry per (queue, reason), most recent first, with a running count. */
function addDeath(existing: unknown, death: DeathRecord): DeathRecord[] {
  const list = Array.isArray(existing) ? [...(existing as DeathRecord[])] : [];
  const i = list.findIndex((d) => d && d.queue === death.queue && d.reason === death.reason);
  if (i >= 0) {
    const prev = list[i]!;
    list.splice(i, 1);
    list.unshift({ ...prev, count: (Number(prev.count) || 0) + 1, time: death.time });
  } else {
    list.unshift(death);
  }
  return list;
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
