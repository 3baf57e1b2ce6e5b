import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { type AppError, isAppError } from '@33god/core';
import { waitFor } from '../../src/testkit/index.js';
import {
  createRabbitMqTransport,
  createTransport,
  type Transport,
  type TransportState,
} from '../../src/transport/index.js';

const run = promisify(execFile);
const url = process.env.TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const rand = () => randomBytes(6).toString('hex');

async function connectError(u: string, extra: { connectTimeoutMs?: number } = {}): Promise<AppError> {
  try {
    const t = await createRabbitMqTransport({ url: u, ...extra });
    await t.close();
  } catch (err) {
    assert.ok(isAppError(err), `expected an AppError, got ${String(err)}`);
    return err;
  }
  assert.fail(`connecting to ${u} should have failed`);
}

function assertClean(err: AppError, secret?: string): void {
  assert.doesNotMatch(err.message, /\n\s+at /, 'no stack trace in the message');
  if (secret) assert.ok(!err.message.includes(secret), 'the password is not in the message');
}

describe('RabbitMQ transport: bad broker URLs give clear errors', () => {
  it('rejects a string that is not a URL', { timeout: 5_000 }, async () => {
    const err = await connectError('definitely not a url');
    assert.equal(err.code, 'INVALID_BROKER_URL');
    assert.match(err.message, /is not a URL; expected amqp:\/\//);
  });

  it('rejects a URL with another scheme, without echoing the password', { timeout: 5_000 }, async () => {
    const err = await connectError('http://guest:s3cret@127.0.0.1:5672');
    assert.equal(err.code, 'INVALID_BROKER_URL');
    assert.match(err.message, /must start with amqp:\/\/ or amqps:\/\/, got 'http:\/\/'/);
    assertClean(err, 's3cret');
  });

  it('rejects a URL without a host', { timeout: 5_000 }, async () => {
    const err = await connectError('amqp://');
    assert.equal(err.code, 'INVALID_BROKER_URL');
    assert.match(err.message, /has no host/);
  });

  it('names a port where nothing listens', { timeout: 10_000 }, async () => {
    const err = await connectError('amqp://guest:guest@127.0.0.1:1');
    assert.equal(err.code, 'BROKER_UNAVAILABLE');
    assert.match(err.message, /nothing accepts connections at 127\.0\.0\.1:1/);
    assertClean(err);
  });

  it('names a host that does not resolve', { timeout: 15_000 }, async () => {
    const err = await connectError('amqp://guest:guest@no-such-host.invalid:5672');
    assert.equal(err.code, 'BROKER_UNAVAILABLE');
    assert.match(err.message, /'no-such-host\.invalid' cannot be resolved/);
  });

  it('names wrong credentials, without the password', { timeout: 10_000 }, async () => {
    const u = new URL(url);
    u.password = 'wrong-Pa55word';
    const err = await connectError(u.toString());
    assert.equal(err.code, 'BROKER_UNAVAILABLE');
    assert.match(err.message, /refused the login of user 'guest'/);
    assertClean(err, 'wrong-Pa55word');
  });

  it('names a virtual host that does not exist', { timeout: 10_000 }, async () => {
    const u = new URL(url);
    u.pathname = `/no-such-vhost-${rand()}`;
    const err = await connectError(u.toString());
    assert.equal(err.code, 'BROKER_UNAVAILABLE');
    assert.match(err.message, /virtual host 'no-such-vhost-[0-9a-f]+' does not exist/);
  });

  it('names a port that does not speak AMQP', { timeout: 15_000 }, async () => {
    const u = new URL(url);
    u.port = '15672';
    const err = await connectError(u.toString(), { connectTimeoutMs: 3_000 });
    assert.equal(err.code, 'BROKER_UNAVAILABLE');
    assert.match(err.message, /127\.0\.0\.1:15672/);
    assertClean(err);
  });
});

describe('createTransport picks the backend from the URL', () => {
  it('no URL gives the shared embedded broker; amqp:// gives RabbitMQ; other schemes fail', {
    timeout: 10_000,
  }, async () => {
    const a = await createTransport();
    const b = await createTransport({ url: '' });
    assert.equal(a.kind, 'embedded');
    assert.equal(b.kind, 'embedded');
    const q = `test.${rand()}.shared`;
    await a.assertQueue(q, { durable: false });
    assert.ok(await b.checkQueue(q), 'both see the same broker');
    await a.deleteQueue(q);
    await a.close();
    await b.close();
    const r = await createTransport({ url });
    assert.equal(r.kind, 'rabbitmq');
    await r.close();
    await assert.rejects(
      createTransport({ url: 'redis://127.0.0.1:6379' }),
      (e: unknown) => isAppError(e) && e.code === 'INVALID_BROKER_URL' && /not an AMQP URL/.test(e.message),
    );
  });
});

describe('RabbitMQ transport: failures on a live connection', () => {
  const transports: Transport[] = [];
  after(async () => {
    for (const t of transports) await t.close({ drainTimeoutMs: 500 });
  });

  it('an exchange deleted behind its back fails that publish only; the next one works', {
    timeout: 15_000,
  }, async () => {
    const t = await createRabbitMqTransport({ url });
    const other = await createRabbitMqTransport({ url });
    transports.push(t, other);
    const ex = `test.${rand()}.events`;
    const q = `test.${rand()}.q`;
    await t.assertExchange(ex, 'topic', { durable: false });
    await t.assertQueue(q, { durable: false });
    await t.bindQueue(q, ex, '#');
    await t.publish({ exchange: ex, routingKey: 'a.b', body: Buffer.from('1') });
    await other.deleteExchange(ex);
    await assert.rejects(
      t.publish({ exchange: ex, routingKey: 'a.b', body: Buffer.from('2') }),
      (e: unknown) => isAppError(e) && e.code === 'EXCHANGE_NOT_FOUND',
    );
    await t.publish({ exchange: '', routingKey: q, body: Buffer.from('3') });
    assert.equal((await t.checkQueue(q))?.messageCount, 2);
    await t.deleteQueue(q);
  });

  it('listBindings with an unreachable management API says so', { timeout: 15_000 }, async () => {
    const t = await createRabbitMqTransport({ url, managementUrl: 'http://127.0.0.1:1' });
    transports.push(t);
    const q = `test.${rand()}.q`;
    await t.assertQueue(q, { durable: false });
    await assert.rejects(
      t.listBindings(q),
      (e: unknown) =>
        isAppError(e) &&
        e.code === 'BROKER_UNAVAILABLE' &&
        /management API at http:\/\/127\.0\.0\.1:1/.test(e.message),
    );
    await t.deleteQueue(q);
  });

  it('listBindings of a missing queue is QUEUE_NOT_FOUND', { timeout: 10_000 }, async () => {
    const t = await createRabbitMqTransport({ url });
    transports.push(t);
    await assert.rejects(
      t.listBindings(`test.${rand()}.absent`),
      (e: unknown) => isAppError(e) && e.code === 'QUEUE_NOT_FOUND',
    );
  });
});

/**
 * The broker goes away (stop_app) in the middle of a stream of publishes and consumes,
 * under the machine-wide restart lock, and comes back in a `finally`.
 */
describe('RabbitMQ transport: broker restart', () => {
  it('delivers every confirmed publish, resumes its consumer and fails fast during the outage', {
    timeout: 120_000,
  }, async () => {
    const OUTAGE_S = 4;
    const PUBLISH_TIMEOUT = 3_000;
    const t = await createRabbitMqTransport({
      url,
      publishTimeoutMs: PUBLISH_TIMEOUT,
      reconnect: { initialDelayMs: 100, maxDelayMs: 1_000 },
      connectionName: 'bloodbank-restart-test',
    });
    const states: TransportState[] = [];
    t.onStateChange((s) => states.push(s));
    const ex = `test.${rand()}.events`;
    const q = `test.${rand()}.restart`;
    // Durable and persistent: a confirmed message must survive the broker restart.
    await t.assertExchange(ex, 'topic', { durable: true });
    await t.assertQueue(q, { durable: true });
    await t.bindQueue(q, ex, 'restart.#');

    const received = new Set<number>();
    let receivedAfterReconnect = 0;
    let reconnected = false;
    await t.consume(
      q,
      (d) => {
        received.add(Number(d.body.toString()));
        if (reconnected) receivedAfterReconnect++;
        d.ack();
      },
      { prefetch: 20 },
    );

    const confirmed: number[] = [];
    const failures: { code: string; ms: number }[] = [];
    let slowest = 0;
    let stop = false;
    let seq = 0;
    const publisher = (async () => {
      while (!stop) {
        const i = seq++;
        const t0 = Date.now();
        try {
          await t.publish({
            exchange: ex,
            routingKey: 'restart.tick',
            body: Buffer.from(String(i)),
            properties: { persistent: true },
          });
          confirmed.push(i);
        } catch (err) {
          failures.push({ code: isAppError(err) ? err.code : String(err), ms: Date.now() - t0 });
        }
        slowest = Math.max(slowest, Date.now() - t0);
        await new Promise((r) => setTimeout(r, 5));
      }
    })();

    let outage: Promise<unknown> | undefined;
    try {
      await waitFor(() => received.size >= 50, 'traffic before the outage', 20_000);
      // The lock is held for the whole outage; start_app runs whatever stop_app did.
      outage = run(
        'flock',
        [
          '/tmp/33god-restart.lock',
          'sh',
          '-c',
          `rabbitmqctl -q stop_app; sleep ${OUTAGE_S}; rabbitmqctl -q start_app`,
        ],
        { timeout: 90_000 },
      );
      await waitFor(() => states.includes('disconnected'), 'the transport to notice the outage', 60_000);
      await waitFor(() => failures.length >= 5, 'publishes to fail during the outage', 30_000);
      await outage;
      await waitFor(() => t.state === 'connected', 'the transport to reconnect', 30_000);
      reconnected = true;
      const after = confirmed.length;
      await waitFor(() => confirmed.length >= after + 50, 'publishes confirmed after the restart', 30_000);
    } finally {
      stop = true;
      await publisher;
      if (outage) await outage.catch(() => {});
      // Whatever happened above, the broker must be running for everyone else.
      await run('rabbitmqctl', ['-q', 'start_app']).catch(() => {});
    }

    try {
      await waitFor(
        () => confirmed.every((i) => received.has(i)),
        'every confirmed publish to be delivered',
        30_000,
      );
      assert.ok(confirmed.length > 100, `confirmed ${confirmed.length}`);
      assert.ok(receivedAfterReconnect > 0, 'the same consumer received after the restart');
      assert.ok(failures.length >= 5, 'the outage reached the publisher');
      for (const f of failures) {
        assert.ok(
          f.code === 'BROKER_UNAVAILABLE' || f.code === 'PUBLISH_TIMEOUT',
          `unexpected failure ${f.code}`,
        );
      }
      // Bounded: nothing waits longer than the publish timeout (plus scheduling slack).
      assert.ok(slowest < PUBLISH_TIMEOUT + 2_000, `slowest publish took ${slowest} ms`);
      const fastFails = failures.filter((f) => f.code === 'BROKER_UNAVAILABLE' && f.ms < 100).length;
      assert.ok(fastFails > 0, 'publishes while disconnected fail at once');
      const lost = states.indexOf('disconnected');
      assert.ok(lost >= 0 && states.indexOf('connected', lost) > lost, `states: ${states.join(' → ')}`);
    } finally {
      await t.deleteQueue(q).catch(() => {});
      await t.deleteExchange(ex).catch(() => {});
      await t.close();
    }
  });
});
