import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import type { Delivery, Transport } from '../transport/transport.js';
import { waitFor } from './contract.js';

/**
 * A broker that can be stopped and started again: the durable embedded broker (its journal
 * closed without draining and reopened) or RabbitMQ (the node's application restarted).
 */
export interface RestartHarness {
  /** A new transport on the broker as it runs now. */
  open(): Promise<Transport>;
  /**
   * Stops the broker without draining anything and starts it again. Transports opened
   * before are gone (closed or dead); open new ones.
   */
  restart(): Promise<void>;
}

/**
 * What a restart keeps, the same for every durable backend: confirmed messages (in order, not
 * marked redelivered), unacked deliveries (back, marked redelivered), retry tiers (a message
 * waiting out its TTL is dead-lettered to its target after the restart), dead letters and the
 * durable topology. Every name is random and deleted at the end.
 */
export function runTransportRestartContract(name: string, harness: RestartHarness): void {
  const T = { timeout: 120_000 };
  const names = { queues: [] as string[], exchanges: [] as string[] };
  const queue = (role: string) => {
    const q = `test.${rand()}.${role}`;
    names.queues.push(q);
    return q;
  };
  const exchange = () => {
    const e = `test.${rand()}.events`;
    names.exchanges.push(e);
    return e;
  };
  const body = (s: string) => Buffer.from(s);
  const persistent = { persistent: true };

  describe(`transport restart contract: ${name}`, () => {
    after(async () => {
      const t = await harness.open();
      // Right after a restart the broker may still refuse (its queues are being recovered):
      // each deletion is tried again for a few seconds rather than leaving the name behind.
      const retried = async (del: () => Promise<void>) => {
        for (let attempt = 0; ; attempt++) {
          try {
            return await del();
          } catch (err) {
            if (attempt >= 10) throw err;
            await sleep(500);
          }
        }
      };
      for (const q of names.queues) await retried(() => t.deleteQueue(q)).catch(() => {});
      for (const e of names.exchanges) await retried(() => t.deleteExchange(e)).catch(() => {});
      await t.close({ drainTimeoutMs: 0 });
    });

    it(
      'every confirmed message is delivered after a restart, in order, not marked redelivered',
      T,
      async () => {
        const q = queue('kept');
        let t = await harness.open();
        await t.assertQueue(q, { durable: true });
        for (let i = 0; i < 50; i++) {
          await t.publish({ exchange: '', routingKey: q, body: body(`m${i}`), properties: persistent });
        }
        await harness.restart();
        t = await harness.open();
        const got = await take(t, q, 50);
        assert.deepEqual(
          got.map((d) => d.body.toString()),
          Array.from({ length: 50 }, (_, i) => `m${i}`),
        );
        assert.ok(
          got.every((d) => !d.redelivered),
          'never delivered before: not marked redelivered',
        );
        await t.close({ drainTimeoutMs: 0 });
      },
    );

    it('deliveries held unacked come back marked redelivered; acked ones do not come back', T, async () => {
      const q = queue('held');
      let t = await harness.open();
      await t.assertQueue(q, { durable: true });
      for (let i = 0; i < 10; i++) {
        await t.publish({ exchange: '', routingKey: q, body: body(`m${i}`), properties: persistent });
      }
      const seen: Delivery[] = [];
      await t.consume(
        q,
        (d) => {
          seen.push(d);
          if (seen.length <= 4) d.ack();
        },
        { prefetch: 10 },
      );
      await waitFor(() => seen.length === 10, '10 deliveries');
      // Acks are written asynchronously on both backends; give them a moment to leave.
      await sleep(300);
      await harness.restart();
      t = await harness.open();
      const back = await take(t, q, 6);
      assert.deepEqual(
        back.map((d) => d.body.toString()),
        ['m4', 'm5', 'm6', 'm7', 'm8', 'm9'],
      );
      assert.ok(
        back.every((d) => d.redelivered),
        'delivered before the restart: marked redelivered',
      );
      assert.equal((await t.checkQueue(q))?.messageCount, 0, 'the acked ones stay gone');
      await t.close({ drainTimeoutMs: 0 });
    });

    it(
      'a retry tier resumes: a message waiting out its TTL reaches its target after the restart',
      T,
      async () => {
        const target = queue('target');
        const tier = queue('retry');
        let t = await harness.open();
        await t.assertQueue(target, { durable: true });
        await t.assertQueue(tier, {
          durable: true,
          messageTtlMs: 1_500,
          deadLetterExchange: '',
          deadLetterRoutingKey: target,
        });
        await t.publish({ exchange: '', routingKey: tier, body: body('later'), properties: persistent });
        await harness.restart();
        t = await harness.open();
        const [d] = await take(t, target, 1, 30_000);
        assert.equal(d?.body.toString(), 'later');
        const deaths = d?.properties.headers?.['x-death'] as { reason: string; queue: string }[];
        assert.equal(deaths?.[0]?.reason, 'expired');
        assert.equal(deaths?.[0]?.queue, tier);
        await t.close({ drainTimeoutMs: 0 });
      },
    );

    it('dead letters are kept with their x-death', T, async () => {
      const dlx = exchange();
      const dlq = queue('dlq');
      const q = queue('work');
      let t = await harness.open();
      await t.assertExchange(dlx, 'topic', { durable: true });
      await t.assertQueue(dlq, { durable: true });
      await t.bindQueue(dlq, dlx, '#');
      await t.assertQueue(q, { durable: true, deadLetterExchange: dlx });
      await t.publish({ exchange: '', routingKey: q, body: body('poison'), properties: persistent });
      const c = await t.consume(q, (d) => d.nack({ requeue: false }));
      await waitFor(async () => (await t.checkQueue(dlq))?.messageCount === 1, 'the dead letter');
      await c.cancel();
      await harness.restart();
      t = await harness.open();
      const [d] = await take(t, dlq, 1);
      assert.equal(d?.body.toString(), 'poison');
      const deaths = d?.properties.headers?.['x-death'] as { reason: string; queue: string }[];
      assert.equal(deaths?.[0]?.reason, 'rejected');
      assert.equal(deaths?.[0]?.queue, q);
      await t.close({ drainTimeoutMs: 0 });
    });

    it('durable exchanges, queues and bindings survive; a publish routes after the restart', T, async () => {
      const ex = exchange();
      const q = queue('bound');
      let t = await harness.open();
      await t.assertExchange(ex, 'topic', { durable: true });
      await t.assertQueue(q, { durable: true });
      await t.bindQueue(q, ex, 'agent.#');
      await harness.restart();
      t = await harness.open();
      assert.equal(await t.checkExchange(ex), true);
      await t.publish({
        exchange: ex,
        routingKey: 'agent.task.done',
        body: body('routed'),
        properties: persistent,
      });
      const [d] = await take(t, q, 1);
      assert.equal(d?.body.toString(), 'routed');
      await t.close({ drainTimeoutMs: 0 });
    });
  });
}

/** Consumes exactly `n` messages (acking them), in arrival order. */
async function take(t: Transport, queue: string, n: number, timeoutMs = 10_000): Promise<Delivery[]> {
  const got: Delivery[] = [];
  const c = await t.consume(
    queue,
    (d) => {
      if (got.length < n) {
        got.push(d);
        d.ack();
      } else {
        d.nack({ requeue: true });
      }
    },
    { prefetch: 1 },
  );
  try {
    await waitFor(() => got.length >= n, `${n} message(s) on ${queue}`, timeoutMs);
  } finally {
    await c.cancel();
  }
  return got;
}

function rand(): string {
  return randomBytes(6).toString('hex');
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
