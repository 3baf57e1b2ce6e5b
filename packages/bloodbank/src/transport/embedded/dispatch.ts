import type { DeadLetters, ExpiryTimers } from './expiry.js';
import type { MemoryBudget } from './memory-budget.js';
import type { ConsumerSlot, EmbeddedQueue, StoredMessage } from './queue.js';

/** Deliveries handed out in one dispatch turn before yielding to I/O. */
const DISPATCH_BATCH = 512;

/** What dispatching needs from the broker besides the budget and the timers. */
export interface DispatchHost extends DeadLetters {
  /** The delivery mark of a journaled copy, on disk when the promise resolves; else undefined. */
  markDelivered(q: EmbeddedQueue, m: StoredMessage): Promise<void> | undefined;
}

/**
 * Hands a queue's ready messages to its consumers on a later turn, never from inside
 * `publish`: round robin over the consumers with credit left (prefetch), in batches of
 * `DISPATCH_BATCH`, dead-lettering what expired on the way. A queue without consumers only
 * has its expiry timer armed.
 */
export class Dispatcher {
  readonly #budget: MemoryBudget;
  readonly #expiry: ExpiryTimers;
  readonly #host: DispatchHost;

  constructor(budget: MemoryBudget, expiry: ExpiryTimers, host: DispatchHost) {
    this.#budget = budget;
    this.#expiry = expiry;
    this.#host = host;
  }

  schedule(q: EmbeddedQueue): void {
    if (q.pumpScheduled || q.deleted) return;
    if (q.consumers.length === 0) {
      this.#expiry.arm(q);
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
      const m = this.#budget.shift(q)!;
      if (m.expiresAt !== undefined && now > m.expiresAt) {
        this.#host.deadLetter(q, m, 'expired');
        continue;
      }
      slot.unacked++;
      handed++;
      const mark = m.redelivered ? undefined : this.#host.markDelivered(q, m);
      if (mark) marked = mark;
      if (!marked && !q.handover) slot.deliver(q, m);
      else {
        batch ??= [];
        batch.push([slot, m]);
      }
    }
    this.#expiry.arm(q);
    if (batch) this.#handOverLater(q, batch, marked);
  }

  /**
   * A durable broker hands a copy over once its delivery mark is on disk (so a crash after the
   * hand-over brings it back marked redelivered), in order behind any batch still waiting.
   * A consumer that went away meanwhile gets nothing: its copies go back to the queue's head.
   * A mark that could not be written still hands the copy over: the journal has failed, so it
   * refuses every publish and `/health` says so, and holding the copy would only stall what the
   * queue already holds; a crash then brings it back, unmarked (at least once either way).
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
        this.#budget.push(q, m, true);
      }
      if (back.length > 0) this.schedule(q);
    });
    q.handover = after;
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
}
