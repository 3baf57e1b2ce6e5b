import { AppError } from '@33god/core';
import type {
  BindingInfo,
  ConsumeOptions,
  Consumer,
  Delivery,
  DeliveryHandler,
  ExchangeOptions,
  ExchangeType,
  OutgoingMessage,
  QueueInfo,
  QueueOptions,
  Transport,
  TransportFeatures,
  TransportState,
} from '../transport.js';
import { DEFAULT_DRAIN_TIMEOUT_MS } from '../transport.js';
import { closeSlot, SharedChannels, type Slot } from './channels.js';
import { Connection } from './connection.js';
import { Consumers } from './consumers.js';
import { Inspector } from './inspect.js';
import { NodeList } from './nodes.js';
import { Publisher } from './publisher.js';
import { Topology } from './topology.js';

// The RabbitMQ transport is four parts behind one `Transport`: the connection to one node
// of a list and its recovery (connection.ts, nodes.ts), publishing with confirms
// (publisher.ts), consumers (consumers.ts), and declarations and queue inspection
// (topology.ts, inspect.ts). This file only builds and wires them.

export { coalesceWrites } from './connection.js';
export { queueArguments } from './mapping.js';

export interface RabbitMqTransportOptions {
  /**
   * `amqp://user:password@host:5672/vhost` or `amqps://…`; or the nodes of one cluster as a
   * comma-separated list of such URLs, tried in order and then round robin after a loss.
   */
  url: string;
  /**
   * Management API base URL for `listBindings`: one for every node, or a comma-separated list
   * with one per node of `url`, in the same order. Default: the connected node's host, port
   * 15672 (15671 for amqps), same credentials.
   */
  managementUrl?: string;
  /** A publish not confirmed within this time rejects with PUBLISH_TIMEOUT. Default 10 000. */
  publishTimeoutMs?: number;
  /** Time allowed for one connection attempt. Default 5 000. */
  connectTimeoutMs?: number;
  /**
   * How long re-declaring, reopening the publish channel and resuming the consumers on a new
   * connection may take before that node is given up for the next one. Default 15 s.
   */
  restoreTimeoutMs?: number;
  /** AMQP heartbeat in seconds (a silent dead connection is noticed after two). Default 10. */
  heartbeatSeconds?: number;
  /** Reconnect backoff: first delay, growing ×2 with ±20 % jitter up to the maximum. */
  reconnect?: { initialDelayMs?: number; maxDelayMs?: number };
  /** Shown in the management UI's connection list. */
  connectionName?: string;
  /**
   * What a failed first connection does. `fail` (default): `createRabbitMqTransport`
   * rejects with BROKER_UNAVAILABLE once every node of the list refused. `retry`: it resolves
   * anyway, in state `disconnected`, and keeps connecting in the background with the
   * reconnect backoff, as after a lost connection; each failed attempt is reported through
   * `onStateChange`. For services that must outlive a broker starting after them. A
   * malformed URL still rejects.
   */
  initialConnect?: 'fail' | 'retry';
}

export const RABBITMQ_FEATURES: TransportFeatures = Object.freeze({
  brokerRestart: true,
  durableAcrossProcessRestart: true,
  quorumQueues: true,
  listBindings: true,
  queueBound: false,
});

/**
 * Connects to RabbitMQ. Rejects with INVALID_BROKER_URL (naming the bad entry of a list) or
 * BROKER_UNAVAILABLE (naming the cause: refused, unknown host, timeout, credentials, vhost)
 * when no node can be reached (unless `initialConnect: 'retry'`); after that, connection
 * losses are repaired in the background, on the next node of the list (see `onStateChange`).
 */
export async function createRabbitMqTransport(options: RabbitMqTransportOptions): Promise<Transport> {
  const t = new RabbitMqTransport(options);
  await t.start();
  return t;
}

class RabbitMqTransport implements Transport {
  readonly kind = 'rabbitmq' as const;
  readonly features = RABBITMQ_FEATURES;
  readonly #connection: Connection;
  readonly #channels: SharedChannels;
  readonly #topology: Topology;
  readonly #publisher: Publisher;
  readonly #consumers: Consumers;
  readonly #inspector: Inspector;

  constructor(options: RabbitMqTransportOptions) {
    const nodes = new NodeList(options.url, options.heartbeatSeconds ?? 10, options.managementUrl);
    const connectTimeoutMs = options.connectTimeoutMs ?? 5_000;
    this.#connection = new Connection(
      {
        nodes,
        connectTimeoutMs,
        restoreTimeoutMs: options.restoreTimeoutMs ?? 15_000,
        backoff: {
          initial: options.reconnect?.initialDelayMs ?? 100,
          max: options.reconnect?.maxDelayMs ?? 5_000,
        },
        connectionName: options.connectionName ?? `bloodbank-${process.pid}`,
        retryInitialConnect: options.initialConnect === 'retry',
      },
      {
        restore: async (conn, step) => {
          step(`re-declaring ${this.#topology.size} exchanges, queues and bindings`);
          await this.#topology.redeclare(conn);
          step('opening the publish channel');
          await this.#publisher.open(conn);
          await this.#consumers.resume(conn, step);
        },
        lost: () => {
          this.#publisher.connectionLost();
          this.#channels.forget();
          this.#inspector.connectionLost();
          this.#consumers.connectionLost();
        },
      },
    );
    this.#channels = new SharedChannels(this.#connection);
    this.#topology = new Topology(this.#channels);
    this.#inspector = new Inspector(this.#connection, this.#channels, nodes, connectTimeoutMs);
    this.#publisher = new Publisher(
      this.#connection,
      (name) => this.#inspector.checkExchange(name),
      options.publishTimeoutMs ?? 10_000,
    );
    this.#consumers = new Consumers(this.#connection);
  }

  async start(): Promise<void> {
    await this.#connection.start();
    this.#publisher.startSweeper();
  }

  get state(): TransportState {
    return this.#connection.state;
  }

  /** The node connected to (or being connected to), redacted. */
  get node(): string {
    return this.#connection.node.display;
  }

  get lastError(): string | undefined {
    return this.#connection.lastError;
  }

  onStateChange(listener: (state: TransportState, error?: Error) => void): () => void {
    return this.#connection.onStateChange(listener);
  }

  // --- topology ---

  async assertExchange(name: string, type: ExchangeType, options: ExchangeOptions = {}): Promise<void> {
    await this.#topology.assertExchange(name, type, options);
    this.#publisher.exchangeExists(name);
  }

  assertQueue(name: string, options: QueueOptions = {}): Promise<QueueInfo> {
    return this.#topology.assertQueue(name, options);
  }

  bindQueue(queue: string, exchange: string, pattern: string): Promise<void> {
    return this.#topology.bindQueue(queue, exchange, pattern);
  }

  unbindQueue(queue: string, exchange: string, pattern: string): Promise<void> {
    return this.#topology.unbindQueue(queue, exchange, pattern);
  }

  deleteQueue(name: string): Promise<void> {
    return this.#topology.deleteQueue(name);
  }

  async deleteExchange(name: string): Promise<void> {
    if (name === '') return;
    await this.#topology.deleteExchange(name);
    this.#publisher.exchangeDeleted(name);
  }

  purgeQueue(name: string): Promise<number> {
    return this.#topology.purgeQueue(name);
  }

  // --- inspection ---

  checkQueue(name: string): Promise<QueueInfo | null> {
    return this.#inspector.checkQueue(name);
  }

  checkExchange(name: string): Promise<boolean> {
    return this.#inspector.checkExchange(name);
  }

  listBindings(queue: string): Promise<BindingInfo[]> {
    return this.#inspector.listBindings(queue);
  }

  get(queue: string): Promise<Delivery | null> {
    return this.#inspector.get(queue);
  }

  peek(queue: string, limit: number): Promise<Delivery[]> {
    return this.#inspector.peek(queue, limit);
  }

  browse(queue: string, max: number, visit: (delivery: Delivery) => boolean): Promise<number> {
    return this.#inspector.browse(queue, max, visit);
  }

  // --- messages ---

  publish(message: OutgoingMessage): Promise<void> {
    return this.#publisher.publish(message);
  }

  consume(queue: string, handler: DeliveryHandler, options?: ConsumeOptions): Promise<Consumer> {
    return this.#consumers.consume(queue, handler, options);
  }

  // --- close ---

  async close(options: { drainTimeoutMs?: number } = {}): Promise<void> {
    if (this.#connection.state === 'closed') return;
    const drain = options.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS;
    this.#connection.markClosed();
    const consumers = await this.#consumers.cancelAll(drain);
    // Publishes already sent get their confirm (or their timeout) before the connection goes.
    const deadline = Date.now() + drain;
    while (this.#publisher.pendingCount > 0 && Date.now() < deadline && this.#connection.current) {
      await new Promise((r) => setTimeout(r, 5));
    }
    this.#publisher.failAll(
      () => new AppError('TRANSPORT_CLOSED', 'the transport closed before the broker confirmed'),
    );
    this.#publisher.stopSweeper();
    // Channels close first: amqplib sends connection.close ahead of frames still queued on
    // a channel, so an ack made just before close() would be lost and the message redelivered.
    const shared: Slot[] = await this.#channels.current();
    await Promise.all([
      this.#consumers.closeChannels(consumers),
      ...shared.map(closeSlot),
      closeSlot(this.#publisher.slot),
    ]);
    await this.#connection.end();
  }
}
