// A broker that comes up after the process: `initialConnect: 'retry'`, `whenConnected` and
// `logConnectionState` on the real RabbitMQ (TEST_AMQP_URL). "Down" is a free local port;
// "up" is a TCP proxy started on that port, forwarding to the shared broker.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { isAppError } from '@33god/core';
import { lateProxy, waitFor } from '../../src/testkit/index.js';
import {
  createRabbitMqTransport,
  createTransport,
  logConnectionState,
  type Transport,
  type TransportState,
  whenConnected,
} from '../../src/transport/index.js';

// One node: the proxy stands in front of one (TEST_AMQP_URL may list a cluster's nodes).
const TEST_AMQP_URL = (process.env.TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672')
  .split(',')[0]!
  .trim();
const rand = () => randomBytes(6).toString('hex');

const fast = { reconnect: { initialDelayMs: 50, maxDelayMs: 300 } };

describe("RabbitMQ transport: initialConnect 'retry'", () => {
  it('without it, a broker that is down still fails the start', { timeout: 15_000 }, async () => {
    const broker = await lateProxy(TEST_AMQP_URL);
    try {
      await assert.rejects(createRabbitMqTransport({ url: broker.url }), (err) => {
        assert.ok(isAppError(err));
        assert.equal(err.code, 'BROKER_UNAVAILABLE');
        return true;
      });
    } finally {
      await broker.close();
    }
  });

  it('starts without a broker, connects once it is up, then declares and consumes there', {
    timeout: 30_000,
  }, async () => {
    const broker = await lateProxy(TEST_AMQP_URL);
    const exchange = `test.${rand()}.events`;
    const queue = `test.${rand()}.late`;
    let t: Transport | undefined;
    let admin: Transport | undefined;
    try {
      t = await createTransport({ url: broker.url, initialConnect: 'retry', ...fast });
      const transport = t;
      assert.equal(transport.state, 'disconnected');
      const states: TransportState[] = [];
      transport.onStateChange((s) => states.push(s));
      await assert.rejects(
        transport.assertExchange(exchange, 'topic', { durable: false }),
        (err) => isAppError(err) && err.code === 'BROKER_UNAVAILABLE',
      );

      const got: string[] = [];
      let runs = 0;
      const declared = await whenConnected(transport, async () => {
        runs++;
        await transport.assertExchange(exchange, 'topic', { durable: false });
        await transport.assertQueue(queue, { durable: false });
        await transport.bindQueue(queue, exchange, '#');
        await transport.consume(queue, (d) => {
          got.push(d.body.toString());
          d.ack();
        });
      });
      assert.equal(declared.done, false, 'deferred, not run, while the broker is down');
      await new Promise((r) => setTimeout(r, 700));
      assert.ok(states.filter((s) => s === 'disconnected').length >= 2, 'it keeps retrying');
      assert.equal(runs, 0);

      await broker.start();
      await waitFor(() => transport.state === 'connected', 'the transport to connect', 10_000);
      await waitFor(() => declared.done, 'the declarations to run', 10_000);
      assert.equal(runs, 1);
      await transport.publish({ exchange, routingKey: 'a.b', body: Buffer.from('hello') });
      await waitFor(() => got.length === 1, 'the message to be consumed', 10_000);
      assert.deepEqual(got, ['hello']);
      await declared.stop();
    } finally {
      admin = await createRabbitMqTransport({ url: TEST_AMQP_URL });
      await admin.deleteQueue(queue).catch(() => {});
      await admin.deleteExchange(exchange).catch(() => {});
      await admin.close();
      await t?.close();
      await broker.close();
    }
  });

  it('close() while retrying stops the attempts', { timeout: 15_000 }, async () => {
    const broker = await lateProxy(TEST_AMQP_URL);
    try {
      const t = await createTransport({ url: broker.url, initialConnect: 'retry', ...fast });
      await t.close();
      assert.equal(t.state, 'closed');
      await broker.start();
      await new Promise((r) => setTimeout(r, 1_000));
      assert.equal(broker.connections, 0, 'no attempt after close()');
      assert.equal(t.state, 'closed');
    } finally {
      await broker.close();
    }
  });

  it('logs a broker that is down once per interval, not once per attempt, and its arrival', {
    timeout: 20_000,
  }, async () => {
    const broker = await lateProxy(TEST_AMQP_URL);
    const lines: { level: string; msg: string; obj: object }[] = [];
    const log = {
      info: (obj: object, msg: string) => lines.push({ level: 'info', msg, obj }),
      warn: (obj: object, msg: string) => lines.push({ level: 'warn', msg, obj }),
    };
    const t = await createTransport({
      url: broker.url,
      initialConnect: 'retry',
      reconnect: { initialDelayMs: 10, maxDelayMs: 40 },
    });
    let failures = 0;
    t.onStateChange((s) => {
      if (s === 'disconnected') failures++;
    });
    const stop = logConnectionState(t, log, { intervalMs: 1_000 });
    try {
      await new Promise((r) => setTimeout(r, 1_500));
      const warnings = lines.filter((l) => l.level === 'warn');
      assert.ok(failures >= 10, `many attempts failed (${failures})`);
      assert.ok(warnings.length >= 1 && warnings.length <= 2, `${warnings.length} warnings in 1.5 s`);
      assert.match(warnings[0]!.msg, /broker not connected; retrying/);
      await broker.start();
      await waitFor(() => t.state === 'connected', 'the transport to connect', 10_000);
      assert.deepEqual(
        lines.filter((l) => l.level === 'info').map((l) => l.msg),
        ['broker connected'],
      );
    } finally {
      stop();
      await t.close();
      await broker.close();
    }
  });
});

describe('whenConnected on a connected transport', () => {
  it('runs the task at once and rejects with its error', { timeout: 10_000 }, async () => {
    const t = await createRabbitMqTransport({ url: TEST_AMQP_URL });
    try {
      let ran = false;
      const w = await whenConnected(t, async () => {
        ran = true;
      });
      assert.equal(ran, true);
      assert.equal(w.done, true);
      await assert.rejects(
        whenConnected(t, async () => {
          throw new Error('declaration refused');
        }),
        /declaration refused/,
      );
    } finally {
      await t.close();
    }
  });
});
