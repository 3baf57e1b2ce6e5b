// Dead-letter monitor and operations against every backend.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AppError, type EventEnvelope } from '@33god/core';
import { BloodbankMessageDlqV1Event } from '@33god/events';
import { deadLetter } from '../../src/dead-letters/dead-letter.js';
import { type DeadLetterEventPayload, DLQ_EVENT_TYPE } from '../../src/dead-letters/monitor.js';
import { NonRetryableError } from '../../src/middleware/errors.js';
import { applyPlan } from '../../src/topology/apply.js';
import { dlqName } from '../../src/topology/names.js';
import { resolveTopologyOptions } from '../../src/topology/options.js';
import { mergePlans, planExchanges, planQueue } from '../../src/topology/plan.js';
import { backends, waitFor } from '../sdk/backends.js';
import { harness } from '../sdk/setup.js';

const T = { timeout: 30_000 };

for (const backend of backends()) {
  describe(`dead letters on ${backend.name}`, () => {
    test(
      'the monitor publishes bloodbank.message.dlq for handler failures and broker expiries',
      T,
      async () => {
        const h = await harness(backend);
        try {
          const failing = h.names.queue('failing');
          const expiring = h.names.queue('expiring');
          const watch = h.names.queue('watch');
          const dlqEvents: EventEnvelope<DeadLetterEventPayload>[] = [];
          await h.bus.startDeadLetterMonitor();
          await h.bus.subscribe(watch, [DLQ_EVENT_TYPE], async (e) => {
            dlqEvents.push(e as EventEnvelope<DeadLetterEventPayload>);
          });
          await h.bus.subscribe(failing, ['job.#'], async function worker() {
            throw new NonRetryableError('disk full');
          });
          // A queue nobody consumes, with a short TTL: the broker dead-letters on its own.
          const topo = resolveTopologyOptions(h.names.topology, {});
          await applyPlan(h.transport, planQueue(expiring, ['mail.#'], topo, { messageTtlMs: 100 }));

          const job = await h.bus.publish('job.run.requested', {});
          const mail = await h.bus.publish('mail.message.sent', {});
          await waitFor(() => dlqEvents.length === 2, 'two dlq events');
          for (const e of dlqEvents) {
            const parsed = BloodbankMessageDlqV1Event.safeParse(e);
            assert.ok(parsed.success, `the event breaks its schema: ${JSON.stringify(parsed.error?.issues)}`);
          }
          const byQueue = new Map(dlqEvents.map((e) => [e.payload.queue, e]));
          const a = byQueue.get(failing)!;
          assert.equal(a.payload.original_event_id, job.event_id);
          assert.equal(a.payload.original_event_type, 'job.run.requested');
          assert.equal(a.payload.reason, 'handler_rejected');
          assert.equal(a.payload.error_message, 'disk full');
          assert.equal(a.payload.error_class, 'NonRetryableError');
          assert.equal(a.payload.handler, 'worker');
          assert.equal(a.payload.attempts, 1);
          assert.equal(a.causation_id, job.event_id);
          assert.equal(a.correlation_id, job.correlation_id);
          const b = byQueue.get(expiring)!;
          assert.equal(b.payload.original_event_id, mail.event_id);
          assert.equal(b.payload.error_class, 'broker:expired');
          assert.equal(b.payload.reason, 'expired');
          assert.match(b.payload.error_message ?? '', /expired/);
          // And both dead letters are where the operations find them.
          assert.equal((await h.bus.deadLetters.list(expiring))[0]?.id, mail.event_id);
          assert.equal((await h.bus.deadLetters.list(failing))[0]?.id, job.event_id);
        } finally {
          await h.done();
        }
      },
    );

    test('list reads without removing or reordering; show finds one; purge by id and all', T, async () => {
      const h = await harness(backend);
      try {
        const q = h.names.queue('pile');
        await h.bus.subscribe(q, ['pile.#'], async () => {
          throw new NonRetryableError('no');
        });
        const ids: string[] = [];
        for (let i = 0; i < 6; i++) ids.push((await h.bus.publish('pile.item.added', { i })).event_id);
        await waitFor(
          async () => (await h.transport.checkQueue(dlqName(q)))?.messageCount === 6,
          'six dead letters',
        );
        const once = (await h.bus.deadLetters.list(q)).map((l) => l.id);
        const twice = (await h.bus.deadLetters.list(`${q}.dlq`, 100)).map((l) => l.id);
        assert.deepEqual(once, ids);
        assert.deepEqual(twice, ids);
        assert.deepEqual(
          (await h.bus.deadLetters.list(q, 2)).map((l) => l.id),
          ids.slice(0, 2),
        );
        const shown = await h.bus.deadLetters.show(q, ids[3]!);
        assert.deepEqual(shown.envelope?.payload, { i: 3 });
        await assert.rejects(h.bus.deadLetters.show(q, 'missing'), (e: unknown) => {
          assert.ok(e instanceof AppError);
          assert.equal(e.code, 'NOT_FOUND');
          return true;
        });
        const purged = await h.bus.deadLetters.purge(q, [ids[1]!, ids[4]!]);
        assert.deepEqual(purged.ids, [ids[1], ids[4]]);
        assert.deepEqual(
          (await h.bus.deadLetters.list(q)).map((l) => l.id),
          [ids[0], ids[2], ids[3], ids[5]],
          'the others stay, in order',
        );
        const queues = await h.bus.deadLetters.queues();
        assert.deepEqual(queues, [{ queue: q, dlq: dlqName(q), exists: true, messageCount: 4 }]);
        assert.equal((await h.bus.deadLetters.purge(q)).count, 4);
        assert.deepEqual(await h.bus.deadLetters.list(q), []);
      } finally {
        await h.done();
      }
    });

    test('operations on a queue without a dead-letter queue are QUEUE_NOT_FOUND', T, async () => {
      const h = await harness(backend);
      try {
        const q = h.names.queue('never-declared');
        for (const op of [
          () => h.bus.deadLetters.list(q),
          () => h.bus.deadLetters.redrive(q),
          () => h.bus.deadLetters.purge(q),
        ]) {
          await assert.rejects(op(), (e: unknown) => {
            assert.ok(e instanceof AppError);
            assert.equal(e.code, 'QUEUE_NOT_FOUND');
            return true;
          });
        }
      } finally {
        await h.done();
      }
    });

    test('deadLetter() lets a transport-level consumer dead-letter with the reason headers', T, async () => {
      const h = await harness(backend);
      try {
        const q = h.names.queue('store');
        const topo = resolveTopologyOptions(h.names.topology, {});
        await applyPlan(h.transport, mergePlans([planExchanges(topo), planQueue(q, ['store.#'], topo)]));
        await h.transport.publish({
          exchange: topo.exchange,
          routingKey: 'store.raw.put',
          body: Buffer.from('garbage'),
        });
        const d = await waitFor(() => h.transport.get(q), 'the message');
        await deadLetter(
          h.transport,
          d,
          { error: new AppError('INVALID_ENVELOPE', 'not an envelope'), handler: 'candystore', attempts: 1 },
          { dlx: topo.dlx },
        );
        await waitFor(
          async () => (await h.transport.checkQueue(dlqName(q)))?.messageCount === 1,
          'the dead letter',
        );
        assert.equal((await h.transport.checkQueue(q))?.messageCount, 0, 'the original was acked');
        const [letter] = await h.bus.deadLetters.list(q);
        assert.equal(letter?.errorClass, 'INVALID_ENVELOPE');
        assert.equal(letter?.handler, 'candystore');
        assert.equal(letter?.originalRoutingKey, 'store.raw.put');
        assert.equal(letter?.body, 'garbage');
        assert.ok(letter?.id, 'a body without a message id still gets one');
      } finally {
        await h.done();
      }
    });
  });
}
