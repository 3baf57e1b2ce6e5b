import type amqplib from 'amqplib';

/**
 * The acks of one consumer channel, coalesced. An ack is not written at once: acks made in
 * the same turn of the event loop go out together at the next `setImmediate`, as one
 * `basic.ack` with `multiple` for the oldest run of deliveries that are all settled (the
 * usual case: handlers finish roughly in order), and one plain `basic.ack` each for acked
 * deliveries behind a still-running one. A consumer at full speed then writes one frame per
 * socket read instead of one per message.
 *
 * Semantics are unchanged: a delivery is acked only after its handler settled it; a nack is
 * written at once (after the acks already queued, so the broker sees them in settle order);
 * `flush()` must run before the channel is closed on purpose. When the channel is lost
 * instead, queued acks are lost with it and the broker redelivers those messages, exactly
 * as for an ack written just before the loss (at-least-once either way).
 */
export class AckBatcher {
  readonly #ch: amqplib.Channel;
  readonly #isOpen: () => boolean;
  /** Delivery tags not yet acked or nacked on the wire, in delivery (ascending) order. */
  #outstanding: number[] = [];
  #head = 0;
  /** Tags settled locally (acked, waiting for the flush) or already written individually. */
  readonly #acked = new Set<number>();
  readonly #done = new Set<number>();
  #scheduled = false;

  constructor(ch: amqplib.Channel, isOpen: () => boolean) {
    this.#ch = ch;
    this.#isOpen = isOpen;
  }

  /** Records a delivery received on this channel (tags arrive in ascending order). */
  track(tag: number): void {
    this.#outstanding.push(tag);
  }

  ack(tag: number): void {
    this.#acked.add(tag);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  nack(msg: amqplib.Message, requeue: boolean): void {
    this.flush();
    this.#done.add(msg.fields.deliveryTag);
    if (this.#isOpen()) this.#ch.nack(msg, false, requeue);
    this.#advance();
  }

  /** Writes every queued ack now. */
  flush(): void {
    this.#scheduled = false;
    if (this.#acked.size === 0) return;
    // The oldest run of settled deliveries: one multiple-ack up to its last acked tag.
    let upTo = -1;
    while (this.#head < this.#outstanding.length) {
      const tag = this.#outstanding[this.#head]!;
      if (this.#acked.delete(tag)) upTo = tag;
      else if (!this.#done.delete(tag)) break;
      this.#head++;
    }
    const open = this.#isOpen();
    if (open && upTo >= 0) this.#write(upTo, true);
    // Acked behind a delivery still in its handler: one ack each.
    for (const tag of this.#acked) {
      this.#done.add(tag);
      if (open) this.#write(tag, false);
    }
    this.#acked.clear();
    this.#compact();
  }

  /** Moves the head past deliveries already written individually. */
  #advance(): void {
    while (this.#head < this.#outstanding.length && this.#done.delete(this.#outstanding[this.#head]!)) {
      this.#head++;
    }
    this.#compact();
  }

  #compact(): void {
    if (this.#head > 1024 && this.#head * 2 > this.#outstanding.length) {
      this.#outstanding = this.#outstanding.slice(this.#head);
      this.#head = 0;
    }
  }

  #write(tag: number, multiple: boolean): void {
    try {
      // amqplib only reads `fields.deliveryTag` of the message it is given.
      this.#ch.ack({ fields: { deliveryTag: tag } } as amqplib.Message, multiple);
    } catch {
      // The channel closed in between: the broker requeues, as for any unacked delivery.
    }
  }
}
