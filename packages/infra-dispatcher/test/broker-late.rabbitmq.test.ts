// The dispatcher started while RabbitMQ is down: `/health` answers 503, and once the broker
// is there it declares its queue, consumes and dispatches, without a restart. "Down" is a
// free local port; "up" is a TCP proxy started on that port, forwarding to TEST_AMQP_URL.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { type Bus, connect, dlqName, retryQueueName } from '@33god/bloodbank';
import { lateProxy, waitFor } from '@33god/bloodbank/testkit';
import { type RunningDispatcher, startDispatcher } from '@33god/infra-dispatcher';
import amqp from 'amqplib';
import { AMQP_TEST_URL } from './helpers/bus-suite.js';
import { startOpenClaw } from './helpers/openclaw-server.js';
import { planeV1Issue } from './helpers/plane-payloads.js';

const TIERS = [50, 200, 1000];

test('starts with the broker down, answers 503, then consumes and dispatches once it is up', {
  timeout: 60_000,
}, async () => {
  const prefix = `test.${randomBytes(5).toString('hex')}`;
  const topology = {
    exchange: `${prefix}.events`,
    dlx: `${prefix}.dlx`,
    unroutable: `${prefix}.unroutable`,
    monitorQueue: `${prefix}.dlx.monitor`,
    retryTiersMs: TIERS,
    messageTtlMs: 60_000,
  };
  const queue = `${prefix}.infra`;
  const dir = mkdtempSync(join(tmpdir(), 'infra-late-'));
  const broker = await lateProxy(AMQP_TEST_URL);
  const oc = await startOpenClaw();
  let d: RunningDispatcher | undefined;
  let bus: Bus | undefined;
  try {
    const started = Date.now();
    d = await startDispatcher({
      amqpUrl: broker.url,
      topology,
      queue,
      statePath: join(dir, 'state.json'),
      port: 0,
      host: '127.0.0.1',
      hookUrl: oc.url,
      logLevel: 'silent',
      config: { hookToken: 'hook-token-late', runChecks: false, checksRoot: dir },
    });
    assert.ok(Date.now() - started < 15_000, 'the start does not wait for the broker');
    const down = await fetch(`${d.url}/health`);
    assert.equal(down.status, 503);
    const report = (await down.json()) as { status: string; bus: { state: string } };
    assert.equal(report.status, 'degraded');
    assert.notEqual(report.bus.state, 'connected');

    await new Promise((r) => setTimeout(r, 1_000));
    await broker.start();
    const url = d.url;
    await waitFor(async () => (await fetch(`${url}/health`)).status === 200, 'a healthy dispatcher', 20_000);

    bus = await connect({ app: 'infra-dispatcher-test', url: AMQP_TEST_URL, topology });
    const body = planeV1Issue({ title: 'Survive a late broker' });
    await bus.publish('webhook.plane.issue.created', body, { source: { trigger_type: 'webhook' } });
    await oc.waitForRequests(1, 20_000);
    assert.equal(oc.requests[0]?.headers.authorization, 'Bearer hook-token-late');
    assert.match(String(oc.requests[0]?.json?.message), /Survive a late broker/);
  } finally {
    await d?.close();
    await bus?.close();
    await oc.close();
    await broker.close();
    rmSync(dir, { recursive: true, force: true });
    const conn = await amqp.connect(AMQP_TEST_URL);
    try {
      const ch = await conn.createChannel();
      ch.on('error', () => {});
      const queues = [
        topology.unroutable,
        topology.monitorQueue,
        queue,
        dlqName(queue),
        ...TIERS.map((t) => retryQueueName(queue, t)),
      ];
      for (const q of queues) await ch.deleteQueue(q);
      for (const e of [topology.exchange, topology.dlx, topology.unroutable]) await ch.deleteExchange(e);
      await ch.close();
    } finally {
      await conn.close();
    }
  }
});
