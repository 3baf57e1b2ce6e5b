import { randomUUID } from 'node:crypto';
import { AppError, isAppError } from '@33god/core';
import type amqplib from 'amqplib';
import { InFlight } from '../inflight.js';
import type { ConsumeOptions, Consumer, DeliveryHandler } from '../transport.js';
import { DEFAULT_PREFETCH } from '../transport.js';
import { AckBatcher } from './acks.js';
import { closeSlot, type Slot } from './channels.js';
import { type Connection, homeNodeDown } from './connection.js';
import { RabbitDelivery } from './delivery.js';

interface ConsumerRecord {
  readonly queue: string;
  readonly tag: string;
  readonly prefetch: number;
  readonly handler: DeliveryHandler;
  readonly inflight: InFlight;
  slot: Slot | undefined;
  /** Unsettled deliveries on the current channel. */
  unsettled: number;
  cancelled: boolean;
}

/**
 * The consumers, one channel each (prefetch is per consumer and a channel error stays local).
 * A consumer outlives its channel: after a connection loss `resume` opens it again on the new
 * connection with the same handler and tag, and the caller's `Consumer` keeps working.
 */
export class Consumers {
  readonly #connection: Connection;
  readonly #records = new Set<ConsumerRecord>();

  constructor(connection: Connection) {
    this.#connection = connection;
  }

  async consume(queue: string, handler: DeliveryHandler, options: ConsumeOptions = {}): Promise<Consumer> {
    const conn = this.#connection.require();
    const prefetch = options.prefetch ?? DEFAULT_PREFETCH;
    if (!Number.isInteger(prefetch) || prefetch < 1) {
      throw new AppError('CONFIG_INVALID', `prefetch must be a whole number >= 1, got ${prefetch}`);
    }
    const record: ConsumerRecord = {
      queue,
      tag: options.consumerTag ?? `bloodbank-${randomUUID()}`,
      prefetch,
      handler,
      inflight: new InFlight(),
      slot: undefined,
      unsettled: 0,
      cancelled: false,
    };
    await this.#open(conn, record);
    this.#records.add(record);
    let cancelling: Promise<void> | undefined;
    return {
      queue,
      cancel: () => {
        cancelling ??= this.#cancel(record);
        return cancelling;
      },
    };
  }

  /** Reopens every consumer on a new connection, naming each with `step`. */
  async resume(conn: amqplib.ChannelModel, step: (what: string) => void = () => {}): Promise<void> {
    for (const c of [...this.#records]) {
      if (c.cancelled) continue;
      step(`resuming the consumer of '${c.queue}'`);
      try {
        await this.#open(conn, c);
      } catch (err) {
        // A classic queue whose node is down: it comes back with its node, and so does its consumer.
        if (homeNodeDown(err)) {
          this.#openLater(conn, c, 500);
          continue;
        }
        // A queue someone else declared and deleted while we were away: that consumer
        // has nothing left to read, but it must not keep the rest from reconnecting.
        if (!(isAppError(err) && err.code === 'QUEUE_NOT_FOUND')) throw err;
        c.cancelled = true;
        this.#records.delete(c);
      }
    }
  }

  /** Tries again, while this connection lives, until the queue's node is back. */
  #openLater(conn: amqplib.ChannelModel, c: ConsumerRecord, delayMs: number): void {
    setTimeout(() => {
      if (c.cancelled || c.slot || this.#connection.current !== conn) return;
      this.#open(conn, c).catch((err: unknown) => {
        if (homeNodeDown(err)) this.#openLater(conn, c, Math.min(delayMs * 2, 5_000));
      });
    }, delayMs).unref();
  }

  /** The connection is gone, and with it every channel and unsettled delivery. */
  connectionLost(): void {
    for (const c of this.#records) {
      if (c.slot) c.slot.open = false;
      c.slot = undefined;
      c.unsettled = 0;
    }
  }

  /** Cancels every consumer, waiting up to `drainTimeoutMs` for running handlers. */
  async cancelAll(drainTimeoutMs: number): Promise<ConsumerRecord[]> {
    const all = [...this.#records];
    await Promise.all(all.map((c) => this.#cancel(c, drainTimeoutMs)));
    return all;
  }

  /** Closes the channels still open (kept for deliveries settled after cancel), acks first. */
  async closeChannels(records: ConsumerRecord[]): Promise<void> {
    await Promise.all(records.map((c) => closeSlot(c.slot)));
  }

  async #open(conn: amqplib.ChannelModel, c: ConsumerRecord): Promise<void> {
    let ch: amqplib.Channel;
    try {
      ch = await conn.createChannel();
    } catch (err) {
      throw this.#connection.mapError(err, `consuming '${c.queue}'`);
    }
    const slot: Slot = { ch, open: true };
    slot.acks = new AckBatcher(ch, () => slot.open);
    ch.on('error', () => {});
    ch.on('close', () => {
      slot.open = false;
      if (c.slot !== slot) return;
      c.slot = undefined;
      c.unsettled = 0;
      // Closed on its own while the connection lives (e.g. the queue was deleted and
      // re-created): reopen; a connection loss is handled by the reconnect instead.
      if (!c.cancelled && this.#connection.current === conn && this.#connection.state === 'connected') {
        setTimeout(() => {
          if (!c.cancelled && this.#connection.current === conn && !c.slot)
            this.#open(conn, c).catch(() => {});
        }, 200).unref();
      }
    });
    try {
      await ch.prefetch(c.prefetch);
      c.slot = slot;
      await ch.consume(
        c.queue,
        (msg) => {
          // null: the broker cancelled us (queue deleted); nothing more will come on this channel.
          if (msg) this.#dispatch(c, slot, msg);
        },
        { noAck: false, consumerTag: c.tag },
      );
    } catch (err) {
      if (c.slot === slot) c.slot = undefined;
      slot.open = false;
      await ch.close().catch(() => {});
      throw this.#connection.mapError(err, `consuming '${c.queue}'`);
    }
  }

  #dispatch(c: ConsumerRecord, slot: Slot, msg: amqplib.ConsumeMessage): void {
    c.unsettled++;
    slot.acks?.track(msg.fields.deliveryTag);
    const d = new RabbitDelivery(c.queue, msg, slot, () => {
      if (c.slot === slot) c.unsettled--;
      if (c.cancelled && c.unsettled <= 0 && c.slot === slot) this.#closeChannel(c);
    });
    c.inflight.enter();
    let result: void | Promise<void>;
    try {
      result = c.handler(d);
    } catch {
      d.nack({ requeue: true });
      c.inflight.leave();
      return;
    }
    if (result && typeof (result as Promise<void>).then === 'function') {
      (result as Promise<void>).then(
        () => c.inflight.leave(),
        () => {
          d.nack({ requeue: true });
          c.inflight.leave();
        },
      );
    } else {
      c.inflight.leave();
    }
  }

  async #cancel(c: ConsumerRecord, drainTimeoutMs = Number.POSITIVE_INFINITY): Promise<void> {
    c.cancelled = true;
    const slot = c.slot;
    if (slot?.open) await slot.ch.cancel(c.tag).catch(() => {});
    await c.inflight.idle(drainTimeoutMs);
    this.#records.delete(c);
    // Deliveries still unsettled keep the channel open so they can be settled later.
    if (c.unsettled <= 0) this.#closeChannel(c);
  }

  #closeChannel(c: ConsumerRecord): void {
    const slot = c.slot;
    c.slot = undefined;
    void closeSlot(slot);
  }
}
