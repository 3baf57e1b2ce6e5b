import type { EventEnvelope } from '@33god/core';
import { RequeueSignal } from '../middleware/errors.js';
import type { EventStream, Subscription } from './types.js';

interface Item {
  readonly event: EventEnvelope;
  ack(): void;
  requeue(): void;
}

type StreamHandler = (event: EventEnvelope) => Promise<void>;

/**
 * The async-iterable view of a subscription. Each delivery's handler call stays
 * pending until the loop moves past its event, so the consumer acks only then; the
 * subscription's prefetch is the stream's buffer.
 */
export class SubscriptionStream implements EventStream {
  readonly queue: string;
  readonly #start: (handler: StreamHandler) => Promise<Subscription>;
  readonly #buffer: Item[] = [];
  readonly #waiters: ((r: IteratorResult<EventEnvelope>) => void)[] = [];
  #current: Item | undefined;
  #subscription: Promise<Subscription> | undefined;
  #ended = false;

  constructor(queue: string, start: (handler: StreamHandler) => Promise<Subscription>) {
    this.queue = queue;
    this.#start = start;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** Starts consuming (declaring the queue and its bindings) without waiting for an event. */
  async ready(): Promise<void> {
    this.#subscription ??= this.#start((event) => this.#accept(event));
    try {
      await this.#subscription;
    } catch (err) {
      this.#ended = true;
      throw err;
    }
  }

  async next(): Promise<IteratorResult<EventEnvelope>> {
    this.#current?.ack();
    this.#current = undefined;
    if (this.#ended) return { value: undefined, done: true };
    await this.ready();
    const item = this.#buffer.shift();
    if (item) {
      this.#current = item;
      return { value: item.event, done: false };
    }
    if (this.#ended) return { value: undefined, done: true };
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  async return(): Promise<IteratorResult<EventEnvelope>> {
    await this.close();
    return { value: undefined, done: true };
  }

  /** Leaving the loop: the event in hand and the buffered ones go back to the queue. */
  async close(): Promise<void> {
    this.#current?.requeue();
    this.#current = undefined;
    await this.#stop();
  }

  /**
   * Draining: no new events; the event in hand is acked when the loop advances,
   * after which the loop ends. Resolves when the consumer has stopped.
   */
  async finish(): Promise<void> {
    await this.#stop();
  }

  async #stop(): Promise<void> {
    this.#ended = true;
    for (const item of this.#buffer.splice(0)) item.requeue();
    for (const w of this.#waiters.splice(0)) w({ value: undefined, done: true });
    const sub = await this.#subscription?.catch(() => undefined);
    await sub?.cancel();
  }

  #accept(event: EventEnvelope): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const item: Item = { event, ack: resolve, requeue: () => reject(new RequeueSignal()) };
      if (this.#ended) {
        item.requeue();
        return;
      }
      const waiter = this.#waiters.shift();
      if (waiter) {
        this.#current = item;
        waiter({ value: event, done: false });
      } else {
        this.#buffer.push(item);
      }
    });
  }
}
