import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, test } from 'node:test';
import amqplib from 'amqplib';
import { startGateway } from '../../src/gateway/server.js';
import { createRabbitMqTransport } from '../../src/transport/index.js';
import { AMQP_URL, rand, SCHEMAS_DIR } from './helpers.js';

/**
 * The broker goes away while requests stream in: requests during the outage get 503 (never
 * a 500, never a hang), requests after it succeed on the same gateway, and every event that
 * was answered 202 is in the queue. The outage is held under the shared restart lock.
 */

function restartBroker(outageSeconds: number): Promise<number> {
  return new Promise((resolve) => {
    const p = spawn(
      'flock',
      [
        '-w',
        '240',
        '/tmp/33god-restart.lock',
        'sh',
        '-c',
        `rabbitmqctl stop_app >/dev/null; sleep ${outageSeconds}; rabbitmqctl start_app >/dev/null`,
      ],
      { stdio: 'ignore' },
    );
    p.on('exit', (code) => resolve(code ?? 1));
  });
}

const debug = (line: string) => {
  if (process.env.DEBUG_RESTART) console.error(`[restart test] ${line}`);
};
const count = (xs: number[]) => {
  const m: Record<number, number> = {};
  for (const x of xs) m[x] = (m[x] ?? 0) + 1;
  return m;
};

describe('gateway across a broker restart (rabbitmq)', () => {
  test('503 during the outage, 202 after it, every 202 in the queue', { timeout: 330_000 }, async () => {
    const exchange = `test.${rand()}.events`;
    const queue = `test.${rand()}.restart`;
    const setup = await amqplib.connect(AMQP_URL);
    const ch = await setup.createChannel();
    // Durable, so the queue and the persistent events in it survive the restart.
    await ch.assertExchange(exchange, 'topic', { durable: true });
    await ch.assertQueue(queue, { durable: true });
    await ch.bindQueue(queue, exchange, '#');
    await setup.close();

    const transport = await createRabbitMqTransport({
      url: AMQP_URL,
      connectionName: 'gateway restart test',
    });
    const gateway = await startGateway({
      port: 0,
      transport,
      exchange,
      // its own dead-letter exchange, not the default's (bloodbank.dlx), which would stay behind
      dlx: `${exchange}.dlx`,
      schemasDir: SCHEMAS_DIR,
      registryPath: null,
      healthIntervalMs: 0,
      watchSchemas: false,
      subscribeSchemaUpdates: false,
      logLevel: 'silent',
    });
    const accepted: string[] = [];
    const statuses = new Map<number, number>();
    let phase: 'before' | 'outage' | 'after' = 'before';
    const during = new Map<string, number[]>([
      ['before', []],
      ['outage', []],
      ['after', []],
    ]);
    let stop = false;
    let n = 0;
    let restarted: Promise<number> | null = null;
    try {
      const worker = async () => {
        while (!stop) {
          const i = n++;
          let status = 0;
          try {
            const res = await fetch(`${gateway.url}/publish`, {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify({ event_type: 'test.event.created', payload: { message: `r${i}` } }),
              signal: AbortSignal.timeout(20_000),
            });
            status = res.status;
            const body = (await res.json()) as { event_id?: string; code?: string };
            if (status === 202) accepted.push(body.event_id!);
            else if (status === 503) assert.ok(res.headers.get('retry-after'), 'Retry-After on 503');
          } catch (err) {
            assert.fail(`request ${i} did not get an answer: ${(err as Error).message}`);
          }
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
          during.get(phase)!.push(status);
          if (status !== 202) await new Promise((r) => setTimeout(r, 50));
        }
      };
      const workers = Array.from({ length: 4 }, worker);
      while (during.get('before')!.length < 40) await new Promise((r) => setTimeout(r, 20));
      phase = 'outage';
      debug(`outage starts after ${n} requests`);
      restarted = restartBroker(4);
      assert.equal(await restarted, 0, 'rabbitmqctl stop_app/start_app');
      phase = 'after';
      debug(`broker back; outage statuses ${JSON.stringify(count(during.get('outage')!))}`);
      const deadline = Date.now() + 45_000;
      // The gateway reconnects by itself: wait for a run of successes, without touching it.
      for (;;) {
        const after = during.get('after')!;
        const tail = after.slice(-40);
        if (tail.length === 40 && tail.every((s) => s === 202)) break;
        if (Date.now() > deadline)
          assert.fail(`no recovery: after-restart statuses ${JSON.stringify(after.slice(-20))}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      stop = true;
      await Promise.all(workers);
    } finally {
      stop = true;
      // The shell runs start_app after stop_app whatever happens, under the same lock.
      await restarted;
      await gateway.close();
      await transport.close();
    }

    assert.deepEqual(
      [...statuses.keys()].filter((s) => s !== 202 && s !== 503),
      [],
      `only 202 and 503 expected: ${JSON.stringify([...statuses])}`,
    );
    assert.ok(
      during.get('outage')!.includes(503),
      `no 503 during the outage: ${JSON.stringify([...statuses])}`,
    );
    assert.ok(during.get('before')!.every((s) => s === 202));

    // Every 202'd event is in the queue.
    const conn = await amqplib.connect(AMQP_URL);
    try {
      const rch = await conn.createChannel();
      const seen = new Set<string>();
      for (;;) {
        const m = await rch.get(queue, { noAck: true });
        if (m === false) break;
        seen.add((JSON.parse(m.content.toString()) as { event_id: string }).event_id);
      }
      const missing = accepted.filter((id) => !seen.has(id));
      assert.deepEqual(
        missing,
        [],
        `${missing.length} of ${accepted.length} accepted events are not in the queue`,
      );
      await rch.deleteQueue(queue);
      await rch.deleteExchange(exchange);
      // the alternate exchange and its queue, which the gateway declares beside its exchange
      await rch.deleteQueue(`${exchange}.unroutable`);
      await rch.deleteExchange(`${exchange}.unroutable`);
      // and the dead-letter exchange with the monitor's queue
      await rch.deleteQueue(`${exchange}.dlx.monitor`);
      await rch.deleteExchange(`${exchange}.dlx`);
    } finally {
      await conn.close();
    }
  });
});
