import { AppError } from '@33god/core';
import type amqplib from 'amqplib';
import type { OutgoingMessage } from '../transport.js';
import { closeSlot, type Slot } from './channels.js';
import { amqpCode, type Connection, errText } from './connection.js';
import { toAmqpPublishOptions } from './mapping.js';

/** The confirm channel, with how many of its publishes still await their confirm. */
interface PublishSlot extends Slot<amqplib.ConfirmChannel> {
  inFlight: number;
}

interface PendingPublish {
  /** The channel it went out on: a channel's close fails only its own publishes. */
  readonly slot: PublishSlot;
  readonly exchange: string;
  readonly routingKey: string;
  readonly body: Buffer;
  readonly deadline: number;
  returned: boolean;
  done: boolean;
  resolve(): void;
  reject(err: unknown): void;
}

/**
 * Publishing with confirms on one confirm channel, confirms pipelined. A publish resolves
 * only on the broker's ack; it rejects on a nack (PUBLISH_NACKED), a return
 * (PUBLISH_UNROUTABLE), a missing exchange (EXCHANGE_NOT_FOUND), no answer in time
 * (PUBLISH_TIMEOUT), or the channel or connection going away first (BROKER_UNAVAILABLE:
 * the message may or may not have reached the broker, the caller retries).
 *
 * A nack retires the channel: the next publish opens a new one, and the old one
 * is closed once what it carried is settled. On RabbitMQ 3.10, a channel whose first publish
 * to a quorum queue came while that queue was electing a leader has every later publish to it
 * nacked, for as long as the channel lives (measured on the test cluster: 0 acks in 30 s,
 * while a channel opened a second later on the same connection had every publish acked).
 */
export class Publisher {
  readonly #connection: Connection;
  readonly #checkExchange: (name: string) => Promise<boolean>;
  readonly #timeoutMs: number;
  #pub: PublishSlot | undefined;
  #pubOpening: Promise<PublishSlot> | undefined;
  readonly #pending = new Set<PendingPublish>();
  readonly #knownExchanges = new Set<string>(['']);
  readonly #checking = new Map<string, Promise<boolean>>();
  #sweeper: NodeJS.Timeout | undefined;
  #lastRetiredAt = Number.NEGATIVE_INFINITY;

  constructor(connection: Connection, checkExchange: (name: string) => Promise<boolean>, timeoutMs: number) {
    this.#connection = connection;
    this.#checkExchange = checkExchange;
    this.#timeoutMs = timeoutMs;
  }

  get pendingCount(): number {
    return this.#pending.size;
  }

  /** The open publish channel, if any (for close). */
  get slot(): Slot | undefined {
    return this.#pub;
  }

  exchangeExists(name: string): void {
    this.#knownExchanges.add(name);
  }

  exchangeDeleted(name: string): void {
    this.#knownExchanges.delete(name);
  }

  startSweeper(): void {
    this.#sweeper = setInterval(() => this.#sweepTimeouts(), Math.min(250, this.#timeoutMs / 4));
    this.#sweeper.unref();
  }

  stopSweeper(): void {
    if (this.#sweeper) clearInterval(this.#sweeper);
  }

  /** The connection is gone: every publish awaiting its confirm fails with BROKER_UNAVAILABLE. */
  connectionLost(): void {
    this.#pub = undefined;
    this.#pubOpening = undefined;
    this.failAll(
      () => new AppError('BROKER_UNAVAILABLE', 'the connection to the broker was lost before it confirmed'),
    );
  }

  async open(conn: amqplib.ChannelModel): Promise<PublishSlot> {
    const ch = await conn.createConfirmChannel();
    const slot: PublishSlot = { ch, open: true, inFlight: 0 };
    let channelError: unknown;
    ch.on('error', (err: unknown) => {
      channelError = err;
    });
    ch.on('return', (msg: amqplib.Message) => this.#onReturn(msg, slot));
    ch.on('close', () => {
      slot.open = false;
      if (this.#pub === slot) this.#pub = undefined;
      // A channel error (an exchange deleted behind our back) fails only what was in
      // flight on it; the next publish opens a new channel on the same connection.
      const text = channelError === undefined ? '' : errText(channelError);
      const missing = amqpCode(channelError) === 404 ? /exchange '([^']*)'/.exec(text)?.[1] : undefined;
      if (missing !== undefined) this.#knownExchanges.delete(missing);
      this.failAll(
        (p) =>
          p.exchange === missing
            ? new AppError('EXCHANGE_NOT_FOUND', `exchange '${p.exchange}' does not exist`)
            : new AppError('BROKER_UNAVAILABLE', 'the publish channel closed before the broker confirmed'),
        slot,
      );
    });
    this.#pub = slot;
    return slot;
  }

  async #channel(): Promise<PublishSlot> {
    if (this.#pub?.open) return this.#pub;
    const conn = this.#connection.require();
    this.#pubOpening ??= this.open(conn)
      .catch((err: unknown) => {
        throw this.#connection.mapError(err, 'opening the publish channel');
      })
      .finally(() => {
        this.#pubOpening = undefined;
      });
    return this.#pubOpening;
  }

  async publish(message: OutgoingMessage): Promise<void> {
    this.#connection.require();
    const { exchange, routingKey } = message;
    // Publishing to a missing exchange makes the broker close the channel, failing every
    // other publish in flight on it; one passive check per exchange name avoids that.
    if (!this.#knownExchanges.has(exchange)) {
      let check = this.#checking.get(exchange);
      if (!check) {
        // A burst of first publishes to one exchange shares one passive check.
        check = this.#checkExchange(exchange).finally(() => this.#checking.delete(exchange));
        this.#checking.set(exchange, check);
      }
      if (!(await check)) throw new AppError('EXCHANGE_NOT_FOUND', `exchange '${exchange}' does not exist`);
      this.#knownExchanges.add(exchange);
    }
    // The open channel is used as is: one await fewer per publish on the hot path.
    const slot = this.#pub?.open ? this.#pub : await this.#channel();
    return new Promise<void>((resolve, reject) => {
      const entry: PendingPublish = {
        slot,
        exchange,
        routingKey,
        body: message.body,
        deadline: Date.now() + this.#timeoutMs,
        returned: false,
        done: false,
        resolve,
        reject,
      };
      this.#pending.add(entry);
      slot.inFlight++;
      try {
        slot.ch.publish(
          exchange,
          routingKey,
          message.body,
          toAmqpPublishOptions(message.properties, message.mandatory ?? true),
          (err: unknown) => this.#onConfirm(entry, err),
        );
      } catch (err) {
        this.#settle(entry, this.#connection.mapError(err, 'publishing'));
      }
    });
  }

  #onConfirm(entry: PendingPublish, err: unknown): void {
    if (entry.done) return;
    // 'channel closed' is not the broker's answer: the channel's close handler (or the
    // connection's) settles the entry with the reason it knows.
    if (err && errText(err) !== 'message nacked') return;
    if (err) {
      this.#settle(
        entry,
        new AppError('PUBLISH_NACKED', `the broker refused the message for '${entry.routingKey}'`),
      );
      this.#retire(entry.slot);
    } else if (entry.returned) {
      this.#settle(
        entry,
        new AppError(
          'PUBLISH_UNROUTABLE',
          `no queue is bound to exchange '${entry.exchange}' for routing key '${entry.routingKey}'`,
        ),
      );
    } else {
      this.#settle(entry);
    }
  }

  /**
   * RabbitMQ sends basic.return before the ack of the same message, on the same channel, and
   * routability depends only on exchange and key, so the oldest unreturned publish on that
   * channel with the same exchange, key and body is the one that came back.
   */
  #onReturn(msg: amqplib.Message, slot: Slot): void {
    for (const p of this.#pending) {
      if (
        p.slot === slot &&
        !p.returned &&
        !p.done &&
        p.exchange === msg.fields.exchange &&
        p.routingKey === msg.fields.routingKey &&
        p.body.equals(msg.content)
      ) {
        p.returned = true;
        return;
      }
    }
  }

  #settle(entry: PendingPublish, err?: AppError): void {
    if (entry.done) return;
    entry.done = true;
    this.#pending.delete(entry);
    const slot = entry.slot;
    slot.inFlight--;
    if (err) entry.reject(err);
    else entry.resolve();
    if (slot !== this.#pub && slot.open && slot.inFlight === 0) void closeSlot(slot);
  }

  /**
   * The next publish opens a new channel; this one closes once its publishes are settled (or
   * timed out). At most once a second: a queue that refuses on purpose (`x-overflow:
   * reject-publish`) nacks on any channel.
   */
  #retire(slot: PublishSlot): void {
    const now = Date.now();
    if (this.#pub !== slot || now - this.#lastRetiredAt < 1_000) return;
    this.#lastRetiredAt = now;
    this.#pub = undefined;
    if (slot.inFlight === 0) void closeSlot(slot);
  }

  /** Fails the publishes awaiting a confirm: all of them, or those sent on `slot`. */
  failAll(makeError: (p: PendingPublish) => AppError, slot?: Slot): void {
    for (const p of [...this.#pending]) if (!slot || p.slot === slot) this.#settle(p, makeError(p));
  }

  #sweepTimeouts(): void {
    const now = Date.now();
    // Entries are in publish order, so the first one not yet due ends the sweep.
    for (const p of this.#pending) {
      if (p.deadline > now) break;
      this.#settle(
        p,
        new AppError('PUBLISH_TIMEOUT', `the broker did not confirm within ${this.#timeoutMs} ms`),
      );
    }
  }
}
