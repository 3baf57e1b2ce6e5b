import type { FastifyBaseLogger } from 'fastify';
import type { EventStore } from '../storage/event-store.js';
import { stripExtensions } from '../storage/event-store.js';
import type { StoredEvent } from '../storage/types.js';

export type TailListener = (events: readonly StoredEvent[]) => void;

export interface TailOptions {
  /** Poll interval while someone listens (commits of other instances; ours poke at once). */
  pollMs?: number;
  pageSize?: number;
  log?: FastifyBaseLogger;
}

/**
 * One reader of the store's head for the whole process: it follows `position > head` in
 * position order and hands every new event to the listeners. Appends commit in position
 * order (see EventStore.append), so following the head this way never skips an event.
 * It reads only while someone listens; the ingester pokes it after each commit.
 */
export class StoreTail {
  readonly #store: EventStore;
  readonly #pollMs: number;
  readonly #pageSize: number;
  readonly #log: FastifyBaseLogger | undefined;
  readonly #listeners = new Set<TailListener>();
  #head: string | null = null;
  #running: Promise<void> | null = null;
  #again = false;
  #timer: NodeJS.Timeout | null = null;
  #closed = false;

  constructor(store: EventStore, options: TailOptions = {}) {
    this.#store = store;
    this.#pollMs = options.pollMs ?? 250;
    this.#pageSize = options.pageSize ?? 1000;
    this.#log = options.log;
  }

  /**
   * Registers a listener and returns the head at registration: the listener receives every
   * event after it, in position order, without gaps.
   */
  async subscribe(listener: TailListener): Promise<{ head: string; unsubscribe: () => void }> {
    // Serialize with a running poll so the head cannot move between reading it and registering.
    await this.#exclusive(async () => {
      if (this.#head === null || this.#listeners.size === 0) this.#head = await this.#store.headPosition();
      this.#listeners.add(listener);
    });
    this.#schedule();
    const head = this.#head!;
    return {
      head,
      unsubscribe: () => {
        this.#listeners.delete(listener);
      },
    };
  }

  get listenerCount(): number {
    return this.#listeners.size;
  }

  /** New events may have committed: read now. */
  poke(): void {
    if (this.#listeners.size === 0 || this.#closed) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    void this.#exclusive(() => this.#poll());
  }

  close(): void {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#listeners.clear();
  }

  async #exclusive(fn: () => Promise<void>): Promise<void> {
    while (this.#running) await this.#running;
    const p = fn().finally(() => {
      this.#running = null;
    });
    this.#running = p;
    await p;
  }

  async #poll(): Promise<void> {
    try {
      do {
        this.#again = false;
        for (;;) {
          if (this.#listeners.size === 0 || this.#head === null) return;
          const rows = await this.#store.list({}, { order: 'asc', after: this.#head, limit: this.#pageSize });
          if (rows.length === 0) break;
          const events = rows.map(stripExtensions);
          this.#head = events.at(-1)!.position;
          for (const l of [...this.#listeners]) {
            try {
              l(events);
            } catch (err) {
              this.#log?.error({ err }, 'stream listener failed');
            }
          }
          if (rows.length < this.#pageSize) break;
        }
      } while (this.#again);
    } catch (err) {
      // the database is away; the next poll tries again from the same head
      this.#log?.warn({ err: (err as Error).message }, 'stream tail could not read');
    } finally {
      this.#schedule();
    }
  }

  #schedule(): void {
    if (this.#closed || this.#timer || this.#listeners.size === 0) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.poke();
    }, this.#pollMs);
    this.#timer.unref?.();
  }
}
