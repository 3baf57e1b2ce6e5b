import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, test } from 'node:test';
import { parseTraceparent } from '@33god/core';
import { backends, expectProblem, harness, json, rand } from './helpers.js';

const T = { timeout: 30_000 };
const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = `00-${TRACE}-00f067aa0ba902b7-01`;
const event = () => ({ event_type: 'test.event.created', payload: { message: `m-${rand()}` } });

for (const backend of backends) {
  describe(`gateway trace context (${backend.name})`, () => {
    test('a traceparent header continues its trace: envelope and AMQP headers', T, async () => {
      const h = await harness(backend);
      try {
        const res = await h.post('/events', event(), {
          traceparent: PARENT,
          tracestate: 'congo=t61rcWkgMzE',
        });
        assert.equal(res.status, 202, await res.clone().text());
        const [d] = await h.readBack.take(1);
        const env = json(d!);
        // No tracer records here: the context passes through as received.
        assert.equal(env.traceparent, PARENT);
        assert.equal(env.tracestate, 'congo=t61rcWkgMzE');
        assert.equal(d!.properties.headers?.traceparent, PARENT);
        assert.equal(d!.properties.headers?.tracestate, 'congo=t61rcWkgMzE');
      } finally {
        await h.close();
      }
    });

    test('no trace context: a new trace starts; the seed route and batches too', T, async () => {
      const h = await harness(backend);
      try {
        assert.equal((await h.post('/events', event())).status, 202);
        assert.equal((await h.post('/publish', event())).status, 202);
        assert.equal((await h.post('/events/batch', [event(), event()])).status, 202);
        const got = await h.readBack.take(4);
        const ids = got.map((d) => {
          const ctx = parseTraceparent(json(d).traceparent);
          assert.ok(ctx, String(json(d).traceparent));
          assert.equal(d.properties.headers?.traceparent, json(d).traceparent);
          return ctx.traceId;
        });
        assert.equal(new Set(ids).size, 4, 'each event is the root of its own trace');
      } finally {
        await h.close();
      }
    });

    test('an invalid traceparent header is ignored: a new trace, its tracestate dropped', T, async () => {
      const h = await harness(backend);
      try {
        const res = await h.post('/events', event(), {
          traceparent: `00-${TRACE.toUpperCase()}-00f067aa0ba902b7-01`,
          tracestate: 'congo=1',
        });
        assert.equal(res.status, 202);
        const env = json((await h.readBack.take(1))[0]!);
        const ctx = parseTraceparent(env.traceparent);
        assert.ok(ctx);
        assert.notEqual(ctx.traceId, TRACE);
        assert.notEqual(ctx.traceId, TRACE.toUpperCase());
        assert.equal(env.tracestate, undefined);
      } finally {
        await h.close();
      }
    });

    test('the envelope member wins over the header; a later version is written as 00', T, async () => {
      const h = await harness(backend);
      try {
        const own = `00-${'a'.repeat(32)}-${'b'.repeat(16)}-00`;
        assert.equal(
          (await h.post('/events', { ...event(), traceparent: own }, { traceparent: PARENT })).status,
          202,
        );
        const future = `cc-${'c'.repeat(32)}-${'d'.repeat(16)}-01-more`;
        assert.equal((await h.post('/events', { ...event(), traceparent: future })).status, 202);
        const [a, b] = await h.readBack.take(2);
        assert.equal(json(a!).traceparent, own);
        assert.equal(json(a!).tracestate, undefined);
        assert.equal(json(b!).traceparent, `00-${'c'.repeat(32)}-${'d'.repeat(16)}-01`);
      } finally {
        await h.close();
      }
    });

    test('CloudEvents carry it as the distributed tracing extension', T, async () => {
      const h = await harness(backend);
      try {
        const ce = {
          specversion: '1.0',
          id: crypto.randomUUID(),
          type: 'test.event.created',
          source: 'urn:test',
          data: { message: 'ce' },
          traceparent: PARENT,
          tracestate: 'rojo=1',
        };
        const res = await fetch(`${h.url}/events`, {
          method: 'POST',
          headers: { 'content-type': 'application/cloudevents+json' },
          body: JSON.stringify(ce),
        });
        assert.equal(res.status, 202, await res.clone().text());
        const binary = await fetch(`${h.url}/events`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'ce-specversion': '1.0',
            'ce-id': crypto.randomUUID(),
            'ce-type': 'test.event.created',
            'ce-source': 'urn:test',
            'ce-traceparent': PARENT,
          },
          body: JSON.stringify({ message: 'bin' }),
        });
        assert.equal(binary.status, 202, await binary.clone().text());
        const [a, b] = await h.readBack.take(2);
        assert.equal(json(a!).traceparent, PARENT);
        assert.equal(json(a!).tracestate, 'rojo=1');
        assert.equal(json(b!).traceparent, PARENT);
      } finally {
        await h.close();
      }
    });

    test('a malformed trace member in the body is a 400, nothing published', T, async () => {
      const h = await harness(backend);
      try {
        const bad = await expectProblem(
          await h.post('/events', { ...event(), traceparent: `00-${'0'.repeat(32)}-${'b'.repeat(16)}-01` }),
          400,
          'INVALID_TRACE_CONTEXT',
        );
        assert.equal(bad.errors?.[0]?.pointer, '/traceparent');
        await expectProblem(
          await h.post('/events', { ...event(), traceparent: PARENT, tracestate: 'a=1,a=2' }),
          400,
          'INVALID_TRACE_CONTEXT',
        );
        const orphan = await expectProblem(
          await h.post('/events', { ...event(), tracestate: 'a=1' }),
          400,
          'INVALID_TRACE_CONTEXT',
        );
        assert.equal(orphan.errors?.[0]?.pointer, '/tracestate');
        const batch = await expectProblem(
          await h.post('/events/batch', [event(), { ...event(), traceparent: 7 }]),
          400,
          'INVALID_TRACE_CONTEXT',
        );
        assert.equal(batch.errors?.[0]?.pointer, '/1/traceparent');
        // Something else wrong too: the envelope's 422 names every violation.
        await expectProblem(
          await h.post('/events', { ...event(), event_id: 'x', traceparent: 'x' }),
          422,
          'INVALID_ENVELOPE',
        );
        // A marker after the refusals: it is the first and only event to arrive.
        assert.equal((await h.post('/events', { ...event(), payload: { message: 'marker' } })).status, 202);
        const [d] = await h.readBack.take(1);
        assert.deepEqual(json(d!).payload, { message: 'marker' });
        assert.equal(h.readBack.received.length, 1);
      } finally {
        await h.close();
      }
    });

    test('a webhook event starts a trace', T, async () => {
      const secret = 'plane-secret-trace';
      const h = await harness(backend, { webhookSecrets: { plane: secret } });
      try {
        const body = JSON.stringify({
          event: 'issue',
          action: 'created',
          webhook_id: 'wh-1',
          workspace_id: 'ws-1',
          data: { id: `issue-${rand()}`, name: 'Trace it', state: { name: 'Todo', group: 'unstarted' } },
        });
        const res = await fetch(`${h.url}/webhooks/plane`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'x-plane-signature': createHmac('sha256', secret).update(body).digest('hex'),
            'x-plane-event': 'issue',
          },
          body,
        });
        assert.equal(res.status, 202, await res.clone().text());
        const [d] = await h.readBack.take(1);
        assert.ok(parseTraceparent(json(d!).traceparent));
        assert.equal(d!.properties.headers?.traceparent, json(d!).traceparent);
      } finally {
        await h.close();
      }
    });
  });
}
