import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createEmbeddedTransport, EmbeddedBroker } from '@33god/bloodbank';
import { isAppError } from '@33god/core';
import { migrate, openStore, startCandystore } from '../src/index.js';
import { migrationFiles, openPglite, openPostgres } from '../src/internal.js';
import { DURABLE_BACKENDS, envelope, freshDatabase, newEvent } from './helpers.js';

const latest = migrationFiles().at(-1)!.version;

for (const target of DURABLE_BACKENDS) {
  describe(`migrations (${target.name})`, { timeout: 60_000 }, () => {
    test('apply once, record the version, and are idempotent', async () => {
      const { options, teardown } = await target.setup();
      try {
        const store = await openStore(options);
        const rows = await store.db.query<{ version: number }>(
          'SELECT version FROM candystore_schema_migrations',
        );
        assert.deepEqual(
          rows.map((r) => Number(r.version)),
          migrationFiles().map((f) => f.version),
        );
        const again = await migrate(store.db);
        assert.deepEqual(again, { version: latest, applied: [] });
        // version 4 keeps replays in the database
        assert.ok(migrationFiles().some((f) => f.version === 4 && f.name === 'replays'));
        const columns = await store.db.query<{ column_name: string }>(
          "SELECT column_name FROM information_schema.columns WHERE table_name = 'replays' ORDER BY column_name",
        );
        assert.deepEqual(
          columns.map((c) => c.column_name),
          [
            'error',
            'filter',
            'finished_at',
            'head_position',
            'id',
            'last_position',
            'lease_until',
            'owner',
            'published',
            'rate_per_second',
            'started_at',
            'status',
            'target',
            'total',
          ],
        );
        await store.close();
      } finally {
        await teardown();
      }
    });

    test('version 1 data upgrades to the latest version: events kept, their ids still refused, new ids stored', async () => {
      const { options, teardown } = await target.setup();
      try {
        // a database as the version-1 build left it, with events in it
        const v1 = options.databaseUrl
          ? await openPostgres({ url: options.databaseUrl })
          : await openPglite({ dataDir: options.dataDir! });
        await migrate(v1, migrationFiles().slice(0, 1));
        await v1.query('SELECT candystore_ensure_partition(now())');
        const old = envelope('test.before.upgrade');
        const params = [
          [old.event_id],
          [old.event_type],
          [old.timestamp],
          [old.version],
          [JSON.stringify(old.source)],
          [old.source.app],
          [null],
          [null],
          [JSON.stringify(old.payload)],
          [null],
          [old.event_type],
          ['{}'],
          [null],
        ];
        // the call the version-1 build made (its append.sql)
        await v1.query(
          `SELECT * FROM candystore_append($1::uuid[], $2::text[], $3::timestamptz[], $4::text[], $5::jsonb[],
             $6::text[], $7::uuid[], $8::uuid[], $9::jsonb[], $10::jsonb[], $11::text[], $12::jsonb[], $13::text[])`,
          params,
        );
        await v1.close();

        const store = await openStore(options);
        try {
          const tables = await store.db.query<{ n: string }>(
            "SELECT count(*)::text AS n FROM pg_tables WHERE tablename = 'event_ids'",
          );
          assert.equal(tables[0]!.n, '0');
          const replays = await store.db.query<{ n: string }>('SELECT count(*)::text AS n FROM replays');
          assert.equal(replays[0]!.n, '0', 'the replays table exists after the upgrade, empty');
          assert.equal((await store.get(old.event_id))?.event_type, 'test.before.upgrade');
          const fresh = envelope('test.after.upgrade');
          const r = await store.append([newEvent(old), newEvent(fresh)]);
          assert.deepEqual(
            r.stored.map((e) => e.event_id),
            [fresh.event_id],
          );
          assert.equal(r.duplicates, 1);
        } finally {
          await store.close();
        }
      } finally {
        await teardown();
      }
    });

    test('the service refuses a database with a schema version it does not know', async () => {
      const { options, teardown } = await target.setup();
      try {
        const store = await openStore(options);
        await store.db.query(
          "INSERT INTO candystore_schema_migrations (version, name) VALUES (9999, 'from_the_future')",
        );
        await assert.rejects(
          migrate(store.db),
          (err) => isAppError(err) && err.code === 'MIGRATION_UNKNOWN_VERSION',
        );
        await store.close();
        await assert.rejects(
          openStore(options),
          (err) => isAppError(err) && err.code === 'MIGRATION_UNKNOWN_VERSION',
        );
        const transport = createEmbeddedTransport({ broker: new EmbeddedBroker() });
        await assert.rejects(
          startCandystore({ ...options, transport, port: 0, host: '127.0.0.1', logLevel: 'silent' }),
          (err) => isAppError(err) && err.code === 'MIGRATION_UNKNOWN_VERSION',
        );
        await transport.close();
      } finally {
        await teardown();
      }
    });
  });
}

test('two instances migrating one PostgreSQL database at once apply each migration once', {
  timeout: 60_000,
}, async () => {
  const db = await freshDatabase();
  try {
    const [a, b] = await Promise.all([
      openStore({ databaseUrl: db.url }),
      openStore({ databaseUrl: db.url }),
    ]);
    const rows = await a.db.query<{ n: string }>(
      'SELECT count(*)::text AS n FROM candystore_schema_migrations',
    );
    assert.equal(Number(rows[0]!.n), migrationFiles().length);
    await a.close();
    await b.close();
  } finally {
    await db.drop();
  }
});
