import type { EventEnvelope } from '@33god/core';
import { RetryableError } from '../middleware/errors.js';

export type ClaimResult = 'claimed' | 'done' | 'busy';

/**
 * Remembers which events a handler already processed. `claim` must be atomic:
 * of two concurrent claims of one key exactly one gets 'claimed'. A database store
 * does this with an insert on a unique key (claimed) whose conflict tells done from busy.
 */
export interface IdempotencyStore {
  claim(key: string): Promise<ClaimResult>;
  /** The side effect committed: later claims answer 'done'. */
  complete(key: string): Promise<void>;
  /** The handler failed: the key may be claimed again. */
  release(key: string): Promise<void>;
}

/**
 * An in-memory store keeping the most recent `max` keys (least recently used
 * forgotten first). It protects one process; several replicas need a shared store.
 */
export class MemoryIdempotencyStore implements IdempotencyStore {
  readonly #max: number;
  readonly #done = new Map<string, true>();
  readonly #busy = new Set<string>();

  constructor(options: { max?: number } = {}) {
    this.#max = options.max ?? 10_000;
  }

  get size(): number {
    return this.#done.size;
  }

  async claim(key: string): Promise<ClaimResult> {
    if (this.#done.has(key)) {
      this.#done.delete(key);
      this.#done.set(key, true);
      return 'done';
    }
    if (this.#busy.has(key)) return 'busy';
    this.#busy.add(key);
    return 'claimed';
  }

  async complete(key: string): Promise<void> {
    this.#busy.delete(key);
    this.#done.set(key, true);
    while (this.#done.size > this.#max) {
      const oldest = this.#done.keys().next().value;
      if (oldest === undefined) break;
      this.#done.delete(oldest);
    }
  }

  async release(key: string): Promise<void> {
    this.#busy.delete(key);
  }
}

export interface IdempotentOptions<E extends EventEnvelope> {
  /** The key of an event. Default its `event_id`; prefix it when several handlers share one store. */
  key?: (event: E) => string;
}

/**
 * Runs `handler` at most once per event id (per store): a redelivered or
 * republished copy of an event already handled is acknowledged without running it
 * again. A copy arriving while the first is still running fails with a
 * `RetryableError`, so it comes back after the first one finished.
 */
export function idempotent<E extends EventEnvelope, Rest extends unknown[]>(
  store: IdempotencyStore,
  handler: (event: E, ...rest: Rest) => Promise<void>,
  options: IdempotentOptions<E> = {},
): (event: E, ...rest: Rest) => Promise<void> {
  const keyOf = options.key ?? ((e: E) => e.event_id);
  return async (event, ...rest) => {
    const key = keyOf(event);
    const claim = await store.claim(key);
    if (claim === 'done') return;
    if (claim === 'busy') throw new RetryableError(`event ${key} is being handled by another delivery`);
    try {
      await handler(event, ...rest);
    } catch (err) {
      await store.release(key);
      throw err;
    }
    await store.complete(key);
  };
}
