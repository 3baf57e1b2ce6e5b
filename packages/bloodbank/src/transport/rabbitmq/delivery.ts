import type amqplib from 'amqplib';
import type { Delivery, MessageProperties } from '../transport.js';
import type { Slot } from './channels.js';
import { fromAmqpProperties } from './mapping.js';

/** A message taken from a queue (consumed, or got with basic.get) that the caller settles. */
export class RabbitDelivery implements Delivery {
  readonly body: Buffer;
  readonly exchange: string;
  readonly routingKey: string;
  readonly properties: MessageProperties;
  readonly redelivered: boolean;
  readonly queue: string;
  settled = false;
  readonly #msg: amqplib.Message;
  readonly #slot: Slot;
  readonly #onSettle: (() => void) | undefined;

  constructor(queue: string, msg: amqplib.Message, slot: Slot, onSettle?: () => void) {
    this.body = msg.content;
    this.exchange = msg.fields.exchange;
    this.routingKey = msg.fields.routingKey;
    this.redelivered = msg.fields.redelivered;
    this.properties = fromAmqpProperties(msg.properties);
    this.queue = queue;
    this.#msg = msg;
    this.#slot = slot;
    this.#onSettle = onSettle;
  }

  ack(): void {
    this.#settle((slot) =>
      slot.acks ? slot.acks.ack(this.#msg.fields.deliveryTag) : slot.ch.ack(this.#msg),
    );
  }

  nack(options?: { requeue?: boolean }): void {
    const requeue = options?.requeue !== false;
    this.#settle((slot) =>
      slot.acks ? slot.acks.nack(this.#msg, requeue) : slot.ch.nack(this.#msg, false, requeue),
    );
  }

  /**
   * After the channel closed the broker already returned the message to its queue, so
   * a late settle is a no-op rather than an error (the message will come again).
   */
  #settle(op: (slot: Slot) => void): void {
    if (this.settled) return;
    this.settled = true;
    if (this.#slot.open) {
      try {
        op(this.#slot);
      } catch {
        // The channel closed between the check and the call: same as above.
      }
    }
    this.#onSettle?.();
  }
}

/** A peeked message: it went back to the queue when its channel closed; settling does nothing. */
export class PeekedDelivery implements Delivery {
  readonly body: Buffer;
  readonly exchange: string;
  readonly routingKey: string;
  readonly properties: MessageProperties;
  readonly redelivered = true;
  readonly queue: string;
  constructor(queue: string, msg: amqplib.Message) {
    this.body = msg.content;
    this.exchange = msg.fields.exchange;
    this.routingKey = msg.fields.routingKey;
    this.properties = fromAmqpProperties(msg.properties);
    this.queue = queue;
  }
  ack(): void {}
  nack(): void {}
}
