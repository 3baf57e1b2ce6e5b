// Push subscriptions against a real local HTTP endpoint, on the embedded broker and RabbitMQ.
import assert from 'node:assert/strict';
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import type { EventEnvelope } from '@33god/core';
import { DEAD_LETTER_HEADERS as H } from '../../src/dead-letters/headers.js';
import type { CircuitBreakerOptions } from '../../src/push/circuit-breaker.js';
import { type PushService, startPushService } from '../../src/push/service.js';
import { connect } from '../../src/sdk/bus.js';
import type { Bus } from '../../src/sdk/types.js';
import { dlqName } from '../../src/topology/names.js';
import type { TopologyService } from '../../src/topology/registry.js';
import type { Delivery, Transport } from '../../src/transport/transport.js';
import { type Backend, backends, TestNames, waitFor } from '../sdk/backends.js';
import { type Receiver, startReceiver } from './receiver.js';

const T = { timeout: 60_000 };
const SILENT = { info() {}, warn() {}, error() {} };
const SECRET = randomBytes(32);
const ENV = { TEST_PUSH_SECRET: `whsec_${SECRET.toString('base64')}` };

interface Setup {
  names: TestNames;
  transport: Transport;
  publisher: Bus;
  receiver: Receiver;
  push: PushService;
  queue: string;
  done(): Promise<void>;
}

async function setup(
  backend: Backend,
  push: Partial<NonNullable<TopologyService['push']>> = {},
  tuning: { maxAttempts?: number; breaker?: CircuitBreakerOptions } = {},
): Promise<Setup> {
  const names = new TestNames();
  const transport = await backend.transport();
  const receiver = await startReceiver();
  const queue = names.queue('hook');
  const service: TopologyService = {
    id: 'hook',
    queues: [queue],
    routingKeys: ['order.#'],
    push: { url: receiver.url, secretEnv: 'TEST_PUSH_SECRET', ...push },
  };
  const running = await startPushService({
    transport,
    registry: { services: [service] },
    topology: names.topology,
    env: ENV,
    logger: SILENT,
    retry: { maxAttempts: tuning.maxAttempts ?? 3, initialDelayMs: 20, maxDelayMs: 100, jitter: 0 },
    breaker: tuning.breaker ?? { failureThreshold: 1000 },
  });
  const publisher = await connect({ app: 'push-test', transport, topology: names.topology, env: {} });
  return {
    names,
    transport,
    publisher,
    receiver,
    push: running,
    queue,
    async done() {
      await running.stop();
      await publisher.close();
      await receiver.close();
      await transport.close();
      await names.cleanup(backend.name);
    },
  };
}

/** Takes the one dead letter of `queue` (acked). */
async function deadLetter(transport: Transport, queue: string): Promise<Delivery> {
  const d = await waitFor(() => transport.get(dlqName(queue)), `a dead letter in ${dlqName(queue)}`, 20_000);
  d.ack();
  return d;
}

for (const backend of backends()) {
  describe(`push subscriptions on ${backend.name}`, () => {
    test('delivers each event as a signed structured CloudEvent with its trace context', T, async () => {
      const s = await setup(backend);
      try {
        const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
        const sent = await s.publisher.publish(
          'order.item.added',
          { sku: 'A-1' },
          {
            extensions: { traceparent, tracestate: 'vendor=x' },
          },
        );
        await s.publisher.publish('order.item.added', { sku: 'A-2' });
        await waitFor(() => s.receiver.received.length >= 2, 'two deliveries');
        const first = s.receiver.received.find((r) => JSON.parse(r.body).id === sent.event_id)!;
        const h = first.headers;
        assert.equal(h['content-type'], 'application/cloudevents+json');
        assert.equal(h['webhook-id'], sent.event_id);
        assert.match(String(h['webhook-timestamp']), /^\d+$/);
        const expected = createHmac('sha256', SECRET)
          .update(`${h['webhook-id']}.${h['webhook-timestamp']}.${first.body}`)
          .digest('base64');
        assert.equal(h['webhook-signature'], `v1,${expected}`);
        assert.equal(h.traceparent, traceparent);
        assert.equal(h.tracestate, 'vendor=x');
        const ce = JSON.parse(first.body);
        assert.equal(ce.specversion, '1.0');
        assert.equal(ce.type, 'order.item.added');
        assert.deepEqual(ce.data, { sku: 'A-1' });
        // Every delivery carries its envelope's own trace context, when it has one.
        for (const r of s.receiver.received)
          assert.equal(r.headers.traceparent, JSON.parse(r.body).traceparent);
        await waitFor(() => s.push.status()[0]!.delivered === 2, 'both counted as delivered');
        assert.equal(s.push.status()[0]!.state, 'delivering');
      } finally {
        await s.done();
      }
    });

    test(
      'ordered: one event of a correlation at a time, in queue order; correlations side by side',
      T,
      async () => {
        const s = await setup(backend, { ordered: true, concurrency: 8 });
        try {
          const inFlight = new Map<string, number>();
          let most = 0;
          let mostTotal = 0;
          let total = 0;
          s.receiver.answer = (r) => {
            const key = JSON.parse(r.body).correlationid as string;
            const n = (inFlight.get(key) ?? 0) + 1;
            inFlight.set(key, n);
            total++;
            most = Math.max(most, n);
            mostTotal = Math.max(mostTotal, total);
            setTimeout(() => {
              inFlight.set(key, inFlight.get(key)! - 1);
              total--;
            }, 15);
            return { status: 204, delayMs: 20 };
          };
          const keys = [randomUUID(), randomUUID(), randomUUID()];
          const sent: EventEnvelope[] = [];
          for (let i = 0; i < 10; i++)
            for (const key of keys)
              sent.push(await s.publisher.publish('order.item.added', { i }, { correlationId: key }));
          await waitFor(() => s.receiver.received.length >= sent.length, 'every delivery', 30_000);
          for (const key of keys) {
            const got = s.receiver.received
              .map((r) => JSON.parse(r.body))
              .filter((ce) => ce.correlationid === key);
            assert.deepEqual(
              got.map((ce) => ce.data.i),
              [...Array(10).keys()],
              `events of ${key} in publish order`,
            );
          }
          assert.equal(most, 1, 'never two events of one correlation at once');
          assert.ok(mostTotal > 1, 'different correlations were delivered side by side');
        } finally {
          await s.done();
        }
      },
    );

    test(
      '500: retried through the retry queues, then dead-lettered with the status and the body start',
      T,
      async () => {
        const s = await setup(backend, {}, { maxAttempts: 3 });
        try {
          s.receiver.answer = () => ({ status: 500, body: `boom ${'x'.repeat(2000)}` });
          const sent = await s.publisher.publish('order.item.added', { sku: 'B' });
          const d = await deadLetter(s.transport, s.queue);
          assert.equal(d.properties.messageId, sent.event_id);
          const headers = d.properties.headers ?? {};
          const reason = String(headers[H.reason]);
          assert.match(reason, /endpoint answered 500: boom x+/);
          assert.ok(reason.length < 400, `the body start is bounded (${reason.length} chars)`);
          assert.equal(headers[H.errorClass], 'PUSH_DELIVERY_FAILED');
          assert.equal(Number(headers[H.attempts]), 3);
          assert.equal(s.receiver.received.length, 3);
          const status = s.push.status()[0]!;
          assert.equal(status.failed, 3);
          assert.equal(status.recent_failures[0]!.status, 500);
        } finally {
          await s.done();
        }
      },
    );

    test('400: dead-lettered at once, not retried', T, async () => {
      const s = await setup(backend, {}, { maxAttempts: 5 });
      try {
        s.receiver.answer = () => ({ status: 400, body: '{"error":"bad sku"}' });
        await s.publisher.publish('order.item.added', { sku: 'C' });
        const d = await deadLetter(s.transport, s.queue);
        const headers = d.properties.headers ?? {};
        assert.match(String(headers[H.reason]), /endpoint answered 400: \{"error":"bad sku"\}/);
        assert.equal(headers[H.errorClass], 'PUSH_DELIVERY_REJECTED');
        assert.equal(s.receiver.received.length, 1);
        assert.equal(s.push.status()[0]!.rejected, 1);
      } finally {
        await s.done();
      }
    });

    test('429 with Retry-After: the next attempt waits at least that long', T, async () => {
      const s = await setup(backend, {}, { maxAttempts: 3 });
      try {
        s.receiver.answer = (_r, i) =>
          i === 0 ? { status: 429, headers: { 'retry-after': '1' } } : { status: 204 };
        await s.publisher.publish('order.item.added', { sku: 'D' });
        await waitFor(() => s.push.status()[0]!.delivered === 1, 'the retried delivery', 20_000);
        const [first, second] = s.receiver.received;
        // The backoff alone would retry after 20 ms; Retry-After asked for 1 s.
        assert.ok(second!.at - first!.at >= 950, `retried ${second!.at - first!.at} ms later`);
      } finally {
        await s.done();
      }
    });

    test('an endpoint that does not answer in time is a retryable failure', T, async () => {
      const s = await setup(backend, { timeoutMs: 200 }, { maxAttempts: 3 });
      try {
        s.receiver.answer = (_r, i) => (i === 0 ? { status: 204, delayMs: 5_000 } : { status: 204 });
        await s.publisher.publish('order.item.added', { sku: 'E' });
        await waitFor(() => s.push.status()[0]!.delivered === 1, 'the delivery after the timeout', 20_000);
        const status = s.push.status()[0]!;
        assert.equal(status.failed, 1);
        assert.match(status.recent_failures[0]!.reason, /no answer within 200 ms/);
        assert.equal(status.recent_failures[0]!.status, null);
      } finally {
        await s.done();
      }
    });

    test(
      'the circuit opens after repeated failures (messages stay queued) and closes after a probe',
      T,
      async () => {
        const s = await setup(
          backend,
          { concurrency: 2 },
          { maxAttempts: 50, breaker: { failureThreshold: 3, cooldownMs: 300, maxCooldownMs: 600 } },
        );
        try {
          let healthy = false;
          s.receiver.answer = () => (healthy ? { status: 204 } : { status: 503, body: 'down' });
          await s.publisher.publish('order.item.added', { n: 0 });
          await waitFor(() => s.push.status()[0]!.state === 'paused', 'the circuit to open', 20_000);
          for (let n = 1; n <= 3; n++) await s.publisher.publish('order.item.added', { n });
          // Paused: the new events wait in the queue, nobody takes them.
          const queued = await s.transport.checkQueue(s.queue);
          assert.ok((queued?.messageCount ?? 0) >= 3, `events stay queued (${queued?.messageCount})`);
          // Failed probes keep it paused; once the endpoint answers, a probe closes the circuit.
          await waitFor(() => s.receiver.received.length >= 5, 'a failed probe', 20_000);
          healthy = true;
          await waitFor(() => s.push.status()[0]!.delivered >= 4, 'every event after the probe', 20_000);
          assert.equal(s.push.status()[0]!.state, 'delivering');
          assert.equal(s.push.status()[0]!.consecutive_failures, 0);
          const delivered = s.receiver.received.filter((r, i) => i >= 0 && r.body.includes('"n"'));
          const ns = new Set(delivered.map((r) => JSON.parse(r.body).data.n));
          assert.deepEqual([...ns].sort(), [0, 1, 2, 3]);
        } finally {
          await s.done();
        }
      },
    );
  });
}
