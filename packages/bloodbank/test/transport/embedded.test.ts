import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isAppError } from '@33god/core';
import { waitFor } from '../../src/testkit/index.js';
import { createEmbeddedTransport, type Delivery, EmbeddedBroker } from '../../src/transport/index.js';

const T = { timeout: 20_000 };

function fresh() {
  const broker = new EmbeddedBroker();
  return { broker, t: createEmbeddedTransport({ broker }) };
}

describe('embedded broker (behaviour beyond the shared contract)', () => {
  it('never calls a handler inside publish: delivery happens on a later turn', T, async () => {
    const { t } = fresh();
    await t.assertQueue('q', { durable: false });
    let called = false;
    await t.consume('q', (d) => {
      called = true;
      d.ack();
    });
    const p = t.publish({ exchange: '', routingKey: 'q', body: Buffer.from('x') });
    assert.equal(called, false);
    await p;
    assert.equal(called, false, 'not even before the publish promise settles');
    await waitFor(() => called, 'the delivery');
    await t.close();
  });

  it('keeps memory bounded while consumers keep up, and gives back a drained backlog', T, async () => {
    const { broker, t } = fresh();
    await t.assertExchange('ex', 'topic', { durable: false });
    await t.assertQueue('q', { durable: false });
    await t.bindQueue('q', 'ex', '#');
    let n = 0;
    await t.consume(
      'q',
      (d) => {
        n++;
        d.ack();
      },
      { prefetch: 64 },
    );
    // 30 000 distinct routing keys: the route cache stays bounded.
    for (let i = 0; i < 30_000; i++) {
      await t.publish({ exchange: 'ex', routingKey: `k.${i}`, body: Buffer.from('x') });
      if (i % 1000 === 0) await new Promise((r) => setImmediate(r));
    }
    await waitFor(() => n === 30_000, 'all handled');
    const s = broker.stats();
    assert.ok(s.routeCacheEntries <= 10_000, `route cache ${s.routeCacheEntries}`);
    assert.equal(s.messages, 0);

    // A deep backlog (no consumer) then drained: the slots are given back.
    await t.assertQueue('deep', { durable: false });
    for (let i = 0; i < 100_000; i++)
      await t.publish({ exchange: '', routingKey: 'deep', body: Buffer.from('y') });
    assert.ok(broker.stats().queueSlots >= 100_000);
    let m = 0;
    await t.consume(
      'deep',
      (d) => {
        m++;
        d.ack();
      },
      { prefetch: 500 },
    );
    await waitFor(() => m === 100_000, 'backlog drained');
    assert.ok(broker.stats().queueSlots < 5_000, `slots after drain: ${broker.stats().queueSlots}`);
    await t.close();
  });

  it('a retry delay queue sends the message back to its own queue only (default exchange)', T, async () => {
    const { t } = fresh();
    await t.assertExchange('events', 'topic', { durable: false });
    await t.assertQueue('work', { durable: false });
    await t.assertQueue('bystander', { durable: false });
    await t.bindQueue('work', 'events', 'order.#');
    await t.bindQueue('bystander', 'events', '#');
    await t.assertQueue('work.retry', {
      durable: false,
      messageTtlMs: 50,
      deadLetterExchange: '',
      deadLetterRoutingKey: 'work',
    });
    await t.publish({ exchange: 'events', routingKey: 'order.placed', body: Buffer.from('o1') });
    const first = await t.get('work');
    assert.ok(first);
    first.ack();
    // The retry middleware parks the message in the delay queue by name.
    await t.publish({ exchange: '', routingKey: 'work.retry', body: first.body });
    let back: Delivery | null = null;
    await waitFor(async () => {
      back = await t.get('work');
      return back !== null;
    }, 'the message back in its own queue');
    const b = back as unknown as Delivery;
    assert.equal(b.body.toString(), 'o1');
    const deaths = b.properties.headers?.['x-death'];
    assert.ok(Array.isArray(deaths));
    const death = deaths[0] as Record<string, unknown> | undefined;
    assert.equal(death?.reason, 'expired');
    assert.equal(death?.queue, 'work.retry');
    b.ack();
    // The bystander saw the original publish once, never the retry.
    assert.equal((await t.checkQueue('bystander'))?.messageCount, 1);
    await t.close();
  });

  it('records x-first-death-* once and keeps them on later deaths', T, async () => {
    const { t } = fresh();
    await t.assertQueue('sink', { durable: false });
    await t.assertQueue('a', { durable: false, deadLetterExchange: '', deadLetterRoutingKey: 'b' });
    await t.assertQueue('b', { durable: false, deadLetterExchange: '', deadLetterRoutingKey: 'sink' });
    await t.publish({ exchange: '', routingKey: 'a', body: Buffer.from('x') });
    (await t.get('a'))?.nack({ requeue: false });
    await waitFor(async () => ((await t.checkQueue('b'))?.messageCount ?? 0) === 1, 'in b');
    (await t.get('b'))?.nack({ requeue: false });
    await waitFor(async () => ((await t.checkQueue('sink'))?.messageCount ?? 0) === 1, 'in sink');
    const d = await t.get('sink');
    const h = d?.properties.headers ?? {};
    assert.equal(h['x-first-death-queue'], 'a');
    assert.equal(h['x-first-death-reason'], 'rejected');
    const deaths = h['x-death'] as Record<string, unknown>[];
    assert.deepEqual(
      deaths.map((x) => x.queue),
      ['b', 'a'],
      'most recent death first',
    );
    await t.close();
  });

  it('drops a dead letter whose exchange does not exist, like RabbitMQ', T, async () => {
    const { t } = fresh();
    await t.assertQueue('q', { durable: false, deadLetterExchange: 'missing.dlx' });
    await t.publish({ exchange: '', routingKey: 'q', body: Buffer.from('x') });
    (await t.get('q'))?.nack({ requeue: false });
    assert.equal((await t.checkQueue('q'))?.messageCount, 0);
    await t.close();
  });

  it(
    'deletes an exclusive queue with its connection and an auto-delete queue with its last consumer',
    T,
    async () => {
      const broker = new EmbeddedBroker();
      const a = createEmbeddedTransport({ broker });
      const b = createEmbeddedTransport({ broker });
      await a.assertQueue('mine', { durable: false, exclusive: true });
      await assert.rejects(
        b.assertQueue('mine', { durable: false, exclusive: true }),
        (e: unknown) => isAppError(e) && e.code === 'TOPOLOGY_CONFLICT',
      );
      await a.assertQueue('tail', { durable: false, autoDelete: true });
      const c = await a.consume('tail', (d) => d.ack());
      await c.cancel();
      assert.equal(await b.checkQueue('tail'), null);
      await a.close();
      assert.equal(await b.checkQueue('mine'), null);
      await b.close();
    },
  );

  it('refuses headers exchanges and binding to the default exchange', T, async () => {
    const { t } = fresh();
    await assert.rejects(
      t.assertExchange('h', 'headers'),
      (e: unknown) => isAppError(e) && e.code === 'TOPOLOGY_CONFLICT',
    );
    await t.assertQueue('q', { durable: false });
    await assert.rejects(
      t.bindQueue('q', '', 'q'),
      (e: unknown) => isAppError(e) && e.code === 'TOPOLOGY_CONFLICT',
    );
    await assert.rejects(
      t.bindQueue('q', 'nope', '#'),
      (e: unknown) => isAppError(e) && e.code === 'EXCHANGE_NOT_FOUND',
    );
    await t.close();
  });

  it('a closed transport refuses work; the broker and other transports carry on', T, async () => {
    const broker = new EmbeddedBroker();
    const a = createEmbeddedTransport({ broker });
    const b = createEmbeddedTransport({ broker });
    await a.assertQueue('q', { durable: false });
    await a.close();
    await assert.rejects(a.assertQueue('x'), (e: unknown) => isAppError(e) && e.code === 'TRANSPORT_CLOSED');
    await b.publish({ exchange: '', routingKey: 'q', body: Buffer.from('still here') });
    assert.equal((await b.get('q'))?.body.toString(), 'still here');
    await b.close();
  });

  it('serves competing consumers of different transports round robin', T, async () => {
    const broker = new EmbeddedBroker();
    const a = createEmbeddedTransport({ broker });
    const b = createEmbeddedTransport({ broker });
    await a.assertQueue('q', { durable: false });
    const seen = { a: 0, b: 0 };
    await a.consume('q', (d) => {
      seen.a++;
      d.ack();
    });
    await b.consume('q', (d) => {
      seen.b++;
      d.ack();
    });
    for (let i = 0; i < 100; i++) await a.publish({ exchange: '', routingKey: 'q', body: Buffer.from('x') });
    await waitFor(() => seen.a + seen.b === 100, 'all delivered');
    assert.equal(seen.a, 50);
    assert.equal(seen.b, 50);
    await a.close();
    await b.close();
  });
});
