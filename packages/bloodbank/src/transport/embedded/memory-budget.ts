import { AppError } from '@33god/core';
import type { EmbeddedBrokerLimits } from './limits.js';
import type { EmbeddedQueue, StoredMessage } from './queue.js';

/**
 * Keeps the broker within its `limits`: every ready message enters and leaves a queue through
 * it, so it knows what each queue, and all queues together, hold, and it refuses a publish
 * (whole, with `PUBLISH_NACKED`) that would put one of them over. Only publishes are checked:
 * requeues and dead letters move a message the broker already holds, and refusing them would
 * lose it.
 */
export class MemoryBudget {
  readonly #limits: Readonly<EmbeddedBrokerLimits>;
  /** Ready messages and their body bytes in all queues (the total limits). */
  #totalMessages = 0;
  #totalBytes = 0;

  constructor(limits: Readonly<EmbeddedBrokerLimits>) {
    this.#limits = limits;
  }

  /** Throws when a copy of `size` bytes for each of `targets` would put any bound over. */
  checkPublish(targets: readonly EmbeddedQueue[], size: number): void {
    this.#checkTotal(targets.length, size);
    for (const q of targets) this.#checkRoom(q, size);
  }

  push(q: EmbeddedQueue, m: StoredMessage, atHead = false): void {
    if (atHead) q.messages.unshift(m);
    else q.messages.push(m);
    q.bytes += m.body.length;
    this.#totalBytes += m.body.length;
    this.#totalMessages++;
  }

  shift(q: EmbeddedQueue): StoredMessage | undefined {
    const m = q.messages.shift();
    if (m) {
      q.bytes -= m.body.length;
      this.#totalBytes -= m.body.length;
      this.#totalMessages--;
    }
    return m;
  }

  /** Empties `q`'s ready messages (delete, purge). */
  clearReady(q: EmbeddedQueue): void {
    this.#totalBytes -= q.bytes;
    this.#totalMessages -= q.messages.length;
    q.messages.clear();
    q.bytes = 0;
  }

  /** Throws when taking one more message of `size` bytes would put `q` over the limits. */
  #checkRoom(q: EmbeddedQueue, size: number): void {
    const { maxQueueMessages, maxQueueBytes } = this.#limits;
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
    const { maxTotalMessages, maxTotalBytes } = this.#limits;
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
}

function queueFull(q: EmbeddedQueue, why: string, extra: Record<string, unknown>): AppError {
  return new AppError(
    'PUBLISH_NACKED',
    `queue '${q.name}' is full: ${why}; the embedded broker refused the publish (no queue took it)`,
    { extra: { queue: q.name, ...extra } },
  );
}
