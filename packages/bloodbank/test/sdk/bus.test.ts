// The SDK against every backend (embedded broker and RabbitMQ) through one factory.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AppError, type EventEnvelope } from '@33god/core';
import { NonRetryableError, RetryableError } from '../../src/middleware/errors.js';
import { idempotent, MemoryIdempotencyStore } from '../../src/sdk/idempotency.js';
import { applyPlan } from '../../src/topology/apply.js';
import { dlqName } from '../../src/topology/names.js';
import { resolveTopologyOptions } from '../../src/topology/options.js';
import { mergePlans, planExchanges, planQueue } from '../../src/topology/plan.js';
import { backends, waitFor } from './backends.js';
import { harness } from './setup.js';

const T = { timeout: 30_000 };

for (const backend of backends()) {
  describe(`SDK on ${backend.name}`, () => {
    test('every confirmed publish is in its queue', T, async () => {
      const h = await harness(backend);
      try {
        const q = h.names.queue('inbox');
        const topo = resolveTopologyOptions(h.names.topology, {});
        await applyPlan(h.transport, mergePlans([planExchanges(topo), planQueue(q, ['order.#'], topo)]));
        const ids = new Set<string>();
        await Promise.all(
          Array.from({ length: 50 }, async (_, i) => {
            const env = await h.bus.publish('order.item.added', { i });
            ids.add(env.event_id);
          }),
        );
        await waitFor(async () => (await h.transport.checkQueue(q))?.messageCount === 50, '50 messages');
        const seen = new Set<string>();
        for (;;) {
          const d = await h.transport.get(q);
          if (!d) break;
          seen.add((JSON.parse(d.body.toString()) as EventEnvelope).event_id);
          d.ack();
        }
        assert.deepEqual([...seen].sort(), [...ids].sort());
      } finally {
        await h.done();
      }
    });

    test('subscribe refuses an impossible maxRedeliveries with CONFIG_INVALID', T, async () => {
      const h = await harness(backend);
      try {
        const q = h.names.queue('guarded');
        for (const bad of [-1, 1.5, Number.NaN]) {
          await assert.rejects(
            h.bus.subscribe(q, ['order.#'], async () => {}, { maxRedeliveries: bad }),
            (e: unknown) =>
              e instanceof AppError && e.code === 'CONFIG_INVALID' && /maxRedeliveries/.test(e.message),
          );
        }
        const sub = await h.bus.subscribe(q, ['order.#'], async () => {}, {
          maxRedeliveries: Number.POSITIVE_INFINITY,
        });
        await sub.cancel();
      } finally {
        await h.done();
      }
    });

    test('an event no queue is bound for lands in the unroutable queue, not nowhere', T, async () => {
      const h = await harness(backend);
      try {
        const topo = resolveTopologyOptions(h.names.topology, {});
        await applyPlan(h.transport, planExchanges(topo));
        const env = await h.bus.publish('nobody.listens.here', { x: 1 });
        const d = await waitFor(() => h.transport.get(topo.unroutable), 'the unroutable copy');
        assert.equal(d.properties.messageId, env.event_id);
        assert.equal(d.routingKey, 'nobody.listens.here');
        d.ack();
      } finally {
        await h.done();
      }
    });

    test('without the alternate exchange an unroutable publish is an error', T, async () => {
      const h = await harness(backend);
      try {
        // The events exchange declared by hand, without the topology's alternate exchange.
        await h.transport.assertExchange(h.names.topology.exchange, 'topic', { durable: true });
        // Subscribing leaves an existing exchange as it is (no re-declaration conflict).
        await h.bus.subscribe(h.names.queue('plain'), ['somebody.listens.here'], async () => {});
        await assert.rejects(h.bus.publish('nobody.listens.here', {}), (e: unknown) => {
          assert.ok(e instanceof AppError);
          assert.equal(e.code, 'PUBLISH_UNROUTABLE');
          return true;
        });
      } finally {
        await h.done();
      }
    });

    test('a retryable error is retried with backoff, then dead-lettered with its reason', T, async () => {
      const h = await harness(backend);
      try {
        const q = h.names.queue('flaky');
        const times: number[] = [];
        const attempts: number[] = [];
        await h.bus.subscribe(
          q,
          ['pay.#'],
          async function chargeCard(_e, ctx) {
            times.push(Date.now());
            attempts.push(ctx.attempt);
            throw new RetryableError('gateway timeout');
          },
          { retry: { maxAttempts: 3, initialDelayMs: 60, multiplier: 3, jitter: 0, maxDelayMs: 1000 } },
        );
        const sent = await h.bus.publish('pay.card.charged', { cents: 5 });
        await waitFor(
          async () => (await h.transport.checkQueue(dlqName(q)))?.messageCount === 1,
          'the dead letter',
        );
        assert.deepEqual(attempts, [1, 2, 3]);
        assert.ok(times[1]! - times[0]! >= 55, `first delay ${times[1]! - times[0]!} ms < 60 ms`);
        assert.ok(times[2]! - times[1]! >= 170, `second delay ${times[2]! - times[1]!} ms < 180 ms`);
        const [letter] = await h.bus.deadLetters.list(q);
        assert.ok(letter);
        assert.equal(letter.id, sent.event_id);
        assert.equal(letter.eventType, 'pay.card.charged');
        assert.equal(letter.reason, 'gateway timeout');
        assert.equal(letter.errorClass, 'RetryableError');
        assert.equal(letter.handler, 'chargeCard');
        assert.equal(letter.attempts, 3);
        assert.equal(letter.queue, q);
        assert.equal(letter.originalRoutingKey, 'pay.card.charged');
        assert.equal(letter.originalExchange, h.names.topology.exchange);
        assert.equal(letter.headers['x-original-queue'], q);
        assert.ok(letter.firstFailureAt && letter.lastFailureAt);
        assert.ok(Date.parse(letter.firstFailureAt) <= Date.parse(letter.lastFailureAt));
        assert.ok(Date.parse(letter.lastFailureAt) - Date.parse(letter.firstFailureAt) >= 200);
        assert.deepEqual(letter.envelope?.payload, { cents: 5 });
      } finally {
        await h.done();
      }
    });

    test('a non-retryable error goes to the dead letters at once', T, async () => {
      const h = await harness(backend);
      try {
        const q = h.names.queue('strict');
        let calls = 0;
        class InvalidOrder extends NonRetryableError {}
        await h.bus.subscribe(q, ['order.#'], async () => {
          calls++;
          throw new InvalidOrder('order has no lines');
        });
        await h.bus.publish('order.order.placed', {});
        await waitFor(
          async () => (await h.transport.checkQueue(dlqName(q)))?.messageCount === 1,
          'the dead letter',
        );
        const [letter] = await h.bus.deadLetters.list(q);
        assert.equal(calls, 1);
        assert.equal(letter?.attempts, 1);
        assert.equal(letter?.errorClass, 'InvalidOrder');
        assert.equal(letter?.reason, 'order has no lines');
      } finally {
        await h.done();
      }
    });

    test(
      'retries return to their own queue only: another queue matching the key never sees them',
      T,
      async () => {
        const h = await harness(backend);
        try {
          const failing = h.names.queue('failing');
          const other = h.names.queue('other');
          const wide = h.names.queue('wide');
          let failingCalls = 0;
          const otherSeen: string[] = [];
          const wideSeen: string[] = [];
          const retry = { maxAttempts: 4, initialDelayMs: 30, jitter: 0, multiplier: 1, maxDelayMs: 30 };
          await h.bus.subscribe(other, ['loop.thing.*'], async (e) => {
            otherSeen.push(e.event_id);
          });
          await h.bus.subscribe(wide, ['#'], async (e) => {
            wideSeen.push(e.event_id);
          });
          await h.bus.subscribe(
            failing,
            ['loop.#'],
            async () => {
              failingCalls++;
              if (failingCalls < 4) throw new Error('not yet');
            },
            { retry },
          );
          const env = await h.bus.publish('loop.thing.happened', {});
          await waitFor(() => failingCalls === 4, 'four attempts');
          // Give any stray copy time to arrive before asserting that none did.
          await new Promise((r) => setTimeout(r, 300));
          assert.equal(failingCalls, 4);
          assert.deepEqual(otherSeen, [env.event_id]);
          assert.deepEqual(wideSeen, [env.event_id]);
          assert.equal((await h.transport.checkQueue(dlqName(failing)))?.messageCount, 0);
        } finally {
          await h.done();
        }
      },
    );

    test('redrive returns a dead letter to its original queue and it is then consumed', T, async () => {
      const h = await harness(backend);
      try {
        const q = h.names.queue('redrive');
        let broken = true;
        const handled: { id: string; attempt: number }[] = [];
        await h.bus.subscribe(
          q,
          ['stock.#'],
          async (e, ctx) => {
            if (broken) throw new NonRetryableError('warehouse offline');
            handled.push({ id: e.event_id, attempt: ctx.attempt });
          },
          { retry: { maxAttempts: 1 } },
        );
        const a = await h.bus.publish('stock.item.reserved', { n: 1 });
        const b = await h.bus.publish('stock.item.reserved', { n: 2 });
        await waitFor(
          async () => (await h.transport.checkQueue(dlqName(q)))?.messageCount === 2,
          'two dead letters',
        );
        broken = false;
        const res = await h.bus.deadLetters.redrive(q, [b.event_id, 'no-such-id']);
        assert.deepEqual(res.ids, [b.event_id]);
        assert.deepEqual(res.notFound, ['no-such-id']);
        await waitFor(() => handled.length === 1, 'the redriven event');
        assert.deepEqual(handled[0], { id: b.event_id, attempt: 1 });
        const left = await h.bus.deadLetters.list(q);
        assert.deepEqual(
          left.map((l) => l.id),
          [a.event_id],
        );
        const all = await h.bus.deadLetters.redrive(q);
        assert.deepEqual(all.ids, [a.event_id]);
        await waitFor(() => handled.length === 2, 'the second redriven event');
        assert.equal((await h.transport.checkQueue(dlqName(q)))?.messageCount, 0);
      } finally {
        await h.done();
      }
    });

    test('events published inside a handler inherit correlation and get the cause', T, async () => {
      const h = await harness(backend);
      try {
        const first = h.names.queue('first');
        const second = h.names.queue('second');
        const got: EventEnvelope[] = [];
        await h.bus.subscribe(first, ['chain.start.requested'], async () => {
          // Deep in the handler's async call tree, without passing any id.
          await new Promise((r) => setTimeout(r, 5));
          await Promise.resolve().then(() => h.bus.publish('chain.step.done', { step: 1 }));
        });
        await h.bus.subscribe(second, ['chain.step.done'], async (e) => {
          got.push(e);
        });
        const root = await h.bus.publish(
          'chain.start.requested',
          {},
          { correlationId: '0190b7c4-0000-7000-8000-000000000001' },
        );
        assert.equal(root.causation_id, null, 'outside a handler there is no cause');
        await waitFor(() => got.length === 1, 'the derived event');
        assert.equal(got[0]!.correlation_id, '0190b7c4-0000-7000-8000-000000000001');
        assert.equal(got[0]!.causation_id, root.event_id);
        assert.equal(got[0]!.source.trigger_type, 'event');
        const lone = await h.bus.publish('chain.step.done', { step: 0 });
        assert.equal(lone.correlation_id, lone.event_id, 'a new chain correlates with itself');
      } finally {
        await h.done();
      }
    });

    test(
      'events() as an AsyncIterable: acks as the loop advances, requeues the event in hand on break',
      T,
      async () => {
        const h = await harness(backend);
        try {
          const q = h.names.queue('stream');
          const stream = h.bus.events(q, ['feed.#'], { prefetch: 2 });
          await stream.ready(); // consuming: the queue and its binding exist
          const first = stream.next();
          const sent: string[] = [];
          for (let i = 0; i < 5; i++) sent.push((await h.bus.publish('feed.item.posted', { i })).event_id);
          const seen: string[] = [];
          const r = await first;
          seen.push((r.value as EventEnvelope).event_id);
          for await (const e of stream) {
            seen.push(e.event_id);
            if (seen.length === 4) break;
          }
          assert.deepEqual(seen, sent.slice(0, 4));
          // The 4th was in hand at the break, the 5th buffered: both go back.
          await waitFor(
            async () => (await h.transport.checkQueue(q))?.messageCount === 2,
            'two requeued events',
          );
          const again: string[] = [];
          for await (const e of h.bus.events(q, ['feed.#'])) {
            again.push(e.event_id);
            if (again.length === 2) break;
          }
          assert.deepEqual(again.sort(), sent.slice(3).sort());
        } finally {
          await h.done();
        }
      },
    );

    test('drain finishes in-flight handlers before it resolves', T, async () => {
      const h = await harness(backend);
      try {
        const q = h.names.queue('slow');
        let started = 0;
        let finished = 0;
        await h.bus.subscribe(
          q,
          ['slow.#'],
          async () => {
            started++;
            await new Promise((r) => setTimeout(r, 300));
            finished++;
          },
          { prefetch: 2 },
        );
        for (let i = 0; i < 5; i++) await h.bus.publish('slow.job.queued', { i });
        await waitFor(() => started >= 2, 'two running handlers');
        await h.bus.drain();
        assert.equal(finished, started, 'every started handler finished before drain resolved');
        const left = await waitFor(async () => {
          const c = (await h.transport.checkQueue(q))?.messageCount;
          return c === 5 - finished ? c : undefined;
        }, 'the unstarted messages back in the queue');
        assert.equal(left, 5 - finished);
      } finally {
        await h.done();
      }
    });

    test('drain lets a stream finish the event in hand, acks it, and ends the loop', T, async () => {
      const h = await harness(backend);
      try {
        const q = h.names.queue('stream-drain');
        const stream = h.bus.events(q, ['drain.#'], { prefetch: 4 });
        await stream.ready(); // consuming: the queue and its binding exist
        const first = stream.next();
        for (let i = 0; i < 3; i++) await h.bus.publish('drain.item.posted', { i });
        const seen: unknown[] = [(await first).value];
        const drained = h.bus.drain();
        await new Promise((r) => setTimeout(r, 50));
        for await (const e of stream) seen.push(e);
        await drained;
        assert.equal(seen.length, 1, 'no event after drain');
        await waitFor(
          async () => (await h.transport.checkQueue(q))?.messageCount === 2,
          'the two others back',
        );
      } finally {
        await h.done();
      }
    });

    test('concurrency bounds the handlers running at once, below the prefetch', T, async () => {
      const h = await harness(backend);
      try {
        const q = h.names.queue('bounded');
        let running = 0;
        let peak = 0;
        let done = 0;
        await h.bus.subscribe(
          q,
          ['bounded.#'],
          async () => {
            running++;
            peak = Math.max(peak, running);
            await new Promise((r) => setTimeout(r, 40));
            running--;
            done++;
          },
          { prefetch: 8, concurrency: 2 },
        );
        for (let i = 0; i < 8; i++) await h.bus.publish('bounded.job.queued', { i });
        await waitFor(() => done === 8, 'all eight handled');
        assert.equal(peak, 2);
      } finally {
        await h.done();
      }
    });

    test('the idempotency helper skips a redelivered event', T, async () => {
      const h = await harness(backend);
      try {
        const q = h.names.queue('once');
        const store = new MemoryIdempotencyStore();
        let effects = 0;
        let deliveries = 0;
        const once = idempotent(store, async () => {
          effects++;
        });
        await h.bus.subscribe(q, ['pay.#'], async (e) => {
          deliveries++;
          await once(e);
        });
        const env = await h.bus.publish('pay.refund.issued', {});
        await h.bus.publishEnvelope(env);
        await waitFor(() => deliveries === 2, 'both copies');
        assert.equal(effects, 1);
        await waitFor(async () => (await h.transport.checkQueue(q))?.messageCount === 0, 'both acked');
      } finally {
        await h.done();
      }
    });

    test(
      'a non-JSON message and an invalid envelope are dead-lettered and the consumer keeps going',
      T,
      async () => {
        const h = await harness(backend);
        try {
          const q = h.names.queue('robust');
          const handled: string[] = [];
          await h.bus.subscribe(q, ['raw.#'], async function robust(e) {
            handled.push(e.event_id);
          });
          const ex = h.names.topology.exchange;
          await h.transport.publish({
            exchange: ex,
            routingKey: 'raw.bytes.sent',
            body: Buffer.from('<xml>no</xml>'),
          });
          await h.transport.publish({
            exchange: ex,
            routingKey: 'raw.bytes.sent',
            body: Buffer.from(JSON.stringify({ event_type: 'raw.bytes.sent', payload: 'x' })),
          });
          const good = await h.bus.publish('raw.bytes.sent', { ok: true });
          await waitFor(() => handled.length === 1, 'the good event');
          assert.deepEqual(handled, [good.event_id]);
          await waitFor(
            async () => (await h.transport.checkQueue(dlqName(q)))?.messageCount === 2,
            'two dead letters',
          );
          const letters = await h.bus.deadLetters.list(q);
          assert.deepEqual(
            letters.map((l) => l.errorClass),
            ['MESSAGE_NOT_JSON', 'INVALID_ENVELOPE'],
          );
          assert.equal(letters[0]!.body, '<xml>no</xml>');
          assert.equal(letters[0]!.handler, 'robust');
          assert.match(letters[1]!.reason, /event_id/);
          assert.match(letters[1]!.reason, /payload/);
        } finally {
          await h.done();
        }
      },
    );
  });
}
