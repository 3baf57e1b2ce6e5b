import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { embedded, harness, json } from './helpers.js';

const T = { timeout: 30_000 };

describe('gateway operations routes (embedded)', () => {
  test('GET /health reports broker, schema count and registry services', T, async () => {
    const h = await harness(embedded, {
      registryPath: new URL('../../../../services/registry.yaml', import.meta.url).pathname,
    });
    try {
      const res = await fetch(`${h.url}/health`);
      assert.equal(res.status, 200);
      const body = (await res.json()) as Record<string, unknown>;
      assert.equal(body.status, 'ok');
      const broker = body.broker as Record<string, unknown>;
      assert.deepEqual(
        { ...broker, latency_ms: typeof broker.latency_ms },
        { connected: true, kind: 'embedded', state: 'connected', latency_ms: 'number' },
      );
      assert.ok((body.schemas as number) >= 10);
      assert.ok((body.services as number) >= 1);
      assert.equal((body.registry as Record<string, unknown>).last_reload_error, null);
    } finally {
      await h.close();
    }
  });

  test('bloodbank.health.status is published on the interval', T, async () => {
    const h = await harness(embedded, { healthIntervalMs: 50 });
    try {
      const [d] = await h.readBack.take(1);
      const env = json(d!);
      assert.equal(env.event_type, 'bloodbank.health.status');
      const payload = env.payload as Record<string, unknown>;
      assert.equal(payload.status, 'ok');
      const broker = payload.broker as Record<string, unknown>;
      assert.equal(broker.connected, true);
      assert.equal(broker.kind, 'embedded');
      assert.equal(typeof broker.latency_ms, 'number');
      // The event must pass its own schema.
      assert.deepEqual(h.gateway.schemas.schemas.validate(env), { ok: true, known: true, violations: [] });
    } finally {
      await h.close();
    }
  });

  test('GET /metrics counts published, rejected by reason and confirm latency', T, async () => {
    const h = await harness(embedded);
    try {
      assert.equal(
        (await h.post('/publish', { event_type: 'test.event.created', payload: { message: 'a' } })).status,
        202,
      );
      assert.equal((await h.post('/publish', { payload: {} })).status, 422);
      assert.equal((await h.post('/publish', '{')).status, 400);
      const res = await fetch(`${h.url}/metrics`);
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /text\/plain/);
      const text = await res.text();
      assert.match(text, /bloodbank_gateway_events_published_total\{event_type="test.event.created"\} 1/);
      assert.match(text, /bloodbank_gateway_events_rejected_total\{reason="INVALID_ENVELOPE"\} 1/);
      assert.match(text, /bloodbank_gateway_events_rejected_total\{reason="MALFORMED_JSON"\} 1/);
      assert.match(text, /bloodbank_gateway_publish_confirm_seconds_count 1/);
      assert.match(text, /bloodbank_gateway_broker_connected 1/);
    } finally {
      await h.close();
    }
  });

  test('GET /openapi.json documents every route; /docs serves the UI', T, async () => {
    const h = await harness(embedded);
    try {
      const spec = (await (await fetch(`${h.url}/openapi.json`)).json()) as {
        openapi: string;
        paths: Record<string, unknown>;
      };
      assert.match(spec.openapi, /^3\./);
      for (const p of [
        '/events',
        '/events/batch',
        '/publish',
        '/health',
        '/metrics',
        '/schemas',
        '/schemas/{event_type}',
        '/webhooks/{provider}',
        '/dead-letters',
        '/dead-letters/{queue}',
        '/dead-letters/{queue}/redrive',
      ]) {
        assert.ok(spec.paths[p], `missing ${p}`);
      }
      const docs = await fetch(`${h.url}/docs`);
      assert.equal(docs.status, 200);
      assert.match(await docs.text(), /swagger/i);
    } finally {
      await h.close();
    }
  });

  test('GET /schemas and /schemas/:event_type', T, async () => {
    const h = await harness(embedded);
    try {
      const list = (await (await fetch(`${h.url}/schemas`)).json()) as { items: Record<string, unknown>[] };
      const item = list.items.find((i) => i.event_type === 'test.event.created');
      assert.deepEqual(item, {
        event_type: 'test.event.created',
        version: 1,
        title: 'Test event created',
        description: "The seed's smoke-test event: publish it and watch it arrive in Candybar.",
        kind: 'payload',
        file: 'test/event.created.v1.json',
      });
      const one = await fetch(`${h.url}/schemas/test.event.created`);
      assert.equal(one.status, 200);
      const body = (await one.json()) as Record<string, unknown>;
      assert.equal(body.event_type, 'test.event.created');
      assert.deepEqual(body.examples, [{ message: 'test' }]);
      assert.deepEqual((body.schema as Record<string, unknown>).required, ['message']);
      const missing = await fetch(`${h.url}/schemas/no.such.type`);
      assert.equal(missing.status, 404);
      assert.equal(((await missing.json()) as Record<string, unknown>).code, 'NOT_FOUND');
    } finally {
      await h.close();
    }
  });
});
