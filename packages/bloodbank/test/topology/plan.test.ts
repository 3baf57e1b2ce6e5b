import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { resolveTopologyOptions } from '../../src/topology/options.js';
import { DLQ_DELIVERY_LIMIT, planQueue, planTopology } from '../../src/topology/plan.js';
import type { TopologyRegistry } from '../../src/topology/registry.js';

const opts = resolveTopologyOptions({ exchange: 'ev', dlx: 'dlx', retryTiersMs: [1000, 10_000] }, {});

describe('topology plan', { timeout: 5000 }, () => {
  test('defaults: exchange, dlx, 24 h TTL, classic', () => {
    const d = resolveTopologyOptions({}, {});
    assert.equal(d.exchange, 'bloodbank.events.v1');
    assert.equal(d.dlx, 'bloodbank.dlx');
    assert.equal(d.unroutable, 'bloodbank.events.v1.unroutable');
    assert.equal(d.monitorQueue, 'bloodbank.dlx.monitor');
    assert.equal(d.messageTtlMs, 86_400_000);
    assert.equal(d.queueType, 'classic');
  });

  test('environment overrides, options override the environment', () => {
    const env = {
      BLOODBANK_QUEUE_TYPE: 'quorum',
      BLOODBANK_EXCHANGE: 'x.events',
      BLOODBANK_MESSAGE_TTL_MS: '5000',
    };
    const e = resolveTopologyOptions({}, env);
    assert.equal(e.queueType, 'quorum');
    assert.equal(e.exchange, 'x.events');
    assert.equal(e.messageTtlMs, 5000);
    assert.equal(resolveTopologyOptions({ queueType: 'classic' }, env).queueType, 'classic');
    assert.throws(() => resolveTopologyOptions({}, { BLOODBANK_QUEUE_TYPE: 'stream' }), /classic, quorum/);
  });

  test('a service queue dead-letters to the dlx with its own name as key', () => {
    const plan = planQueue('orders', ['order.#', 'payment.captured'], opts);
    const inbox = plan.queues.find((q) => q.name === 'orders')!;
    assert.deepEqual(inbox.options, {
      durable: true,
      queueType: 'classic',
      messageTtlMs: 86_400_000,
      deadLetterExchange: 'dlx',
      deadLetterRoutingKey: 'orders',
    });
    assert.deepEqual(
      plan.bindings.map((b) => `${b.exchange}:${b.pattern}->${b.queue}`),
      ['ev:order.#->orders', 'ev:payment.captured->orders', 'dlx:orders->orders.dlq'],
    );
  });

  test('retry queues have no binding and return to their own queue through the default exchange', () => {
    const plan = planQueue('orders', ['#'], opts);
    const retries = plan.queues.filter((q) => q.role === 'retry');
    assert.deepEqual(
      retries.map((q) => [
        q.name,
        q.options.messageTtlMs,
        q.options.deadLetterExchange,
        q.options.deadLetterRoutingKey,
      ]),
      [
        ['orders.retry.1s', 1000, '', 'orders'],
        ['orders.retry.10s', 10_000, '', 'orders'],
      ],
    );
    for (const r of retries)
      assert.ok(!plan.bindings.some((b) => b.queue === r.name), `${r.name} must not be bound`);
  });

  test('the registry: queue_names pair with routing_keys, TTL and type per service, deprecated skipped', () => {
    const registry: TopologyRegistry = {
      services: [
        {
          id: 'a',
          status: 'active',
          queues: ['a.q'],
          routingKeys: ['x.#', 'y.*'],
          queue: { messageTtlMs: 5000 },
        },
        { id: 'b', status: 'active', queues: ['b.one', 'b.two'], routingKeys: ['k.one', 'k.two'] },
        { id: 'c', status: 'deprecated', queues: ['c.q'], routingKeys: ['#'] },
        { id: 'd', status: 'planned', queues: ['d.q'], routingKeys: ['z.z'], queue: { queueType: 'quorum' } },
      ],
    };
    const plan = planTopology(registry, opts);
    const service = plan.queues.filter((q) => q.role === 'service').map((q) => q.name);
    assert.deepEqual(service, ['a.q', 'b.one', 'b.two', 'd.q']);
    assert.equal(plan.queues.find((q) => q.name === 'a.q')!.options.messageTtlMs, 5000);
    assert.equal(plan.queues.find((q) => q.name === 'd.q')!.options.queueType, 'quorum');
    assert.equal(plan.queues.find((q) => q.name === 'd.q.dlq')!.options.queueType, 'quorum');
    const evBindings = plan.bindings
      .filter((b) => b.exchange === 'ev')
      .map((b) => `${b.queue}<-${b.pattern}`);
    assert.deepEqual(evBindings, ['a.q<-x.#', 'a.q<-y.*', 'b.one<-k.one', 'b.two<-k.two', 'd.q<-z.z']);
    const exchanges = plan.exchanges.map((e) => `${e.name}:${e.type}:${e.options.alternateExchange ?? ''}`);
    assert.deepEqual(exchanges, ['ev.unroutable:fanout:', 'ev:topic:ev.unroutable', 'dlx:topic:']);
    assert.ok(
      plan.bindings.some((b) => b.exchange === 'dlx' && b.pattern === '#' && b.queue === 'dlx.monitor'),
    );
  });

  test('a quorum dead-letter queue has its delivery limit turned off; a classic one has none', () => {
    const quorum = planQueue('orders', ['#'], opts, { queueType: 'quorum' });
    assert.deepEqual(quorum.queues.find((q) => q.role === 'dlq')!.options, {
      durable: true,
      queueType: 'quorum',
      deliveryLimit: DLQ_DELIVERY_LIMIT,
    });
    // only dead-letter queues: a service queue keeps the broker's poison-message limit
    for (const q of quorum.queues.filter((q) => q.role !== 'dlq'))
      assert.equal(q.options.deliveryLimit, undefined, q.name);
    const classic = planQueue('orders', ['#'], opts);
    // RabbitMQ refuses x-delivery-limit on a classic queue
    assert.equal(classic.queues.find((q) => q.role === 'dlq')!.options.deliveryLimit, undefined);
  });

  test('messageTtlMs null: a service queue whose messages never expire', () => {
    const plan = planQueue('store', ['#'], opts, { messageTtlMs: null });
    const inbox = plan.queues.find((q) => q.name === 'store')!;
    assert.ok(!('messageTtlMs' in inbox.options), 'no x-message-ttl at all');
    assert.equal(inbox.options.deadLetterExchange, 'dlx');
    const fromRegistry = planTopology(
      { services: [{ id: 's', queues: ['s.q'], routingKeys: ['#'], queue: { messageTtlMs: null } }] },
      opts,
    );
    assert.equal(fromRegistry.queues.find((q) => q.name === 's.q')!.options.messageTtlMs, undefined);
  });

  test('a queue claimed by two services or a bad pattern is a registry error', () => {
    assert.throws(
      () =>
        planTopology(
          {
            services: [
              { id: 'a', queues: ['same'], routingKeys: ['a.b'] },
              { id: 'b', queues: ['same'], routingKeys: ['c.d'] },
            ],
          },
          opts,
        ),
      /declared by 'a' and 'b'/,
    );
    assert.throws(() => planQueue('q', ['Bad Key'], opts), /not a valid routing key pattern/);
  });
});
