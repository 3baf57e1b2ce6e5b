// Classic and quorum queues on the real RabbitMQ: the declared type is what the
// broker reports, and retry and dead-lettering work on both.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RetryableError } from '../../src/middleware/errors.js';
import { connect } from '../../src/sdk/bus.js';
import { applyTopology, checkTopology } from '../../src/topology/apply.js';
import { dlqName, retryQueueName } from '../../src/topology/names.js';
import { AMQP_TEST_URL, backends, TestNames, waitFor } from '../sdk/backends.js';

const T = { timeout: 60_000 };
const rabbit = backends().find((b) => b.name === 'rabbitmq');

/** The queue's type as the management API reports it. */
async function queueType(name: string): Promise<string> {
  const u = new URL(AMQP_TEST_URL);
  const vhost = encodeURIComponent(decodeURIComponent(u.pathname.slice(1)) || '/');
  const auth = Buffer.from(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`).toString(
    'base64',
  );
  const res = await fetch(`http://${u.hostname}:15672/api/queues/${vhost}/${encodeURIComponent(name)}`, {
    headers: { authorization: `Basic ${auth}` },
  });
  assert.equal(res.status, 200, `management API for ${name}`);
  return ((await res.json()) as { type: string }).type;
}

describe('queue types on RabbitMQ', () => {
  test('the RabbitMQ transport is available to this suite', () => {
    assert.ok(rabbit, 'no RabbitMQ transport factory found in src/transport');
  });

  for (const type of ['classic', 'quorum'] as const) {
    test(`${type}: declared from the registry, then retried and dead-lettered`, T, async () => {
      const names = new TestNames();
      const transport = await rabbit!.transport();
      try {
        const q = names.queue('svc');
        const registry = { services: [{ id: 'svc', queues: [q], routingKeys: ['qt.#'] }] };
        const topology = { ...names.topology, queueType: type };
        await applyTopology(transport, registry, topology);
        assert.equal((await checkTopology(transport, registry, topology)).ok, true);
        for (const name of [q, dlqName(q), retryQueueName(q, names.tiers[0]!)]) {
          assert.equal(await queueType(name), type, name);
        }
        const bus = await connect({ app: 'qt', transport, topology });
        try {
          let calls = 0;
          await bus.subscribe(
            q,
            ['qt.#'],
            async () => {
              calls++;
              throw new RetryableError('still failing');
            },
            { retry: { maxAttempts: 2, initialDelayMs: 50, jitter: 0 } },
          );
          const env = await bus.publish('qt.item.made', {});
          await waitFor(
            async () => (await transport.checkQueue(dlqName(q)))?.messageCount === 1,
            'the dead letter',
          );
          assert.equal(calls, 2);
          const [letter] = await bus.deadLetters.list(q);
          assert.equal(letter?.id, env.event_id);
          assert.equal(letter?.attempts, 2);
        } finally {
          await bus.close();
        }
      } finally {
        await transport.close();
        await names.cleanup('rabbitmq');
      }
    });
  }
});
