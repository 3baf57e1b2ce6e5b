import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { envelopeToBinaryHttp, envelopeToCloudEvent, isUuid } from '@33god/core';
import { backends, harness, json } from './helpers.js';

const T = { timeout: 30_000 };

for (const backend of backends) {
  describe(`gateway routes (${backend.name})`, () => {
    test('POST /publish: the seed curl form is published and read back field by field', T, async () => {
      const h = await harness(backend);
      try {
        const res = await h.post('/publish', {
          event_type: 'test.event.created',
          payload: { message: 'test' },
        });
        assert.equal(res.status, 202);
        const body = (await res.json()) as Record<string, string>;
        assert.equal(body.event_type, 'test.event.created');
        assert.ok(isUuid(body.event_id));
        assert.equal(body.correlation_id, body.event_id);
        assert.equal(res.headers.get('x-correlation-id'), body.correlation_id);
        const [d] = await h.readBack.take(1);
        const env = json(d!);
        assert.equal(d!.routingKey, 'test.event.created');
        assert.equal(env.event_id, body.event_id);
        assert.equal(env.event_type, 'test.event.created');
        assert.deepEqual(env.payload, { message: 'test' });
        assert.equal(env.version, '1.0.0');
        assert.equal(env.correlation_id, body.event_id);
        assert.equal(env.causation_id, null);
        assert.ok(!Number.isNaN(Date.parse(env.timestamp as string)));
        const source = env.source as Record<string, string>;
        assert.equal(source.app, 'bloodbank-gateway');
        assert.equal(source.trigger_type, 'api');
        assert.ok(source.host);
        assert.equal(d!.properties.messageId, body.event_id);
        assert.equal(d!.properties.correlationId, body.event_id);
        assert.equal(d!.properties.type, 'test.event.created');
        assert.equal(d!.properties.headers?.['x-event-type'], 'test.event.created');
      } finally {
        await h.close();
      }
    });

    test('POST /events: a full envelope is carried unchanged', T, async () => {
      const h = await harness(backend);
      try {
        const envelope = {
          event_id: '01936f4e-8c2a-7b3d-9e4f-5a6b7c8d9e0f',
          event_type: 'test.event.created',
          timestamp: '2026-01-15T10:30:00.000Z',
          version: '1.0.0',
          source: { app: 'curl', host: 'workstation', trigger_type: 'api' },
          correlation_id: '01936f4e-8c2a-7b3d-9e4f-5a6b7c8d9e01',
          causation_id: '01936f4e-8c2a-7b3d-9e4f-5a6b7c8d9e02',
          payload: { message: 'hello' },
          meeting_id: 'ext-kept',
          // A full envelope has its trace context (without one the gateway starts a trace).
          traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
          tracestate: 'congo=t61rcWkgMzE',
        };
        const res = await h.post('/events', envelope);
        assert.equal(res.status, 202);
        assert.deepEqual(await res.json(), {
          event_id: envelope.event_id,
          event_type: envelope.event_type,
          correlation_id: envelope.correlation_id,
          causation_id: envelope.causation_id,
        });
        assert.equal(res.headers.get('x-causation-id'), envelope.causation_id);
        const [d] = await h.readBack.take(1);
        assert.deepEqual(json(d!), envelope);
        assert.equal(d!.properties.headers?.['x-causation-id'], envelope.causation_id);
        assert.equal(d!.properties.headers?.['x-correlation-id'], envelope.correlation_id);
      } finally {
        await h.close();
      }
    });

    test(
      'correlation and causation from headers: accepted when well-formed, replaced otherwise',
      T,
      async () => {
        const h = await harness(backend);
        try {
          const corr = '0190aaaa-bbbb-7ccc-8ddd-eeeeeeeeeeee';
          const cause = '0190aaaa-bbbb-7ccc-8ddd-ffffffffffff';
          const ok = await h.post(
            '/publish',
            { event_type: 'test.event.created', payload: { message: 'a' } },
            { 'x-correlation-id': corr, 'x-causation-id': cause },
          );
          assert.equal(ok.status, 202);
          const okBody = (await ok.json()) as Record<string, string>;
          assert.equal(okBody.correlation_id, corr);
          assert.equal(okBody.causation_id, cause);
          const bad = await h.post(
            '/publish',
            { event_type: 'test.event.created', payload: { message: 'b' } },
            { 'x-correlation-id': `${'x'.repeat(300)}<script>` },
          );
          const badBody = (await bad.json()) as Record<string, string>;
          assert.equal(bad.status, 202);
          assert.equal(badBody.correlation_id, badBody.event_id);
          // The body wins over the header.
          const bodyCorr = '0190aaaa-bbbb-7ccc-8ddd-000000000001';
          const both = await h.post(
            '/publish',
            { event_type: 'test.event.created', payload: { message: 'c' }, correlation_id: bodyCorr },
            { 'x-correlation-id': corr },
          );
          assert.equal(((await both.json()) as Record<string, string>).correlation_id, bodyCorr);
          const got = await h.readBack.take(3);
          assert.equal(json(got[0]!).correlation_id, corr);
          assert.equal(json(got[0]!).causation_id, cause);
          assert.equal(got[0]!.properties.correlationId, corr);
          assert.equal(got[0]!.properties.headers?.['x-causation-id'], cause);
          assert.equal(json(got[1]!).correlation_id, badBody.event_id);
          assert.equal(json(got[2]!).correlation_id, bodyCorr);
        } finally {
          await h.close();
        }
      },
    );

    test('POST /events: CloudEvents structured and binary modes', T, async () => {
      const h = await harness(backend);
      try {
        const base = {
          event_id: '0190aaaa-bbbb-7ccc-8ddd-000000000010',
          event_type: 'test.event.created',
          timestamp: '2026-02-01T00:00:00.000Z',
          version: '1.0.0',
          source: { app: 'ce-app', host: 'h1', trigger_type: 'api' },
          correlation_id: '0190aaaa-bbbb-7ccc-8ddd-000000000011',
          causation_id: null,
          payload: { message: 'structured' },
          traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00',
        };
        const structured = await fetch(`${h.url}/events`, {
          method: 'POST',
          headers: { 'content-type': 'application/cloudevents+json; charset=utf-8' },
          body: JSON.stringify(envelopeToCloudEvent(base)),
        });
        assert.equal(structured.status, 202);
        const binaryEnv = {
          ...base,
          event_id: '0190aaaa-bbbb-7ccc-8ddd-000000000012',
          payload: { message: 'binary' },
        };
        const { headers, body } = envelopeToBinaryHttp(binaryEnv);
        const binary = await fetch(`${h.url}/events`, { method: 'POST', headers, body });
        assert.equal(binary.status, 202);
        const got = await h.readBack.take(2);
        assert.deepEqual(json(got[0]!), base);
        assert.deepEqual(json(got[1]!), binaryEnv);
      } finally {
        await h.close();
      }
    });

    test('POST /events/batch: JSON array and NDJSON, ids in order', T, async () => {
      const h = await harness(backend);
      try {
        const events = Array.from({ length: 25 }, (_, i) => ({
          event_type: 'test.event.created',
          payload: { message: `m${i}` },
        }));
        const res = await h.post('/events/batch', events);
        assert.equal(res.status, 202);
        const body = (await res.json()) as {
          count: number;
          event_ids: string[];
          items: { event_id: string }[];
        };
        assert.equal(body.count, 25);
        assert.deepEqual(
          body.items.map((i) => i.event_id),
          body.event_ids,
        );
        const nd = await fetch(`${h.url}/events/batch`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-ndjson' },
          body: `${events
            .slice(0, 3)
            .map((e) => JSON.stringify(e))
            .join('\n')}\n`,
        });
        assert.equal(nd.status, 202);
        const ndBody = (await nd.json()) as { event_ids: string[] };
        const got = await h.readBack.take(28);
        const byId = new Map(got.map((d) => [json(d).event_id as string, json(d)]));
        for (const [i, id] of body.event_ids.entries()) {
          assert.deepEqual(byId.get(id)?.payload, { message: `m${i}` });
        }
        for (const [i, id] of ndBody.event_ids.entries()) {
          assert.deepEqual(byId.get(id)?.payload, { message: `m${i}` });
        }
        assert.equal(byId.size, 28);
      } finally {
        await h.close();
      }
    });

    test('close() while requests stream in: every 202 is in the queue and close completes', T, async () => {
      const h = await harness(backend);
      const accepted: string[] = [];
      const other: string[] = [];
      try {
        const requests = Array.from({ length: 64 }, (_, i) =>
          h
            .post('/publish', { event_type: 'test.event.created', payload: { message: `c${i}` } })
            .then(async (res) => {
              const body = (await res.json()) as { event_id?: string };
              if (res.status === 202) accepted.push(body.event_id!);
              else other.push(String(res.status));
            })
            .catch((err: Error) => other.push(err.name)),
        );
        while (accepted.length === 0 && other.length < requests.length) {
          await new Promise((r) => setTimeout(r, 1));
        }
        await h.gateway.close();
        await Promise.all(requests);
        assert.ok(accepted.length > 0);
        for (const o of other) assert.ok(['503', 'TypeError'].includes(o), `unexpected outcome ${o}`);
        const got = await h.readBack.take(accepted.length);
        const ids = new Set(got.map((d) => json(d).event_id));
        for (const id of accepted) assert.ok(ids.has(id), `202'd event ${id} missing`);
      } finally {
        await h.close();
      }
    });
  });
}
