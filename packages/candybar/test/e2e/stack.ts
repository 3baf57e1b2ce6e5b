import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  applyTopology,
  createDeadLetterOperations,
  createEmbeddedTransport,
  createTransport,
  EmbeddedBroker,
  type Gateway,
  type GatewayOptions,
  planExchanges,
  planQueue,
  resolveTopologyOptions,
  startGateway,
  type TopologySummary,
  type Transport,
} from '@33god/bloodbank';
import { type CandystoreOptions, type RunningCandystore, startCandystore } from '@33god/candystore';
import type { AccessConfig } from '@33god/core';
import { loadServiceRegistry } from '@33god/holyfields';
import type { Browser } from 'playwright-core';
import { type CandybarOptions, type CandybarServer, startCandybar } from '../../src/index.js';
import { buildWebApp, launch } from './browser.js';

const AMQP_URL = process.env.TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

/** RabbitMQ, and the embedded in-process broker `npm start` runs. */
export type Backend = 'rabbitmq' | 'embedded';
export const BACKENDS: readonly Backend[] = ['rabbitmq', 'embedded'];

async function openTransport(backend: Backend): Promise<Transport> {
  return backend === 'rabbitmq'
    ? createTransport({ url: AMQP_URL })
    : createEmbeddedTransport({ broker: new EmbeddedBroker() });
}

/** A test's own names on the shared broker (`test.<id>.…`), so parallel runs do not collide. */
export interface StackNames {
  readonly exchange: string;
  readonly dlx: string;
  readonly ordersQueue: string;
  readonly storeQueue: string;
}

export function stackNames(): StackNames {
  const id = randomBytes(4).toString('hex');
  return {
    exchange: `test.${id}.events`,
    dlx: `test.${id}.dlx`,
    ordersQueue: `test.${id}.orders`,
    storeQueue: `test.${id}.candystore`,
  };
}

/** registry.yaml with a producer `shop` and a consumer `orders` reading `ordersQueue`. */
export function shopRegistry(ordersQueue: string, produces: readonly string[]): string {
  return [
    'version: "1.0"',
    'exchange: { name: "bloodbank.events.v1", type: "topic", durable: true }',
    'services:',
    '  shop:',
    '    name: "shop"',
    '    description: "e2e producer"',
    '    type: "event-producer"',
    '    status: "active"',
    `    produces: [${produces.map((t) => `"${t}"`).join(', ')}]`,
    '  orders:',
    '    name: "orders"',
    '    description: "e2e consumer"',
    '    type: "event-consumer"',
    '    status: "active"',
    `    queue_name: "${ordersQueue}"`,
    '    routing_keys: ["shop.order.#"]',
    '',
  ].join('\n');
}

export interface StackOptions {
  /** The broker; none: the dashboard alone, with no store and no gateway. */
  backend?: Backend;
  /** Default: fresh ones. */
  names?: StackNames;
  /** registry.yaml: its text, written to a temporary folder, or an existing file. None: no registry. */
  registry?: string | { path: string };
  /**
   * Declare the registry's topology first, as `bloodbank topology apply` would, so the store and
   * the gateway find it in place; the gateway then gets the dead-letter operations on it.
   */
  topology?: boolean;
  /** Start Candystore with PGlite on disk (a restarted store keeps its events) or in memory. */
  store?: 'disk' | 'memory';
  /** Options of the gateway beyond the stack's own; an option set to undefined is left out. */
  gateway?: Partial<GatewayOptions>;
  /** Options of the dashboard beyond the stack's own; an option set to undefined is left out. */
  candybar?: CandybarOptions;
  /** The same tokens for every part. */
  access?: AccessConfig;
}

/** The options without those set to undefined, so a part's own default applies. */
function given<T extends object>(options: T): T {
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as T;
}

function need<T>(part: T | undefined, name: string): T {
  if (part === undefined) throw new Error(`this stack started no ${name}`);
  return part;
}

/**
 * The dashboard against the real gateway and the real store (each production code), with a
 * headless Chromium. `stop()` closes every part and removes every queue and exchange the stack's
 * names can stand for on the broker, and its temporary folder.
 */
export class Stack {
  readonly names: StackNames;
  readonly registryPath: string | undefined;
  #options: StackOptions;
  #dir: string;
  #transport: Transport | undefined;
  #topology: TopologySummary | undefined;
  #store: RunningCandystore | undefined;
  #gateway: Gateway | undefined;
  #candybar: CandybarServer | undefined;
  #browser: Browser | undefined;

  constructor(options: StackOptions) {
    this.#options = options;
    this.names = options.names ?? stackNames();
    this.#dir = mkdtempSync(join(tmpdir(), 'candybar-e2e-'));
    const registry = options.registry;
    if (typeof registry === 'string') {
      this.registryPath = join(this.#dir, 'registry.yaml');
      writeFileSync(this.registryPath, registry);
    } else {
      this.registryPath = registry?.path;
    }
  }

  get transport(): Transport {
    return need(this.#transport, 'transport');
  }
  get store(): RunningCandystore {
    return need(this.#store, 'store');
  }
  get gateway(): Gateway {
    return need(this.#gateway, 'gateway');
  }
  get candybar(): CandybarServer {
    return need(this.#candybar, 'dashboard');
  }
  get browser(): Browser {
    return need(this.#browser, 'browser');
  }

  async start(): Promise<void> {
    const o = this.#options;
    const { exchange, dlx } = this.names;
    const staticDir = buildWebApp();
    if (o.backend) {
      this.#transport = await openTransport(o.backend);
      const registry = o.topology
        ? await loadServiceRegistry(need(this.registryPath, 'registry'))
        : undefined;
      if (registry) {
        this.#topology = await applyTopology(this.#transport, registry, {
          exchange,
          dlx,
          monitorQueue: false,
        });
      }
      if (o.store) await this.startStore(0);
      this.#gateway = await startGateway(
        given<GatewayOptions>({
          port: 0,
          transport: this.#transport,
          exchange,
          // Its own dead-letter exchange: the default would declare bloodbank.dlx and its
          // monitor queue on the shared broker, which nothing here deletes.
          dlx,
          registryPath: this.registryPath ?? null,
          unknownTypes: 'allow',
          healthIntervalMs: 0,
          watchSchemas: false,
          subscribeSchemaUpdates: false,
          deadLetters: registry
            ? createDeadLetterOperations(this.#transport, { registry, topology: { exchange, dlx } })
            : undefined,
          logLevel: 'silent',
          access: o.access,
          ...o.gateway,
        }),
      );
    }
    this.#candybar = await startCandybar(
      given<CandybarOptions>({
        port: 0,
        staticDir,
        registryPath: this.registryPath,
        storeUrl: (this.#store ?? this.#gateway)?.url,
        busUrl: this.#gateway?.url,
        access: o.access,
        ...o.candybar,
      }),
    );
    this.#browser = await launch();
  }

  /** Starts the store (again, after a test closed it) on `port`, 0 for any. */
  async startStore(port: number): Promise<RunningCandystore> {
    const o = this.#options;
    const { exchange, dlx, storeQueue } = this.names;
    this.#store = await startCandystore(
      given<CandystoreOptions>({
        port,
        transport: this.transport,
        exchange,
        queue: storeQueue,
        dlx,
        dataDir: o.store === 'disk' ? join(this.#dir, 'store') : null,
        batchMaxWaitMs: 10,
        logLevel: 'silent',
        access: o.access,
      }),
    );
    return this.#store;
  }

  /** Closes every part, then empties the broker of the stack's names; a part that fails to close stops none of it. */
  async stop(): Promise<void> {
    const errors: unknown[] = [];
    for (const part of [this.#browser, this.#candybar, this.#gateway, this.#store]) {
      await part?.close().catch((err: unknown) => errors.push(err));
    }
    const transport = this.#transport;
    if (transport) {
      for (const q of this.#queues()) await transport.deleteQueue(q).catch(() => undefined);
      for (const ex of this.#exchanges()) await transport.deleteExchange(ex).catch(() => undefined);
      await transport.close();
    }
    rmSync(this.#dir, { recursive: true, force: true });
    if (errors.length > 0) throw errors[0];
  }

  /**
   * Everything the names stand for, planned as the parts plan it: the registry's queues (with
   * their dead-letter and retry queues), the store's queue (likewise), `<exchange>.unroutable`
   * and `<dlx>.monitor`. A queue that was never declared is no error to delete.
   */
  #queues(): string[] {
    const { exchange, dlx, storeQueue } = this.names;
    const resolved = resolveTopologyOptions({ exchange, dlx });
    return unique([
      ...(this.#topology?.plan.queues ?? []),
      ...planQueue(storeQueue, ['#'], resolved).queues,
      ...planExchanges(resolved).queues,
    ]);
  }

  #exchanges(): string[] {
    const { exchange, dlx } = this.names;
    return unique([
      ...(this.#topology?.plan.exchanges ?? []),
      ...planExchanges(resolveTopologyOptions({ exchange, dlx })).exchanges,
    ]);
  }
}

function unique(items: readonly { name: string }[]): string[] {
  return [...new Set(items.map((i) => i.name))];
}

/**
 * Starts a stack; when a part fails to start, what did start is stopped before the error is
 * thrown (a test's `after` has no stack to stop then).
 */
export async function startStack(options: StackOptions): Promise<Stack> {
  const stack = new Stack(options);
  try {
    await stack.start();
  } catch (err) {
    await stack.stop().catch(() => undefined);
    throw err;
  }
  return stack;
}
