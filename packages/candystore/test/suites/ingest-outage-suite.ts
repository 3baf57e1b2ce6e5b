// The outage suite, run by ingest-outage.test.ts (embedded broker) and
// ingest-outage.rabbitmq.test.ts: a database that refuses writes holds the ingest (nothing
// dead-lettered, /health degraded) until it accepts them again; an error about one event
// still dead-letters that event alone.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Transport } from '@33god/bloodbank';
import { type EventEnvelope, envelopeAmqpProperties } from '@33god/core';
import pg from 'pg';
import { type EventStore, type RunningCandystore, startCandystore } from '../../src/index.js';
import { type Backend, envelope, rid, TEST_DATABASE_URL, waitFor } from '../helpers.js';
import type { TransportFactory } from './replay-suite.js';

interface HealthBody {
  status: string;
  ingest: {
    database_error: { message: string; code: string | null; since: string; attempts: number } | null;
  };
}

/** Makes the store's database refuse writes until the returned function is called. */
type Refusal = (svc: RunningCandystore, databaseUrl: string | undefined) => Promise<() => Promise<void>>;

/**
 * Every query of the store fails with an error that has no SQLSTATE, as PGlite's own do
 * (closed, aborted): the seam is the store's database object.
 */
const failEveryQuery: Refusal = async (svc) => {
  const restore = intercept(svc.store, () => new Error('PGlite is closed'));
  return async () => restore();
};

/**
 * The database turns read-only, as a primary does when it is demoted in a failover (25006),
 * and the store's sessions are terminated (57P01) so that new ones pick it up.
 */
const readOnlyDatabase: Refusal = async (_svc, databaseUrl) => {
  const name = new URL(databaseUrl!).pathname.slice(1);
  const admin = async (sql: string) => {
    const c = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await c.connect();
    try {
      await c.query(sql);
      await c.query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'candystore'",
        [name],
      );
    } finally {
      await c.end();
    }
  };
  await admin(`ALTER DATABASE ${name} SET default_transaction_read_only = on`);
  return () => admin(`ALTER DATABASE ${name} RESET default_transaction_read_only`);
};

/** Replaces the store's `query` with one that throws what `fail` returns (null: runs it). */
function intercept(store: EventStore, fail: (text: string, params?: readonly unknown[]) => Error | null) {
  const db = store.db;
  const real = db.query;
  db.query = (async (text: string, params?: readonly unknown[]) => {
    const err = fail(text, params);
    if (err) throw err;
    return real.call(db, text, params);
  }) as typeof db.query;
  return () => {
    db.query = real;
  };
}

export function ingestOutageSuite(backend: Backend, tf: TransportFactory): void {
  const refuse = backend.name === 'pglite' ? failEveryQuery : readOnlyDatabase;
  const how = backend.name === 'pglite' ? 'errors without SQLSTATE' : 'read-only, sessions terminated';
  describe(`ingest during a database outage (${backend.name}, ${tf.name})`, { timeout: 90_000 }, () => {
    let svc: RunningCandystore;
    let transport: Transport;
    let teardown: () => Promise<void>;
    let databaseUrl: string | undefined;
    const exchange = `test.${rid()}.events`;
    const queue = `test.${rid()}.candystore`;
    const dlx = `test.${rid()}.dlx`;
    const type = `test.outage${rid()}`;

    const publish = (e: EventEnvelope) =>
      transport.publish({
        exchange,
        routingKey: e.event_type,
        body: Buffer.from(JSON.stringify(e)),
        properties: { ...envelopeAmqpProperties(e), persistent: true },
      });
    const storedIds = async (): Promise<string[]> =>
      (
        await svc.store.db.query<{ id: string }>(
          'SELECT event_id::text AS id FROM events WHERE event_type LIKE $1',
          [`${type}.%`],
        )
      ).map((r) => r.id);
    const deadLetters = async () => (await transport.checkQueue(`${queue}.dlq`))?.messageCount ?? -1;
    const health = async () => {
      const res = await fetch(`${svc.url}/health`);
      return { status: res.status, body: (await res.json()) as HealthBody };
    };
    const metric = async (name: string): Promise<number> => {
      const text = await (await fetch(`${svc.url}/metrics`)).text();
      const line = text.split('\n').find((l) => l.startsWith(`${name} `));
      return line ? Number(line.split(' ')[1]) : Number.NaN;
    };

    before(async () => {
      const s = await backend.setup();
      teardown = s.teardown;
      databaseUrl = s.databaseUrl;
      transport = await tf.create();
      svc = await startCandystore({
        ...(s.databaseUrl ? { databaseUrl: s.databaseUrl } : { dataDir: null }),
        transport,
        exchange,
        queue,
        dlx,
        port: 0,
        host: '127.0.0.1',
        batchSize: 8,
        batchMaxWaitMs: 5,
        publishSummaries: false,
        registry: null,
        logLevel: process.env.CS_DEBUG ? 'info' : 'silent',
      });
    });

    after(async () => {
      await svc?.close();
      if (transport) {
        for (const q of [queue, `${queue}.dlq`, `${dlx}.monitor`, `${exchange}.unroutable`])
          await transport.deleteQueue(q).catch(() => {});
        await tf.deleteExchanges?.([exchange, dlx, `${exchange}.unroutable`]);
        await transport.close();
      }
      await teardown?.();
    });

    test(`refused writes (${how}) hold the batch: nothing dead-lettered, /health degraded, then every event stored once`, async () => {
      const first = Array.from({ length: 10 }, (_, i) => envelope(`${type}.before`, { i }));
      for (const e of first) await publish(e);
      await waitFor(async () => (await storedIds()).length === 10, 20_000, 'the first 10 events');
      assert.equal((await health()).status, 200);

      const allow = await refuse(svc, databaseUrl);
      const meanwhile = Array.from({ length: 30 }, (_, i) => envelope(`${type}.during`, { i }));
      for (const e of meanwhile) await publish(e);
      let report: HealthBody | null = null;
      await waitFor(
        async () => {
          const h = await health();
          report = h.body;
          return h.status === 503 && (h.body.ingest?.database_error?.attempts ?? 0) >= 4;
        },
        20_000,
        '/health to report a held batch retried a few times',
      );
      assert.equal(report!.status, 'degraded');
      const held = report!.ingest.database_error!;
      assert.ok(held.message, 'the last error is shown');
      // PGlite's own errors have no SQLSTATE; a read-only PostgreSQL answers 25006
      assert.equal(held.code, backend.name === 'pglite' ? null : '25006', held.message);
      assert.ok(Date.parse(held.since) <= Date.now());
      assert.equal(await metric('candystore_ingest_held'), 1);
      assert.equal(await deadLetters(), 0, 'nothing dead-lettered during the outage');

      await allow();
      const later = Array.from({ length: 5 }, (_, i) => envelope(`${type}.after`, { i }));
      for (const e of later) await publish(e);
      const expected = [...first, ...meanwhile, ...later].map((e) => e.event_id).sort();
      await waitFor(async () => (await storedIds()).length >= expected.length, 30_000, 'every event');
      await waitFor(async () => (await health()).status === 200, 10_000, '/health ok again');
      const ids = (await storedIds()).sort();
      assert.deepEqual(ids, expected, 'every event stored exactly once');
      assert.equal((await health()).body.ingest.database_error, null);
      assert.equal(await metric('candystore_ingest_held'), 0);
      assert.equal(await metric('candystore_events_dead_lettered_total'), 0);
      assert.equal(await deadLetters(), 0);
    });

    test('an error about one event (SQLSTATE 22) dead-letters that event only', async () => {
      const events = Array.from({ length: 6 }, (_, i) => envelope(`${type}.poison`, { i }));
      const poison = events[3]!.event_id;
      const restore = intercept(svc.store, (_text, params) =>
        JSON.stringify(params ?? []).includes(poison)
          ? Object.assign(new Error('unsupported Unicode escape sequence'), { code: '22P05' })
          : null,
      );
      try {
        for (const e of events) await publish(e);
        await waitFor(async () => (await deadLetters()) === 1, 20_000, 'the poison event dead-lettered');
        const want = events.filter((e) => e.event_id !== poison).map((e) => e.event_id);
        await waitFor(
          async () => {
            const ids = new Set(await storedIds());
            return want.every((id) => ids.has(id));
          },
          20_000,
          'the other five stored',
        );
      } finally {
        restore();
      }
      assert.ok(!(await storedIds()).includes(poison));
      assert.equal((await health()).body.ingest.database_error, null, 'not reported as an outage');
      const [letter] = (await transport.peek(`${queue}.dlq`, 1)) ?? [];
      assert.equal(JSON.parse(letter!.body.toString()).event_id, poison);
    });
  });
}
