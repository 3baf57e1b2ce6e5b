// The SDK resends a publish the broker refused for now, with the same event id. Embedded
// broker only: a queue's message limit is how it says "full, try later" on demand.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AppError, type EventEnvelope, isAppError } from '@33god/core';
import { loadSchemaTree } from '@33god/holyfields';
import { type ConnectOptions, connect } from '../../src/sdk/bus.js';
import type { Bus } from '../../src/sdk/types.js';
import { applyPlan } from '../../src/topology/apply.js';
import { resolveTopologyOptions } from '../../src/topology/options.js';
import { mergePlans, planExchanges, planQueue } from '../../src/topology/plan.js';
import { createEmbeddedTransport, EmbeddedBroker } from '../../src/transport/index.js';
import type { Transport } from '../../src/transport/transport.js';
import { TestNames } from './backends.js';
import { schemaDir } from './setup.js';

const T = { timeout: 20_000 };

/** A bus on a broker whose queues hold two messages, with one bound queue already full. */
async function fullQueue(options: Partial<ConnectOptions> = {}) {
  const names = new TestNames();
  const transport: Transport = createEmbeddedTransport({
    broker: new EmbeddedBroker({ maxQueueMessages: 2 }),
  });
  const bus: Bus = await connect({ app: 'bloodbank-test', transport, topology: names.topology, ...options });
  const queue = names.queue('tiny');
  const topo = resolveTopologyOptions(names.topology, {});
  await applyPlan(transport, mergePlans([planExchanges(topo), planQueue(queue, ['test.#'], topo)]));
  const filler = [
    await bus.publish('test.thing.created', { name: 'one' }),
    await bus.publish('test.thing.created', { name: 'two' }),
  ];
  return {
    bus,
    transport,
    queue,
    filler,
    async done() {
      await bus.close();
      await transport.close();
    },
  };
}

describe('SDK publish retry (embedded broker, queue limit 2)', () => {
  test(
    'a publish to a full queue lands once a consumer drains it, with the id it returned, once',
    T,
    async () => {
      const q = await fullQueue({ publishRetryMs: 10_000 });
      try {
        const publishing = q.bus.publish('test.thing.created', { name: 'three' });
        // Let the first attempt be refused before making room.
        await new Promise((r) => setTimeout(r, 120));
        const seen: string[] = [];
        for (let i = 0; i < 2; i++) {
          const d = await q.transport.get(q.queue);
          assert.ok(d);
          seen.push((JSON.parse(d.body.toString()) as EventEnvelope).event_id);
          d.ack();
        }
        assert.deepEqual(
          seen,
          q.filler.map((e) => e.event_id),
        );
        const envelope = await publishing;
        const d = await q.transport.get(q.queue);
        assert.ok(d, 'the retried publish is in the queue');
        assert.equal((JSON.parse(d.body.toString()) as EventEnvelope).event_id, envelope.event_id);
        d.ack();
        assert.equal(await q.transport.get(q.queue), null, 'and only once');
      } finally {
        await q.done();
      }
    },
  );

  test('publishRetryMs 0 fails at the first refusal with PUBLISH_NACKED', T, async () => {
    const q = await fullQueue({ publishRetryMs: 0 });
    try {
      const started = Date.now();
      await assert.rejects(
        q.bus.publish('test.thing.created', { name: 'three' }),
        (e: unknown) => isAppError(e) && e.code === 'PUBLISH_NACKED',
      );
      assert.ok(Date.now() - started < 1000, 'no backoff');
    } finally {
      await q.done();
    }
  });

  test('a refusal still there at the deadline fails with PUBLISH_NACKED', T, async () => {
    const q = await fullQueue({ publishRetryMs: 300 });
    try {
      await assert.rejects(
        q.bus.publish('test.thing.created', { name: 'three' }),
        (e: unknown) => isAppError(e) && e.code === 'PUBLISH_NACKED',
      );
    } finally {
      await q.done();
    }
  });

  test('a schema violation is not retried', T, async () => {
    const q = await fullQueue({ schemas: await loadSchemaTree(schemaDir()) });
    try {
      const started = Date.now();
      await assert.rejects(
        q.bus.publish('test.thing.created', { name: 3 }),
        (e: unknown) => e instanceof AppError && e.code === 'SCHEMA_VIOLATION',
      );
      assert.ok(Date.now() - started < 1000, 'failed at once');
    } finally {
      await q.done();
    }
  });

  test('connect refuses a negative publishRetryMs', T, async () => {
    const transport = createEmbeddedTransport({ broker: new EmbeddedBroker() });
    try {
      await assert.rejects(
        connect({ app: 'bloodbank-test', transport, publishRetryMs: -1 }),
        (e: unknown) => isAppError(e) && e.code === 'CONFIG_INVALID',
      );
    } finally {
      await transport.close();
    }
  });
});
