import { AppError } from '@33god/core';
import type { BindingInfo, ExchangeOptions, ExchangeType, QueueInfo, QueueOptions } from '../transport.js';
import type { BrokerJournal, JournalContents } from './journal.js';
import { EmbeddedQueue, normaliseQueueOptions, sameQueueOptions } from './queue.js';
import { ExchangeRouter } from './router.js';

interface ExchangeRecord {
  readonly name: string;
  readonly type: ExchangeType;
  readonly options: Required<Pick<ExchangeOptions, 'durable' | 'internal'>> & ExchangeOptions;
  readonly router: ExchangeRouter;
}

/**
 * The broker's exchanges, queues and bindings, with their journal records on a durable
 * broker, and the routing of a key to the queues that get a copy. What a queue holds, and
 * what happens to it when it goes away, is the broker's.
 */
export class Topology {
  readonly #exchanges = new Map<string, ExchangeRecord>();
  readonly #queues = new Map<string, EmbeddedQueue>();
  readonly #journal: BrokerJournal | undefined;

  constructor(journal: BrokerJournal | undefined) {
    this.#journal = journal;
  }

  /** Rebuilds the durable exchanges, queues and bindings a journal holds (messages aside). */
  restore(contents: JournalContents): void {
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
  }

  // --- exchanges ---

  assertExchange(name: string, type: ExchangeType, options: ExchangeOptions): void {
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
      this.#journal?.saveExchange({
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
    if (ex?.options.durable) this.#journal?.removeExchange(name);
  }

  hasExchange(name: string): boolean {
    return name === '' || this.#exchanges.has(name);
  }

  /** Throws unless `name` (not the default exchange) exists and takes publishes. */
  checkPublishable(name: string): void {
    const ex = this.#exchanges.get(name);
    if (!ex) throw new AppError('EXCHANGE_NOT_FOUND', `exchange '${name}' does not exist`);
    if (ex.options.internal) {
      throw new AppError('TOPOLOGY_CONFLICT', `exchange '${name}' is internal: it cannot be published to`);
    }
  }

  get exchangeCount(): number {
    return this.#exchanges.size;
  }

  /** Cached routing decisions in all exchanges. */
  routeCacheEntries(): number {
    let n = 0;
    for (const ex of this.#exchanges.values()) n += ex.router.cachedKeys;
    return n;
  }

  // --- queues ---

  assertQueue(name: string, options: QueueOptions, owner: object | undefined): QueueInfo {
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
      return info(existing);
    }
    // A durable queue survives a restart; an exclusive one belongs to its connection, and an
    // auto-delete one to its consumers, which died with the process: back without them, it
    // would fill up unread until the broker refused every publish routed to it.
    const journaled =
      this.#journal !== undefined &&
      wanted.durable === true &&
      wanted.exclusive !== true &&
      wanted.autoDelete !== true;
    const q = new EmbeddedQueue(name, wanted, wanted.exclusive ? owner : undefined, journaled);
    this.#queues.set(name, q);
    if (journaled) this.#journal?.saveQueue(name, wanted);
    return info(q);
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
    return q ? info(q) : null;
  }

  queues(): IterableIterator<EmbeddedQueue> {
    return this.#queues.values();
  }

  get queueCount(): number {
    return this.#queues.size;
  }

  /** Forgets `q`, its bindings and its journal record; emptying it is the caller's. */
  removeQueue(q: EmbeddedQueue): void {
    this.#queues.delete(q.name);
    for (const ex of this.#exchanges.values()) ex.router.removeQueue(q.name);
    if (q.journaled) this.#journal?.removeQueue(q.name);
  }

  // --- bindings and routing ---

  bindQueue(queue: string, exchange: string, pattern: string): void {
    const q = this.requireQueue(queue);
    const ex = this.#requireBindableExchange(exchange);
    ex.router.bind(queue, pattern);
    if (q.journaled && ex.options.durable) this.#journal?.saveBinding({ queue, exchange, pattern });
  }

  unbindQueue(queue: string, exchange: string, pattern: string): void {
    this.#exchanges.get(exchange)?.router.unbind(queue, pattern);
    if (this.#queues.get(queue)?.journaled) this.#journal?.removeBinding({ queue, exchange, pattern });
  }

  listBindings(queue: string): BindingInfo[] {
    this.requireQueue(queue);
    const out: BindingInfo[] = [];
    for (const ex of this.#exchanges.values()) {
      for (const pattern of ex.router.patternsOf(queue)) out.push({ exchange: ex.name, queue, pattern });
    }
    return out.sort((a, b) => a.exchange.localeCompare(b.exchange) || a.pattern.localeCompare(b.pattern));
  }

  /** The queues that get a copy, following alternate exchanges while nothing is bound. */
  route(exchange: string, routingKey: string): EmbeddedQueue[] {
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

  #requireBindableExchange(name: string): ExchangeRecord {
    if (name === '') throw new AppError('TOPOLOGY_CONFLICT', 'the default exchange cannot be bound to');
    const ex = this.#exchanges.get(name);
    if (!ex) throw new AppError('EXCHANGE_NOT_FOUND', `exchange '${name}' does not exist`);
    return ex;
  }
}

function info(q: EmbeddedQueue): QueueInfo {
  return { name: q.name, messageCount: q.messages.length, consumerCount: q.consumers.length };
}
