// The RabbitMQ transport corks amqplib's socket around each multiplexer pass, so frames
// queued in one event-loop turn leave in one write. amqplib does not expose its
// multiplexer: this test fails when an amqplib upgrade changes the shape the transport relies on.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import amqplib from 'amqplib';
import { coalesceWrites } from '../../src/transport/rabbitmq/transport.js';

// One node: raw amqplib takes one URL (TEST_AMQP_URL may list a cluster's nodes).
const TEST_AMQP_URL = (process.env.TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672')
  .split(',')[0]!
  .trim();

async function writesFor(coalesce: boolean): Promise<{ writes: number; got: number }> {
  const conn = await amqplib.connect(TEST_AMQP_URL);
  try {
    if (coalesce) assert.equal(coalesceWrites(conn), true, 'the installed amqplib has the expected shape');
    const sock = (conn as unknown as { connection: { stream: { _write: unknown; _writev: unknown } } })
      .connection.stream;
    let writes = 0;
    for (const name of ['_write', '_writev'] as const) {
      const original = sock[name] as (...args: unknown[]) => unknown;
      sock[name] = function (this: unknown, ...args: unknown[]) {
        writes++;
        return original.apply(this, args);
      };
    }
    const ch = await conn.createConfirmChannel();
    const q = (await ch.assertQueue(`test.cork.${randomBytes(4).toString('hex')}`, { exclusive: true }))
      .queue;
    writes = 0;
    for (let i = 0; i < 200; i++) ch.sendToQueue(q, Buffer.from(`m${i}`));
    await ch.waitForConfirms();
    const { messageCount } = await ch.checkQueue(q);
    return { writes, got: messageCount };
  } finally {
    await conn.close();
  }
}

test('200 publishes in one turn leave in a few socket writes, every one delivered', async () => {
  const corked = await writesFor(true);
  assert.equal(corked.got, 200);
  assert.ok(corked.writes <= 5, `${corked.writes} socket writes`);
  // without it, amqplib writes frame by frame
  const plain = await writesFor(false);
  assert.equal(plain.got, 200);
  assert.ok(plain.writes > 20, `${plain.writes} socket writes without coalescing`);
});
