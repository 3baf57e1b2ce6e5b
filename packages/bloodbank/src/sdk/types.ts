import type { EventEnvelope, EventSource, Violation } from '@33god/core';
import type { DeadLetterMonitor } from '../dead-letters/monitor.js';
import type { DeadLetterOperations } from '../dead-letters/operations.js';
import type { RetryPolicy } from '../middleware/backoff.js';
import type { Middleware } from '../middleware/types.js';
import type { ResolvedTopologyOptions } from '../topology/options.js';
import type { QueueSettings } from '../topology/plan.js';
import type { Delivery, Transport } from '../transport/transport.js';

/**
 * Event type → payload type. `@33god/events` generates the project's `EventMap`;
 * `connect<EventMap>()` makes `publish` check types and payloads at compile time.
 * The default accepts any type with an object payload.
 */
export type AnyEventMap = Record<string, Record<string, unknown>>;

/** What the bus validates against: Holyfields' `SchemaRegistry` fits. */
export interface EventSchemas {
  validate(event: unknown): {
    readonly ok: boolean;
    readonly known: boolean;
    readonly violations: readonly Violation[];
  };
}

export type UnknownTypePolicy = 'reject' | 'warn' | 'allow';

export interface PublishOptions {
  /** Default: inherited from the handler running (see `subscribe`), else the new event's own id. */
  correlationId?: string | null;
  /** Default: the event id of the handler's event, else null. */
  causationId?: string | null;
  /** Inherit correlation and causation from this event (for loops over `events()`). */
  causedBy?: EventEnvelope<unknown>;
  eventId?: string;
  timestamp?: string;
  /** Schema version of the payload. Default `1.0.0`. */
  version?: string;
  /** Merged over the bus's source (`app`, host, trigger type). */
  source?: Partial<EventSource>;
  /** Extra top-level envelope members. */
  extensions?: Record<string, unknown>;
  /** Extra AMQP headers. */
  headers?: Record<string, unknown>;
}

export interface PublishEnvelopeOptions {
  headers?: Record<string, unknown>;
}

export interface HandlerContext<M = AnyEventMap> {
  readonly delivery: Delivery;
  readonly queue: string;
  /** 1 on the first delivery, 2 on the first retry, … */
  readonly attempt: number;
  readonly handler: string;
  /** The bus's `publish`: events published here (or anywhere below the handler) inherit the correlation. */
  readonly publish: Bus<M>['publish'];
}

export type EventHandler<M = AnyEventMap> = (event: EventEnvelope, ctx: HandlerContext<M>) => Promise<void>;

export interface SubscribeOptions {
  /** Unsettled deliveries at a time. Default 16. */
  prefetch?: number;
  /** Handlers running at a time. Default: `prefetch`. */
  concurrency?: number;
  /** Retry policy; `maxAttempts: 1` sends every failure to the dead letters at once. */
  retry?: Partial<RetryPolicy>;
  /** Overrides the error-class decision (`isRetryable`). */
  isRetryable?: (err: unknown) => boolean;
  /**
   * How often a message may come back from a consumer that stopped while holding it (a crash,
   * a lost connection, a shutdown) before it is dead-lettered instead of handled again; see
   * `redeliveryGuard`. Default 10; `Infinity` turns the guard off.
   */
  maxRedeliveries?: number;
  /** Recorded on dead letters. Default: the handler function's name, else the queue. */
  handlerName?: string;
  /**
   * Declare the queue, its dead-letter and retry queues (those that do not exist yet; an
   * existing queue keeps its arguments) and its bindings first. Default true.
   */
  declare?: boolean;
  /** Per-queue settings (TTL, queue type) when declaring. */
  queue?: QueueSettings;
  /** Extra middleware around the handler, inside retry, dead-lettering and correlation. */
  middleware?: Middleware[];
}

export interface EventsOptions extends Omit<SubscribeOptions, 'concurrency'> {}

export interface Subscription {
  readonly queue: string;
  /** Stops taking messages and waits for the running handlers. */
  cancel(): Promise<void>;
}

/**
 * Events of a queue as an async iterable. An event is acknowledged when the loop
 * asks for the next one (the body of the loop finished). Leaving the loop (break,
 * return or throw) requeues the event in hand and every buffered one, so none is
 * lost; since that includes an event whose body completed before a `break`, such an
 * event is delivered again later (at-least-once).
 */
export interface EventStream extends AsyncIterableIterator<EventEnvelope> {
  readonly queue: string;
  /**
   * Starts consuming now (declares the queue and its bindings) instead of at the first
   * `next()`; events published after it resolved are sure to reach the stream.
   */
  ready(): Promise<void>;
  /** Ends the stream as leaving the loop does. */
  close(): Promise<void>;
}

export interface Bus<M = AnyEventMap> {
  readonly app: string;
  readonly transport: Transport;
  readonly topology: ResolvedTopologyOptions;
  readonly deadLetters: DeadLetterOperations;

  publish<K extends keyof M & string>(
    type: K,
    payload: M[K],
    options?: PublishOptions,
  ): Promise<EventEnvelope<M[K]>>;
  /**
   * Publishes a complete, already validated envelope as it is (routing key = its
   * `event_type`), resolving once the broker confirmed it. No validation, no
   * defaults: the gateway's hot path.
   */
  publishEnvelope(envelope: EventEnvelope<unknown>, options?: PublishEnvelopeOptions): Promise<void>;
  subscribe(
    queue: string,
    patterns: readonly string[],
    handler: EventHandler<M>,
    options?: SubscribeOptions,
  ): Promise<Subscription>;
  events(queue: string, patterns: readonly string[], options?: EventsOptions): EventStream;
  /** Starts the dead-letter monitor (publishes `bloodbank.message.dlq` for every dead letter). */
  startDeadLetterMonitor(options?: { prefetch?: number }): Promise<DeadLetterMonitor>;
  /** Stops every subscription and stream and waits for their running handlers and for publishes in flight. */
  drain(): Promise<void>;
  /** `drain()`, then closes the transport when the bus created it. */
  close(): Promise<void>;
}
