/**
 * The transport contract: the only thing the bus, the store and the dispatcher know
 * about a broker. Two implementations exist (`rabbitmq/` over AMQP 0-9-1 and
 * `embedded/`, an in-process broker); both pass the contract suite in `testkit/`.
 *
 * Semantics every implementation guarantees (unless a feature flag in
 * `TransportFeatures` says otherwise):
 *
 * - **Publish is confirmed.** `publish` resolves only after the broker has taken
 *   responsibility for the message (AMQP publisher confirm; for the embedded broker,
 *   after it was enqueued in every matching queue). It rejects with an `AppError`:
 *   `PUBLISH_UNROUTABLE` when `mandatory` is set and no queue matched,
 *   `EXCHANGE_NOT_FOUND` when the exchange does not exist, `PUBLISH_NACKED` when the
 *   broker refused it (for the embedded broker: a queue it routes to is full, see
 *   `queueBound`; then no queue takes it), `PUBLISH_TIMEOUT` when no confirm came in time, and
 *   `BROKER_UNAVAILABLE` at once when there is no connection (it never waits forever).
 * - **Declarations** are idempotent; re-declaring a name with other arguments fails with
 *   `TOPOLOGY_CONFLICT`. Operations on a missing queue fail with `QUEUE_NOT_FOUND`; after
 *   `close()` everything fails with `TRANSPORT_CLOSED`.
 * - **Delivery is at least once.** A message is delivered to one consumer of each
 *   queue it was routed to; if the consumer does not ack (crash, connection loss,
 *   `nack({ requeue: true })`), it is delivered again with `redelivered = true`.
 * - **Ordering.** Messages published on one transport to one queue are delivered in
 *   publish order to a single consumer with prefetch 1. Requeued messages, competing
 *   consumers and prefetch > 1 can reorder.
 * - **Ack semantics.** `ack` removes the message; `nack({ requeue: false })` dead-letters
 *   it through the queue's `deadLetterExchange` (or drops it when the queue has none),
 *   as do expiry (TTL) and `maxLength` overflow, with RabbitMQ's `x-death` header;
 *   `nack({ requeue: true })` returns it to the queue. Settling twice is a no-op.
 * - **Prefetch.** At most `prefetch` unsettled deliveries per consumer at a time.
 * - **Close.** `close()` stops consuming, waits for in-flight handlers up to the drain
 *   timeout, and releases the connection; unsettled messages return to their queues.
 * - **Reconnect.** After a connection loss the transport reconnects by itself,
 *   re-declares every exchange, queue and binding it declared, and restarts its
 *   consumers. State changes are reported through `onStateChange`.
 */

export type ExchangeType = 'topic' | 'direct' | 'fanout' | 'headers';
export type QueueType = 'classic' | 'quorum';

export interface ExchangeOptions {
  durable?: boolean;
  /** Where messages that match no binding go (RabbitMQ `alternate-exchange`). */
  alternateExchange?: string;
  internal?: boolean;
}

export interface QueueOptions {
  durable?: boolean;
  /** Per-queue message TTL in milliseconds (`x-message-ttl`). */
  messageTtlMs?: number;
  /** Exchange that rejected and expired messages are sent to (`x-dead-letter-exchange`). */
  deadLetterExchange?: string;
  /** Routing key for dead-lettered messages; default: their own routing key. */
  deadLetterRoutingKey?: string;
  queueType?: QueueType;
  maxLength?: number;
  /**
   * Quorum queues only (`x-delivery-limit`): deliveries returned this many times are dropped
   * or dead-lettered. RabbitMQ 4 applies 20 when it is not set. The embedded broker keeps no
   * delivery count and ignores it.
   */
  deliveryLimit?: number;
  /** Delete the queue when its last consumer goes away (test and tail queues). */
  autoDelete?: boolean;
  exclusive?: boolean;
}

export interface QueueInfo {
  name: string;
  messageCount: number;
  consumerCount: number;
}

export interface BindingInfo {
  exchange: string;
  queue: string;
  pattern: string;
}

/** AMQP basic properties that the system uses. Header values are JSON-compatible. */
export interface MessageProperties {
  messageId?: string;
  correlationId?: string;
  contentType?: string;
  type?: string;
  appId?: string;
  /** Seconds since the epoch. */
  timestamp?: number;
  /** Per-message TTL in milliseconds, as a string (AMQP `expiration`). */
  expiration?: string;
  headers?: Record<string, unknown>;
  persistent?: boolean;
}

export interface OutgoingMessage {
  exchange: string;
  routingKey: string;
  body: Buffer;
  properties?: MessageProperties;
  /** Reject with PUBLISH_UNROUTABLE instead of dropping when nothing is bound. Default true. */
  mandatory?: boolean;
}

export interface Delivery {
  readonly body: Buffer;
  readonly exchange: string;
  readonly routingKey: string;
  readonly properties: MessageProperties;
  readonly redelivered: boolean;
  /** The queue this delivery came from. */
  readonly queue: string;
  ack(): void;
  nack(options?: { requeue?: boolean }): void;
}

/**
 * Called once per delivery. Resolving does not settle the delivery: the handler (or
 * whoever it hands the delivery to) calls `ack` or `nack`. A handler that throws or
 * rejects without having settled gets its delivery nacked with `requeue: true`, so
 * nothing is lost; retry policies belong in middleware above the transport.
 */
export type DeliveryHandler = (delivery: Delivery) => void | Promise<void>;

/** Prefetch of a consumer that does not ask for one. */
export const DEFAULT_PREFETCH = 16;
/** How long `close()` waits for in-flight handlers by default. */
export const DEFAULT_DRAIN_TIMEOUT_MS = 10_000;

export interface ConsumeOptions {
  /** Maximum unsettled deliveries for this consumer. Default 16. */
  prefetch?: number;
  consumerTag?: string;
}

export interface Consumer {
  readonly queue: string;
  /** Stops new deliveries and waits for in-flight handlers to finish. */
  cancel(): Promise<void>;
}

export type TransportState = 'connecting' | 'connected' | 'disconnected' | 'closed';

/** What a backend cannot do; the contract suite then checks the documented fallback instead. */
export interface TransportFeatures {
  /** Survives a broker restart (needs an external broker to restart). */
  brokerRestart: boolean;
  /** Queues declared durable survive a process restart. */
  durableAcrossProcessRestart: boolean;
  /** `queueType: 'quorum'` is honoured (otherwise accepted and treated as classic). */
  quorumQueues: boolean;
  /** `listBindings` is implemented. */
  listBindings: boolean;
  /**
   * Every queue has a memory bound: a publish routed to a full queue is refused whole with
   * `PUBLISH_NACKED` (the embedded broker). RabbitMQ has none per queue; its memory alarm
   * blocks publishers instead, and a publish then fails with `PUBLISH_TIMEOUT`.
   */
  queueBound: boolean;
}

export interface Transport {
  readonly kind: 'rabbitmq' | 'embedded';
  readonly features: TransportFeatures;
  readonly state: TransportState;
  /**
   * RabbitMQ: the node connected to, or being connected to while reconnecting, as a redacted
   * URL (`amqp://user@host:port/vhost`, never the password); for /health and logs. Embedded: unset.
   */
  readonly node?: string;
  /**
   * RabbitMQ, while not connected: why the connection was lost or the last attempt failed
   * (redacted), for /health. Unset while connected, and for the embedded broker.
   */
  readonly lastError?: string;
  /**
   * The durable embedded broker's journal: where it is, and the first write that failed (a
   * full or read-only disk), for /health. Unset for every other broker.
   */
  readonly journal?: { readonly location: string; readonly error: string | null };
  onStateChange(listener: (state: TransportState, error?: Error) => void): () => void;

  assertExchange(name: string, type: ExchangeType, options?: ExchangeOptions): Promise<void>;
  assertQueue(name: string, options?: QueueOptions): Promise<QueueInfo>;
  bindQueue(queue: string, exchange: string, pattern: string): Promise<void>;
  unbindQueue(queue: string, exchange: string, pattern: string): Promise<void>;
  /** Passive check: the queue's counts, or null when it does not exist. Never creates it. */
  checkQueue(name: string): Promise<QueueInfo | null>;
  /** Passive check for an exchange. */
  checkExchange(name: string): Promise<boolean>;
  /** Bindings of a queue (feature `listBindings`). */
  listBindings(queue: string): Promise<BindingInfo[]>;
  deleteQueue(name: string): Promise<void>;
  /** Deletes an exchange and its bindings; deleting a missing exchange is a no-op. */
  deleteExchange(name: string): Promise<void>;
  /** Removes every ready message; returns how many. */
  purgeQueue(name: string): Promise<number>;

  publish(message: OutgoingMessage): Promise<void>;

  consume(queue: string, handler: DeliveryHandler, options?: ConsumeOptions): Promise<Consumer>;
  /** Takes one message (basic.get), or null when the queue is empty. It must be settled. */
  get(queue: string): Promise<Delivery | null>;
  /**
   * Reads up to `limit` ready messages without removing them (they are returned
   * to the queue, marked redelivered): `browse` keeping the first `limit`.
   */
  peek(queue: string, limit: number): Promise<Delivery[]>;
  /**
   * Reads ready messages in queue order without removing them, handing each to `visit` as it
   * arrives, until `visit` returns false, `max` messages were read or the queue has no more;
   * returns how many were read. Every message read goes back to the queue, in its place and
   * marked redelivered, once the read ends. The transport keeps none of them between visits,
   * so however deep a read goes it holds only what `visit` keeps: how dead letters are paged
   * through and searched without loading the queue.
   */
  browse(queue: string, max: number, visit: (delivery: Delivery) => boolean): Promise<number>;

  /** Stops consumers, waits up to `drainTimeoutMs` for in-flight handlers, closes. */
  close(options?: { drainTimeoutMs?: number }): Promise<void>;
}
