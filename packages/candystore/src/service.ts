import type { AddressInfo } from 'node:net';
import {
  BLOODBANK_DLX,
  BLOODBANK_EXCHANGE,
  createTransport,
  logConnectionState,
  type Tracer,
  type Transport,
  tracerFromEnv,
  type WhenConnected,
  whenConnected,
} from '@33god/bloodbank';
import {
  type AccessConfig,
  AccessGuard,
  AMQP_URL,
  accessConfigFromEnv,
  DATABASE_URL,
  defaultRegistryPath,
  LOG_LEVEL,
  readEnv,
  SERVICES_REGISTRY,
  urlForBind,
} from '@33god/core';
import { loadServiceRegistry, type ServiceRegistry } from '@33god/holyfields';
import type { FastifyBaseLogger } from 'fastify';
import { pino } from 'pino';
import {
  CANDYSTORE_BATCH_MAX_WAIT_MS,
  CANDYSTORE_BATCH_SIZE,
  CANDYSTORE_DATA_DIR,
  CANDYSTORE_HOST,
  CANDYSTORE_INGEST_PAUSED,
  CANDYSTORE_PORT,
  CANDYSTORE_PUBLISH_PERSISTED,
  CANDYSTORE_QUEUE,
  CANDYSTORE_REPLAY_LEASE_MS,
  CANDYSTORE_REPLAY_MAX_RUNNING,
  CANDYSTORE_RETENTION_DAYS,
  CANDYSTORE_STREAM_MAX,
  CANDYSTORE_STREAM_MAX_PER_CLIENT,
  defaultDataDir,
} from './config.js';
import type { ApiContext, HealthReport } from './http/context.js';
import { buildApi } from './http/server.js';
import { Ingester } from './ingest/ingester.js';
import { StoreMetrics } from './metrics.js';
import { checkReplayerOptions, Replayer } from './replay/replayer.js';
import { replayTargets } from './replay/targets.js';
import { isTransientDbError } from './storage/database.js';
import type { EventStore } from './storage/event-store.js';
import { openStore, type StoreOptions } from './storage/open.js';
import { StoreTail } from './stream/tail.js';

export interface CandystoreOptions {
  /**
   * Records `deliver` and `handle` spans of the ingest. Default: OpenTelemetry when
   * OTEL_EXPORTER_OTLP_ENDPOINT is set (loaded at start), else none.
   */
  tracer?: Tracer;
  /** PostgreSQL URL; without it the embedded PGlite is used. */
  databaseUrl?: string;
  /** PGlite data directory; `null` keeps it in memory. Default `.data/candystore`. */
  dataDir?: string | null;
  /** An open transport (the caller keeps owning it). */
  transport?: Transport;
  /** RabbitMQ URL, used when no transport is given; neither: the shared embedded broker. */
  amqpUrl?: string;
  exchange?: string;
  queue?: string;
  dlx?: string;
  /** Default 8080; 0 picks a free port. */
  port?: number;
  /**
   * Default `127.0.0.1`. Any other address needs tokens in `access` (or its
   * `allowUnauthenticated`): the start is refused otherwise.
   */
  host?: string;
  /** Tokens, allowed origins and host names. Default: no tokens, so loopback only. */
  access?: AccessConfig;
  batchSize?: number;
  batchMaxWaitMs?: number;
  /** Days to keep; undefined keeps everything. */
  retentionDays?: number;
  /** How often retention and partition upkeep run. Default one hour. */
  maintenanceIntervalMs?: number;
  publishSummaries?: boolean;
  /** Consume the ingest queue (default true). False: query API only. */
  ingest?: boolean;
  /** Declare the ingest queue but do not consume it: events wait in the broker (maintenance). */
  ingestPaused?: boolean;
  logger?: FastifyBaseLogger;
  logLevel?: string;
  /**
   * Live-stream bounds; defaults: 16 sockets per client, 256 in all, per socket 10 000 held
   * events or 8 MiB of them while catching up and 8 MiB queued on the socket.
   */
  stream?: Partial<ApiContext['stream']>;
  /** Live-stream poll interval for commits made by other instances. Default 250 ms. */
  tailPollMs?: number;
  /**
   * How long a replay's lease lasts unless renewed (every 250 ms while it runs): the replays
   * of an instance that died are resumed by another this long after its last write, at most
   * a third of it more. Default 15 000, at least 1 000.
   */
  replayLeaseMs?: number;
  /** Most replays running at once on this database, all instances together (409 beyond). Default 4. */
  replayMaxRunning?: number;
  /**
   * The service registry, a path or loaded: a replay may publish to `exchange` or to the
   * queue of one of its services, nowhere else. Default: the project's services/registry.yaml;
   * null: no registry, so replays may publish to `exchange` only.
   */
  registry?: string | ServiceRegistry | null;
  /**
   * How long to keep retrying a PostgreSQL server that is not reachable at start (with
   * backoff, one log line per attempt). Default: until it answers. 0 fails at once.
   */
  databaseWaitMs?: number;
}

export interface RunningCandystore {
  /** Where to reach the API: the bound address (loopback for a wildcard bind). */
  url: string;
  port: number;
  /** The addresses the API really listens on. */
  addresses: readonly AddressInfo[];
  store: EventStore;
  /** Runs retention and partition upkeep now; returns the dropped partitions. */
  maintain(): Promise<string[]>;
  /**
   * Stops consuming, commits the current batch, stops replays (they stay running in the
   * database, and the next start resumes them) and streams, closes.
   */
  close(): Promise<void>;
}

/** Everything `startCandystore` would read from the environment, as options. */
export function optionsFromEnv(env: NodeJS.ProcessEnv = process.env): CandystoreOptions {
  const o: CandystoreOptions = {
    exchange: readEnv(BLOODBANK_EXCHANGE, env)!,
    queue: readEnv(CANDYSTORE_QUEUE, env)!,
    dlx: readEnv(BLOODBANK_DLX, env)!,
    port: readEnv(CANDYSTORE_PORT, env)!,
    host: readEnv(CANDYSTORE_HOST, env)!,
    batchSize: readEnv(CANDYSTORE_BATCH_SIZE, env)!,
    batchMaxWaitMs: readEnv(CANDYSTORE_BATCH_MAX_WAIT_MS, env)!,
    publishSummaries: readEnv(CANDYSTORE_PUBLISH_PERSISTED, env)!,
    logLevel: readEnv(LOG_LEVEL, env)!,
    access: accessConfigFromEnv(env),
  };
  const db = readEnv(DATABASE_URL, env);
  if (db) o.databaseUrl = db;
  o.dataDir = readEnv(CANDYSTORE_DATA_DIR, env) ?? defaultDataDir();
  const amqp = readEnv(AMQP_URL, env);
  if (amqp) o.amqpUrl = amqp;
  if (readEnv(CANDYSTORE_INGEST_PAUSED, env)) o.ingestPaused = true;
  o.replayLeaseMs = readEnv(CANDYSTORE_REPLAY_LEASE_MS, env)!;
  o.replayMaxRunning = readEnv(CANDYSTORE_REPLAY_MAX_RUNNING, env)!;
  o.stream = {
    maxPerClient: readEnv(CANDYSTORE_STREAM_MAX_PER_CLIENT, env)!,
    maxTotal: readEnv(CANDYSTORE_STREAM_MAX, env)!,
  };
  const registry = readEnv(SERVICES_REGISTRY, env);
  if (registry !== undefined) o.registry = registry;
  const days = readEnv(CANDYSTORE_RETENTION_DAYS, env);
  if (days !== undefined) o.retentionDays = days;
  return o;
}

async function openTransport(options: CandystoreOptions): Promise<{ transport: Transport; owned: boolean }> {
  if (options.transport) return { transport: options.transport, owned: false };
  // An AMQP URL gives RabbitMQ; none gives the process-wide embedded broker. A broker that
  // is down at start is waited for in the background: the API serves (503 on /health) meanwhile.
  const transport = await createTransport({
    url: options.amqpUrl,
    connectionName: 'candystore',
    initialConnect: 'retry',
  });
  return { transport, owned: true };
}

/** Opens the store, waiting for a database server that is not up yet (a transient error). */
async function openStoreWaiting(
  storeOptions: StoreOptions,
  waitMs: number,
  log: FastifyBaseLogger,
): Promise<EventStore> {
  const deadline = Date.now() + waitMs;
  let delay = 500;
  for (let attempt = 1; ; attempt++) {
    try {
      return await openStore(storeOptions);
    } catch (err) {
      if (!storeOptions.databaseUrl || !isTransientDbError(err) || Date.now() >= deadline) throw err;
      const wait = Math.min(delay, deadline - Date.now());
      log.warn(
        { attempt, retry_in_ms: wait, err: err instanceof Error ? err.message : String(err) },
        'database not reachable; retrying',
      );
      await new Promise((r) => setTimeout(r, wait));
      delay = Math.min(delay * 2, 5_000);
    }
  }
}

/** Starts the store: database (migrated), ingest, HTTP API, live stream, replays, retention. */
export async function startCandystore(options: CandystoreOptions = {}): Promise<RunningCandystore> {
  const log: FastifyBaseLogger =
    options.logger ?? (pino({ name: 'candystore', level: options.logLevel ?? 'info' }) as FastifyBaseLogger);
  // Refused here, before the database is opened: a store nobody may reach is not worth a migration.
  const host = options.host ?? '127.0.0.1';
  const guard = new AccessGuard(options.access);
  guard.bind('Candystore', host, 'CANDYSTORE_HOST', (message) => log.warn(message));
  const exchange = options.exchange ?? 'bloodbank.events.v1';
  const registry =
    options.registry === null
      ? null
      : typeof options.registry === 'object'
        ? options.registry
        : await loadServiceRegistry(options.registry ?? defaultRegistryPath());
  const replayOptions = checkReplayerOptions({
    ...(options.replayLeaseMs !== undefined ? { leaseMs: options.replayLeaseMs } : {}),
    ...(options.replayMaxRunning !== undefined ? { maxRunning: options.replayMaxRunning } : {}),
    targets: replayTargets(exchange, registry),
  });
  const metrics = new StoreMetrics();
  const store = await openStoreWaiting(
    {
      ...(options.databaseUrl ? { databaseUrl: options.databaseUrl } : {}),
      ...(!options.databaseUrl && options.dataDir !== null
        ? { dataDir: options.dataDir ?? defaultDataDir() }
        : {}),
      onDatabaseError: (err) => log.warn({ err: err.message }, 'database connection error'),
    },
    options.databaseWaitMs ?? Number.POSITIVE_INFINITY,
    log,
  );
  const cleanup: (() => Promise<void>)[] = [() => store.close()];
  const tracer = options.tracer ?? (await tracerFromEnv('candystore'));
  cleanup.push(() => tracer.flush().catch(() => {}));
  const fail = async (err: unknown): Promise<never> => {
    for (const c of cleanup.reverse()) await c().catch(() => {});
    throw err;
  };

  let transport: Transport;
  let ownsTransport = false;
  try {
    const t = await openTransport(options);
    transport = t.transport;
    ownsTransport = t.owned;
    if (t.owned) cleanup.push(() => transport.close());
  } catch (err) {
    return fail(err);
  }
  const stopBrokerLog = logConnectionState(transport, log);
  cleanup.push(async () => stopBrokerLog());

  const queue = options.queue ?? 'candystore.events';
  const tail = new StoreTail(store, { pollMs: options.tailPollMs ?? 250, log });
  const ingester =
    options.ingest === false
      ? null
      : new Ingester({
          transport,
          store,
          exchange,
          queue,
          dlx: options.dlx ?? 'bloodbank.dlx',
          batchSize: options.batchSize ?? 500,
          batchMaxWaitMs: options.batchMaxWaitMs ?? 5,
          publishSummaries: options.publishSummaries ?? true,
          paused: options.ingestPaused === true,
          metrics,
          log,
          onCommit: () => tail.poke(),
          tracer,
        });
  const replayer = new Replayer(store, transport, metrics, log, replayOptions);

  const withTimeout = <T>(p: Promise<T>, ms: number): Promise<T> =>
    Promise.race([
      p,
      new Promise<T>((_, rej) => setTimeout(() => rej(new Error(`no answer within ${ms} ms`)), ms).unref()),
    ]);

  const health = async (): Promise<HealthReport> => {
    const database: HealthReport['database'] = { ok: true, kind: store.kind };
    await withTimeout(store.ping(), 2000).catch((err: Error) => {
      database.ok = false;
      database.error = err.message.includes('no answer') ? err.message : 'database not reachable';
    });
    const broker: HealthReport['broker'] = { ok: transport.state === 'connected', state: transport.state };
    if (transport.node) broker.node = transport.node;
    if (transport.lastError) broker.error = transport.lastError;
    let lag: number | null = null;
    if (broker.ok) {
      await withTimeout(transport.checkQueue(queue), 2000)
        .then((info) => {
          lag = info?.messageCount ?? null;
          if (!info && ingester) {
            broker.ok = false;
            broker.error = `ingest queue ${queue} does not exist`;
          }
        })
        .catch((err: Error) => {
          broker.ok = false;
          broker.error = err.message;
        });
    }
    if (lag !== null) metrics.lag.set(lag);
    const held = ingester?.held ?? null;
    return {
      status: database.ok && broker.ok && !held ? 'ok' : 'degraded',
      database,
      broker,
      ingest: {
        queue,
        ...(options.ingestPaused ? { paused: true } : {}),
        lag,
        last_commit_at: ingester?.lastCommitAt?.toISOString() ?? null,
        database_error: held && {
          message: held.error,
          code: held.code,
          since: held.since.toISOString(),
          attempts: held.attempts,
        },
      },
    };
  };

  const ctx: ApiContext = {
    store,
    tail,
    replayer,
    metrics,
    health,
    refreshMetrics: async () => {
      const info = await withTimeout(transport.checkQueue(queue), 1000);
      if (info) metrics.lag.set(info.messageCount);
    },
    stream: {
      maxPerClient: 16,
      maxTotal: 256,
      maxPending: 10_000,
      maxPendingBytes: 8 * 1024 * 1024,
      maxBufferedBytes: 8 * 1024 * 1024,
      heartbeatMs: 15_000,
      ...options.stream,
    },
  };

  const maintain = async (): Promise<string[]> => {
    await store.ensurePartitions();
    if (options.retentionDays === undefined) return [];
    const cutoff = new Date(Date.now() - options.retentionDays * 24 * 3600_000);
    const dropped = await store.dropPartitionsBefore(cutoff);
    if (dropped.length) log.info({ dropped }, 'retention dropped partitions');
    const replays = await store.pruneReplays(cutoff);
    if (replays) log.info({ replays }, 'retention deleted finished replays');
    return dropped;
  };

  try {
    const app = await buildApi(ctx, { logger: log, guard });
    cleanup.push(() => app.close());
    let ingestStart: WhenConnected | null = null;
    if (ingester) {
      // Broker up: declare and consume now (a failure fails the start). Down: on first connect.
      const started = await whenConnected(transport, () => ingester.start(), {
        onError: (err) =>
          log.error(
            { err: err instanceof Error ? err.message : String(err) },
            'ingest not started; retrying',
          ),
      });
      ingestStart = started;
      cleanup.push(async () => {
        await started.stop();
        await ingester.stop();
      });
    }
    const maintenanceTimer = setInterval(
      () => void maintain().catch((err: Error) => log.warn({ err: err.message }, 'maintenance failed')),
      options.maintenanceIntervalMs ?? 3600_000,
    );
    maintenanceTimer.unref();
    void maintain().catch((err: Error) => log.warn({ err: err.message }, 'maintenance failed'));

    await app.listen({ port: options.port ?? 8080, host });
    const addr = app.server.address();
    const port = typeof addr === 'object' && addr ? addr.port : (options.port ?? 8080);
    const boundHost = typeof addr === 'object' && addr ? addr.address : host;
    log.info(
      { address: boundHost, port, url: urlForBind(boundHost, port), auth: guard.enabled },
      'candystore listening',
    );

    // Replays left running by an instance that stopped: resumed once the broker is there, and
    // looked for again every third of a lease, which takes over those of an instance that died.
    const resumeReplays = () =>
      replayer
        .resume()
        .then(() => {})
        .catch((err: Error) => log.warn({ err: err.message }, 'replays not resumed; retrying'));
    const replaysResumed = await whenConnected(transport, resumeReplays);
    const replaySweep = setInterval(() => void resumeReplays(), replayer.leaseMs / 3);
    replaySweep.unref();
    // a replay the broker dropped mid-way is released with its progress; resumed on reconnect
    const stopReplayReconnect = transport.onStateChange((state) => {
      if (state === 'connected') void resumeReplays();
    });
    let closing: Promise<void> | null = null;
    return {
      url: urlForBind(boundHost, port),
      port,
      addresses: app.addresses().filter((a): a is AddressInfo => typeof a === 'object'),
      store,
      maintain,
      close() {
        closing ??= (async () => {
          clearInterval(maintenanceTimer);
          clearInterval(replaySweep);
          stopReplayReconnect();
          stopBrokerLog();
          await replaysResumed.stop();
          await ingestStart?.stop();
          await ingester?.stop().catch((err: Error) => log.warn({ err: err.message }, 'ingest stop failed'));
          await replayer.close();
          tail.close();
          await app.close().catch(() => {});
          if (ownsTransport) await transport.close().catch(() => {});
          await store.close().catch(() => {});
        })();
        return closing;
      },
    };
  } catch (err) {
    tail.close();
    return fail(err);
  }
}
