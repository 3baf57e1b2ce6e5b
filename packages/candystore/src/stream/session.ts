import { matchesFilter } from '../query/filters.js';
import type { EventStore } from '../storage/event-store.js';
import { stripExtensions } from '../storage/event-store.js';
import type { EventFilter, StoredEvent } from '../storage/types.js';
import type { StoreTail } from './tail.js';

export type StreamMessage =
  | { kind: 'event'; event: StoredEvent }
  | { kind: 'caught_up'; position: string }
  | { kind: 'heartbeat'; position: string };

/** Where a session writes: a WebSocket in production, anything in tests. */
export interface StreamSink {
  send(message: StreamMessage): void;
  /** Bytes accepted by send() but not yet written to the network. */
  bufferedAmount(): number;
  close(code: number, reason: string): void;
}

export interface StreamSessionOptions {
  store: EventStore;
  tail: StoreTail;
  filter: EventFilter;
  /** Exclusive start position, or 'now'. */
  from: string | 'now';
  sink: StreamSink;
  /** Live events held while catching up or while the socket is behind; more closes the session. */
  maxPending?: number;
  /** The same held events' size as JSON, in bytes; more closes the session. */
  maxPendingBytes?: number;
  /** Socket buffer above which the client counts as slow. */
  maxBufferedBytes?: number;
  heartbeatMs?: number;
  catchUpPage?: number;
}

/** Close code for a client that could not keep up (4000–4999 are the application's). */
export const CLOSE_SLOW_CLIENT = 4008;
export const CLOSE_SERVER_ERROR = 4011;

/**
 * One live stream. It registers with the tail first (live events start buffering), then
 * catches up from storage after `from` until a page comes back short, then sends the
 * buffered live events it has not sent yet, then follows the tail. Every event is sent
 * once, in position order: the catch-up covers everything up to the tail's head at
 * registration, the tail everything after it, and `cursor` drops the overlap.
 */
export class StreamSession {
  readonly #o: Required<Omit<StreamSessionOptions, 'from'>> & { from: string };
  /** Position of the last event sent (or the start). */
  #cursor = '0';
  /** Highest position known to be scanned: every match up to it was sent. */
  #scanned = '0';
  #pending: StoredEvent[] = [];
  #pendingBytes = 0;
  #live = false;
  #closed = false;
  #unsubscribe: (() => void) | null = null;
  #heartbeat: NodeJS.Timeout | null = null;

  constructor(options: StreamSessionOptions) {
    this.#o = {
      maxPending: 10_000,
      maxPendingBytes: 8 * 1024 * 1024,
      maxBufferedBytes: 8 * 1024 * 1024,
      heartbeatMs: 15_000,
      catchUpPage: 500,
      ...options,
    };
  }

  get position(): string {
    return this.#scanned;
  }

  async start(): Promise<void> {
    const sub = await this.#o.tail.subscribe((events) => this.#onLive(events));
    this.#unsubscribe = sub.unsubscribe;
    this.#cursor = this.#o.from === 'now' ? sub.head : this.#o.from;
    this.#scanned = this.#cursor;
    this.#heartbeat = setInterval(() => this.#beat(), this.#o.heartbeatMs);
    this.#heartbeat.unref?.();
    try {
      if (this.#o.from !== 'now') await this.#catchUp();
    } catch (err) {
      this.close(CLOSE_SERVER_ERROR, `store unavailable; resume from=${this.#scanned}`);
      throw err;
    }
    if (this.#closed) return;
    // catch-up saw everything committed when it ended; so all up to the tail head is scanned
    if (cmp(sub.head, this.#scanned) > 0) this.#scanned = sub.head;
    this.#live = true;
    this.#o.sink.send({ kind: 'caught_up', position: this.#scanned });
    const held = this.#pending;
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#deliver(held);
  }

  async #catchUp(): Promise<void> {
    for (;;) {
      if (this.#closed) return;
      const rows = await this.#o.store.list(this.#o.filter, {
        order: 'asc',
        after: this.#cursor,
        limit: this.#o.catchUpPage,
      });
      for (const r of rows) this.#emit(stripExtensions(r));
      if (rows.length < this.#o.catchUpPage) return;
      // let a slow socket drain before reading more; the live buffer keeps its own bound
      while (!this.#closed && this.#o.sink.bufferedAmount() > this.#o.maxBufferedBytes / 2) {
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  }

  #onLive(events: readonly StoredEvent[]): void {
    if (this.#closed) return;
    if (!this.#live) {
      for (const e of events) {
        if (!matchesFilter(this.#o.filter, e)) continue;
        this.#pending.push(e);
        this.#pendingBytes += eventBytes(e);
      }
      // a count alone would let a few large payloads hold megabytes per socket
      if (this.#pending.length > this.#o.maxPending || this.#pendingBytes > this.#o.maxPendingBytes) {
        this.#slow();
      }
      return;
    }
    this.#deliver(events);
  }

  #deliver(events: readonly StoredEvent[]): void {
    if (events.length === 0) return;
    for (const e of events) {
      if (this.#closed) return;
      if (cmp(e.position, this.#cursor) <= 0) continue;
      if (matchesFilter(this.#o.filter, e)) this.#emit(e);
      if (cmp(e.position, this.#scanned) > 0) this.#scanned = e.position;
    }
    if (this.#o.sink.bufferedAmount() > this.#o.maxBufferedBytes) this.#slow();
  }

  #emit(e: StoredEvent): void {
    this.#o.sink.send({ kind: 'event', event: e });
    this.#cursor = e.position;
    if (cmp(e.position, this.#scanned) > 0) this.#scanned = e.position;
  }

  #beat(): void {
    if (this.#closed) return;
    this.#o.sink.send({ kind: 'heartbeat', position: this.#live ? this.#scanned : this.#cursor });
  }

  #slow(): void {
    this.close(CLOSE_SLOW_CLIENT, `slow client; resume from=${this.#cursor}`);
  }

  close(code?: number, reason?: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#unsubscribe?.();
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    this.#pending = [];
    this.#pendingBytes = 0;
    if (code !== undefined) this.#o.sink.close(code, reason ?? '');
  }
}

/**
 * An event's size as JSON (what the socket will carry), measured once: the tail hands the
 * same event objects to every session, so a thousand sessions do not serialise it a thousand times.
 */
const sizes = new WeakMap<StoredEvent, number>();

export function eventBytes(e: StoredEvent): number {
  let n = sizes.get(e);
  if (n === undefined) {
    n = Buffer.byteLength(JSON.stringify(e));
    sizes.set(e, n);
  }
  return n;
}

/** Compares two non-negative decimal position strings. */
export function cmp(a: string, b: string): number {
  if (a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}
