// RabbitMQ + PostgreSQL: the production pair.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createRabbitMqTransport, type Delivery } from '@33god/bloodbank';
import { type EventEnvelope, envelopeAmqpProperties } from '@33god/core';
import pg from 'pg';
import { startCandystore } from '../src/index.js';
import { deleteExchanges, envelope, freshDatabase, json, rid, TEST_AMQP_URL, waitFor } from './helpers.js';

test('N events published → N rows, no duplicates after forced redeliveries', {
  timeout: 120_000,
}, async () => {
  const db = await freshDatabase();
  const transport = await createRabbitMqTransport({ url: TEST_AMQP_URL });
  const thief = await createRabbitMqTransport({ url: TEST_AMQP_URL });
  const exchange = `test.${rid()}.events`;
  const queue = `test.${rid()}.candystore`;
  const dlx = `test.${rid()}.dlx`;
  const client = new pg.Client({ connectionString: db.url });
  let svc: Awaited<ReturnType<typeof startCandystore>> | null = null;
  const count = async () =>
    Number(
      (
        await client.query<{ n: string }>(
          "SELECT count(*)::text AS n FROM events WHERE event_type LIKE 'test.rabbit.%'",
        )
      ).rows[0]!.n,
    );
  try {
    await transport.assertExchange(exchange, 'topic', { durable: false });
    await transport.assertQueue(queue, { durable: true });
    await transport.bindQueue(queue, exchange, '#');
    const published: EventEnvelope[] = [];
    const publish = (e: EventEnvelope) =>
      transport.publish({
        exchange,
        routingKey: e.event_type,
        body: Buffer.from(JSON.stringify(e)),
        properties: envelopeAmqpProperties(e),
      });
    for (let i = 0; i < 500; i++) {
      const e = envelope(`test.rabbit.${i % 2 ? 'odd' : 'even'}`, { i });
      published.push(e);
      await publish(e);
    }
    for (const e of published.slice(0, 50)) await publish(e); // the same events again

    // a consumer takes 100 messages and dies without acking: they come back redelivered
    const held: Delivery[] = [];
    await thief.consume(queue, (d) => void held.push(d), { prefetch: 100 });
    await waitFor(() => held.length === 100, 10_000, 'the thief to hold 100 messages');
    await thief.close({ drainTimeoutMs: 0 });

    svc = await startCandystore({
      databaseUrl: db.url,
      transport,
      exchange,
      queue,
      dlx,
      port: 0,
      host: '127.0.0.1',
      batchSize: 64,
      batchMaxWaitMs: 20,
      logLevel: 'silent',
      publishSummaries: false,
    });
    await client.connect();
    await waitFor(async () => (await count()) >= 500, 30_000, '500 rows');
    for (let i = 0; i < 500; i++) {
      const e = envelope('test.rabbit.later', { i });
      published.push(e);
      await publish(e);
    }
    await waitFor(async () => (await count()) >= 1000, 30_000, '1000 rows');
    await waitFor(
      async () => ((await transport.checkQueue(queue))?.messageCount ?? 1) === 0,
      10_000,
      'queue drained',
    );
    const rows = await client.query<{ event_id: string }>(
      "SELECT event_id FROM events WHERE event_type LIKE 'test.rabbit.%'",
    );
    assert.equal(rows.rows.length, 1000);
    const ids = new Set(rows.rows.map((r) => r.event_id));
    assert.equal(ids.size, 1000);
    assert.ok(published.every((e) => ids.has(e.event_id)));
    const redelivered = await client.query<{ n: string }>(
      "SELECT count(*)::text AS n FROM events WHERE event_type LIKE 'test.rabbit.%'",
    );
    assert.equal(Number(redelivered.rows[0]!.n), 1000);
    const health = await json(await fetch(`${svc.url}/health`));
    assert.equal(health.status, 'ok');
    assert.equal(health.broker.state, 'connected');
  } finally {
    await svc?.close();
    await client.end().catch(() => {});
    for (const q of [queue, `${queue}.dlq`]) await transport.deleteQueue(q).catch(() => {});
    await transport.close();
    await thief.close().catch(() => {});
    await deleteExchanges([exchange, dlx]).catch(() => {});
    await db.drop();
  }
});
