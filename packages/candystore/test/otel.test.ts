// The store's ingest exports deliver and handle spans in the event's trace (OTLP/HTTP JSON to
// a local receiver this test starts).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createEmbeddedTransport, EmbeddedBroker, type Transport, tracerFromEnv } from '@33god/bloodbank';
import { OtlpReceiver } from '@33god/bloodbank/testkit';
import { envelopeAmqpProperties } from '@33god/core';
import { type RunningCandystore, startCandystore } from '../src/index.js';
import { envelope, rid, waitFor } from './helpers.js';

describe('store ingest spans (PGlite, embedded broker)', { timeout: 90_000 }, () => {
  const receiver = new OtlpReceiver();
  let svc: RunningCandystore;
  let transport: Transport;
  const exchange = `test.${rid()}.events`;

  before(async () => {
    await receiver.start();
    transport = createEmbeddedTransport({ broker: new EmbeddedBroker() });
    svc = await startCandystore({
      dataDir: null,
      transport,
      exchange,
      queue: `test.${rid()}.candystore`,
      dlx: `test.${rid()}.dlx`,
      port: 0,
      host: '127.0.0.1',
      batchMaxWaitMs: 10,
      logLevel: 'silent',
      publishSummaries: false,
      tracer: await tracerFromEnv('candystore-otel-test', { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url }),
    });
  });
  after(async () => {
    await svc?.close();
    await transport?.close();
    await receiver.close();
  });

  test('deliver is a child of the event span, handle of deliver, same trace id', async () => {
    const traceId = 'a1b2c3d4e5f60718293a4b5c6d7e8f90';
    const spanId = '0123456789abcdef';
    const e = envelope('test.otel.stored', {}, { traceparent: `00-${traceId}-${spanId}-01` });
    await transport.publish({
      exchange,
      routingKey: e.event_type,
      body: Buffer.from(JSON.stringify(e)),
      properties: envelopeAmqpProperties(e),
    });
    await waitFor(
      async () => (await fetch(`${svc.url}/events/${e.event_id}`)).status === 200,
      15_000,
      'stored',
    );
    // close() flushes the exporter
    await svc.close();
    await waitFor(() => receiver.trace(traceId).length >= 2, 15_000, 'two spans');
    const spans = receiver.trace(traceId);
    const deliver = spans.find((s) => s.name === 'deliver');
    const handle = spans.find((s) => s.name === 'handle');
    assert.ok(deliver && handle, JSON.stringify(spans));
    assert.equal(deliver.parentSpanId, spanId);
    assert.equal(deliver.service, 'candystore-otel-test');
    assert.equal(deliver.attributes['messaging.message.id'], e.event_id);
    assert.equal(handle.parentSpanId, deliver.spanId);
  });
});
