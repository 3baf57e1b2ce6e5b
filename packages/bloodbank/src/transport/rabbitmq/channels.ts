import type amqplib from 'amqplib';
import type { AckBatcher } from './acks.js';
import { amqpCode, boundedClose, type Connection, homeNodeDown } from './connection.js';

/** A channel plus whether it is still open (amqplib throws on use after close). */
export interface Slot<C extends amqplib.Channel = amqplib.Channel> {
  readonly ch: C;
  open: boolean;
  /** Consumer channels coalesce their acks (see AckBatcher); others write each at once. */
  acks?: AckBatcher;
}

/** Flushes queued acks and closes the channel, once. */
export async function closeSlot(slot: Slot | undefined): Promise<void> {
  if (!slot?.open) return;
  slot.acks?.flush();
  slot.open = false;
  await boundedClose(slot.ch.close());
}

type SharedName = 'admin' | 'get';

/**
 * The long-lived channels opened on first use: `admin` for declarations, `get` for basic.get.
 * One closed by an error is replaced by the next use; a lost connection forgets both.
 */
export class SharedChannels {
  readonly #connection: Connection;
  #slots: { admin?: Promise<Slot>; get?: Promise<Slot> } = {};

  constructor(connection: Connection) {
    this.#connection = connection;
  }

  async slot(name: SharedName): Promise<Slot> {
    const conn = this.#connection.require();
    this.#slots[name] ??= conn.createChannel().then((ch) => {
      const slot: Slot = { ch, open: true };
      ch.on('error', () => {});
      ch.on('close', () => {
        slot.open = false;
        if (this.#slots[name] === p) this.#slots[name] = undefined;
      });
      return slot;
    });
    const p = this.#slots[name];
    try {
      return await p;
    } catch (err) {
      if (this.#slots[name] === p) this.#slots[name] = undefined;
      throw this.#connection.mapError(err, 'opening a channel');
    }
  }

  /** Runs one operation on the `admin` channel; a broker refusal becomes the matching AppError. */
  async admin<T>(what: string, op: (ch: amqplib.Channel) => Promise<T>): Promise<T> {
    const { ch } = await this.slot('admin');
    try {
      return await op(ch);
    } catch (err) {
      throw this.#connection.mapError(err, what);
    }
  }

  forget(): void {
    this.#slots = {};
  }

  /** Both channels as they are now (for close). */
  async current(): Promise<Slot[]> {
    const all = await Promise.all(
      [this.#slots.get, this.#slots.admin].map((p) => p?.catch(() => undefined) ?? undefined),
    );
    return all.filter((s): s is Slot => s !== undefined);
  }
}

/**
 * A channel for one operation that may close it (a passive declare answered "not found", a
 * browse whose unacknowledged reads must go back): opened, used, closed.
 */
export async function withOwnChannel<T>(
  connection: Connection,
  op: (ch: amqplib.Channel) => Promise<T>,
  onError: (err: unknown) => T,
): Promise<T> {
  const conn = connection.require();
  let ch: amqplib.Channel;
  try {
    ch = await conn.createChannel();
  } catch (err) {
    throw connection.mapError(err, 'opening a channel');
  }
  ch.on('error', () => {});
  let closed = false;
  ch.on('close', () => {
    closed = true;
  });
  try {
    return await op(ch);
  } catch (err) {
    return onError(err);
  } finally {
    if (!closed) await ch.close().catch(() => {});
  }
}

/**
 * A passive check on its own channel: "not found" (which closes the channel) gives
 * `onNotFound`; a classic queue whose node is down exists, and is BROKER_UNAVAILABLE.
 */
export function passiveCheck<T>(
  connection: Connection,
  op: (ch: amqplib.Channel) => Promise<T>,
  onNotFound: T,
): Promise<T> {
  return withOwnChannel(connection, op, (err) => {
    if (amqpCode(err) === 404 && !homeNodeDown(err)) return onNotFound;
    throw connection.mapError(err, 'a passive check');
  });
}
