import {
  AMQP_URL,
  AppError,
  assertEnvelope,
  childOf,
  completeEnvelope,
  type EventEnvelope,
  encodeEnvelope,
  formatTraceparent,
  HOLYFIELDS_SCHEMAS,
  newTrace,
  parseTraceparent,
  readEnv,
  type TraceContext,
} from '@33god/core';
import { loadSchemaTree } from '@33god/holyfields';
import { attemptOf } from '../dead-letters/headers.js';
import { startDeadLetterMonitor } from '../dead-letters/monitor.js';
import { createDeadLetterOperations, type DeadLetterOperations } from '../dead-letters/operations.js';
import { resolveRetryPolicy } from '../middleware/backoff.js';
import { correlation, currentEvent } from '../middleware/correlation.js';
import { deadLetterOnFailure } from '../middleware/dead-letter.js';
import { decodeEnvelope } from '../middleware/decode.js';
import { errorClassOf, errorReasonOf, RequeueSignal } from '../middleware/errors.js';
import { redeliveryGuard } from '../middleware/redelivery.js';
import { retry } from '../middleware/retry.js';
import { currentHandleSpan, tracing } from '../middleware/tracing.js';
import { compose, type MessageContext } from '../middleware/types.js';
import { ensureExchanges, ensureQueue } from '../topology/apply.js';
import {
  type ResolvedTopologyOptions,
  resolveTopologyOptions,
  type TopologyOptions,
} from '../topology/options.js';
import type { TopologyRegistry } from '../topology/registry.js';
import { type Span, type Tracer, tracerFromEnv } from '../tracing/tracer.js';
import { InFlight } from '../transport/inflight.js';
import type { Delivery, MessageProperties, Transport } from '../transport/transport.js';
import { BLOODBANK_PUBLISH_TIMEOUT_MS, BLOODBANK_UNKNOWN_TYPES } from './config.js';
import { type BusLogger, defaultLogger } from './logger.js';
import { isRetryablePublishError, retryPublish } from './publish-retry.js';
import { Semaphore } from './semaphore.js';
import { SubscriptionStream } from './stream.js';
import { openTransport } from './transport.js';
import type {
  AnyEventMap,
  Bus,
  EventHandler,
  EventSchemas,
  EventStream,
  EventsOptions,
  HandlerContext,
  PublishEnvelopeOptions,
  PublishOptions,
  SubscribeOptions,
  Subscription,
  UnknownTypePolicy,
} from './types.js';

/** A consumer may stop this often while holding a message before it is dead-lettered. */
const DEFAULT_MAX_REDELIVERIES = 10;

/** How long `publish` keeps resending a publish the broker refused for now. */
const DEFAULT_PUBLISH_RETRY_MS = 30_000;

export interface ConnectOptions {
  /** `amqp://` or `amqps://` URL. Default `AMQP_URL`; neither: the embedded in-process broker. */
  url?: string;
  /** Use this transport instead of opening one (it is not closed by `bus.close()`). */
  transport?: Transport;
  /** The events exchange. Default `BLOODBANK_EXCHANGE` (`bloodbank.events.v1`). */
  exchange?: string;
  /** Dead-letter exchange, retry tiers, queue type, TTLs (see `TopologyOptions`). */
  topology?: TopologyOptions;
  /** `source.app` of every event this bus publishes. */
  app: string;
  /**
   * Schemas to validate against before publishing: a loaded registry, or the
   * directory of a schema tree. Default: `HOLYFIELDS_SCHEMAS` when set; otherwise
   * only the envelope's shape is checked.
   */
  schemas?: EventSchemas | string;
  /** Publishing a type with no schema. Default `BLOODBANK_UNKNOWN_TYPES` (reject). */
  unknownTypes?: UnknownTypePolicy;
  /** Longest wait for a broker confirm (when the bus opens the transport). */
  publishTimeoutMs?: number;
  /**
   * How long `publish`/`publishEnvelope` keep resending the same envelope (same `event_id`)
   * after a retryable refusal (PUBLISH_NACKED, PUBLISH_TIMEOUT, BROKER_UNAVAILABLE), with
   * backoff from 50 ms doubling to 2 s. Default 30 000; 0 fails at the first refusal.
   */
  publishRetryMs?: number;
  /** The service registry, for `deadLetters.queues()`. */
  registry?: TopologyRegistry;
  logger?: BusLogger;
  env?: NodeJS.ProcessEnv;
  /**
   * Records `publish`, `deliver` and `handle` spans. Default: OpenTelemetry when
   * OTEL_EXPORTER_OTLP_ENDPOINT is set (loaded here, once), else the no-op tracer.
   */
  tracer?: Tracer;
}

/** Connects to the bus: opens (or adopts) a transport and loads the schemas. */
export async function connect<M = AnyEventMap>(options: ConnectOptions): Promise<Bus<M>> {
  if (!options.app)
    throw new AppError('CONFIG_INVALID', 'connect() needs `app`, the name events are published under');
  const publishRetryMs = options.publishRetryMs ?? DEFAULT_PUBLISH_RETRY_MS;
  if (!Number.isFinite(publishRetryMs) || publishRetryMs < 0)
    throw new AppError('CONFIG_INVALID', 'connect() needs `publishRetryMs` to be a number of ms, 0 or more');
  const env = options.env ?? process.env;
  const topology = resolveTopologyOptions(
    options.exchange === undefined ? options.topology : { ...options.topology, exchange: options.exchange },
    env,
  );
  const unknownTypes = options.unknownTypes ?? readEnv(BLOODBANK_UNKNOWN_TYPES, env)!;
  const schemaSource = options.schemas ?? readEnv(HOLYFIELDS_SCHEMAS, env);
  const schemas = typeof schemaSource === 'string' ? await loadSchemaTree(schemaSource) : schemaSource;
  let transport = options.transport;
  const owned = transport === undefined;
  if (!transport) {
    const url = options.url ?? readEnv(AMQP_URL, env);
    const opened: { url?: string; publishTimeoutMs?: number } = {};
    if (url !== undefined) opened.url = url;
    opened.publishTimeoutMs = options.publishTimeoutMs ?? readEnv(BLOODBANK_PUBLISH_TIMEOUT_MS, env)!;
    transport = await openTransport(opened);
  }
  const tracer = options.tracer ?? (await tracerFromEnv(options.app, env));
  return new BusImpl<M>({
    tracer,
    app: options.app,
    transport,
    owned,
    topology,
    schemas,
    unknownTypes,
    publishRetryMs,
    registry: options.registry,
    logger: options.logger ?? defaultLogger(),
  });
}

interface BusInit {
  app: string;
  transport: Transport;
  owned: boolean;
  topology: ResolvedTopologyOptions;
  schemas: EventSchemas | undefined;
  unknownTypes: UnknownTypePolicy;
  publishRetryMs: number;
  registry: TopologyRegistry | undefined;
  logger: BusLogger;
  tracer: Tracer;
}

class BusImpl<M> implements Bus<M> {
  readonly app: string;
  readonly transport: Transport;
  readonly topology: ResolvedTopologyOptions;
  readonly deadLetters: DeadLetterOperations;
  readonly #owned: boolean;
  readonly #schemas: EventSchemas | undefined;
  readonly #unknownTypes: UnknownTypePolicy;
  readonly #publishRetryMs: number;
  readonly #logger: BusLogger;
  readonly #tracer: Tracer;
  readonly #exchange: string;
  readonly #publishes = new InFlight();
  readonly #subscriptions = new Set<Subscription>();
  readonly #streams = new Set<SubscriptionStream>();
  readonly #queues = new Set<string>();
  readonly #stoppers = new Set<() => Promise<void>>();
  #closed = false;

  constructor(init: BusInit) {
    this.app = init.app;
    this.transport = init.transport;
    this.topology = init.topology;
    this.#owned = init.owned;
    this.#schemas = init.schemas;
    this.#unknownTypes = init.unknownTypes;
    this.#publishRetryMs = init.publishRetryMs;
    this.#logger = init.logger;
    this.#tracer = init.tracer;
    this.#exchange = init.topology.exchange;
    const ops: Parameters<typeof createDeadLetterOperations>[1] = {
      topology: init.topology,
      queues: () => this.#queues,
    };
    if (init.registry) ops.registry = init.registry;
    this.deadLetters = createDeadLetterOperations(init.transport, ops);
    this.publish = this.publish.bind(this);
  }

  async publish<K extends keyof M & string>(
    type: K,
    payload: M[K],
    options: PublishOptions = {},
  ): Promise<EventEnvelope<M[K]>> {
    const parent = options.causedBy ?? currentEvent();
    const partial: Partial<EventEnvelope<M[K]>> & Pick<EventEnvelope<M[K]>, 'event_type' | 'payload'> = {
      event_type: type,
      payload,
    };
    // Copied key by key (not spread first and overwritten, a slow path in V8).
    const extensions = options.extensions;
    if (extensions) {
      for (const key in extensions) {
        if (key !== 'event_type' && key !== 'payload' && Object.hasOwn(extensions, key))
          partial[key] = extensions[key];
      }
    }
    if (options.eventId !== undefined) partial.event_id = options.eventId;
    if (options.timestamp !== undefined) partial.timestamp = options.timestamp;
    if (options.version !== undefined) partial.version = options.version;
    if (options.source !== undefined) partial.source = options.source as EventEnvelope['source'];
    const correlationId =
      options.correlationId !== undefined
        ? options.correlationId
        : parent
          ? (parent.correlation_id ?? parent.event_id)
          : null;
    if (correlationId !== null) partial.correlation_id = correlationId;
    const causationId = options.causationId !== undefined ? options.causationId : (parent?.event_id ?? null);
    if (causationId !== null) partial.causation_id = causationId;
    const span = this.#traceContext(partial, parent, options.causedBy === undefined);
    const envelope = completeEnvelope(partial, {
      app: this.app,
      trigger_type: parent ? 'event' : 'api',
    });
    try {
      this.#validate(envelope);
      await this.publishEnvelope(envelope, options.headers ? { headers: options.headers } : undefined);
    } catch (err) {
      span?.end(err);
      throw err;
    }
    span?.end();
    return envelope;
  }

  /**
   * The trace context of an event published now, beside its correlation: a `traceparent`
   * given as an extension is kept; otherwise the event is a child of the event being
   * handled (same trace id, a new span id, its `tracestate`), or the root of a new trace.
   * With OpenTelemetry on, the new span is a recorded `publish` span whose parent is the
   * running `handle` span.
   */
  #traceContext(
    partial: Partial<EventEnvelope<unknown>>,
    parent: EventEnvelope<unknown> | undefined,
    inHandler: boolean,
  ): Span | null {
    const given = partial.traceparent;
    if (given !== undefined && !this.#tracer.recording) return null;
    let from: TraceContext | null = null;
    if (given !== undefined) {
      from = parseTraceparent(given);
      // Left as given, so the codec refuses it with the same words as everywhere else.
      if (from === null) return null;
    } else {
      from =
        (inHandler ? currentHandleSpan() : undefined) ??
        (parent ? parseTraceparent(parent.traceparent) : null);
      if (from !== null && partial.tracestate === undefined && typeof parent?.tracestate === 'string') {
        partial.tracestate = parent.tracestate;
      }
    }
    if (!this.#tracer.recording) {
      partial.traceparent = formatTraceparent(from ? childOf(from) : newTrace());
      return null;
    }
    const span = this.#tracer.startSpan('publish', from, {
      event_type: partial.event_type,
      destination: this.#exchange,
    });
    partial.traceparent = formatTraceparent(span.context);
    return span;
  }

  #validate(envelope: EventEnvelope<unknown>): void {
    // Core's rule set first, as at every other entry point; then, with schemas, Holyfields.
    assertEnvelope(envelope, { mode: 'complete' });
    if (!this.#schemas) return;
    const result = this.#schemas.validate(envelope);
    if (!result.known) {
      // No schema for the type, but the envelope itself was checked: that is never optional.
      if (!result.ok) {
        throw new AppError(
          'INVALID_ENVELOPE',
          result.violations.map((v) => `${v.pointer || '/'} ${v.message}`).join('; '),
          { violations: result.violations },
        );
      }
      if (this.#unknownTypes === 'reject') {
        throw new AppError('UNKNOWN_EVENT_TYPE', `no schema covers '${envelope.event_type}'`, {
          violations: [{ pointer: '/event_type', message: `no schema covers '${envelope.event_type}'` }],
        });
      }
      if (this.#unknownTypes === 'warn') {
        this.#logger.warn(
          { event_type: envelope.event_type },
          'publishing an event type that no schema covers',
        );
      }
      return;
    }
    if (!result.ok) {
      throw new AppError(
        'SCHEMA_VIOLATION',
        `'${envelope.event_type}' breaks its schema: ${result.violations.map((v) => `${v.pointer || '/'} ${v.message}`).join('; ')}`,
        { violations: result.violations },
      );
    }
  }

  async publishEnvelope(envelope: EventEnvelope<unknown>, options?: PublishEnvelopeOptions): Promise<void> {
    const message = encodeEnvelope(envelope);
    // A fresh object: completed in place rather than spread into another (a slow path in V8).
    const properties: MessageProperties = message.properties;
    properties.persistent = true;
    if (options?.headers) properties.headers = { ...properties.headers, ...options.headers };
    const publish = {
      exchange: this.#exchange,
      routingKey: message.routingKey,
      body: message.body,
      properties,
      mandatory: true,
    };
    this.#publishes.enter();
    try {
      await this.transport.publish(publish);
    } catch (error) {
      // Only a refused publish pays for the retry; the same message goes again, same event id.
      if (this.#publishRetryMs === 0 || !isRetryablePublishError(error)) throw error;
      await retryPublish(
        () => this.transport.publish(publish),
        error,
        this.#publishRetryMs,
        () => this.#closed,
      );
    } finally {
      this.#publishes.leave();
    }
  }

  async subscribe(
    queue: string,
    patterns: readonly string[],
    handler: EventHandler<M>,
    options: SubscribeOptions = {},
  ): Promise<Subscription> {
    this.#live();
    const policy = resolveRetryPolicy(options.retry);
    const prefetch = options.prefetch ?? 16;
    const concurrency = options.concurrency ?? prefetch;
    const maxRedeliveries = options.maxRedeliveries ?? DEFAULT_MAX_REDELIVERIES;
    if (!(maxRedeliveries >= 0) || (Number.isFinite(maxRedeliveries) && !Number.isInteger(maxRedeliveries))) {
      throw new AppError(
        'CONFIG_INVALID',
        `maxRedeliveries must be a whole number >= 0 or Infinity, got ${maxRedeliveries}`,
      );
    }
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new AppError('CONFIG_INVALID', `concurrency must be a whole number >= 1, got ${concurrency}`);
    }
    if (options.declare !== false) {
      await ensureExchanges(this.transport, this.topology);
      // Only what is missing: a queue `bloodbank topology apply` made from the registry (its
      // TTL, its type) must not be declared again with this consumer's defaults, which the
      // broker refuses (TOPOLOGY_CONFLICT).
      await ensureQueue(this.transport, queue, patterns, this.topology, options.queue);
    }
    this.#queues.add(queue);
    const name = options.handlerName ?? (handler.name || queue);
    const logger = this.#logger;
    const chain = compose(
      [
        deadLetterOnFailure({
          transport: this.transport,
          dlx: this.topology.dlx,
          onDeadLetter: ({ message, error }) =>
            logger.warn(
              { queue, handler: name, attempts: message.attempt, error_class: errorClassOf(error) },
              `dead-lettered: ${errorReasonOf(error)}`,
            ),
        }),
        ...(maxRedeliveries === Number.POSITIVE_INFINITY
          ? []
          : [redeliveryGuard({ transport: this.transport, maxRedeliveries })]),
        retry({
          transport: this.transport,
          policy,
          tiersMs: this.topology.retryTiersMs,
          ...(options.isRetryable ? { isRetryable: options.isRetryable } : {}),
          onRetry: ({ message, error, delayMs }) =>
            logger.info(
              {
                queue,
                handler: name,
                attempt: message.attempt,
                delay_ms: delayMs,
                error_class: errorClassOf(error),
              },
              `retry scheduled: ${errorReasonOf(error)}`,
            ),
        }),
        decodeEnvelope(),
        ...(this.#tracer.recording ? [tracing(this.#tracer)] : []),
        correlation(),
        ...(options.middleware ?? []),
      ],
      (message: MessageContext) => handler(message.event!, this.#context(message)),
    );
    const limiter = concurrency < prefetch ? new Semaphore(concurrency) : null;
    const onDelivery = async (delivery: Delivery): Promise<void> => {
      if (limiter) await limiter.acquire();
      try {
        await chain({ delivery, queue, handler: name, attempt: attemptOf(delivery.properties.headers) });
        delivery.ack();
      } catch (err) {
        // Only a failed retry or dead-letter publish gets here: keep the message.
        if (!(err instanceof RequeueSignal)) {
          logger.error(
            { queue, handler: name, err: errorReasonOf(err) },
            'could not settle a failed message; requeued',
          );
        }
        delivery.nack({ requeue: true });
      } finally {
        limiter?.release();
      }
    };
    const consumer = await this.transport.consume(queue, onDelivery, { prefetch });
    const subscription: Subscription = {
      queue,
      cancel: async () => {
        this.#subscriptions.delete(subscription);
        await consumer.cancel();
      },
    };
    this.#subscriptions.add(subscription);
    return subscription;
  }

  #context(message: MessageContext): HandlerContext<M> {
    return {
      delivery: message.delivery,
      queue: message.queue,
      attempt: message.attempt,
      handler: message.handler,
      publish: this.publish,
    };
  }

  events(queue: string, patterns: readonly string[], options: EventsOptions = {}): EventStream {
    this.#live();
    const stream: SubscriptionStream = new SubscriptionStream(queue, (handler) =>
      this.subscribe(queue, patterns, (event) => handler(event), {
        handlerName: queue,
        ...options,
      }).then((sub) => ({
        queue,
        cancel: async () => {
          this.#streams.delete(stream);
          await sub.cancel();
        },
      })),
    );
    this.#streams.add(stream);
    return stream;
  }

  async startDeadLetterMonitor(options: { prefetch?: number } = {}) {
    this.#live();
    const queue = this.topology.monitorQueue;
    if (!queue)
      throw new AppError(
        'CONFIG_INVALID',
        'the topology has no dead-letter monitor queue (monitorQueue: false)',
      );
    await ensureExchanges(this.transport, this.topology);
    const monitor = await startDeadLetterMonitor({
      transport: this.transport,
      queue,
      app: this.app,
      publish: (env) => this.publishEnvelope(env),
      onError: (err, letter) =>
        this.#logger.error(
          { dead_letter_id: letter.id, err: errorReasonOf(err) },
          'could not publish a dead-letter event',
        ),
      ...(options.prefetch !== undefined ? { prefetch: options.prefetch } : {}),
    });
    const stop = async (): Promise<void> => {
      this.#stoppers.delete(stop);
      await monitor.stop();
    };
    this.#stoppers.add(stop);
    return { queue: monitor.queue, stop };
  }

  async drain(): Promise<void> {
    await Promise.all([
      ...[...this.#streams].map((s) => s.finish()),
      ...[...this.#subscriptions].map((s) => s.cancel()),
      ...[...this.#stoppers].map((stop) => stop()),
    ]);
    await this.#publishes.idle();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    await this.drain();
    this.#closed = true;
    await this.#tracer.flush().catch(() => {});
    if (this.#owned) await this.transport.close();
  }

  #live(): void {
    if (this.#closed) throw new AppError('TRANSPORT_CLOSED', 'the bus was closed');
  }
}
