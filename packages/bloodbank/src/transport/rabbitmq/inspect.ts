import { AppError } from '@33god/core';
import type amqplib from 'amqplib';
import type { BindingInfo, Delivery, QueueInfo } from '../transport.js';
import { passiveCheck, type SharedChannels, withOwnChannel } from './channels.js';
import type { Connection } from './connection.js';
import { PeekedDelivery, RabbitDelivery } from './delivery.js';
import type { NodeList } from './nodes.js';

/**
 * Looking at queues without consuming them: passive checks, basic.get, peek and browse, and
 * the bindings of a queue from the management API of the node connected to.
 */
export class Inspector {
  readonly #connection: Connection;
  readonly #channels: SharedChannels;
  readonly #nodes: NodeList;
  readonly #timeoutMs: number;
  readonly #getDeliveries = new Set<RabbitDelivery>();

  constructor(connection: Connection, channels: SharedChannels, nodes: NodeList, timeoutMs: number) {
    this.#connection = connection;
    this.#channels = channels;
    this.#nodes = nodes;
    this.#timeoutMs = timeoutMs;
  }

  /** Messages got with basic.get went back to their queues with the connection. */
  connectionLost(): void {
    for (const d of this.#getDeliveries) d.settled = true;
    this.#getDeliveries.clear();
  }

  checkQueue(name: string): Promise<QueueInfo | null> {
    return passiveCheck(
      this.#connection,
      async (ch) => {
        const ok = await ch.checkQueue(name);
        return { name: ok.queue, messageCount: ok.messageCount, consumerCount: ok.consumerCount };
      },
      null,
    );
  }

  async checkExchange(name: string): Promise<boolean> {
    if (name === '') return true;
    return passiveCheck(
      this.#connection,
      async (ch) => {
        await ch.checkExchange(name);
        return true;
      },
      false,
    );
  }

  async get(queue: string): Promise<Delivery | null> {
    const slot = await this.#channels.slot('get');
    let msg: amqplib.GetMessage | false;
    try {
      msg = await slot.ch.get(queue, { noAck: false });
    } catch (err) {
      throw this.#connection.mapError(err, `getting from '${queue}'`);
    }
    if (!msg) return null;
    const d: RabbitDelivery = new RabbitDelivery(queue, msg, slot, () => this.#getDeliveries.delete(d));
    this.#getDeliveries.add(d);
    return d;
  }

  async peek(queue: string, limit: number): Promise<Delivery[]> {
    const out: Delivery[] = [];
    await this.browse(queue, limit, (d) => {
      out.push(d);
      return true;
    });
    return out;
  }

  /** basic.get without acking on a channel of its own; closing it returns every message read, in order. */
  browse(queue: string, max: number, visit: (delivery: Delivery) => boolean): Promise<number> {
    return withOwnChannel(
      this.#connection,
      async (ch) => {
        let read = 0;
        while (read < max) {
          let msg: amqplib.GetMessage | false;
          try {
            msg = await ch.get(queue, { noAck: false });
          } catch (err) {
            throw this.#connection.mapError(err, `peeking into '${queue}'`);
          }
          if (!msg) break;
          read++;
          // the message stays unacknowledged on the channel; only `visit` may keep its body
          if (!visit(new PeekedDelivery(queue, msg))) break;
        }
        return read;
      },
      (err) => {
        throw err;
      },
    );
  }

  async listBindings(queue: string): Promise<BindingInfo[]> {
    // The management API answers an empty list for a queue that does not exist.
    if ((await this.checkQueue(queue)) === null) {
      throw new AppError('QUEUE_NOT_FOUND', `queue '${queue}' does not exist`);
    }
    // The management API of the node connected to: in a cluster, any node answers for all.
    const base = this.#nodes.managementUrl;
    const addr = this.#connection.node;
    const url = `${base}/api/queues/${encodeURIComponent(addr.vhost)}/${encodeURIComponent(queue)}/bindings`;
    let res: Response;
    try {
      res = await fetch(url, {
        headers: {
          authorization: `Basic ${Buffer.from(`${addr.user}:${addr.password}`).toString('base64')}`,
        },
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (err) {
      throw new AppError(
        'BROKER_UNAVAILABLE',
        `the RabbitMQ management API at ${base} did not answer (is the rabbitmq_management plugin enabled?)`,
        { cause: err },
      );
    }
    if (res.status === 404) throw new AppError('QUEUE_NOT_FOUND', `queue '${queue}' does not exist`);
    if (res.status === 401 || res.status === 403) {
      throw new AppError(
        'BROKER_UNAVAILABLE',
        `the management API at ${base} refused user '${addr.user}' (needs the management tag)`,
      );
    }
    if (!res.ok) {
      throw new AppError('BROKER_UNAVAILABLE', `the management API at ${base} answered ${res.status}`);
    }
    const rows = (await res.json()) as { source: string; destination: string; routing_key: string }[];
    return rows
      .filter((r) => r.source !== '')
      .map((r) => ({ exchange: r.source, queue: r.destination, pattern: r.routing_key }))
      .sort((a, b) => a.exchange.localeCompare(b.exchange) || a.pattern.localeCompare(b.pattern));
  }
}
