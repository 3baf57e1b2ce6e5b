import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AppError, isAppError } from '@33god/core';
import { waitFor } from '../../src/testkit/index.js';
import {
  createEmbeddedTransport,
  DEFAULT_EMBEDDED_LIMITS,
  EmbeddedBroker,
  type EmbeddedBrokerLimits,
  embeddedLimitsFromEnv,
} from '../../src/transport/index.js';

const T = { timeout: 20_000 };

function bounded(limits: Partial<EmbeddedBrokerLimits>) {
  const broker = new EmbeddedBroker(limits);
  return { broker, t: createEmbeddedTransport({ broker }) };
}

/** A refusal that names the queue and its limit, so an operator knows what to look at. */
function queueFull(queue: string, limit: 'messages' | 'bytes', max: number) {
  return (e: unknown): boolean => {
    assert.ok(isAppError(e), `expected an AppError, got ${String(e)}`);
    assert.equal(e.code, 'PUBLISH_NACKED');
    assert.equal(e.status, 503);
    assert.equal(e.retryable, true);
    assert.match(e.message, new RegExp(`queue '${queue.replace(/\./g, '\\.')}' is full`));
    assert.match(e.message, new RegExp(`limit is ${max}`));
    assert.deepEqual(e.extra, { queue, limit, max });
    return true;
  };
}

const body = (s: string) => Buffer.from(s);

describe('embedded broker memory bounds', () => {
  it('defaults to 100 000 messages and 64 MiB a queue, 250 000 and 128 MiB in all, read from the environment', () => {
    assert.deepEqual(new EmbeddedBroker().limits, DEFAULT_EMBEDDED_LIMITS);
    assert.deepEqual(embeddedLimitsFromEnv({}), {
      maxQueueMessages: 100_000,
      maxQueueBytes: 67_108_864,
      maxTotalMessages: 250_000,
      maxTotalBytes: 134_217_728,
    });
    assert.deepEqual(
      embeddedLimitsFromEnv({
        BLOODBANK_EMBEDDED_MAX_QUEUE_MESSAGES: '10',
        BLOODBANK_EMBEDDED_MAX_QUEUE_BYTES: '2048',
        BLOODBANK_EMBEDDED_MAX_TOTAL_MESSAGES: '20',
        BLOODBANK_EMBEDDED_MAX_TOTAL_BYTES: '4096',
      }),
      { maxQueueMessages: 10, maxQueueBytes: 2048, maxTotalMessages: 20, maxTotalBytes: 4096 },
    );
    assert.throws(
      () => embeddedLimitsFromEnv({ BLOODBANK_EMBEDDED_MAX_TOTAL_BYTES: '-1' }),
      (e: unknown) => isAppError(e) && e.code === 'CONFIG_INVALID',
    );
    assert.throws(
      () => embeddedLimitsFromEnv({ BLOODBANK_EMBEDDED_MAX_QUEUE_MESSAGES: '0' }),
      (e: unknown) => isAppError(e) && e.code === 'CONFIG_INVALID',
    );
    assert.throws(
      () => new EmbeddedBroker({ maxQueueBytes: 1.5 }),
      (e: unknown) => e instanceof AppError && e.code === 'CONFIG_INVALID',
    );
  });

  it('a queue at its message limit refuses the next publish; consuming frees room', T, async () => {
    const { broker, t } = bounded({ maxQueueMessages: 3 });
    await t.assertQueue('q', { durable: false });
    for (let i = 0; i < 3; i++) await t.publish({ exchange: '', routingKey: 'q', body: body(`m${i}`) });
    await assert.rejects(
      t.publish({ exchange: '', routingKey: 'q', body: body('m3') }),
      queueFull('q', 'messages', 3),
    );
    assert.equal((await t.checkQueue('q'))?.messageCount, 3);

    const d = await t.get('q');
    assert.equal(d?.body.toString(), 'm0');
    d?.ack();
    await t.publish({ exchange: '', routingKey: 'q', body: body('m3') });
    assert.equal(broker.stats().messages, 3);
    await t.close();
  });

  it('a queue at its byte limit refuses the next publish; consuming frees room', T, async () => {
    const { broker, t } = bounded({ maxQueueBytes: 10 });
    await t.assertQueue('q', { durable: false });
    await t.publish({ exchange: '', routingKey: 'q', body: body('12345') });
    await t.publish({ exchange: '', routingKey: 'q', body: body('1234') });
    assert.equal(broker.stats().bytes, 9);
    await assert.rejects(
      t.publish({ exchange: '', routingKey: 'q', body: body('xy') }),
      queueFull('q', 'bytes', 10),
    );
    // What still fits is taken.
    await t.publish({ exchange: '', routingKey: 'q', body: body('z') });
    assert.equal(broker.stats().bytes, 10);

    let got = 0;
    const consumer = await t.consume('q', (d) => {
      got++;
      d.ack();
    });
    await waitFor(() => got === 3, 'the queue drained');
    await consumer.cancel();
    assert.equal(broker.stats().bytes, 0);
    await t.publish({ exchange: '', routingKey: 'q', body: body('0123456789') });
    assert.equal(broker.stats().bytes, 10);
    await t.close();
  });

  it('many queues with room each are refused together once the broker-wide bound is reached', T, async () => {
    const { broker, t } = bounded({ maxQueueMessages: 10, maxTotalMessages: 4, maxTotalBytes: 100 });
    const brokerFull = (e: unknown): boolean => {
      assert.ok(isAppError(e), `expected an AppError, got ${String(e)}`);
      assert.equal(e.code, 'PUBLISH_NACKED');
      assert.equal(e.status, 503);
      assert.equal(e.retryable, true);
      assert.match(e.message, /the embedded broker is full: its queues hold/);
      return true;
    };
    for (const q of ['a', 'b', 'c']) await t.assertQueue(q, { durable: false });
    await t.publish({ exchange: '', routingKey: 'a', body: body('1') });
    await t.publish({ exchange: '', routingKey: 'a', body: body('2') });
    await t.publish({ exchange: '', routingKey: 'b', body: body('3') });
    await t.publish({ exchange: '', routingKey: 'c', body: body('4') });
    // Queue c holds one message of its ten, but the broker holds four of its four.
    await assert.rejects(t.publish({ exchange: '', routingKey: 'c', body: body('5') }), brokerFull);
    assert.equal(broker.stats().messages, 4);

    // A purge gives the room back, and so does a delivery.
    assert.equal(await t.purgeQueue('a'), 2);
    await t.publish({ exchange: '', routingKey: 'c', body: body('5') });
    (await t.get('b'))?.ack();
    await t.publish({ exchange: '', routingKey: 'c', body: body('6') });
    await t.publish({ exchange: '', routingKey: 'b', body: body('7') });
    assert.equal(broker.stats().messages, 4);
    await assert.rejects(t.publish({ exchange: '', routingKey: 'b', body: body('8') }), brokerFull);

    // Bytes in all queues count the same way; deleting a queue gives its bytes back.
    await t.deleteQueue('c');
    assert.deepEqual([broker.stats().messages, broker.stats().bytes], [1, 1]);
    await t.publish({ exchange: '', routingKey: 'a', body: Buffer.alloc(60) });
    await assert.rejects(t.publish({ exchange: '', routingKey: 'b', body: Buffer.alloc(40) }), brokerFull);
    await t.publish({ exchange: '', routingKey: 'b', body: Buffer.alloc(39) });
    assert.equal(broker.stats().bytes, 100);
    await t.close();
  });

  it('a publish routed to two queues where one is full is refused whole', T, async () => {
    const { t } = bounded({ maxQueueMessages: 2 });
    await t.assertExchange('ex', 'fanout', { durable: false });
    await t.assertQueue('roomy', { durable: false });
    await t.assertQueue('full', { durable: false });
    await t.bindQueue('roomy', 'ex', '');
    await t.bindQueue('full', 'ex', '');
    await t.publish({ exchange: '', routingKey: 'full', body: body('a') });
    await t.publish({ exchange: '', routingKey: 'full', body: body('b') });
    await assert.rejects(
      t.publish({ exchange: 'ex', routingKey: '', body: body('both') }),
      queueFull('full', 'messages', 2),
    );
    assert.equal((await t.checkQueue('roomy'))?.messageCount, 0);
    assert.equal((await t.checkQueue('full'))?.messageCount, 2);
    await t.close();
  });

  it("a queue's own maxLength still drops from the head instead of refusing", T, async () => {
    const { t } = bounded({ maxQueueMessages: 2 });
    await t.assertQueue('capped', { durable: false, maxLength: 2 });
    for (const m of ['a', 'b', 'c']) await t.publish({ exchange: '', routingKey: 'capped', body: body(m) });
    assert.equal((await t.checkQueue('capped'))?.messageCount, 2);
    assert.equal((await t.get('capped'))?.body.toString(), 'b');
    await t.close();
  });

  it('requeues are never refused, even beyond the limit', T, async () => {
    const { t } = bounded({ maxQueueMessages: 1 });
    await t.assertQueue('q', { durable: false });
    await t.publish({ exchange: '', routingKey: 'q', body: body('held') });
    const held = await t.get('q');
    await t.publish({ exchange: '', routingKey: 'q', body: body('next') });
    held?.nack({ requeue: true });
    assert.equal((await t.checkQueue('q'))?.messageCount, 2);
    await t.close();
  });
});
