import type { AddressInfo } from 'node:net';
import {
  BLOODBANK_PUBLISH_TIMEOUT_MS,
  type Bus,
  type RetryPolicy as BusRetryPolicy,
  connect,
  createTransport,
  type EventSchemas,
  logConnectionState,
  NonRetryableError,
  RequeueSignal,
  type Subscription,
  type TopologyOptions,
  type Transport,
  type WhenConnected,
  whenConnected,
} from '@33god/bloodbank';
import {
  type AccessConfig,
  AccessGuard,
  AppError,
  defaultSchemasDir,
  isAppError,
  readEnv,
  urlForBind,
} from '@33god/core';
import type { ComponentCheckOptions } from './checks/component-check.js';
import { assertServeable, type DispatcherConfig, resolveDispatcherConfig } from './config.js';
import { createOpenClawClient, type RetryPolicy } from './dispatch/openclaw-client.js';
import { PLANE_WEBHOOK_PATTERN } from './dispatcher/events.js';
import { createDispatchPipeline, type DispatchPipeline, type DispatchStats } from './dispatcher/pipeline.js';
import { buildHealthServer } from './http/health.js';
import { DispatchStateStore } from './state/dispatch-state.js';

/**
 * The running dispatcher: a bus subscription on its own durable queue bound to
 * `webhook.plane.#`, the domain pipeline behind it, and `/health`.
 */

export interface StartDispatcherOptions {
  /** Settings; anything missing takes its default (not the environment: the CLI reads that). */
  readonly config?: Partial<DispatcherConfig>;
  /** Use this bus (it stays open on `close()`). */
  readonly bus?: Bus;
  /** Or connect over this transport (it stays open on `close()`). */
  readonly transport?: Transport;
  /**
   * Or connect to this RabbitMQ URL. None of the three: the embedded in-process broker.
   * A broker that is down at start is waited for in the background (`/health` answers 503
   * until the dispatcher is connected and consuming).
   */
  readonly amqpUrl?: string;
  /** Events exchange; default `bloodbank.events.v1`. */
  readonly exchange?: string;
  /** Dead-letter exchange, retry tiers, … of the bus the dispatcher connects. */
  readonly topology?: TopologyOptions;
  /** Schemas the published events are validated against. Default: the project's schema tree. */
  readonly schemas?: EventSchemas | string;
  /** Overrides `config.queue`, `config.statePath`, `config.port`, `config.host`, `config.hookUrl`. */
  readonly queue?: string;
  readonly statePath?: string;
  readonly port?: number;
  /**
   * Interface `/health` listens on. Default `127.0.0.1`; any other address needs tokens in
   * `access` (or its `allowUnauthenticated`), else the start is refused.
   */
  readonly host?: string;
  /** Tokens, allowed origins and host names. Default: no tokens, so loopback only. */
  readonly access?: AccessConfig;
  readonly hookUrl?: string;
  /** OpenClaw retries (attempts, delays, total time). */
  readonly openclawRetry?: Partial<RetryPolicy>;
  /** The bus's retries of a failed delivery before it is dead-lettered. */
  readonly busRetry?: Partial<BusRetryPolicy>;
  readonly prefetch?: number;
  readonly concurrency?: number;
  /** Component check timeouts in ms instead of seconds, output size. */
  readonly checks?: ComponentCheckOptions;
  /** How long `close()` waits for running handlers before aborting their OpenClaw retries and checks. */
  readonly drainTimeoutMs?: number;
  readonly logLevel?: string;
  /** Replaces the global fetch for OpenClaw requests. */
  readonly fetch?: typeof fetch;
}

export interface RunningDispatcher {
  /** Port of `/health`. */
  readonly port: number;
  /** Base URL of the health server, e.g. `http://127.0.0.1:8690` (loopback for a wildcard bind). */
  readonly url: string;
  /** The addresses the health server really listens on. */
  readonly addresses: readonly AddressInfo[];
  readonly queue: string;
  readonly config: DispatcherConfig;
  readonly bus: Bus;
  readonly state: DispatchStateStore;
  readonly stats: Readonly<DispatchStats>;
  readonly pipeline: DispatchPipeline;
  /** Stops taking events, waits for running ones (see `drainTimeoutMs`), then closes what it opened. */
  close(): Promise<void>;
}

export const APP_NAME = 'infra-dispatcher';

export async function startDispatcher(options: StartDispatcherOptions = {}): Promise<RunningDispatcher> {
  const config = resolveDispatcherConfig({
    ...options.config,
    ...(options.queue === undefined ? {} : { queue: options.queue }),
    ...(options.statePath === undefined ? {} : { statePath: options.statePath }),
    ...(options.port === undefined ? {} : { port: options.port }),
    ...(options.host === undefined ? {} : { host: options.host }),
    ...(options.hookUrl === undefined ? {} : { hookUrl: options.hookUrl }),
  });
  assertServeable(config);
  const guard = new AccessGuard(options.access);
  const logLevel = options.logLevel ?? process.env.LOG_LEVEL ?? 'info';
  // Refused before anything is opened; the warning (ALLOW_UNAUTHENTICATED) goes to the log below.
  const bindWarnings: string[] = [];
  guard.bind('Infra Dispatcher', config.host, 'INFRA_DISPATCHER_HOST', (m) => bindWarnings.push(m));
  // A malformed state file stops the start here: dispatching without it could repeat every ticket.
  const state = await DispatchStateStore.open(config.statePath);

  let subscription: Subscription | undefined;
  const health = buildHealthServer(
    {
      busState: () => {
        const s = bus?.transport.state ?? 'connecting';
        // Connected but not consuming yet (the broker came up after the dispatcher): not healthy.
        return s === 'connected' && subscription === undefined ? 'subscribing' : s;
      },
      state,
      get stats() {
        return pipeline.stats;
      },
      queue: config.queue,
    },
    logLevel,
    guard,
  );
  const log = health.log;
  for (const m of bindWarnings) log.warn(m);

  let bus: Bus | undefined;
  const ownsBus = options.bus === undefined;
  let ownTransport: Transport | undefined;
  try {
    if (!options.bus && !options.transport && options.amqpUrl) {
      ownTransport = await createTransport({
        url: options.amqpUrl,
        connectionName: APP_NAME,
        initialConnect: 'retry',
        publishTimeoutMs: readEnv(BLOODBANK_PUBLISH_TIMEOUT_MS)!,
      });
    }
    const transport = options.transport ?? ownTransport;
    bus =
      options.bus ??
      (await connect({
        app: APP_NAME,
        ...(transport ? { transport } : {}),
        ...(options.exchange ? { exchange: options.exchange } : {}),
        ...(options.topology ? { topology: options.topology } : {}),
        schemas: options.schemas ?? defaultSchemasDir(),
        logger: log,
      }));
  } catch (err) {
    await ownTransport?.close().catch(() => {});
    await health.close();
    throw err;
  }
  const theBus = bus;
  const stopBrokerLog = logConnectionState(theBus.transport, log);

  const abort = new AbortController();
  const client = createOpenClawClient({
    url: config.hookUrl,
    token: config.hookToken,
    ...(options.openclawRetry ? { retry: options.openclawRetry } : {}),
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  const pipeline = createDispatchPipeline({
    config,
    state,
    client,
    // Published inside the handler, so every event carries the webhook's correlation and causation.
    publish: (type, payload) => theBus.publish(type, payload),
    ...(options.checks ? { checks: options.checks } : {}),
    logger: log,
    signal: abort.signal,
  });

  const subscribe = async (): Promise<void> => {
    subscription = await theBus.subscribe(
      config.queue,
      [PLANE_WEBHOOK_PATTERN],
      async function infraDispatcher(event) {
        try {
          await pipeline.handle(event);
        } catch (err) {
          throw toBusError(err);
        }
      },
      {
        handlerName: APP_NAME,
        ...(options.prefetch === undefined ? {} : { prefetch: options.prefetch }),
        ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
        ...(options.busRetry ? { retry: options.busRetry } : {}),
      },
    );
  };
  let subscribing: WhenConnected | undefined;
  try {
    // Broker up: subscribe now (a failure fails the start). Down: on the first connect.
    subscribing = await whenConnected(theBus.transport, subscribe, {
      onError: (err) =>
        log.error({ err: err instanceof Error ? err.message : String(err) }, 'not consuming yet; retrying'),
    });
    await health.listen({ port: config.port, host: config.host });
  } catch (err) {
    stopBrokerLog();
    await subscribing?.stop();
    await subscription?.cancel().catch(() => {});
    if (ownsBus) await theBus.close().catch(() => {});
    await ownTransport?.close().catch(() => {});
    await health.close().catch(() => {});
    throw err;
  }
  const started = subscribing;
  const bound = health.server.address() as AddressInfo;
  log.info(
    {
      queue: config.queue,
      hook_url: config.hookUrl,
      state_path: config.statePath,
      address: bound.address,
      port: bound.port,
      auth: guard.enabled,
    },
    'infra dispatcher started',
  );

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      stopBrokerLog();
      await started.stop();
      const drained = subscription?.cancel() ?? Promise.resolve();
      const timer = setTimeout(() => abort.abort(), options.drainTimeoutMs ?? 30_000);
      try {
        await drained;
      } finally {
        clearTimeout(timer);
      }
      abort.abort();
      if (ownsBus) await theBus.close();
      await ownTransport?.close();
      await state
        .flush()
        .catch((err: unknown) => log.error({ err }, 'could not write the state file at shutdown'));
      await health.close();
    })();
    return closing;
  };

  return {
    port: bound.port,
    url: urlForBind(bound.address, bound.port),
    addresses: health.addresses().filter((a): a is AddressInfo => typeof a === 'object'),
    queue: config.queue,
    config,
    bus: theBus,
    state,
    get stats() {
      return pipeline.stats;
    },
    pipeline,
    close,
  };
}

/**
 * What the bus should do with a failed event. OpenClaw refusing the request is final
 * (dead letter, with OpenClaw's answer as the reason); a stop in the middle puts the
 * event back untouched; everything else follows the error catalogue (retryable
 * `DISPATCH_FAILED` is retried with backoff, then dead-lettered).
 */
export function toBusError(err: unknown): unknown {
  if (isAppError(err) && err.code === 'DISPATCH_REJECTED')
    return new NonRetryableError(err.message, { cause: err });
  if (isAppError(err) && err.extra.stopping === true) return new RequeueSignal();
  if (err instanceof AppError || err instanceof Error) return err;
  return new AppError('HANDLER_FAILED', String(err));
}
