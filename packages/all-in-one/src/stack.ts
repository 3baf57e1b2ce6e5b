import { randomBytes } from 'node:crypto';
import { type AddressInfo, createServer } from 'node:net';
import { join } from 'node:path';
import {
  BLOODBANK_DLX,
  BLOODBANK_EMBEDDED_STORAGE,
  BLOODBANK_EXCHANGE,
  createTransport,
  type EmbeddedBroker,
  embeddedLimitsFromEnv,
  type Gateway,
  gatewayOptionsFromEnv,
  openEmbeddedBroker,
  startGateway,
  type Transport,
} from '@33god/bloodbank';
import { type CandybarServer, candybarOptionsFromEnv, startCandybar } from '@33god/candybar';
import {
  optionsFromEnv as candystoreOptionsFromEnv,
  type RunningCandystore,
  startCandystore,
} from '@33god/candystore';
import {
  type AccessConfig,
  AccessGuard,
  type AccessToken,
  AMQP_URL,
  accessConfigFromEnv,
  DATABASE_URL,
  envVar,
  isLoopbackHost,
  parse,
  projectRoot,
  readEnv,
  urlForBind,
} from '@33god/core';
import {
  configFromEnv as dispatcherConfigFromEnv,
  type RunningDispatcher,
  startDispatcher,
} from '@33god/infra-dispatcher';
import { lockDataDir } from './data-dir-lock.js';
import { type OpenClawDemoSink, startOpenClawDemoSink } from './demo/openclaw-sink.js';
import { type DemoTraffic, startDemoTraffic } from './demo/traffic.js';

export const STACK_DATA_DIR = envVar({
  name: 'STACK_DATA_DIR',
  doc: 'All-in-one mode: directory for the embedded database and the dispatcher state. Default `.data` at the repository root.',
  parse: parse.string,
});

export const LOG_FORMAT = envVar({
  name: 'LOG_FORMAT',
  doc: "`npm start`: how the parts' log lines are shown: `pretty` (a readable line each: time, level, part, message, fields) or `json` (pino's JSON lines as they are, for a log collector).",
  parse: parse.oneOf(['pretty', 'json'] as const),
  default: 'pretty',
});

export interface StackOptions {
  /** Start the demo traffic (and, when no OpenClaw token is set, the local OpenClaw demo sink). */
  demo?: boolean;
  env?: NodeJS.ProcessEnv;
  /** Override every port (tests use 0). */
  ports?: { gateway?: number; store?: number; dashboard?: number; dispatcher?: number };
  /**
   * The address every part listens on (`33god up --host`). Default: each part's own variable
   * (BLOODBANK_HOST, CANDYSTORE_HOST, CANDYBAR_HOST, INFRA_DISPATCHER_HOST), all `127.0.0.1`
   * unless set. Beyond loopback only with tokens in `access` (or its `allowUnauthenticated`).
   */
  host?: string;
  /** Tokens and allowlists, the same for every part. Default: `accessConfigFromEnv(env)`. */
  access?: AccessConfig;
  /** Keep the embedded database in memory instead of the data directory (tests). */
  inMemory?: boolean;
  /** Seconds between demo Plane tickets. Default 2. */
  demoTicketIntervalSeconds?: number;
  log?: (line: string) => void;
}

export interface PartInfo {
  name: string;
  /** Where to reach it: the bound address (loopback for a wildcard bind). */
  url: string;
  /** The addresses it really listens on (`127.0.0.1:8080`); none for a part not started. */
  listening: readonly string[];
  note: string;
}

export interface RunningStack {
  readonly mode: {
    broker: 'embedded' | 'rabbitmq';
    /** The embedded broker's storage (none with RabbitMQ). */
    brokerStorage: 'durable' | 'memory' | null;
    database: 'embedded' | 'postgresql';
  };
  readonly parts: readonly PartInfo[];
  /** Tokens are configured: every part asks for one (but on its public routes). */
  readonly auth: boolean;
  readonly transport: Transport;
  readonly gateway: Gateway;
  readonly store: RunningCandystore;
  readonly dashboard: CandybarServer;
  readonly dispatcher: RunningDispatcher | null;
  readonly demo: DemoTraffic | null;
  /**
   * Stops in dependency order: demo, gateway, dispatcher, store (after its queue drained),
   * dashboard, broker; then frees the data directory.
   */
  close(): Promise<void>;
}

/** Every part in this process, sharing one transport: embedded broker and database unless URLs are set. */
export async function startStack(options: StackOptions = {}): Promise<RunningStack> {
  const env = options.env ?? process.env;
  const log = options.log ?? (() => {});
  const amqpUrl = readEnv(AMQP_URL, env);
  const databaseUrl = readEnv(DATABASE_URL, env);
  const dataDir = readEnv(STACK_DATA_DIR, env) ?? join(projectRoot(), '.data');
  const ports = options.ports ?? {};
  // One exchange and one dead-letter exchange for every part (BLOODBANK_EXCHANGE, BLOODBANK_DLX).
  const exchange = readEnv(BLOODBANK_EXCHANGE, env) ?? 'bloodbank.events.v1';
  const dlx = readEnv(BLOODBANK_DLX, env) ?? 'bloodbank.dlx';
  // Every part's settings are read (and refused) before any part starts.
  const storeOptions = candystoreOptionsFromEnv(env);
  const gatewayOptions = gatewayOptionsFromEnv(env);
  const dashboardEnv = candybarOptionsFromEnv(env);
  const dispatcherConfig = dispatcherConfigFromEnv(env);
  const hosts = {
    store: options.host ?? storeOptions.host ?? LOOPBACK,
    gateway: options.host ?? gatewayOptions.host ?? LOOPBACK,
    dashboard: options.host ?? dashboardEnv.host ?? LOOPBACK,
    dispatcher: options.host ?? dispatcherConfig.host,
  };
  const configured = options.access ?? accessConfigFromEnv(env);
  const hostVariable = (variable: string) => (options.host === undefined ? variable : '--host');
  checkBinds(configured, [
    ['Candystore', hosts.store, hostVariable('CANDYSTORE_HOST')],
    ['Bloodbank gateway', hosts.gateway, hostVariable('BLOODBANK_HOST')],
    ...(dispatcherConfig.hookToken || options.demo
      ? [['Infra Dispatcher', hosts.dispatcher, hostVariable('INFRA_DISPATCHER_HOST')] as const]
      : []),
    ['Candybar', hosts.dashboard, hostVariable('CANDYBAR_HOST')],
  ]);
  // The dashboard starts last (it needs the others' addresses), yet they must know its origin.
  const dashboardPort = await portFor(ports.dashboard ?? dashboardEnv.port ?? 3000, hosts.dashboard);
  const demoToken = options.demo && configured.tokens.length > 0 ? mintDemoToken() : null;
  const access: AccessConfig = {
    ...configured,
    tokens: demoToken ? [...configured.tokens, demoToken] : configured.tokens,
    allowedOrigins: [...configured.allowedOrigins, ...dashboardOrigins(hosts.dashboard, dashboardPort)],
  };
  const cleanups: (() => Promise<void>)[] = [];
  const unwind = async () => {
    for (const c of cleanups.reverse()) await c().catch(() => {});
  };
  // One stack per data directory: the embedded database (without DATABASE_URL) and the
  // dispatcher's state file (when it runs) live there. Taken before anything opens a file in it,
  // released after everything has closed.
  const dispatcherRuns = Boolean(dispatcherConfig.hookToken || options.demo);
  // The embedded broker keeps its journal in the data directory unless told to keep it in memory.
  const brokerStorage = amqpUrl
    ? null
    : options.inMemory
      ? 'memory'
      : readEnv(BLOODBANK_EMBEDDED_STORAGE, env)!;
  const ownsDataDir =
    !options.inMemory &&
    (!databaseUrl || brokerStorage === 'durable' || (dispatcherRuns && !env.INFRA_DISPATCH_STATE_PATH));
  const dataDirLock = ownsDataDir ? await lockDataDir(dataDir) : null;
  if (dataDirLock) cleanups.push(() => dataDirLock.release());

  try {
    // Parts start without a reachable broker and catch up when it comes (503 on /health meanwhile).
    let broker: EmbeddedBroker | null = null;
    if (brokerStorage) {
      broker = await openEmbeddedBroker({
        storage: brokerStorage,
        dataDir: join(dataDir, 'bloodbank'),
        ...embeddedLimitsFromEnv(env),
      });
      cleanups.push(() => broker!.close());
      const compacted = broker.journal?.compaction;
      if (compacted?.error) {
        log(
          `bloodbank: journal not compacted (${compacted.error.message}); kept at ${compacted.before} bytes`,
        );
      } else if (compacted) {
        log(
          `bloodbank: journal compacted from ${compacted.before} to ${compacted.after} bytes in ${compacted.durationMs} ms`,
        );
      }
    }
    const transport = await createTransport(
      amqpUrl ? { url: amqpUrl, initialConnect: 'retry' } : { broker: broker! },
    );
    cleanups.push(() => transport.close());

    const store = await startCandystore({
      ...storeOptions,
      transport,
      exchange,
      dlx,
      ...(options.inMemory
        ? { dataDir: null }
        : { dataDir: env.CANDYSTORE_DATA_DIR ?? join(dataDir, 'candystore') }),
      ...(ports.store === undefined ? {} : { port: ports.store }),
      host: hosts.store,
      access,
    });
    cleanups.push(() => store.close());

    const demoSecret = options.demo ? randomBytes(16).toString('hex') : undefined;
    const gateway = await startGateway({
      ...gatewayOptions,
      transport,
      exchange,
      dlx,
      webhookSecrets: {
        ...gatewayOptions.webhookSecrets,
        ...(demoSecret && !gatewayOptions.webhookSecrets?.plane ? { plane: demoSecret } : {}),
      },
      ...(ports.gateway === undefined ? {} : { port: ports.gateway }),
      host: hosts.gateway,
      access,
    });
    cleanups.push(() => gateway.close());

    // The dispatcher needs an OpenClaw token. Without one it is not started, except in the
    // demo, which points it at a loopback stand-in that is labelled as such everywhere.
    let sink: OpenClawDemoSink | null = null;
    let dispatcher: RunningDispatcher | null = null;
    let dispatcherNote = '';
    if (!dispatcherConfig.hookToken && options.demo) {
      sink = await startOpenClawDemoSink();
      cleanups.push(() => sink!.close());
    }
    if (dispatcherConfig.hookToken || sink) {
      dispatcher = await startDispatcher({
        transport,
        exchange,
        topology: { exchange, dlx },
        config: {
          ...dispatcherConfig,
          ...(sink ? { hookToken: sink.token, hookUrl: sink.url, runChecks: false } : {}),
          ...(options.inMemory || env.INFRA_DISPATCH_STATE_PATH
            ? {}
            : { statePath: join(dataDir, 'infra-dispatch-state.json') }),
        },
        ...(options.inMemory ? { statePath: join(dataDir, `infra-dispatch-state.${process.pid}.json`) } : {}),
        ...(ports.dispatcher === undefined ? {} : { port: ports.dispatcher }),
        host: hosts.dispatcher,
        access,
      });
      cleanups.push(() => dispatcher!.close());
      dispatcherNote = sink
        ? `dispatching to the local OpenClaw DEMO SINK ${sink.url}`
        : `dispatching to ${dispatcherConfig.hookUrl}`;
    }

    // CANDYBAR_PORT and CANDYBAR_HOST as for `candybar serve`; the backends are this stack's
    const dashboard = await startCandybar({
      storeUrl: store.url,
      busUrl: gateway.url,
      port: dashboardPort,
      host: hosts.dashboard,
      access,
    });
    cleanups.push(() => dashboard.close());

    let demo: DemoTraffic | null = null;
    if (options.demo) {
      demo = await startDemoTraffic({
        transport,
        exchange,
        dlx,
        gatewayUrl: gateway.url,
        ...(options.demoTicketIntervalSeconds === undefined
          ? {}
          : { ticketIntervalSeconds: options.demoTicketIntervalSeconds }),
        planeSecret: gatewayOptions.webhookSecrets?.plane ?? demoSecret!,
        ...(demoToken ? { publishToken: demoToken.token } : {}),
        log,
      });
      cleanups.push(() => demo!.stop());
    }

    const database = databaseUrl ? 'postgresql' : 'embedded';
    const parts: PartInfo[] = [
      {
        name: 'dashboard (Candybar)',
        url: dashboard.url,
        listening: listening(dashboard.app.addresses()),
        note:
          access.tokens.length > 0
            ? 'open this in a browser and log in with a token'
            : 'open this in a browser',
      },
      {
        name: 'gateway (Bloodbank)',
        url: gateway.url,
        listening: listening(gateway.app.addresses()),
        note: `POST /events, /publish; docs at ${gateway.url}/docs`,
      },
      {
        name: 'store (Candystore)',
        url: store.url,
        listening: listening(store.addresses),
        note:
          database === 'embedded'
            ? `embedded PostgreSQL (PGlite)${options.inMemory ? ' in memory' : ''}`
            : 'PostgreSQL',
      },
      {
        name: 'dispatcher (Infra)',
        url: dispatcher ? dispatcher.url : '-',
        listening: dispatcher ? listening(dispatcher.addresses) : [],
        note: dispatcher ? dispatcherNote : 'not started: set OPENCLAW_HOOK_TOKEN (and OPENCLAW_HOOK_URL)',
      },
    ];

    let closed = false;
    return {
      mode: { broker: transport.kind, brokerStorage, database },
      parts,
      auth: access.tokens.length > 0,
      transport,
      gateway,
      store,
      dashboard,
      dispatcher,
      demo,
      async close() {
        if (closed) return;
        closed = true;
        if (demo) await demo.stop();
        await gateway.close();
        if (dispatcher) await dispatcher.close();
        // A broker that keeps its queues (RabbitMQ, the durable embedded one) needs no drain:
        // the store takes up the backlog at the next start. In memory, the store gets 10 s.
        if (!transport.features.durableAcrossProcessRestart) {
          await waitForQueueToDrain(transport, storeOptions.queue ?? 'candystore.events', 10_000);
        }
        await store.close();
        await dashboard.close();
        if (sink) await sink.close();
        await transport.close();
        await broker?.close();
        // Not after a failed close (the database may still be open): the process's exit removes it.
        await dataDirLock?.release();
      },
    };
  } catch (err) {
    await unwind();
    throw err;
  }
}

const LOOPBACK = '127.0.0.1';

/**
 * Every part's bind checked before any of them starts, so that `npm start` on a public address
 * with no tokens stops at once with the part and the setting to change. The parts check again
 * (and log the ALLOW_UNAUTHENTICATED warning) when they listen.
 */
function checkBinds(access: AccessConfig, binds: readonly (readonly [string, string, string])[]): void {
  const guard = new AccessGuard(access);
  for (const [part, host, variable] of binds) guard.bind(part, host, variable, () => {});
}

/** `port`, or for 0 a port free now on `host` (the dashboard's origin is needed before it listens). */
async function portFor(port: number, host: string): Promise<number> {
  if (port !== 0) return port;
  const probe = createServer();
  await new Promise<void>((resolve, reject) => {
    probe.once('error', reject);
    probe.listen(0, host, resolve);
  });
  const free = (probe.address() as AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return free;
}

/** The origins of the dashboard's pages: its address, and `localhost` when that is loopback. */
function dashboardOrigins(host: string, port: number): string[] {
  const url = urlForBind(host, port);
  const hostname = new URL(url).hostname;
  return isLoopbackHost(hostname) ? [new URL(url).origin, `http://localhost:${port}`] : [new URL(url).origin];
}

/**
 * With tokens configured, the demo's smoke test publishes through the gateway like any client,
 * so it needs a token: one minted at each start, random, held only in this process (never
 * printed, logged or put in the environment), with the `publish` scope alone, for the
 * registry's `smoke-tester` (the service that produces the seed's smoke-test event). The rest
 * of the demo talks to the bus directly, and the dashboard's probes read the public `/health`.
 */
function mintDemoToken(): AccessToken {
  return {
    token: randomBytes(32).toString('base64url'),
    principal: { name: DEMO_PUBLISHER, scopes: new Set(['publish']) },
  };
}

const DEMO_PUBLISHER = 'smoke-tester';

function listening(addresses: readonly (AddressInfo | string)[]): string[] {
  return addresses.map((a) =>
    typeof a === 'string' ? a : a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`,
  );
}

/** Lets the store persist what is already queued before it stops (the embedded broker keeps nothing on exit). */
async function waitForQueueToDrain(transport: Transport, queue: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const info = await transport.checkQueue(queue).catch(() => null);
    if (!info || info.messageCount === 0) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}
