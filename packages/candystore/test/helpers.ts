import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Delivery, OutgoingMessage, Transport } from '@33god/bloodbank';
import { completeEnvelope, type EventEnvelope } from '@33god/core';
import { parseServiceRegistry, type ServiceRegistry } from '@33god/holyfields';
import amqplib from 'amqplib';
import pg from 'pg';
import { type EventStore, openStore, type StoreOptions } from '../src/index.js';

export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const TEST_AMQP_URL = process.env.TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

export const rid = (): string => randomBytes(5).toString('hex');

/** A fresh PostgreSQL database on the test server, dropped by `drop()`. */
export async function freshDatabase(
  prefix = 'candystore_test',
): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `${prefix}_${rid()}`;
  const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const u = new URL(TEST_DATABASE_URL);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: TEST_DATABASE_URL });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}

export interface Backend {
  name: 'pglite' | 'postgres';
  /** Store options for startCandystore / openStore. */
  setup(): Promise<{ databaseUrl?: string; dataDir?: null; teardown: () => Promise<void> }>;
}

/** The two database backends every shared suite runs against. */
export const BACKENDS: Backend[] = [
  {
    name: 'pglite',
    async setup() {
      return { dataDir: null, teardown: async () => {} };
    },
  },
  {
    name: 'postgres',
    async setup() {
      const db = await freshDatabase();
      return { databaseUrl: db.url, teardown: db.drop };
    },
  },
];

/** A database that outlives the store opened on it: a PGlite data directory, or a PostgreSQL database. */
export interface DurableBackend {
  name: string;
  setup(): Promise<{ options: { databaseUrl?: string; dataDir?: string }; teardown(): Promise<void> }>;
}

export const DURABLE_BACKENDS: DurableBackend[] = [
  {
    name: 'pglite (data directory)',
    async setup() {
      const dir = mkdtempSync(join(tmpdir(), 'candystore-test-'));
      return {
        options: { dataDir: dir },
        teardown: async () => rmSync(dir, { recursive: true, force: true }),
      };
    },
  },
  {
    name: 'postgres',
    async setup() {
      const db = await freshDatabase();
      return { options: { databaseUrl: db.url }, teardown: db.drop };
    },
  },
];

export async function openTestStore(
  b: Backend,
  options: Omit<StoreOptions, 'databaseUrl' | 'dataDir'> = {},
): Promise<{ store: EventStore; teardown: () => Promise<void> }> {
  const s = await b.setup();
  const store = await openStore({ ...options, ...(s.databaseUrl ? { databaseUrl: s.databaseUrl } : {}) });
  return {
    store,
    teardown: async () => {
      await store.close().catch(() => {});
      await s.teardown();
    },
  };
}

export function envelope(
  type: string,
  payload: Record<string, unknown> = {},
  extra: Partial<EventEnvelope> = {},
): EventEnvelope {
  return completeEnvelope(
    { event_type: type, payload, ...extra },
    { app: extra.source?.app ?? 'test-app', host: 'test' },
  );
}

export function newEvent(env: EventEnvelope) {
  return { envelope: env, routingKey: env.event_type, headers: {}, replayId: null };
}

/** Polls `check` until it returns true (or throws after `ms`). */
export async function waitFor(
  check: () => Promise<boolean> | boolean,
  ms = 10_000,
  what = 'condition',
): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    if (await check()) return;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * Deletes exchanges a test declared (the Transport contract has no exchange deletion), and what
 * the parts declare beside each of them by themselves (`ensureExchanges`): the alternate
 * exchange `<name>.unroutable` with its queue, and the dead-letter monitor's queue
 * `<name>.monitor` (when the name is the dead-letter exchange). Missing ones are fine.
 */
export async function deleteExchanges(names: readonly string[]): Promise<void> {
  const conn = await amqplib.connect(TEST_AMQP_URL);
  conn.on('error', () => {});
  // One channel per deletion: a refused one closes its channel, not the rest of the cleanup.
  const attempt = async (del: (ch: amqplib.Channel) => Promise<unknown>) => {
    const ch = await conn.createChannel();
    ch.on('error', () => {});
    await del(ch).catch(() => {});
    await ch.close().catch(() => {});
  };
  try {
    for (const name of names) {
      await attempt((ch) => ch.deleteQueue(`${name}.unroutable`));
      await attempt((ch) => ch.deleteQueue(`${name}.monitor`));
      await attempt((ch) => ch.deleteExchange(name));
      await attempt((ch) => ch.deleteExchange(`${name}.unroutable`));
    }
  } finally {
    await conn.close().catch(() => {});
  }
}

// biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON answers and assert on them
export type Json = any;

/** The JSON body of a response, typed loosely for assertions. */
export async function json(res: Response): Promise<Json> {
  return res.json();
}

/**
 * Takes every message off `queue` until at least `atLeast` came and then none for `quietMs`
 * (so copies beyond the expected count are seen too); acks them all.
 */
/** `POST /replays` on a running store; asserts the 202 and returns the replay id. */
export async function startReplay(baseUrl: string, body: unknown): Promise<string> {
  const res = await fetch(`${baseUrl}/replays`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  assert.equal(res.status, 202, JSON.stringify(await res.clone().json()));
  return ((await res.json()) as { id: string }).id;
}

export async function drainQueue(
  transport: Transport,
  queue: string,
  atLeast: number,
  { quietMs = 300, ms = 20_000 }: { quietMs?: number; ms?: number } = {},
): Promise<Delivery[]> {
  const out: Delivery[] = [];
  let lastAt = Date.now();
  await waitFor(
    async () => {
      for (;;) {
        const d = await transport.get(queue);
        if (!d) break;
        d.ack();
        out.push(d);
        lastAt = Date.now();
      }
      return out.length >= atLeast && Date.now() - lastAt >= quietMs;
    },
    ms,
    `${atLeast} messages on ${queue}`,
  );
  return out;
}

/**
 * What a replay that was resumed once delivers: the selected events in order up to some
 * point `a`, then again from the first event after the progress recorded at the stop
 * (`resumedAt` events) to the end. Events `resumedAt..a` may come twice (at least once);
 * none may be missing, and nothing else may come.
 */
export function assertResumedInOrder(
  got: readonly string[],
  want: readonly string[],
  resumedAt: number,
): void {
  const a = got.length - (want.length - resumedAt);
  assert.ok(
    a >= resumedAt && a <= want.length,
    `${got.length} deliveries for ${want.length} events resumed after ${resumedAt}`,
  );
  assert.deepEqual(got.slice(0, a), want.slice(0, a), 'the first run: the selected events in order');
  assert.deepEqual(
    got.slice(a),
    want.slice(resumedAt),
    'the resumed run: every event after the recorded progress',
  );
}

/** The event ids of the replay copies a transport sent, in order, and when it sent the first. */
export interface PublishRecord {
  eventIds: string[];
  firstAt: number | null;
}

/**
 * The transport itself, noting the replay copies (`x-replay-id`) it is asked to publish: the
 * test sees which instance published what.
 */
export function recordingTransport(transport: Transport): { transport: Transport; record: PublishRecord } {
  const record: PublishRecord = { eventIds: [], firstAt: null };
  const wrapped = new Proxy(transport, {
    get(target, prop) {
      if (prop === 'publish') {
        return (m: OutgoingMessage) => {
          if (m.properties?.headers?.['x-replay-id'] !== undefined) {
            record.firstAt ??= Date.now();
            record.eventIds.push(String(m.properties.messageId));
          }
          return target.publish(m);
        };
      }
      const v = Reflect.get(target, prop, target);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  return { transport: wrapped, record };
}

/**
 * Finds a connection of ours in RabbitMQ's management API and returns a way to close it (as an
 * operator or a network failure would). The API lists a new connection only after its next
 * statistics round (up to 5 s), so a test looks the connection up before it starts what the
 * close must interrupt.
 */
export async function brokerConnection(connectionName: string): Promise<{ close(): Promise<void> }> {
  const u = new URL(TEST_AMQP_URL);
  const api = `http://${u.hostname}:15672/api/connections`;
  const auth = {
    authorization: `Basic ${Buffer.from(`${decodeURIComponent(u.username || 'guest')}:${decodeURIComponent(u.password || 'guest')}`).toString('base64')}`,
  };
  let name: string | undefined;
  await waitFor(
    async () => {
      const rows = (await (await fetch(api, { headers: auth })).json()) as {
        name: string;
        client_properties?: { connection_name?: string };
      }[];
      name = rows.find((r) => r.client_properties?.connection_name === connectionName)?.name;
      return name !== undefined;
    },
    15_000,
    `connection ${connectionName} in the management API`,
  );
  return {
    async close() {
      const res = await fetch(`${api}/${encodeURIComponent(name!)}`, { method: 'DELETE', headers: auth });
      assert.ok(res.ok, `closing the connection answered ${res.status}`);
    },
  };
}

/**
 * A service registry with one service owning `queues`: what a test hands the store so it may
 * replay into the queues the test declares (replays may target registry queues only).
 */
export function registryWith(queues: readonly string[]): ServiceRegistry {
  return parseServiceRegistry(
    JSON.stringify({
      version: '1.0',
      services: { 'replay-targets': { name: 'replay-targets', queue_names: [...queues] } },
    }),
    'test registry',
  );
}

/**
 * Queue names a test may replay into and the registry that allows them; `next()` hands out
 * the next name (the test declares the queue).
 */
export function replayTargetPool(size = 16): { registry: ServiceRegistry; next(): string } {
  const names = Array.from({ length: size }, () => `test.${rid()}.target`);
  let used = 0;
  return {
    registry: registryWith(names),
    next() {
      const name = names[used++];
      if (name === undefined) throw new Error(`all ${size} replay targets of the pool are taken`);
      return name;
    },
  };
}
