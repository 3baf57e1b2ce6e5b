// The store started while RabbitMQ is down: it serves (503 on /health), and once the broker
// is there it declares its queue, ingests, and turns healthy, without a restart. "Down" is a
// free local port; "up" is a TCP proxy started on that port, forwarding to TEST_AMQP_URL.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createRabbitMqTransport } from '@33god/bloodbank';
import { lateProxy } from '@33god/bloodbank/testkit';
import { envelopeAmqpProperties } from '@33god/core';
import { pino } from 'pino';
import { type RunningCandystore, startCandystore } from '../src/index.js';
import {
  deleteExchanges,
  envelope,
  freshDatabase,
  json,
  rid,
  TEST_AMQP_URL,
  TEST_DATABASE_URL,
  waitFor,
} from './helpers.js';

test('starts with the broker down, answers 503, then ingests once the broker is up', {
  timeout: 60_000,
}, async () => {
  const broker = await lateProxy(TEST_AMQP_URL);
  const exchange = `test.${rid()}.events`;
  const dlx = `test.${rid()}.dlx`;
  const queue = `test.${rid()}.candystore`;
  let svc: RunningCandystore | null = null;
  try {
    const started = Date.now();
    svc = await startCandystore({
      amqpUrl: broker.url,
      dataDir: null,
      exchange,
      dlx,
      queue,
      port: 0,
      host: '127.0.0.1',
      batchMaxWaitMs: 20,
      publishSummaries: false,
      logLevel: 'silent',
    });
    assert.ok(Date.now() - started < 15_000, 'the start does not wait for the broker');
    const down = await fetch(`${svc.url}/health`);
    assert.equal(down.status, 503);
    const report = await json(down);
    assert.equal(report.status, 'degraded');
    assert.equal(report.broker.ok, false);
    assert.notEqual(report.broker.state, 'connected');
    assert.equal(report.database.ok, true);
    // the query API works without a broker
    assert.equal((await fetch(`${svc.url}/events`)).status, 200);

    await new Promise((r) => setTimeout(r, 1_000));
    await broker.start();
    const url = svc.url;
    await waitFor(async () => (await fetch(`${url}/health`)).status === 200, 20_000, 'a healthy store');
    const up = await json(await fetch(`${url}/health`));
    assert.equal(up.broker.state, 'connected');

    const publisher = await createRabbitMqTransport({ url: TEST_AMQP_URL });
    try {
      const e = envelope('test.late.broker', { n: 1 });
      await publisher.publish({
        exchange,
        routingKey: e.event_type,
        body: Buffer.from(JSON.stringify(e)),
        properties: envelopeAmqpProperties(e),
      });
      await waitFor(
        async () => (await fetch(`${url}/events/${e.event_id}`)).status === 200,
        20_000,
        'the event to be stored',
      );
      const stored = await json(await fetch(`${url}/events/${e.event_id}`));
      assert.equal(stored.event_type ?? stored.envelope?.event_type, 'test.late.broker');
    } finally {
      await publisher.close();
    }
  } finally {
    await svc?.close();
    await broker.close();
    const admin = await createRabbitMqTransport({ url: TEST_AMQP_URL });
    for (const q of [queue, `${queue}.dlq`, `${exchange}.unroutable`, `${dlx}.monitor`])
      await admin.deleteQueue(q).catch(() => {});
    await admin.close();
    await deleteExchanges([exchange, dlx, `${exchange}.unroutable`]).catch(() => {});
  }
});

test('waits for a PostgreSQL server that comes up after it, logging each retry', {
  timeout: 60_000,
}, async () => {
  // "Down": a free port; "up": a proxy on it to the test server, started after a few seconds.
  const db = await freshDatabase();
  const pgProxy = await lateProxy(db.url);
  const warnings: string[] = [];
  const log = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(line) });
  let svc: RunningCandystore | null = null;
  try {
    const starting = startCandystore({
      databaseUrl: pgProxy.url,
      ingest: false,
      port: 0,
      host: '127.0.0.1',
      logger: log as never,
    });
    await waitFor(
      () => warnings.filter((w) => w.includes('database not reachable; retrying')).length >= 2,
      20_000,
      'two logged retries',
    );
    await pgProxy.start();
    svc = await starting;
    const health = await json(await fetch(`${svc.url}/health`));
    assert.equal(health.database.ok, true);
    assert.equal(health.database.kind, 'postgres');
  } finally {
    await svc?.close();
    await pgProxy.close();
    await db.drop();
  }
});

test('a bounded database wait gives up with the error', { timeout: 30_000 }, async () => {
  const pgProxy = await lateProxy(TEST_DATABASE_URL);
  const started = Date.now();
  await assert.rejects(
    startCandystore({
      databaseUrl: pgProxy.url,
      databaseWaitMs: 1_500,
      ingest: false,
      port: 0,
      host: '127.0.0.1',
      logLevel: 'silent',
    }),
  );
  assert.ok(Date.now() - started >= 1_000, 'it retried before giving up');
  await pgProxy.close();
});
