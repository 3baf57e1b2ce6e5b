import { randomBytes } from 'node:crypto';
import { completeEnvelope, type EventEnvelope } from '@33god/core';
import amqplib from 'amqplib';
import pg from 'pg';
import { type EventStore, openStore } from '../src/index.js';

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

export async function openTestStore(
  b: Backend,
): Promise<{ store: EventStore; teardown: () => Promise<void> }> {
  const s = await b.setup();
  const store = await openStore(s.databaseUrl ? { databaseUrl: s.databaseUrl } : {});
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

/** Deletes exchanges a test declared (the Transport contract has no exchange deletion). */
export async function deleteExchanges(names: readonly string[]): Promise<void> {
  const conn = await amqplib.connect(TEST_AMQP_URL);
  try {
    for (const name of names) {
      const ch = await conn.createChannel();
      await ch.deleteExchange(name).catch(() => {});
      await ch.close().catch(() => {});
    }
  } finally {
    await conn.close();
  }
}

// biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON answers and assert on them
export type Json = any;

/** The JSON body of a response, typed loosely for assertions. */
export async function json(res: Response): Promise<Json> {
  return res.json();
}
