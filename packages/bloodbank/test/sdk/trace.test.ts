// Trace context through the SDK, on every backend: a handler's events continue its trace.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  childOf,
  type EventEnvelope,
  isAppError,
  newTrace,
  parseTraceparent,
  type TraceContext,
} from '@33god/core';
import type { Span, SpanName, Tracer } from '../../src/tracing/tracer.js';
import { backends, waitFor } from './backends.js';
import { harness } from './setup.js';

const T = { timeout: 30_000 };
const PARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

interface Recorded {
  name: SpanName;
  parent: TraceContext | null;
  context: TraceContext;
  ended: boolean;
}

/** A tracer that records spans in memory, standing in for OpenTelemetry. */
function memoryTracer(): Tracer & { spans: Recorded[] } {
  const spans: Recorded[] = [];
  return {
    spans,
    recording: true,
    startSpan(name, parent): Span {
      const r: Recorded = { name, parent, context: parent ? childOf(parent) : newTrace(), ended: false };
      spans.push(r);
      return {
        context: r.context,
        end: () => {
          r.ended = true;
        },
      };
    },
    flush: () => Promise.resolve(),
  };
}

for (const backend of backends()) {
  describe(`SDK trace context on ${backend.name}`, () => {
    test(
      'an event published in a handler is a child: same trace id, new span id, tracestate kept',
      T,
      async () => {
        const h = await harness(backend);
        try {
          const first = h.names.queue('trace-first');
          const second = h.names.queue('trace-second');
          const got: { env: EventEnvelope; header: unknown }[] = [];
          await h.bus.subscribe(first, ['trace.start.requested'], async () => {
            await new Promise((r) => setTimeout(r, 5));
            await h.bus.publish('trace.step.done', { step: 1 });
          });
          await h.bus.subscribe(second, ['trace.step.done'], async (env, ctx) => {
            got.push({ env, header: ctx.delivery.properties.headers?.traceparent });
          });
          const root = await h.bus.publish(
            'trace.start.requested',
            {},
            { extensions: { traceparent: PARENT, tracestate: 'congo=t61rcWkgMzE' } },
          );
          assert.equal(root.traceparent, PARENT, 'a given traceparent is kept');
          await waitFor(() => got.length === 1, 'the derived event');
          const child = parseTraceparent(got[0]!.env.traceparent);
          assert.ok(child);
          const parent = parseTraceparent(PARENT)!;
          assert.equal(child.traceId, parent.traceId);
          assert.notEqual(child.spanId, parent.spanId);
          assert.equal(child.flags, parent.flags);
          assert.equal(got[0]!.env.tracestate, 'congo=t61rcWkgMzE');
          assert.equal(got[0]!.header, got[0]!.env.traceparent);
          assert.equal(got[0]!.env.causation_id, root.event_id);
        } finally {
          await h.done();
        }
      },
    );

    test('outside a handler a publish starts a trace; a malformed given one is refused', T, async () => {
      const h = await harness(backend);
      try {
        await h.bus.subscribe(h.names.queue('lone'), ['trace.lone.#'], async () => {});
        const a = await h.bus.publish('trace.lone.done', {});
        const b = await h.bus.publish('trace.lone.done', {});
        assert.ok(parseTraceparent(a.traceparent));
        assert.notEqual(parseTraceparent(a.traceparent)!.traceId, parseTraceparent(b.traceparent)!.traceId);
        const err = await h.bus.publish('trace.lone.done', {}, { extensions: { traceparent: 'bogus' } }).then(
          () => null,
          (e: unknown) => e,
        );
        assert.ok(isAppError(err));
        assert.equal(err.code, 'INVALID_TRACE_CONTEXT');
        assert.equal(err.violations[0]?.pointer, '/traceparent');
      } finally {
        await h.done();
      }
    });

    test(
      'with a recording tracer: deliver ← handle ← publish, and the new event carries the publish span',
      T,
      async () => {
        const tracer = memoryTracer();
        const h = await harness(backend, { tracer });
        try {
          const first = h.names.queue('spans-first');
          const second = h.names.queue('spans-second');
          const got: EventEnvelope[] = [];
          await h.bus.subscribe(first, ['spans.start.requested'], async () => {
            await h.bus.publish('spans.step.done', {});
          });
          await h.bus.subscribe(second, ['spans.step.done'], async (env) => {
            got.push(env);
          });
          const root = await h.bus.publish(
            'spans.start.requested',
            {},
            { extensions: { traceparent: PARENT } },
          );
          await waitFor(
            () => got.length === 1 && tracer.spans.filter((s) => s.ended).length === 6,
            'six spans',
          );
          const rootCtx = parseTraceparent(root.traceparent)!;
          const [p0, d1, h1, p1, d2, h2] = [
            'publish',
            'deliver',
            'handle',
            'publish',
            'deliver',
            'handle',
          ].map((name, i) => {
            const s = tracer.spans.filter((x) => x.name === name)[i < 3 ? 0 : 1];
            assert.ok(s, `${name} #${i}`);
            return s;
          });
          // The root publish: its parent is the given context, the envelope carries its span.
          assert.equal(p0!.parent?.spanId, parseTraceparent(PARENT)!.spanId);
          assert.equal(rootCtx.spanId, p0!.context.spanId);
          assert.equal(d1!.parent?.spanId, p0!.context.spanId);
          assert.equal(h1!.parent?.spanId, d1!.context.spanId);
          assert.equal(
            p1!.parent?.spanId,
            h1!.context.spanId,
            'the handler publish is a child of the handle span',
          );
          assert.equal(parseTraceparent(got[0]!.traceparent)!.spanId, p1!.context.spanId);
          assert.equal(d2!.parent?.spanId, p1!.context.spanId);
          assert.equal(h2!.parent?.spanId, d2!.context.spanId);
          for (const s of tracer.spans) assert.equal(s.context.traceId, rootCtx.traceId);
        } finally {
          await h.done();
        }
      },
    );
  });
}
