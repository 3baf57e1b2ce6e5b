// The replay suite, run by replay.test.ts (embedded broker) and replay.rabbitmq.test.ts.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Delivery, Transport } from '@33god/bloodbank';
import { type EventEnvelope, envelopeAmqpProperties } from '@33god/core';
import { type RunningCandystore, startCandystore } from '../../src/index.js';
import { type Backend, envelope, json, replayTargetPool, rid, waitFor } from '../helpers.js';

export interface TransportFactory {
  name: string;
  create(): Promise<Transport>;
  /** Removes exchanges the suite declared (RabbitMQ); the embedded broker needs nothing. */
  deleteExchanges?: (names: string[]) => Promise<void>;
}

/** The replay suite, for any database backend and transport. */
export function replaySuite(backendName: string, setup: Backend['setup'], tf: TransportFactory): void {
  describe(`replay (${backendName}, ${tf.name})`, { timeout: 90_000 }, () => {
    let svc: RunningCandystore;
    let transport: Transport;
    let teardown: () => Promise<void>;
    const exchange = `test.${rid()}.events`;
    const queue = `test.${rid()}.candystore`;
    const declared: string[] = [];
    const exchanges: string[] = [];
    const selected: EventEnvelope[] = [];
    const targets = replayTargetPool();

    const post = async (body: unknown) => {
      const res = await fetch(`${svc.url}/replays`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      return { status: res.status, body: await json(res) };
    };
    const status = async (id: string) =>
      (await json(await fetch(`${svc.url}/replays/${id}`))) as Record<string, unknown>;
    const drain = async (q: string, n: number): Promise<Delivery[]> => {
      const out: Delivery[] = [];
      await waitFor(
        async () => {
          for (;;) {
            const d = await transport.get(q);
            if (!d) break;
            d.ack();
            out.push(d);
          }
          return out.length >= n;
        },
        15_000,
        `${n} messages on ${q}`,
      );
      return out;
    };
    const targetQueue = async () => {
      const q = targets.next();
      await transport.assertQueue(q, { durable: false });
      declared.push(q);
      return q;
    };

    const dlx = `test.${rid()}.dlx`;
    exchanges.push(exchange, dlx);
    before(async () => {
      const s = await setup();
      teardown = s.teardown;
      transport = await tf.create();
      svc = await startCandystore({
        ...s,
        transport,
        exchange,
        queue,
        dlx,
        port: 0,
        host: '127.0.0.1',
        batchSize: 100,
        batchMaxWaitMs: 10,
        logLevel: 'silent',
        publishSummaries: false,
        registry: targets.registry,
      });
      declared.push(queue, `${queue}.dlq`);
      for (let i = 0; i < 60; i++) {
        const e = envelope(i % 3 === 0 ? 'test.replay.skipped' : `test.replay.kind${i % 2}`, { i });
        if (i % 3 !== 0) selected.push(e);
        await transport.publish({
          exchange,
          routingKey: e.event_type,
          body: Buffer.from(JSON.stringify(e)),
          properties: envelopeAmqpProperties(e),
        });
      }
      await waitFor(
        async () =>
          (await json(await fetch(`${svc.url}/events?type=test.replay.%23&limit=100`))).items.length === 60,
        15_000,
        'ingest',
      );
    });
    after(async () => {
      await svc?.close();
      for (const q of declared) await transport?.deleteQueue(q).catch(() => {});
      await transport?.deleteQueue(queue).catch(() => {});
      await transport?.close();
      await tf.deleteExchanges?.(exchanges).catch(() => {});
      await teardown?.();
    });

    test('to a queue: the selected events, in stored order, marked with the replay id', async () => {
      const q = await targetQueue();
      const r = await post({ filter: { type: 'test.replay.*' }, target: { queue: q } });
      assert.equal(r.status, 202);
      assert.equal(r.body.status, 'running');
      const id = r.body.id as string;
      await waitFor(async () => (await status(id)).status === 'completed', 15_000, 'replay completed');
      const info = await status(id);
      assert.equal(info.total, 60);
      assert.equal(info.published, 60);
      const got = await drain(q, 60);
      assert.equal(got.length, 60);
      for (const d of got) assert.equal(d.properties.headers?.['x-replay-id'], id);
      const ids = got.map((d) => JSON.parse(d.body.toString()).event_id);
      const stored = (await json(await fetch(`${svc.url}/events?type=test.replay.%23&limit=100&order=asc`)))
        .items;
      assert.deepEqual(
        ids,
        stored.map((e: { event_id: string }) => e.event_id),
      );
    });

    test('to an exchange: original routing keys, filter applied', async () => {
      // the one exchange a replay may target is the store's own: what is bound to it gets the
      // copies (the store's ingest queue too, which stores none of them again)
      const q = await targetQueue();
      await transport.bindQueue(q, exchange, 'test.replay.kind1');
      const r = await post({ filter: { type: 'test.replay.kind0' }, target: { exchange } });
      const r2 = await post({ filter: { type: 'test.replay.kind1' }, target: { exchange } });
      assert.equal(r.status, 202);
      await waitFor(
        async () => (await status(r2.body.id)).status === 'completed',
        15_000,
        'replay completed',
      );
      const want = selected.filter((e) => e.event_type === 'test.replay.kind1');
      const got = await drain(q, want.length);
      assert.deepEqual(
        got.map((d) => JSON.parse(d.body.toString()).event_id),
        want.map((e) => e.event_id),
      );
      assert.ok(got.every((d) => d.routingKey === 'test.replay.kind1'));
      assert.ok(got.every((d) => d.properties.headers?.['x-replay-id'] === r2.body.id));
      const body = JSON.parse(got[0]!.body.toString());
      assert.deepEqual(body.payload, want[0]!.payload);
      await transport.unbindQueue(q, exchange, 'test.replay.kind1').catch(() => {});
    });

    test('replayed copies reaching the store are not stored again', async () => {
      const r = await post({ filter: { type: 'test.replay.kind0' }, target: { exchange } });
      await waitFor(async () => (await status(r.body.id)).status === 'completed', 15_000, 'replay completed');
      const marker = envelope('test.replay.marker');
      await transport.publish({
        exchange,
        routingKey: marker.event_type,
        body: Buffer.from(JSON.stringify(marker)),
      });
      await waitFor(
        async () => (await fetch(`${svc.url}/events/${marker.event_id}`)).status === 200,
        10_000,
        'marker',
      );
      const items = (await json(await fetch(`${svc.url}/events?type=test.replay.kind0&limit=100`))).items;
      assert.equal(items.length, selected.filter((e) => e.event_type === 'test.replay.kind0').length);
    });

    test('rate limit and cancel', async () => {
      const q = await targetQueue();
      const r = await post({ filter: { type: 'test.replay.#' }, target: { queue: q }, rate_per_second: 20 });
      assert.equal(r.status, 202);
      await new Promise((res) => setTimeout(res, 300));
      const del = await fetch(`${svc.url}/replays/${r.body.id}`, { method: 'DELETE' });
      assert.equal(del.status, 200);
      const info = await json(del);
      assert.equal(info.status, 'cancelled');
      assert.ok(info.published > 0 && info.published < 30, `published ${info.published} at 20/s in ~0.3 s`);
      assert.ok(info.finished_at);
      const unknown = await fetch(`${svc.url}/replays/${crypto.randomUUID()}`);
      assert.equal(unknown.status, 404);
    });
  });
}
