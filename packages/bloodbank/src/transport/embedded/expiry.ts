import type { DeathReason } from './dead-letter.js';
import type { MemoryBudget } from './memory-budget.js';
import type { EmbeddedQueue, StoredMessage } from './queue.js';

const MAX_TIMER_MS = 2 ** 31 - 1;

/** Where a message goes when it leaves its queue dead (the broker's `deadLetter`). */
export interface DeadLetters {
  deadLetter(q: EmbeddedQueue, m: StoredMessage, reason: DeathReason): void;
}

/**
 * One timer per queue, due when the message at its head expires: like RabbitMQ, a TTL is
 * enforced at the head only, so a queue nobody reads still dead-letters what expired in it.
 * Re-armed whenever the head may have changed (the broker and the dispatcher call `arm`).
 */
export class ExpiryTimers {
  readonly #budget: MemoryBudget;
  readonly #dead: DeadLetters;

  constructor(budget: MemoryBudget, dead: DeadLetters) {
    this.#budget = budget;
    this.#dead = dead;
  }

  arm(q: EmbeddedQueue): void {
    const head = q.messages.peekFirst();
    const at = head?.expiresAt;
    if (at === undefined) {
      this.clear(q);
      return;
    }
    if (q.expiryTimer && q.expiryAt <= at) return;
    this.clear(q);
    q.expiryAt = at;
    // Node fires a timer longer than 2^31-1 ms after 1 ms (and warns), which would spin on a
    // head that is not due yet (a TTL of up to 2^32-1 is valid): wait the most it can, re-arm then.
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, at - Date.now() + 1));
    q.expiryTimer = setTimeout(() => this.#expireHead(q), delay);
    // A 24 h TTL must not keep an otherwise finished process alive.
    q.expiryTimer.unref();
  }

  clear(q: EmbeddedQueue): void {
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
      this.#budget.shift(q);
      this.#dead.deadLetter(q, head, 'expired');
    }
    this.arm(q);
  }
}
