import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import {
  BLOODBANK_DLX,
  BLOODBANK_EXCHANGE,
  createTransport,
  type Gateway,
  gatewayOptionsFromEnv,
  startGateway,
  type Transport,
} from '@33god/bloodbank';
import { type CandybarServer, candybarOptionsFromEnv, startCandybar } from '@33god/candybar';
import {
  optionsFromEnv as candystoreOptionsFromEnv,
  type RunningCandystore,
  startCandystore,
} from '@33god/candystore';
import { AMQP_URL, DATABASE_URL, envVar, parse, projectRoot, readEnv } from '@33god/core';
import {
  configFromEnv as dispatcherConfigFromEnv,
  type RunningDispatcher,
  startDispatcher,
} from '@33god/infra-dispatcher';
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
  host?: string;
  /** Keep the embedded database in memory instead of the data directory (tests). */
  inMemory?: boolean;
  /** Seconds between demo Plane tickets. Default 2. */
  demoTicketIntervalSeconds?: number;
  log?: (line: string) => void;
}

export interface PartInfo {
  name: string;
  url: string;
  note: string;
}

export interface RunningStack {
  readonly mode: { broker: 'embedded' | 'rabbitmq'; database: 'embedded' | 'postgresql' };
  readonly parts: readonly PartInfo[];
  readonly transport: Transport;
  readonly gateway: Gateway;
  readonly store: RunningCandystore;
  readonly dashboard: CandybarServer;
  readonly dispatcher: RunningDispatcher | null;
  readonly demo: DemoTraffic | null;
  /** Stops in dependency order: demo, gateway, dispatcher, store (after its queue drained), dashboard, broker. */
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
  const cleanups: (() => Promise<void>)[] = [];
  const unwind = async () => {
    for (const c of cleanups.reverse()) await c().catch(() => {});
  };

  try {
    // Parts start without a reachable broker and catch up when it comes (503 on /health meanwhile).
    const transport = await createTransport(amqpUrl ? { url: amqpUrl, initialConnect: 'retry' } : {});
    cleanups.push(() => transport.close());

    const storeOptions = candystoreOptionsFromEnv(env);
    const store = await startCandystore({
      ...storeOptions,
      transport,
      exchange,
      dlx,
      ...(options.inMemory
        ? { dataDir: null }
        : { dataDir: env.CANDYSTORE_DATA_DIR ?? join(dataDir, 'candystore') }),
      ...(ports.store === undefined ? {} : { port: ports.store }),
      ...(options.host ? { host: options.host } : {}),
    });
    cleanups.push(() => store.close());

    const demoSecret = options.demo ? randomBytes(16).toString('hex') : undefined;
    const gatewayOptions = gatewayOptionsFromEnv(env);
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
      ...(options.host ? { host: options.host } : {}),
    });
    cleanups.push(() => gateway.close());

    // The dispatcher needs an OpenClaw token. Without one it is not started, except in the
    // demo, which points it at a loopback stand-in that is labelled as such everywhere.
    let sink: OpenClawDemoSink | null = null;
    let dispatcher: RunningDispatcher | null = null;
    let dispatcherNote = '';
    const dispatcherConfig = dispatcherConfigFromEnv(env);
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
        ...(options.host ? { host: options.host } : {}),
      });
      cleanups.push(() => dispatcher!.close());
      dispatcherNote = sink
        ? `dispatching to the local OpenClaw DEMO SINK ${sink.url}`
        : `dispatching to ${dispatcherConfig.hookUrl}`;
    }

    // CANDYBAR_PORT and CANDYBAR_HOST as for `candybar serve`; the backends are this stack's
    const dashboardEnv = candybarOptionsFromEnv(env);
    const dashboard = await startCandybar({
      storeUrl: store.url,
      busUrl: gateway.url,
      port: ports.dashboard ?? dashboardEnv.port,
      host: options.host ?? dashboardEnv.host,
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
        log,
      });
      cleanups.push(() => demo!.stop());
    }

    const broker = transport.kind;
    const database = databaseUrl ? 'postgresql' : 'embedded';
    const parts: PartInfo[] = [
      { name: 'dashboard (Candybar)', url: dashboard.url, note: 'open this in a browser' },
      {
        name: 'gateway (Bloodbank)',
        url: gateway.url,
        note: `POST /events, /publish; docs at ${gateway.url}/docs`,
      },
      {
        name: 'store (Candystore)',
        url: store.url,
        note:
          database === 'embedded'
            ? `embedded PostgreSQL (PGlite)${options.inMemory ? ' in memory' : ''}`
            : 'PostgreSQL',
      },
      {
        name: 'dispatcher (Infra)',
        url: dispatcher ? dispatcher.url : '-',
        note: dispatcher ? dispatcherNote : 'not started: set OPENCLAW_HOOK_TOKEN (and OPENCLAW_HOOK_URL)',
      },
    ];

    let closed = false;
    return {
      mode: { broker, database },
      parts,
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
        await waitForQueueToDrain(transport, storeOptions.queue ?? 'candystore.events', 10_000);
        await store.close();
        await dashboard.close();
        if (sink) await sink.close();
        await transport.close();
      },
    };
  } catch (err) {
    await unwind();
    throw err;
  }
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
