import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import {
  type AccessConfig,
  AccessGuard,
  type AccessToken,
  AppError,
  defaultRegistryPath,
  defaultSchemasDir,
  LOG_LEVEL,
  OPEN_ACCESS,
  parseLegacyPublishTokens,
  readEnv,
  type Scope,
  SERVER_LIMITS,
  urlForBind,
} from '@33god/core';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyInstance, LogController } from 'fastify';
import { parseRateLimit, type RateLimit, RateLimiter } from '../auth/rate-limit.js';
import { type DeadLetterMonitor, startDeadLetterMonitor } from '../dead-letters/monitor.js';
import { createDeadLetterOperations, type DeadLetterOperations } from '../dead-letters/operations.js';
import { GatewayMetrics } from '../metrics/gateway-metrics.js';
import type { RetryPolicy } from '../middleware/backoff.js';
import type { CircuitBreakerOptions } from '../push/circuit-breaker.js';
import { type PushSubscriptionConfig, resolvePushSubscriptions } from '../push/config.js';
import { PushMetrics } from '../push/metrics.js';
import { type PushService, startPushService } from '../push/service.js';
import { openTransport } from '../sdk/transport.js';
import type { UnknownTypePolicy } from '../sdk/types.js';
import { ensureExchanges } from '../topology/apply.js';
import type { TopologyOptions } from '../topology/options.js';
import { type Tracer, tracerFromEnv } from '../tracing/tracer.js';
import type { Transport } from '../transport/transport.js';
import { logConnectionState } from '../transport/when-connected.js';
import { WebhookIngestor } from '../webhooks/ingest.js';
import { DEFAULT_PROVIDERS, type WebhookProvider } from '../webhooks/providers.js';
import { webhookRoutes } from '../webhooks/routes.js';
import { guardRoutes, markRoutes } from './access.js';
import { sendProblem } from './errors.js';
import { HEALTH_EVENT, healthStatusEvent } from './health-event.js';
import { assertJsonDepth } from './json-depth.js';
import { GATEWAY_ENTRY, PublishPipeline, WEBHOOK_ENTRY } from './pipeline.js';
import { type EnvelopePublisher, transportPublisher } from './publisher.js';
import { deadLetterRoutes } from './routes/dead-letters.js';
import { eventRoutes } from './routes/events.js';
import { healthReport, healthRoutes } from './routes/health.js';
import { schemaRoutes } from './routes/schemas.js';
import { type GatewaySchemaRegistry, type GatewayServiceRegistry, SchemaStore } from './schema-store.js';

export const DEFAULT_EXCHANGE = 'bloodbank.events.v1';
export const SCHEMA_UPDATED_EVENT = 'holyfields.schema.updated';
export { HEALTH_EVENT };

export interface GatewayOptions {
  /** Default 8682; 0 picks a free port. */
  port?: number;
  /**
   * Default 127.0.0.1. Any other address needs tokens (`access`), or `allowUnauthenticated`:
   * the gateway refuses to listen otherwise.
   */
  host?: string;
  /**
   * The broker. Give a transport (the gateway then also watches its connection state and
   * subscribes to schema updates), a publisher such as the SDK's Bus, or an AMQP URL. None:
   * the embedded in-process broker.
   */
  transport?: Transport;
  publisher?: EnvelopePublisher;
  amqpUrl?: string;
  exchange?: string;
  /** Dead-letter exchange (its monitor queue feeds the dead-letter monitor). Default `BLOODBANK_DLX`. */
  dlx?: string;
  /** Default: the project's schemas/. */
  schemasDir?: string;
  /** Default: the project's services/registry.yaml; null for none. */
  registryPath?: string | null;
  loadSchemas?: (dir: string) => GatewaySchemaRegistry | Promise<GatewaySchemaRegistry>;
  loadRegistry?: (path: string) => GatewayServiceRegistry | Promise<GatewayServiceRegistry>;
  unknownTypes?: UnknownTypePolicy;
  /**
   * Who may call, and from where (`accessConfigFromEnv`). No tokens: auth off, loopback only.
   * Routes need the scope the gateway docs list; webhooks are checked by their signature.
   */
  access?: AccessConfig;
  /**
   * Earlier releases' tokens: token → registry service id (a map, a record, or the
   * BLOODBANK_AUTH_TOKENS syntax). Each is a `publish` token of that service, added to `access`.
   */
  authTokens?: ReadonlyMap<string, string> | Record<string, string> | string;
  rateLimit?: RateLimit | string;
  bodyLimit?: number;
  batchMax?: number;
  /** Secret per webhook provider id (`plane`, `github`). */
  webhookSecrets?: Record<string, string | undefined>;
  webhookProviders?: readonly WebhookProvider[];
  /** Interval of bloodbank.health.status events; 0 turns them off. Default 30 000. */
  healthIntervalMs?: number;
  /** Reload on changes under schemasDir. Default true. */
  watchSchemas?: boolean;
  /** Reload on holyfields.schema.updated events (needs a transport). Default true. */
  subscribeSchemaUpdates?: boolean;
  deadLetters?: DeadLetterOperations;
  /**
   * Run the dead-letter monitor (one `bloodbank.message.dlq` event per dead letter). Default
   * true; gateways compete on its queue, so each dead letter is reported once.
   */
  deadLetterMonitor?: boolean;
  /**
   * Run the registry's push subscriptions in this process (docs/push.md). Default true: they
   * start when the registry has any (a misconfigured one refuses the start with
   * PUSH_CONFIG_INVALID); false leaves them to `bloodbank push`. An object tunes the retry
   * policy and the circuit breaker.
   */
  push?: boolean | { retry?: Partial<RetryPolicy>; breaker?: CircuitBreakerOptions };
  /** Where `secret_env` of push subscriptions is read. Default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** `source.app` of events that name none when tokens are off. Default `bloodbank-gateway`. */
  app?: string;
  logLevel?: string;
  /**
   * Records a `publish` span per event. Default: OpenTelemetry when OTEL_EXPORTER_OTLP_ENDPOINT
   * is set (loaded at start), else the no-op tracer.
   */
  tracer?: Tracer;
}

export interface Gateway {
  /** The address the gateway is bound to (loopback for a wildcard bind), once listening. */
  readonly url: string;
  readonly port: number;
  readonly app: FastifyInstance;
  readonly schemas: SchemaStore;
  readonly metrics: GatewayMetrics;
  readonly transport: Transport | undefined;
  /** The push subscriptions this gateway runs, if any. */
  readonly push: PushService | null;
  /** Stops accepting requests, waits for in-flight publishes, closes what the gateway opened. */
  close(): Promise<void>;
}

/** `access`, plus the `authTokens` of earlier releases as `publish` tokens. */
function accessConfig(options: GatewayOptions): AccessConfig {
  const access = options.access ?? OPEN_ACCESS;
  const tokens = options.authTokens;
  if (tokens === undefined) return access;
  const legacy: AccessToken[] =
    typeof tokens === 'string'
      ? parseLegacyPublishTokens(tokens, 'authTokens')
      : [...(tokens instanceof Map ? tokens : Object.entries(tokens))].map(([token, name]) => ({
          token,
          principal: { name, scopes: new Set<Scope>(['publish']) },
        }));
  return { ...access, tokens: [...access.tokens, ...legacy] };
}

/** Builds the gateway without listening (tests can `inject`); `startGateway` also listens. */
export async function buildGateway(
  options: GatewayOptions = {},
): Promise<Gateway & { listen(): Promise<void> }> {
  const exchange = options.exchange ?? DEFAULT_EXCHANGE;
  const topology: TopologyOptions = { exchange, ...(options.dlx ? { dlx: options.dlx } : {}) };
  const bodyLimit = options.bodyLimit ?? 1024 * 1024;
  const batchMax = options.batchMax ?? 1000;
  const ownTransport = options.transport === undefined && options.publisher === undefined;
  const transport: Transport | undefined =
    options.transport ??
    (ownTransport
      ? await openTransport(
          // A gateway starts without a broker and answers 503 until it connects.
          options.amqpUrl === undefined ? {} : { url: options.amqpUrl, initialConnect: 'retry' },
        )
      : undefined);
  const publisher = options.publisher ?? transportPublisher(transport!, exchange, topology);

  const app = Fastify({
    ...SERVER_LIMITS,
    logger: { level: options.logLevel ?? readEnv(LOG_LEVEL) ?? 'info', name: 'bloodbank-gateway' },
    bodyLimit,
    // Per-request log lines cost more than the publish on the hot path; errors are still logged.
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    // Malformed URLs (bad percent-encoding) are rejected by the router before any error
    // handler runs; without this they would get Fastify's own JSON instead of problem+json.
    frameworkErrors: (err, request, reply) => sendProblem(err, request, reply),
  });
  const metrics = new GatewayMetrics();
  const store = new SchemaStore({
    schemasDir: options.schemasDir ?? defaultSchemasDir(),
    registryPath: options.registryPath === null ? undefined : (options.registryPath ?? defaultRegistryPath()),
    loadSchemas: options.loadSchemas,
    loadRegistry: options.loadRegistry,
    log: app.log,
  });
  await store.load();
  // Checked before anything listens: a misconfigured push subscription refuses the start.
  let pushConfigs: PushSubscriptionConfig[] = [];
  try {
    if (options.push !== false && store.services)
      pushConfigs = resolvePushSubscriptions(store.services, options.env ?? process.env);
  } catch (err) {
    if (ownTransport) await transport?.close();
    throw err;
  }

  const guard = new AccessGuard(accessConfig(options));
  const rate = typeof options.rateLimit === 'string' ? parseRateLimit(options.rateLimit) : options.rateLimit;
  const tracer = options.tracer ?? (await tracerFromEnv('bloodbank-gateway', options.env));
  const pipeline = new PublishPipeline({
    tracer,
    store,
    metrics,
    publisher,
    transport,
    limiter: rate ? new RateLimiter(rate) : null,
    unknownTypes: options.unknownTypes ?? 'reject',
    log: app.log,
  });

  // Route schemas document the API; requests are checked by the pipeline, which knows the
  // catalogue's codes (422 with pointers) rather than Fastify's generic 400.
  app.setValidatorCompiler(() => () => true);
  app.setErrorHandler((err, request, reply) => {
    return sendProblem(err, request, reply, (e) => {
      pipeline.rejected(e.code);
      if (e.status >= 500 && e.status !== 503) request.log.error({ err }, 'request failed');
    });
  });
  app.setNotFoundHandler((request, reply) =>
    sendProblem(new AppError('NOT_FOUND', `no route ${request.method} ${request.url}`), request, reply),
  );
  // Before any route: every one, 404s included, is behind the door.
  guardRoutes(app, guard);

  const jsonParser = app.getDefaultJsonParser('error', 'ignore');
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(
    ['application/json', 'application/cloudevents+json', 'application/cloudevents-batch+json'],
    { parseAs: 'string' },
    (request, body, done) => {
      try {
        assertJsonDepth(body as string);
      } catch (err) {
        done(err as Error, undefined);
        return;
      }
      jsonParser(request, body as string, done);
    },
  );
  app.addContentTypeParser('application/x-ndjson', { parseAs: 'string' }, (_request, body, done) => {
    try {
      assertJsonDepth(body as string);
      done(null, parseNdjson(body as string));
    } catch (err) {
      done(err as Error, undefined);
    }
  });

  await app.register(swagger, {
    openapi: {
      info: {
        title: 'Bloodbank gateway',
        version: '1.0.0',
        description: 'Publish events to the 33GOD event bus over HTTP. Errors are RFC 9457 problem+json.',
      },
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      },
    },
  });
  // The API's documentation is public; its UI's routes and static files are the plugin's own.
  await app.register(async (docs) => {
    markRoutes(docs, 'public');
    await docs.register(swaggerUi, { routePrefix: '/docs' });
  });
  app.get('/openapi.json', { config: { access: 'public' }, schema: { hide: true } }, async () =>
    app.swagger(),
  );

  await app.register(eventRoutes, { pipeline, batchMax, defaultApp: options.app ?? 'bloodbank-gateway' });
  let push: PushService | null = null;
  await app.register(healthRoutes, {
    transport,
    store,
    metrics,
    exchange,
    push: () => push?.status() ?? [],
    statusOnly: (request) => guard.enabled && request.principal === null,
  });
  await app.register(schemaRoutes, { store });
  await app.register(deadLetterRoutes, {
    pipeline,
    operations:
      options.deadLetters ??
      (transport
        ? createDeadLetterOperations(transport, {
            // A getter, so a registry reload also updates the queues listed.
            registry: {
              get services() {
                return store.services?.services ?? [];
              },
            },
            topology,
          })
        : undefined),
  });
  const ingestor = new WebhookIngestor({
    providers: options.webhookProviders ?? DEFAULT_PROVIDERS,
    secrets: options.webhookSecrets ?? {},
    // The one way in for webhook events: the pipeline refuses them from anywhere else.
    publish: (envelope) => pipeline.submit(envelope, WEBHOOK_ENTRY),
  });
  await app.register(webhookRoutes, { ingestor });

  const cleanups: (() => Promise<void> | void)[] = [];
  if (options.watchSchemas !== false) {
    store.watch();
    cleanups.push(() => store.close());
  }
  if (transport && options.subscribeSchemaUpdates !== false) {
    cleanups.push(await subscribeSchemaUpdates(transport, topology, store, app));
  }
  if (transport && options.deadLetterMonitor !== false) {
    cleanups.push(startMonitorWhenConnected(transport, topology, pipeline, app));
  }
  if (transport) {
    metrics.brokerConnected.set(transport.state === 'connected' ? 1 : 0);
    const off = transport.onStateChange((state) => {
      metrics.brokerConnected.set(state === 'connected' ? 1 : 0);
    });
    // The same log lines as the store's and the dispatcher's: each loss and failed attempt
    // (rate-limited) with the node and the cause, and the reconnect.
    cleanups.push(logConnectionState(transport, app.log));
    cleanups.push(off);
  }
  if (pushConfigs.length > 0) {
    if (!transport) app.log.warn('push subscriptions need a transport; this gateway has only a publisher');
    else {
      const tuning = typeof options.push === 'object' ? options.push : {};
      push = await startPushService({
        transport,
        registry: { services: [] },
        subscriptions: pushConfigs,
        topology,
        logger: app.log,
        metrics: new PushMetrics(metrics.registry),
        ...(tuning.retry ? { retry: tuning.retry } : {}),
        ...(tuning.breaker ? { breaker: tuning.breaker } : {}),
      });
      const running = push;
      cleanups.push(() => running.stop());
    }
  }
  const interval = options.healthIntervalMs ?? 30_000;
  if (interval > 0) {
    const host = hostname();
    const timer = setInterval(async () => {
      const envelope = healthStatusEvent(await healthReport(transport, store, exchange), host);
      pipeline
        .submit(envelope, GATEWAY_ENTRY)
        .catch((err) => app.log.debug({ err: String(err) }, 'health event not published'));
    }, interval);
    timer.unref();
    cleanups.push(() => clearInterval(timer));
  }

  let url = '';
  let port = 0;
  let closing: Promise<void> | null = null;
  const gateway = {
    app,
    schemas: store,
    metrics,
    transport,
    get push() {
      return push;
    },
    get url() {
      return url;
    },
    get port() {
      return port;
    },
    async listen() {
      const host = options.host ?? '127.0.0.1';
      // Refuses a non-loopback address without tokens, and learns the names the Host check allows.
      guard.bind('Bloodbank gateway', host, 'BLOODBANK_HOST', (message) => app.log.warn(message));
      await app.listen({ port: options.port ?? 8682, host });
      const bound = app.server.address() as AddressInfo;
      port = bound.port;
      url = urlForBind(bound.address, port);
      app.log.info({ address: bound.address, port, url, auth: guard.enabled }, 'gateway listening');
    },
    close() {
      closing ??= (async () => {
        for (const c of cleanups.splice(0).reverse()) await c();
        // Fastify stops accepting and waits for requests in flight (and so their confirms).
        // It closes the keep-alive connections that are idle when it starts; one that was
        // busy then stays open after its answer until the 72 s keep-alive timeout, and the
        // close waited for it (seen as a 70 s shutdown under load). Sweeping idle
        // connections until the close completes ends each as soon as its answer is out.
        const sweep = setInterval(() => app.server.closeIdleConnections(), 25);
        try {
          await app.close();
        } finally {
          clearInterval(sweep);
        }
        await pipeline.drained();
        await tracer.flush().catch(() => {});
        if (ownTransport) await transport?.close();
      })();
      return closing;
    },
  };
  return gateway;
}

/** Builds the gateway and listens on `port` (default 8682). */
export async function startGateway(options: GatewayOptions = {}): Promise<Gateway> {
  const gateway = await buildGateway(options);
  try {
    await gateway.listen();
  } catch (err) {
    await gateway.close();
    throw err;
  }
  return gateway;
}

function parseNdjson(text: string): unknown[] {
  const items: unknown[] = [];
  const lines = text.split('\n');
  const bad: { pointer: string; message: string }[] = [];
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    try {
      items.push(JSON.parse(line));
    } catch {
      bad.push({ pointer: `/${items.length + bad.length}`, message: `line ${i + 1} is not valid JSON` });
    }
  });
  if (bad.length > 0) {
    throw new AppError('MALFORMED_JSON', 'every NDJSON line must be one JSON value', { violations: bad });
  }
  return items;
}

/**
 * A private, auto-deleted queue bound to holyfields.schema.updated, so every gateway
 * instance hears every update (a shared queue would give each update to one of them).
 * When the broker is down at start, the subscription is made on the first reconnect;
 * afterwards the transport re-declares it by itself.
 */
async function subscribeSchemaUpdates(
  transport: Transport,
  topology: TopologyOptions,
  store: SchemaStore,
  app: FastifyInstance,
): Promise<() => Promise<void>> {
  const queue = `bloodbank.gateway.schema-updates.${randomUUID()}`;
  let consumer: { cancel(): Promise<void> } | null = null;
  let attempt: Promise<void> | null = null;
  const subscribe = async () => {
    await ensureExchanges(transport, topology);
    await transport.assertQueue(queue, { durable: false, autoDelete: true, exclusive: true });
    await transport.bindQueue(queue, topology.exchange ?? DEFAULT_EXCHANGE, SCHEMA_UPDATED_EVENT);
    consumer = await transport.consume(queue, async (delivery) => {
      delivery.ack();
      await store.reload(SCHEMA_UPDATED_EVENT);
    });
  };
  const tryOnce = () => {
    attempt ??= subscribe()
      .catch((err) =>
        app.log.warn({ err: String(err) }, 'not subscribed to schema updates yet; will retry on reconnect'),
      )
      .finally(() => {
        attempt = null;
      });
    return attempt;
  };
  await tryOnce();
  const off = transport.onStateChange((state) => {
    if (state === 'connected' && consumer === null) void tryOnce();
  });
  return async () => {
    off();
    await attempt;
    const c = consumer as { cancel(): Promise<void> } | null;
    await c?.cancel().catch(() => {});
    await transport.deleteQueue(queue).catch(() => {});
  };
}

/**
 * Starts the dead-letter monitor now, or on the first reconnect when the broker is down
 * at start (the gateway serves without a broker and answers 503 until it is back).
 */
function startMonitorWhenConnected(
  transport: Transport,
  topology: TopologyOptions,
  pipeline: PublishPipeline,
  app: FastifyInstance,
): () => Promise<void> {
  let monitor: DeadLetterMonitor | null = null;
  let starting: Promise<void> | null = null;
  let stopped = false;
  const start = () => {
    if (monitor || starting || stopped) return;
    starting = (async () => {
      const resolved = await ensureExchanges(transport, topology);
      if (resolved.monitorQueue === null || stopped) return;
      monitor = await startDeadLetterMonitor({
        transport,
        queue: resolved.monitorQueue,
        app: 'bloodbank',
        publish: (envelope) => pipeline.submit(envelope, GATEWAY_ENTRY),
        onError: (err) => app.log.warn({ err: String(err) }, 'dead-letter event not published; retrying'),
      });
    })()
      .catch((err) => app.log.warn({ err: String(err) }, 'dead-letter monitor not started yet'))
      .finally(() => {
        starting = null;
      });
  };
  const off = transport.onStateChange((state) => {
    if (state === 'connected') start();
  });
  start();
  return async () => {
    stopped = true;
    off();
    await starting;
    await monitor?.stop();
  };
}
