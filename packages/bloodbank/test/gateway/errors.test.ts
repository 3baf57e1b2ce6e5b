import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { backends, type Harness, harness, json, registryFile } from './helpers.js';

const T = { timeout: 30_000 };

interface Problem {
  type: string;
  title: string;
  status: number;
  code: string;
  detail?: string;
  errors?: { pointer: string; message: string }[];
  [k: string]: unknown;
}

async function problem(res: Response, status: number, code: string): Promise<Problem> {
  const text = await res.text();
  assert.equal(res.status, status, text);
  assert.match(res.headers.get('content-type') ?? '', /^application\/problem\+json/);
  const doc = JSON.parse(text) as Problem;
  assert.equal(doc.status, status);
  assert.equal(doc.code, code);
  assert.equal(doc.type, `https://33god.dev/problems/${code.toLowerCase().replaceAll('_', '-')}`);
  assert.ok(doc.title);
  assert.doesNotMatch(text, /\n\s+at |node_modules|\.ts:\d+/, 'no stack trace');
  return doc;
}

/** Publishes a marker and checks it is the only thing that reached the queue. */
async function onlyMarkerPublished(h: Harness): Promise<void> {
  const res = await h.post('/publish', { event_type: 'test.event.created', payload: { message: 'marker' } });
  assert.equal(res.status, 202);
  await h.readBack.take(1);
  assert.equal(await h.readBack.settle(), 1);
  assert.deepEqual(json(h.readBack.received[0]!).payload, { message: 'marker' });
}

const valid = { event_type: 'test.event.created', payload: { message: 'x' } };

for (const backend of backends) {
  describe(`gateway errors (${backend.name})`, () => {
    test(
      '400 malformed JSON, 415 content types, 413 bodies and batches, 404; nothing published',
      T,
      async () => {
        const h = await harness(backend, { bodyLimit: 2048, batchMax: 3 });
        try {
          await problem(await h.post('/events', '{"event_type": '), 400, 'MALFORMED_JSON');
          await problem(await h.post('/publish', '{not json}'), 400, 'MALFORMED_JSON');
          await problem(await h.post('/events', ''), 400, 'MALFORMED_JSON');
          const nd = await fetch(`${h.url}/events/batch`, {
            method: 'POST',
            headers: { 'content-type': 'application/x-ndjson' },
            body: `${JSON.stringify(valid)}\n{oops\n`,
          });
          const ndDoc = await problem(nd, 400, 'MALFORMED_JSON');
          assert.deepEqual(
            ndDoc.errors?.map((e) => e.pointer),
            ['/1'],
          );
          const text = await fetch(`${h.url}/events`, {
            method: 'POST',
            headers: { 'content-type': 'text/plain' },
            body: JSON.stringify(valid),
          });
          await problem(text, 415, 'UNSUPPORTED_MEDIA_TYPE');
          const noType = await fetch(`${h.url}/publish`, {
            method: 'POST',
            body: new Blob([JSON.stringify(valid)]),
          });
          await problem(noType, 415, 'UNSUPPORTED_MEDIA_TYPE');
          await problem(
            await h.post('/events', { ...valid, payload: { message: 'x'.repeat(4096) } }),
            413,
            'BODY_TOO_LARGE',
          );
          const big = await problem(
            await h.post('/events/batch', [valid, valid, valid, valid]),
            413,
            'BATCH_TOO_LARGE',
          );
          assert.equal(big.max, 3);
          await problem(await h.post('/events/batch', []), 400, 'INVALID_REQUEST');
          await problem(await h.post('/events/batch', valid), 400, 'INVALID_REQUEST');
          // Nesting deep enough to break re-serialisation is refused up front, not a 500.
          const deep = `{"event_type":"test.event.created","payload":{"message":"x","d":${'['.repeat(300)}${']'.repeat(300)}}}`;
          await problem(await h.post('/events', deep), 400, 'INVALID_REQUEST');
          const badUrl = await fetch(`${h.url}/schemas/%E0%A4%A`);
          assert.ok(badUrl.status >= 400 && badUrl.status < 500, String(badUrl.status));
          assert.match(badUrl.headers.get('content-type') ?? '', /problem\+json/);
          const nf = await fetch(`${h.url}/nope`);
          await problem(nf, 404, 'NOT_FOUND');
          await onlyMarkerPublished(h);
        } finally {
          await h.close();
        }
      },
    );

    test(
      '422: missing event_type is never a 500, every pointer listed, batches all-or-nothing',
      T,
      async () => {
        const h = await harness(backend);
        try {
          // The original gateway answered 500 here.
          const missing = await problem(
            await h.post('/publish', { payload: { message: 'x' } }),
            422,
            'INVALID_ENVELOPE',
          );
          assert.deepEqual(
            missing.errors?.map((e) => e.pointer),
            ['/event_type'],
          );
          const many = await problem(
            await h.post('/events', {
              event_type: 'Not A Type',
              payload: [],
              event_id: 'nope',
              timestamp: 'yesterday',
              correlation_id: 42,
              source: { app: 7 },
            }),
            422,
            'INVALID_ENVELOPE',
          );
          assert.deepEqual(many.errors?.map((e) => e.pointer).sort(), [
            '/correlation_id',
            '/event_id',
            '/event_type',
            '/payload',
            '/source/app',
            '/timestamp',
          ]);
          const schema = await problem(
            await h.post('/events', { event_type: 'test.event.created', payload: { message: 5 } }),
            422,
            'SCHEMA_VIOLATION',
          );
          assert.deepEqual(
            schema.errors?.map((e) => e.pointer),
            ['/payload/message'],
          );
          const req = await problem(
            await h.post('/events', { event_type: 'test.event.created', payload: {} }),
            422,
            'SCHEMA_VIOLATION',
          );
          assert.deepEqual(
            req.errors?.map((e) => e.pointer),
            ['/payload/message'],
          );
          const unknown = await problem(
            await h.post('/events', { event_type: 'nobody.knows.this', payload: {} }),
            422,
            'UNKNOWN_EVENT_TYPE',
          );
          assert.deepEqual(
            unknown.errors?.map((e) => e.pointer),
            ['/event_type'],
          );
          const batch = await problem(
            await h.post('/events/batch', [
              valid,
              { event_type: 'test.event.created', payload: { message: 1 } },
              valid,
              { payload: {} },
            ]),
            422,
            'INVALID_ENVELOPE',
          );
          assert.deepEqual(batch.errors?.map((e) => e.pointer).sort(), [
            '/1/payload/message',
            '/3/event_type',
          ]);
          const ce = await fetch(`${h.url}/events`, {
            method: 'POST',
            headers: { 'content-type': 'application/cloudevents+json' },
            body: JSON.stringify({ specversion: '0.3', type: 'test.event.created' }),
          });
          const ceDoc = await problem(ce, 422, 'INVALID_CLOUDEVENT');
          assert.deepEqual(ceDoc.errors?.map((e) => e.pointer).sort(), ['/id', '/source', '/specversion']);
          await onlyMarkerPublished(h);
        } finally {
          await h.close();
        }
      },
    );

    test('unknown event types: warn and allow publish them', T, async () => {
      for (const policy of ['warn', 'allow'] as const) {
        const h = await harness(backend, { unknownTypes: policy });
        try {
          const res = await h.post('/events', { event_type: 'nobody.knows.this', payload: { any: 1 } });
          assert.equal(res.status, 202, policy);
          const [d] = await h.readBack.take(1);
          assert.equal(json(d!).event_type, 'nobody.knows.this');
        } finally {
          await h.close();
        }
      }
    });

    test('401 without or with a wrong token, 403 outside the registry produces list', T, async () => {
      const registryPath = registryFile({
        'plane-bridge': ['webhook.plane.*', 'test.event.created'],
        quiet: ['agent.heartbeat'],
      });
      const h = await harness(backend, {
        registryPath,
        unknownTypes: 'allow',
        authTokens: 'tok-plane=plane-bridge,tok-quiet=quiet,tok-ghost=ghost',
      });
      try {
        const none = await problem(await h.post('/publish', valid), 401, 'UNAUTHORIZED');
        assert.ok(none.detail);
        assert.match(
          (await h.post('/publish', valid, { authorization: 'Bearer nope' })).headers.get(
            'www-authenticate',
          ) ?? '',
          /Bearer/,
        );
        await problem(
          await h.post('/publish', valid, { authorization: 'Basic dG9rOng=' }),
          401,
          'UNAUTHORIZED',
        );
        await problem(
          await h.post('/publish', valid, { authorization: 'Bearer tok-quiet' }),
          403,
          'FORBIDDEN_EVENT_TYPE',
        );
        await problem(
          await h.post('/publish', valid, { authorization: 'Bearer tok-ghost' }),
          403,
          'FORBIDDEN_EVENT_TYPE',
        );
        await problem(
          await h.post('/events/batch', [valid, { event_type: 'agent.heartbeat', payload: {} }], {
            authorization: 'Bearer tok-plane',
          }),
          403,
          'FORBIDDEN_EVENT_TYPE',
        );
        assert.equal(await h.readBack.settle(), 0);
        const auth = { authorization: 'Bearer tok-plane' };
        const a = await h.post('/publish', valid, auth);
        assert.equal(a.status, 202);
        // Its registry entry produces webhook.plane.*, but webhook events enter only signed.
        await problem(
          await h.post('/events', { event_type: 'webhook.plane.thing', payload: { x: 1 } }, auth),
          403,
          'WEBHOOK_TYPE_FORBIDDEN',
        );
        const got = await h.readBack.take(1);
        assert.equal((json(got[0]!).source as Record<string, string>).app, 'plane-bridge');
        assert.equal(await h.readBack.settle(), 1);
      } finally {
        await h.close();
      }
    });

    test('429 per token with Retry-After', T, async () => {
      const registryPath = registryFile({ a: ['test.event.created'], b: ['test.event.created'] });
      const h = await harness(backend, {
        registryPath,
        authTokens: { ta: 'a', tb: 'b' },
        rateLimit: '2/min',
      });
      try {
        const asA = { authorization: 'Bearer ta' };
        assert.equal((await h.post('/publish', valid, asA)).status, 202);
        assert.equal((await h.post('/publish', valid, asA)).status, 202);
        const limited = await h.post('/publish', valid, asA);
        const doc = await problem(limited, 429, 'RATE_LIMITED');
        const after = Number(limited.headers.get('retry-after'));
        assert.ok(after >= 1 && after <= 60, `retry-after ${after}`);
        assert.equal(doc.retry_after, after);
        // Another token has its own budget.
        assert.equal((await h.post('/publish', valid, { authorization: 'Bearer tb' })).status, 202);
        assert.equal((await h.readBack.take(3)).length, 3);
        assert.equal(await h.readBack.settle(), 3);
      } finally {
        await h.close();
      }
    });

    test('503 with Retry-After when the broker connection is gone', T, async () => {
      // No dead-letter monitor: it starts in the background, and closing the transport while
      // it declares its queue hung this test about once in five CI runs on RabbitMQ (cause not
      // found; the monitor is not what this test is about).
      const h = await harness(backend, { deadLetterMonitor: false });
      try {
        await h.transport.close();
        const res = await h.post('/publish', valid);
        await problem(res, 503, 'BROKER_UNAVAILABLE');
        assert.ok(Number(res.headers.get('retry-after')) > 0);
        const health = await fetch(`${h.url}/health`);
        assert.equal(health.status, 503);
        assert.equal(((await health.json()) as { status: string }).status, 'degraded');
      } finally {
        await h.close();
      }
    });
  });
}
