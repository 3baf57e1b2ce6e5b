import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { completeEnvelope, envelopeAmqpProperties } from '@33god/core';
import { DEAD_LETTER_HEADERS } from '../../src/dead-letters/headers.js';
import { backends, harness, rand, registryFile } from './helpers.js';

const T = { timeout: 30_000 };

for (const backend of backends) {
  describe(`dead-letter routes (${backend.name})`, () => {
    test('list queues, list items in the dashboard shape, redrive and purge', T, async () => {
      const queue = `test.${rand()}.svc`;
      const dlq = `${queue}.dlq`;
      const registryPath = registryFile({ svc: ['test.event.created'] }, { svc: queue });
      const h = await harness(backend, { registryPath });
      try {
        await h.transport.assertQueue(queue, { durable: false });
        await h.transport.assertQueue(dlq, { durable: false });
        const envs = [1, 2, 3].map((i) =>
          completeEnvelope(
            { event_type: 'test.event.created', payload: { message: `dead ${i}` } },
            { app: 't' },
          ),
        );
        for (const env of envs) {
          const props = envelopeAmqpProperties(env);
          await h.transport.publish({
            exchange: '',
            routingKey: dlq,
            body: Buffer.from(JSON.stringify(env)),
            properties: {
              ...props,
              headers: {
                ...props.headers,
                [DEAD_LETTER_HEADERS.reason]: 'handler threw: boom',
                [DEAD_LETTER_HEADERS.errorClass]: 'Error',
                [DEAD_LETTER_HEADERS.handler]: 'svc-handler',
                [DEAD_LETTER_HEADERS.attempts]: 3,
                [DEAD_LETTER_HEADERS.originalRoutingKey]: 'test.event.created',
                [DEAD_LETTER_HEADERS.originalQueue]: queue,
              },
            },
          });
        }
        const queues = (await (await fetch(`${h.url}/dead-letters`)).json()) as {
          queues: Record<string, unknown>[];
        };
        assert.deepEqual(
          queues.queues.find((q) => q.queue === queue),
          { queue, dlq, exists: true, count: 3 },
        );
        const list = (await (await fetch(`${h.url}/dead-letters/${queue}?limit=2`)).json()) as {
          items: Record<string, unknown>[];
          next_cursor: string | null;
          count: number;
        };
        assert.equal(list.items.length, 2);
        assert.equal(list.count, 3);
        assert.ok(list.next_cursor, 'a page that is not the last says where the next starts');
        const rest = (await (
          await fetch(`${h.url}/dead-letters/${queue}?limit=2&cursor=${encodeURIComponent(list.next_cursor)}`)
        ).json()) as { items: { id: string }[]; next_cursor: string | null };
        assert.deepEqual(
          rest.items.map((i) => i.id),
          [envs[2]!.event_id],
        );
        assert.equal(rest.next_cursor, null);
        for (const bad of ['limit=501', 'limit=0', 'cursor=nope!']) {
          const r = await fetch(`${h.url}/dead-letters/${queue}?${bad}`);
          assert.equal(r.status, 400, bad);
          assert.match(r.headers.get('content-type') ?? '', /application\/problem\+json/);
        }
        const first = list.items[0]!;
        assert.deepEqual(Object.keys(first).sort(), [
          'attempts',
          'body',
          'correlation_id',
          'dlq',
          'envelope',
          'error_class',
          'event_id',
          'event_type',
          'first_failure_at',
          'handler',
          'id',
          'last_failure_at',
          'original_exchange',
          'original_routing_key',
          'queue',
          'reason',
        ]);
        assert.equal(first.event_id, envs[0]!.event_id);
        assert.equal(first.event_type, 'test.event.created');
        assert.equal(first.reason, 'handler threw: boom');
        assert.equal(first.handler, 'svc-handler');
        assert.equal(first.attempts, 3);
        assert.equal(first.original_routing_key, 'test.event.created');
        assert.deepEqual((first.envelope as Record<string, unknown>).payload, { message: 'dead 1' });
        const bad = await fetch(`${h.url}/dead-letters/${queue}?limit=zero`);
        assert.equal(bad.status, 400);
        const one = (await (await fetch(`${h.url}/dead-letters/${queue}/${envs[2]!.event_id}`)).json()) as {
          id: string;
          correlation_id: string;
        };
        assert.equal(one.id, envs[2]!.event_id);
        assert.equal(one.correlation_id, envs[2]!.correlation_id);
        assert.equal((await fetch(`${h.url}/dead-letters/${queue}/nope`)).status, 404);

        const redrive = await fetch(`${h.url}/dead-letters/${queue}/redrive`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ ids: [envs[1]!.event_id] }),
        });
        assert.equal(redrive.status, 200);
        assert.equal(((await redrive.json()) as { redriven: number }).redriven, 1);
        assert.equal((await h.transport.checkQueue(queue))?.messageCount, 1);

        const purge = await fetch(`${h.url}/dead-letters/${queue}`, {
          method: 'DELETE',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({}),
        });
        assert.equal(((await purge.json()) as { purged: number }).purged, 2);
        assert.equal((await h.transport.checkQueue(dlq))?.messageCount, 0);
      } finally {
        await h.transport.deleteQueue(queue).catch(() => {});
        await h.transport.deleteQueue(dlq).catch(() => {});
        await h.close();
      }
    });
  });
}
