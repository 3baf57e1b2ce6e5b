import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createEmbeddedTransport, EmbeddedBroker } from '../../src/transport/index.js';
import { type Backend, expectProblem, harness, rand } from './helpers.js';

const T = { timeout: 30_000 };

// Embedded only: the bound is the embedded broker's own safety net (RabbitMQ has its own alarms).
const tiny: Backend = {
  name: 'embedded',
  transport: async () => createEmbeddedTransport({ broker: new EmbeddedBroker({ maxQueueMessages: 3 }) }),
};

describe('gateway over a full embedded queue', () => {
  test('answers 503 with Retry-After while the queue is full, 202 once it drained', T, async () => {
    const h = await harness(tiny);
    // A queue nobody consumes: what a store that fell behind looks like to the broker.
    const stalled = `test.${rand()}.stalled`;
    await h.transport.assertQueue(stalled, { durable: false });
    await h.transport.bindQueue(stalled, h.exchange, '#');
    const event = { event_type: 'test.event.created', payload: { message: 'x' } };
    try {
      let accepted = 0;
      let res = await h.post('/events', event);
      while (res.status === 202 && accepted < 10) {
        await res.body?.cancel();
        accepted++;
        res = await h.post('/events', event);
      }
      assert.equal(accepted, 3, 'the queue takes up to its limit');
      assert.equal(res.headers.get('retry-after'), '5');
      const doc = (await expectProblem(res, 503, 'PUBLISH_NACKED')) as Record<string, unknown>;
      assert.match(String(doc.detail), new RegExp(`queue '${stalled.replace(/\./g, '\\.')}' is full`));
      assert.equal(doc.queue, stalled);
      assert.equal(doc.max, 3);
      assert.equal(doc.retry_after, 5);
      assert.equal((await h.transport.checkQueue(stalled))?.messageCount, 3);

      let drained = 0;
      const consumer = await h.transport.consume(stalled, (d) => {
        drained++;
        d.ack();
      });
      const deadline = Date.now() + 5000;
      while (drained < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      assert.equal(drained, 3);
      const again = await h.post('/events', event);
      assert.equal(again.status, 202, await again.text());
      await consumer.cancel();
    } finally {
      await h.transport.deleteQueue(stalled).catch(() => {});
      await h.close();
    }
  });
});
