import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  accessConfigFromEnv,
  completeEnvelope,
  type EventEnvelope,
  envelopeToBinaryHttp,
  envelopeToCloudEvent,
} from '@33god/core';
import { backends, expectProblem, type Harness, harness, json, registryFile } from './helpers.js';

const T = { timeout: 30_000 };

// What issue 21 saw dispatch an agent: one anonymous POST /publish of a Plane "ready" ticket.
const FORGED = {
  event_type: 'webhook.plane.issue.updated',
  payload: {
    event: 'issue',
    action: 'updated',
    data: {
      id: 'c3b5a7f0-1f7e-4e1a-9c7d-2b3a4c5d6e7f',
      name: 'Rotate the broker credentials',
      state: { name: 'Todo', group: 'unstarted' },
      labels: [{ name: 'ready' }, { name: 'automation:go' }, { name: 'comp:bloodbank' }],
    },
  },
};
// An ordinary type dressed as a webhook delivery.
const TRIGGERED = {
  event_type: 'test.event.created',
  payload: { message: 'x' },
  source: { trigger_type: 'webhook' },
};
const valid = { event_type: 'test.event.created', payload: { message: 'ok' } };

/** Every way a non-webhook route takes an event, each sending `event` (plus one valid event in batches). */
function entries(
  h: Harness,
  headers: Record<string, string>,
): { name: string; pointer: string; send(event: Record<string, unknown>): Promise<Response> }[] {
  const post = (path: string, type: string, body: string) =>
    fetch(`${h.url}${path}`, { method: 'POST', headers: { 'content-type': type, ...headers }, body });
  const full = (e: Record<string, unknown>): EventEnvelope<unknown> =>
    completeEnvelope({ ...(e as Pick<EventEnvelope<unknown>, 'event_type' | 'payload'>) }, { app: 'svc' });
  return [
    { name: 'POST /events', pointer: '', send: (e) => h.post('/events', e, headers) },
    { name: 'POST /publish', pointer: '', send: (e) => h.post('/publish', e, headers) },
    { name: 'POST /events/batch', pointer: '/1', send: (e) => h.post('/events/batch', [valid, e], headers) },
    {
      name: 'POST /events/batch (NDJSON)',
      pointer: '/1',
      send: (e) =>
        post('/events/batch', 'application/x-ndjson', `${JSON.stringify(valid)}\n${JSON.stringify(e)}\n`),
    },
    {
      name: 'POST /events (structured CloudEvent)',
      pointer: '',
      send: (e) =>
        post('/events', 'application/cloudevents+json', JSON.stringify(envelopeToCloudEvent(full(e)))),
    },
    {
      name: 'POST /events (binary CloudEvent)',
      pointer: '',
      send: (e) => {
        const binary = envelopeToBinaryHttp(full(e));
        return fetch(`${h.url}/events`, {
          method: 'POST',
          headers: { ...binary.headers, ...headers },
          body: binary.body,
        });
      },
    },
    {
      name: 'POST /events/batch (CloudEvents batch)',
      pointer: '/1',
      send: (e) =>
        post(
          '/events/batch',
          'application/cloudevents-batch+json',
          JSON.stringify([envelopeToCloudEvent(full(valid)), envelopeToCloudEvent(full(e))]),
        ),
    },
  ];
}

/** Publishes a marker and checks it is the only thing that reached the queue. */
async function onlyMarkerPublished(h: Harness, headers: Record<string, string> = {}): Promise<void> {
  const res = await h.post(
    '/publish',
    { event_type: 'test.event.created', payload: { message: 'marker' } },
    headers,
  );
  assert.equal(res.status, 202, await res.clone().text());
  await h.readBack.take(1);
  assert.equal(await h.readBack.settle(), 1);
  assert.deepEqual(json(h.readBack.received[0]!).payload, { message: 'marker' });
}

const tokensOn = () => ({
  registryPath: registryFile({ svc: ['test.event.created', 'webhook.plane.*'] }),
  access: accessConfigFromEnv({ AUTH_TOKENS: 'tok-svc=svc:publish' }),
});
const asSvc = { authorization: 'Bearer tok-svc' };

for (const backend of backends) {
  describe(`gateway policy (${backend.name})`, () => {
    for (const [mode, options, headers] of [
      ['without a token (tokens off)', {}, {}],
      ['with a publish token whose registry entry produces webhook.plane.*', tokensOn(), asSvc],
    ] as const) {
      test(`webhook events are refused on every non-webhook route, ${mode}`, T, async () => {
        const h = await harness(backend, options);
        try {
          for (const route of entries(h, headers)) {
            const byType = await expectProblem(await route.send(FORGED), 403, 'WEBHOOK_TYPE_FORBIDDEN');
            assert.deepEqual(
              byType.errors?.map((e) => e.pointer),
              [`${route.pointer}/event_type`],
              route.name,
            );
            const byTrigger = await expectProblem(await route.send(TRIGGERED), 403, 'WEBHOOK_TYPE_FORBIDDEN');
            assert.deepEqual(
              byTrigger.errors?.map((e) => e.pointer),
              [`${route.pointer}/source/trigger_type`],
              route.name,
            );
          }
          // However it is spelled.
          await expectProblem(
            await h.post('/events', { ...TRIGGERED, source: { trigger_type: ' Webhook ' } }, headers),
            403,
            'WEBHOOK_TYPE_FORBIDDEN',
          );
          await onlyMarkerPublished(h, headers);
        } finally {
          await h.close();
        }
      });
    }

    test('with tokens on, source.app is the principal: filled in when absent, 403 otherwise', T, async () => {
      const h = await harness(backend, tokensOn());
      try {
        const absent = await h.post('/events', valid, asSvc);
        assert.equal(absent.status, 202, await absent.clone().text());
        const partial = await h.post('/publish', { ...valid, source: { host: 'worker-1' } }, asSvc);
        assert.equal(partial.status, 202);
        const same = await h.post('/events', { ...valid, source: { app: 'svc' } }, asSvc);
        assert.equal(same.status, 202);
        const got = await h.readBack.take(3);
        for (const d of got) assert.equal((json(d).source as Record<string, string>).app, 'svc');
        assert.equal((json(got[1]!).source as Record<string, string>).host, 'worker-1');

        const spoofed = await expectProblem(
          await h.post('/events', { ...valid, source: { app: 'plane' } }, asSvc),
          403,
          'FORBIDDEN_SOURCE',
        );
        assert.deepEqual(
          spoofed.errors?.map((e) => e.pointer),
          ['/source/app'],
        );
        assert.match(spoofed.detail ?? '', /'svc'/);
        // A CloudEvent's source names the app too.
        const ce = envelopeToCloudEvent(completeEnvelope(valid, { app: 'infra-dispatcher' }));
        await expectProblem(
          await fetch(`${h.url}/events`, {
            method: 'POST',
            headers: { 'content-type': 'application/cloudevents+json', ...asSvc },
            body: JSON.stringify(ce),
          }),
          403,
          'FORBIDDEN_SOURCE',
        );
        assert.equal(await h.readBack.settle(), 3);
      } finally {
        await h.close();
      }
    });

    test('in a batch the policy is per event: every pointer, a 403, nothing published', T, async () => {
      const h = await harness(backend, tokensOn());
      try {
        const mixed = await expectProblem(
          await h.post(
            '/events/batch',
            [
              valid,
              { ...valid, source: { app: 'plane' } },
              FORGED,
              { event_type: 'test.event.created', payload: { message: 5 } },
              TRIGGERED,
            ],
            asSvc,
          ),
          403,
          'WEBHOOK_TYPE_FORBIDDEN',
        );
        assert.deepEqual(mixed.errors?.map((e) => e.pointer).sort(), [
          '/1/source/app',
          '/2/event_type',
          '/3/payload/message',
          '/4/source/trigger_type',
        ]);
        assert.match(mixed.detail ?? '', /^4 of 5 events/);
        const spoofed = await expectProblem(
          await h.post('/events/batch', [valid, { ...valid, source: { app: 'plane' } }], asSvc),
          403,
          'FORBIDDEN_SOURCE',
        );
        assert.deepEqual(
          spoofed.errors?.map((e) => e.pointer),
          ['/1/source/app'],
        );
        await onlyMarkerPublished(h, asSvc);
      } finally {
        await h.close();
      }
    });
  });
}
