import { isAppError } from '@33god/core';
import type amqplib from 'amqplib';
import type { ExchangeOptions, ExchangeType, QueueInfo, QueueOptions } from '../transport.js';
import type { SharedChannels } from './channels.js';
import { homeNodeDown } from './connection.js';
import { exchangeArgs, queueArgs } from './mapping.js';

type Step =
  | { kind: 'exchange'; name: string; type: ExchangeType; options: ExchangeOptions }
  | { kind: 'queue'; name: string; options: QueueOptions }
  | { kind: 'binding'; queue: string; exchange: string; pattern: string };

/**
 * Declarations, and the record of what this transport owns: every exchange, queue and
 * binding it declared and has not deleted, in declaration order, so that a new connection
 * (to the same node or another one) can declare them again before anything else runs.
 */
export class Topology {
  readonly #channels: SharedChannels;
  readonly #steps: Step[] = [];

  constructor(channels: SharedChannels) {
    this.#channels = channels;
  }

  /** How many declarations `redeclare` makes. */
  get size(): number {
    return this.#steps.length;
  }

  /**
   * Declares everything owned, in order, on a new connection. A classic queue whose node is
   * down (and its bindings) is skipped: it still exists, with its bindings, and comes back with
   * its node; failing here would keep the whole transport from reconnecting to the nodes that
   * are up. Returns the queues skipped.
   */
  async redeclare(conn: amqplib.ChannelModel): Promise<string[]> {
    const skipped = new Set<string>();
    if (this.#steps.length === 0) return [];
    const open = async (): Promise<amqplib.Channel> => {
      const ch = await conn.createChannel();
      ch.on('error', () => {});
      return ch;
    };
    let ch = await open();
    for (const step of this.#steps) {
      if (step.kind === 'binding' && skipped.has(step.queue)) continue;
      try {
        if (step.kind === 'exchange')
          await ch.assertExchange(step.name, step.type, exchangeArgs(step.options));
        else if (step.kind === 'queue') await ch.assertQueue(step.name, queueArgs(step.options));
        else await ch.bindQueue(step.queue, step.exchange, step.pattern);
      } catch (err) {
        if (step.kind !== 'queue' || !homeNodeDown(err)) throw err;
        skipped.add(step.name);
        // The refusal closed the channel.
        ch = await open();
      }
    }
    await ch.close().catch(() => {});
    return [...skipped];
  }

  async assertExchange(name: string, type: ExchangeType, options: ExchangeOptions): Promise<void> {
    await this.#channels.admin(`declaring exchange '${name}'`, (ch) =>
      ch.assertExchange(name, type, exchangeArgs(options)),
    );
    this.#remember({ kind: 'exchange', name, type, options: { ...options } });
  }

  async assertQueue(name: string, options: QueueOptions): Promise<QueueInfo> {
    const ok = await this.#channels.admin(`declaring queue '${name}'`, (ch) =>
      ch.assertQueue(name, queueArgs(options)),
    );
    this.#remember({ kind: 'queue', name, options: { ...options } });
    return { name: ok.queue, messageCount: ok.messageCount, consumerCount: ok.consumerCount };
  }

  async bindQueue(queue: string, exchange: string, pattern: string): Promise<void> {
    await this.#channels.admin(`binding queue '${queue}' to '${exchange}' with '${pattern}'`, (ch) =>
      ch.bindQueue(queue, exchange, pattern),
    );
    this.#remember({ kind: 'binding', queue, exchange, pattern });
  }

  async unbindQueue(queue: string, exchange: string, pattern: string): Promise<void> {
    await this.#channels.admin(`unbinding queue '${queue}'`, (ch) =>
      ch.unbindQueue(queue, exchange, pattern),
    );
    this.#forget(
      (s) => s.kind === 'binding' && s.queue === queue && s.exchange === exchange && s.pattern === pattern,
    );
  }

  async deleteQueue(name: string): Promise<void> {
    try {
      await this.#channels.admin(`deleting queue '${name}'`, (ch) => ch.deleteQueue(name));
    } catch (err) {
      if (!(isAppError(err) && err.code === 'QUEUE_NOT_FOUND')) throw err;
    }
    this.#forget(
      (s) => (s.kind === 'queue' && s.name === name) || (s.kind === 'binding' && s.queue === name),
    );
  }

  async deleteExchange(name: string): Promise<void> {
    try {
      await this.#channels.admin(`deleting exchange '${name}'`, (ch) => ch.deleteExchange(name));
    } catch (err) {
      if (!(isAppError(err) && err.code === 'EXCHANGE_NOT_FOUND')) throw err;
    }
    this.#forget(
      (s) => (s.kind === 'exchange' && s.name === name) || (s.kind === 'binding' && s.exchange === name),
    );
  }

  async purgeQueue(name: string): Promise<number> {
    const ok = await this.#channels.admin(`purging queue '${name}'`, (ch) => ch.purgeQueue(name));
    return ok.messageCount;
  }

  #remember(step: Step): void {
    const same = (s: Step): boolean =>
      s.kind === step.kind &&
      (s.kind === 'binding' && step.kind === 'binding'
        ? s.queue === step.queue && s.exchange === step.exchange && s.pattern === step.pattern
        : (s as { name: string }).name === (step as { name: string }).name);
    this.#forget(same);
    this.#steps.push(step);
  }

  #forget(match: (s: Step) => boolean): void {
    for (let i = this.#steps.length - 1; i >= 0; i--) if (match(this.#steps[i]!)) this.#steps.splice(i, 1);
  }
}
