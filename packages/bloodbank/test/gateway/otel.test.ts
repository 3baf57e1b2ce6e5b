// OpenTelemetry export over OTLP/HTTP, against a local receiver this test starts: the gateway's
// publish span, the consumer's deliver and handle spans, and the handler's publish join up.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type EventEnvelope, parseTraceparent } from '@33god/core';
import { connect } from '../../src/sdk/bus.js';
import { OtlpReceiver, type ReceivedSpan } from '../../src/testkit/otlp-receiver.js';
import { dlqName, retryQueueName } from '../../src/topology/names.js';
import { tracerFromEnv } from '../../src/tracing/tracer.js';
import { waitFor } from '../sdk/backends.js';
import { backends, harness, json } from './helpers.js';

const T = { timeout: 60_000 };
const CALLER_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const CALLER_SPAN = '00f067aa0ba902b7';

for (const backend of backends) {
  describe(`OpenTelemetry export (${backend.name})`, () => {
    const receiver = new OtlpReceiver();
    before(async () => {
      await receiver.start();
    });
    after(() => receiver.close());

    test('publish, deliver and handle spans carry the event trace and link parent to child', T, async () => {
      const env = { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url };
      const gatewayTracer = await tracerFromEnv(`otel-gateway-${backend.name}`, env);
      assert.equal(gatewayTracer.recording, true);
      const h = await harness(backend, { tracer: gatewayTracer });
      const bus = await connect({
        app: `otel-consumer-${backend.name}`,
        transport: h.transport,
        exchange: h.exchange,
        topology: { exchange: h.exchange, dlx: `${h.exchange}.dlx`, monitorQueue: false },
        env,
      });
      const first = `${h.exchange}.first`;
      const second = `${h.exchange}.second`;
      try {
        const derived: EventEnvelope[] = [];
        await bus.subscribe(first, ['test.event.created'], async () => {
          await bus.publish('test.step.done', {});
        });
        await bus.subscribe(second, ['test.step.done'], async (e) => {
          derived.push(e);
        });
        const res = await h.post(
          '/events',
          { event_type: 'test.event.created', payload: { message: 'otel' } },
          { traceparent: `00-${CALLER_TRACE}-${CALLER_SPAN}-01` },
        );
        assert.equal(res.status, 202, await res.clone().text());
        const [d] = await h.readBack.take(1);
        const accepted = json(d!);
        const eventCtx = parseTraceparent(accepted.traceparent)!;
        assert.equal(eventCtx.traceId, CALLER_TRACE, 'the event continues the caller trace');
        assert.notEqual(eventCtx.spanId, CALLER_SPAN, 'and carries the gateway publish span');
        await waitFor(() => derived.length === 1, 'the event published by the handler');

        await gatewayTracer.flush();
        await bus.close();
        await waitFor(() => receiver.trace(CALLER_TRACE).length >= 6, 'six spans');
        const spans = receiver.trace(CALLER_TRACE);
        const one = (pred: (s: ReceivedSpan) => boolean, what: string) => {
          const found = spans.filter(pred);
          assert.equal(found.length, 1, `${what}: ${JSON.stringify(spans, null, 1)}`);
          return found[0]!;
        };
        const gwPublish = one(
          (s) => s.name === 'publish' && s.service.startsWith('otel-gateway'),
          'gateway publish',
        );
        assert.equal(gwPublish.parentSpanId, CALLER_SPAN);
        assert.equal(gwPublish.spanId, eventCtx.spanId);
        assert.equal(gwPublish.kind, 4, 'PRODUCER (OTLP enum)');
        assert.equal(gwPublish.attributes['messaging.message.id'], accepted.event_id);
        const deliver1 = one(
          (s) => s.name === 'deliver' && s.parentSpanId === gwPublish.spanId,
          'first deliver',
        );
        assert.equal(deliver1.kind, 5, 'CONSUMER');
        assert.equal(deliver1.service, `otel-consumer-${backend.name}`);
        const handle1 = one((s) => s.name === 'handle' && s.parentSpanId === deliver1.spanId, 'first handle');
        const sdkPublish = one(
          (s) => s.name === 'publish' && s.parentSpanId === handle1.spanId,
          'handler publish',
        );
        assert.equal(parseTraceparent(derived[0]!.traceparent)!.spanId, sdkPublish.spanId);
        const deliver2 = one(
          (s) => s.name === 'deliver' && s.parentSpanId === sdkPublish.spanId,
          'second deliver',
        );
        one((s) => s.name === 'handle' && s.parentSpanId === deliver2.spanId, 'second handle');
        assert.ok(
          receiver.requests.every((p) => p.startsWith('POST /v1/traces application/json')),
          receiver.requests.join(),
        );
      } finally {
        await bus.close();
        await h.transport.deleteQueue(first).catch(() => {});
        await h.transport.deleteQueue(second).catch(() => {});
        const leftovers = [`${h.exchange}.unroutable`];
        for (const q of [first, second]) {
          leftovers.push(dlqName(q), ...bus.topology.retryTiersMs.map((t) => retryQueueName(q, t)));
        }
        for (const q of leftovers) await h.transport.deleteQueue(q).catch(() => {});
        for (const ex of [`${h.exchange}.dlx`, `${h.exchange}.unroutable`])
          await h.transport.deleteExchange(ex).catch(() => {});
        await h.close();
      }
    });
  });
}
