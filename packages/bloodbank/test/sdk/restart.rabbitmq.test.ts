// The SDK across a RabbitMQ restart (stop_app/start_app under the shared restart lock):
// every confirmed publish is delivered at least once, the subscription resumes by
// itself, and publishes during the outage fail promptly instead of hanging.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { connect } from '../../src/sdk/bus.js';
import { backends, TestNames, waitFor } from './backends.js';

const rabbit = backends().find((b) => b.name === 'rabbitmq');

function outage(seconds: number): Promise<number | null> {
  // One command holds the lock for the whole outage; `;` brings the broker back even if a step failed.
  const child = spawn(
    'flock',
    ['/tmp/33god-restart.lock', 'sh', '-c', `rabbitmqctl stop_app; sleep ${seconds}; rabbitmqctl start_app`],
    { stdio: 'ignore' },
  );
  return new Promise((resolve) => child.on('exit', (code) => resolve(code)));
}

describe('SDK across a broker restart', () => {
  test('the RabbitMQ transport is available to this suite', () => {
    assert.ok(rabbit, 'no RabbitMQ transport factory found in src/transport');
  });

  test('confirmed publishes are delivered, consumers resume, the outage is surfaced', {
    timeout: 120_000,
  }, async () => {
    const names = new TestNames();
    const transport = await rabbit!.transport();
    const bus = await connect({
      app: 'restart',
      transport,
      topology: names.topology,
      publishTimeoutMs: 2000,
      // This test is about the outage reaching the publisher; riding it out is the default
      // (publish-retry.embedded.test.ts), which would hide it here.
      publishRetryMs: 0,
    });
    const confirmed = new Set<string>();
    const received = new Set<string>();
    const failures: string[] = [];
    let slowest = 0;
    let stop = false;
    let restarted: Promise<number | null> | undefined;
    try {
      const q = names.queue('durable');
      await bus.subscribe(q, ['restart.#'], async (e) => {
        received.add(e.event_id);
      });
      const producer = (async () => {
        let i = 0;
        while (!stop) {
          const t0 = Date.now();
          try {
            const env = await bus.publish('restart.tick.emitted', { i: i++ });
            confirmed.add(env.event_id);
          } catch (err) {
            failures.push((err as { code?: string }).code ?? String(err));
          }
          slowest = Math.max(slowest, Date.now() - t0);
          await new Promise((r) => setTimeout(r, 20));
        }
      })();
      await waitFor(() => received.size >= 20, 'traffic before the outage');
      restarted = outage(4);
      await restarted;
      const before = confirmed.size;
      await waitFor(() => confirmed.size >= before + 20, 'publishes confirmed after the restart', 60_000);
      stop = true;
      await producer;
      await waitFor(
        () => [...confirmed].every((id) => received.has(id)),
        'every confirmed event delivered',
        60_000,
      );
      assert.ok(failures.length > 0, 'the outage was surfaced to the publisher');
      assert.ok(
        failures.every((c) =>
          ['BROKER_UNAVAILABLE', 'PUBLISH_TIMEOUT', 'PUBLISH_NACKED', 'TRANSPORT_CLOSED'].includes(c),
        ),
        `unexpected failures: ${[...new Set(failures)].join(', ')}`,
      );
      assert.ok(slowest < 15_000, `a publish hung for ${slowest} ms`);
    } finally {
      stop = true;
      await restarted;
      // Whatever happened above, the broker is running when this test ends.
      spawnSync('flock', ['/tmp/33god-restart.lock', 'rabbitmqctl', 'start_app'], { stdio: 'ignore' });
      await bus.close().catch(() => {});
      await transport.close().catch(() => {});
      await names.cleanup('rabbitmq').catch(() => {});
    }
  });
});
