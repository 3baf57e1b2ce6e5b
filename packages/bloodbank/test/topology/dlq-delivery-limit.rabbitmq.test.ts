// A quorum dead-letter queue on the real RabbitMQ: a dead letter put back many times (as the
// DLQ tools do with the messages they read but do not take) is still there. With RabbitMQ 4's
// default delivery limit (20) it would be dropped; with `x-delivery-limit: -1` on RabbitMQ 3.x,
// at the first return.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyPlan } from '../../src/topology/apply.js';
import { dlqName } from '../../src/topology/names.js';
import { resolveTopologyOptions } from '../../src/topology/options.js';
import { DLQ_DELIVERY_LIMIT, mergePlans, planExchanges, planQueue } from '../../src/topology/plan.js';
import { backends, TestNames, waitFor } from '../sdk/backends.js';

const rabbit = backends().find((b) => b.name === 'rabbitmq');
const RETURNS = 25;

test('a dead letter in a quorum .dlq survives more returns than any default delivery limit', {
  timeout: 60_000,
}, async () => {
  assert.ok(rabbit, 'no RabbitMQ transport factory found in src/transport');
  const names = new TestNames();
  const transport = await rabbit.transport();
  try {
    const q = names.queue('dl');
    const opts = resolveTopologyOptions({ ...names.topology, queueType: 'quorum' });
    const plan = mergePlans([planExchanges(opts), planQueue(q, ['dl.#'], opts)]);
    assert.equal(plan.queues.find((p) => p.name === dlqName(q))!.options.deliveryLimit, DLQ_DELIVERY_LIMIT);
    await applyPlan(transport, plan);
    // declaring the same plan again is no conflict (the broker kept the argument as sent)
    await applyPlan(transport, plan);
    await transport.publish({
      exchange: '',
      routingKey: dlqName(q),
      body: Buffer.from('{}'),
      properties: { persistent: true },
    });
    await waitFor(async () => (await transport.checkQueue(dlqName(q)))?.messageCount === 1, 'the letter');
    for (let i = 0; i < RETURNS; i++) {
      const d = await transport.get(dlqName(q));
      assert.ok(d, `the letter is still there after ${i} returns`);
      d.nack({ requeue: true });
    }
    await waitFor(async () => (await transport.checkQueue(dlqName(q)))?.messageCount === 1, 'the letter');
    const last = await transport.get(dlqName(q));
    assert.ok(last, `the letter is still there after ${RETURNS} returns`);
    last.ack();
  } finally {
    await transport.close();
    await names.cleanup('rabbitmq');
  }
});
