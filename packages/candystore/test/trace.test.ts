import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createEmbeddedTransport, EmbeddedBroker, type Transport } from '@33god/bloodbank';
import { type EventEnvelope, envelopeAmqpProperties } from '@33god/core';
import { type RunningCandystore, type StoredEvent, startCandystore } from '../src/index.js';
import { BACKENDS, envelope, type Json, rid, waitFor } from './helpers.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const traceparent = (span: string) => `00-${TRACE}-${span}-01`;

for (const backend of BACKENDS) {
  describe(`trace context in the store (${backend.name})`, { timeout: 90_000 }, () => {
    let svc: RunningCandystore;
    let transport: Transport;
    let teardown: () => Promise<void>;
    const exchange = `test.${rid()}.events`;
    const kind = `test.t${rid()}`;
    const traced = [
      envelope(
        `${kind}.started`,
        {},
        { traceparent: traceparent('00f067aa0ba902b7'), tracestate: 'congo=1' },
      ),
      envelope(`${kind}.finished`, {}, { traceparent: traceparent('00f067aa0ba902b8') }),
    ];
    const other = envelope(`${kind}.other`, {}, { traceparent: `00-${'e'.repeat(32)}-${'f'.repeat(16)}-00` });
    const untraced = envelope(`${kind}.untraced`);

    const get = async (path: string) => {
      const res = await fetch(`${svc.url}${path}`);
      return { status: res.status, body: (await res.json()) as Json };
    };

    before(async () => {
      const s = await backend.setup();
      teardown = s.teardown;
      transport = createEmbeddedTransport({ broker: new EmbeddedBroker() });
      svc = await startCandystore({
        ...s,
        transport,
        exchange,
        queue: `test.${rid()}.candystore`,
        dlx: `test.${rid()}.dlx`,
        port: 0,
        host: '127.0.0.1',
        batchSize: 10,
        batchMaxWaitMs: 10,
        logLevel: 'silent',
      });
      for (const e of [...traced, other, untraced] as EventEnvelope[]) {
        await transport.publish({
          exchange,
          routingKey: e.event_type,
          body: Buffer.from(JSON.stringify(e)),
          properties: envelopeAmqpProperties(e),
        });
      }
      await waitFor(
        async () => (await get(`/events?type=${kind}.%23`)).body.items?.length === 4,
        15_000,
        'ingest',
      );
    });
    after(async () => {
      await svc?.close();
      await transport?.close();
      await teardown?.();
    });

    test('the trace_id column is filled from traceparent, and indexed', async () => {
      const rows = await svc.store.db.query<{ event_id: string; trace_id: string | null }>(
        'SELECT event_id, trace_id FROM events WHERE event_type LIKE $1',
        [`${kind}.%`],
      );
      const byId = new Map(rows.map((r) => [r.event_id, r.trace_id]));
      assert.equal(byId.get(traced[0]!.event_id), TRACE);
      assert.equal(byId.get(traced[1]!.event_id), TRACE);
      assert.equal(byId.get(other.event_id), 'e'.repeat(32));
      assert.equal(byId.get(untraced.event_id), null);
      const idx = await svc.store.db.query<{ indexname: string }>(
        "SELECT indexname FROM pg_indexes WHERE tablename = 'events' AND indexdef LIKE '%trace_id%'",
      );
      assert.ok(idx.length > 0, 'an index on trace_id');
    });

    test('GET /events?trace_id= returns the trace, with its traceparent and tracestate', async () => {
      const r = await get(`/events?trace_id=${TRACE}&order=asc`);
      assert.equal(r.status, 200);
      const items = r.body.items as StoredEvent[];
      assert.deepEqual(
        items.map((e) => e.event_id),
        traced.map((e) => e.event_id),
      );
      assert.equal(items[0]!.trace_id, TRACE);
      assert.equal(items[0]!.traceparent, traced[0]!.traceparent);
      assert.equal(items[0]!.tracestate, 'congo=1');
      // Upper case is the same id.
      const upper = await get(`/events?trace_id=${TRACE.toUpperCase()}`);
      assert.equal(upper.body.items.length, 2);
      const single = await get(`/events/${untraced.event_id}`);
      assert.equal(single.body.trace_id, null);
    });

    test('a replay republishes with the trace context in the AMQP headers too', async () => {
      const rows = await svc.store.replayPage({ traceId: TRACE }, '0', 10);
      assert.deepEqual(
        rows.map((r) => [r.event_id, r.traceparent, r.tracestate]),
        [
          [traced[0]!.event_id, traced[0]!.traceparent, 'congo=1'],
          [traced[1]!.event_id, traced[1]!.traceparent, null],
        ],
      );
      assert.equal(JSON.parse(rows[0]!.body).traceparent, traced[0]!.traceparent);
    });

    test('a malformed trace_id is a 400', async () => {
      for (const bad of ['xyz', '0'.repeat(32), `${TRACE}0`]) {
        const r = await get(`/events?trace_id=${bad}`);
        assert.equal(r.status, 400, bad);
        assert.equal(r.body.code, 'INVALID_FILTER');
      }
    });
  });
}
