import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  type Bus,
  buildGateway,
  connect,
  createEmbeddedTransport,
  EmbeddedBroker,
  type Transport,
} from '@33god/bloodbank';
import { type RunningCandystore, startCandystore } from '@33god/candystore';
import { completeEnvelope, type EventEnvelope, isAppError, newEventId } from '@33god/core';
import { rid, waitFor } from '../faults/support.js';

/**
 * One door: the same good and bad envelopes fed to every entry point (the gateway's single
 * and batch routes, the SDK's publish, the store's ingest from the broker) get the same
 * verdict. Each case changes one member of a complete envelope; a member a producer may omit
 * is completed by the gateway and the SDK, so only malformed members are listed here.
 */

type Case = {
  name: string;
  accepted: boolean;
  mutate: (e: Record<string, unknown>) => void;
  /** The refusal, when not 422 INVALID_ENVELOPE (the store dead-letters either way). */
  refusal?: string;
};

const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

const CASES: Case[] = [
  { name: 'a complete envelope', accepted: true, mutate: () => {} },
  { name: 'an extension member', accepted: true, mutate: (e) => Object.assign(e, { meeting_id: 'm-1' }) },
  {
    name: 'an upper-case correlation id',
    accepted: true,
    mutate: (e) => Object.assign(e, { correlation_id: String(e.event_id).toUpperCase() }),
  },
  {
    name: 'a space between date and time',
    accepted: true,
    mutate: (e) => Object.assign(e, { timestamp: '2026-01-15 10:30:00Z' }),
  },
  { name: 'event_id not a UUID', accepted: false, mutate: (e) => Object.assign(e, { event_id: 'nope' }) },
  {
    name: 'event_type in capitals',
    accepted: false,
    mutate: (e) => Object.assign(e, { event_type: 'Test.Thing.Happened' }),
  },
  {
    name: 'event_type of one word',
    accepted: false,
    mutate: (e) => Object.assign(e, { event_type: 'thing' }),
  },
  {
    name: 'timestamp not a date',
    accepted: false,
    mutate: (e) => Object.assign(e, { timestamp: 'yesterday' }),
  },
  { name: 'version empty', accepted: false, mutate: (e) => Object.assign(e, { version: '' }) },
  { name: 'version too long', accepted: false, mutate: (e) => Object.assign(e, { version: '1'.repeat(65) }) },
  { name: 'source not an object', accepted: false, mutate: (e) => Object.assign(e, { source: 'me' }) },
  {
    name: 'source.app empty',
    accepted: false,
    mutate: (e) => Object.assign(e, { source: { app: '', host: 'h', trigger_type: 'api' } }),
  },
  {
    name: 'source member not a string',
    accepted: false,
    mutate: (e) => Object.assign(e, { source: { app: 'a', host: 7, trigger_type: 'api' } }),
  },
  {
    name: 'correlation_id free text',
    accepted: false,
    mutate: (e) => Object.assign(e, { correlation_id: 'order-42' }),
  },
  {
    name: 'causation_id free text',
    accepted: false,
    mutate: (e) => Object.assign(e, { causation_id: 'because' }),
  },
  {
    name: 'a W3C trace context',
    accepted: true,
    mutate: (e) => Object.assign(e, { traceparent: TRACEPARENT, tracestate: 'congo=t61rcWkgMzE' }),
  },
  {
    name: 'traceparent with an all-zero trace id',
    accepted: false,
    refusal: '400 INVALID_TRACE_CONTEXT',
    mutate: (e) => Object.assign(e, { traceparent: `00-${'0'.repeat(32)}-00f067aa0ba902b7-01` }),
  },
  {
    name: 'tracestate with a key twice',
    accepted: false,
    refusal: '400 INVALID_TRACE_CONTEXT',
    mutate: (e) => Object.assign(e, { traceparent: TRACEPARENT, tracestate: 'a=1,a=2' }),
  },
  { name: 'payload an array', accepted: false, mutate: (e) => Object.assign(e, { payload: [1, 2] }) },
  { name: 'payload null', accepted: false, mutate: (e) => Object.assign(e, { payload: null }) },
  {
    name: 'U+0000 in a payload string',
    accepted: false,
    mutate: (e) => Object.assign(e, { payload: { text: 'a\u0000b' } }),
  },
  {
    // Date.parse rolls it over to 2 March; PostgreSQL refuses it ("date/time field value out of range").
    name: 'timestamp on 30 February',
    accepted: false,
    mutate: (e) => Object.assign(e, { timestamp: '2026-02-30T10:00:00Z' }),
  },
  {
    name: 'timestamp in year 0000',
    accepted: false,
    mutate: (e) => Object.assign(e, { timestamp: '0000-06-01T10:00:00Z' }),
  },
  {
    name: 'timestamp with a -23:59 offset (valid RFC 3339, beyond PostgreSQL)',
    accepted: false,
    mutate: (e) => Object.assign(e, { timestamp: '2026-06-01T10:00:00-23:59' }),
  },
  {
    name: 'timestamp on 29 February of a leap year',
    accepted: true,
    mutate: (e) => Object.assign(e, { timestamp: '2024-02-29T10:00:00+14:00' }),
  },
  {
    // PostgreSQL's jsonb refuses it ("Unicode low surrogate must follow a high surrogate").
    name: 'a lone UTF-16 surrogate in a payload string',
    accepted: false,
    mutate: (e) => Object.assign(e, { payload: { text: 'a\ud800b' } }),
  },
  {
    name: 'a lone surrogate in a payload key',
    accepted: false,
    mutate: (e) => Object.assign(e, { payload: { 'k\udc00': 1 } }),
  },
  {
    name: 'an emoji (a surrogate pair) in a payload string',
    accepted: true,
    mutate: (e) => Object.assign(e, { payload: { text: 'ok \ud83d\ude00' } }),
  },
];

const EXCHANGE = `verdicts.${rid()}`;
const TYPE = 'test.verdict.checked';

function envelopeFor(c: Case): EventEnvelope {
  const e = completeEnvelope(
    { event_type: TYPE, payload: { case: c.name } },
    { app: 'verdict-test', host: 'test-host', trigger_type: 'api' },
  ) as Record<string, unknown>;
  c.mutate(e);
  return e as EventEnvelope;
}

describe('one door: the same verdict at every entry point', () => {
  let transport: Transport;
  let store: RunningCandystore;
  let bus: Bus;
  let gateway: Awaited<ReturnType<typeof buildGateway>>;
  const queue = `verdicts.${rid()}.store`;

  before(async () => {
    transport = await createEmbeddedTransport({ broker: new EmbeddedBroker() });
    store = await startCandystore({ transport, exchange: EXCHANGE, queue, dataDir: null, port: 0 });
    gateway = await buildGateway({
      transport,
      exchange: EXCHANGE,
      registryPath: null,
      unknownTypes: 'allow',
      healthIntervalMs: 0,
      watchSchemas: false,
      deadLetterMonitor: false,
      logLevel: 'silent',
    });
    bus = await connect({ transport, exchange: EXCHANGE, app: 'verdict-test', unknownTypes: 'allow' });
  });

  after(async () => {
    await bus?.close();
    await gateway?.close();
    await store?.close();
    await transport?.close();
  });

  for (const c of CASES) {
    it(`${c.name}: ${c.accepted ? 'accepted' : 'refused'} everywhere`, async () => {
      const verdicts: Record<string, string> = {};

      // the gateway, one event
      const single = envelopeFor(c);
      const one = await gateway.app.inject({
        method: 'POST',
        url: '/events',
        headers: { 'content-type': 'application/json' },
        payload: JSON.stringify(single),
      });
      verdicts.gateway = one.statusCode === 202 ? 'accepted' : `${one.statusCode} ${one.json().code}`;

      // the gateway, in a batch
      const inBatch = envelopeFor(c);
      const batch = await gateway.app.inject({
        method: 'POST',
        url: '/events/batch',
        headers: { 'content-type': 'application/json' },
        payload: JSON.stringify([inBatch]),
      });
      verdicts.batch = batch.statusCode === 202 ? 'accepted' : `${batch.statusCode} ${batch.json().code}`;

      // the SDK
      try {
        await bus.publishEnvelope(envelopeFor(c));
        verdicts.sdk = 'accepted';
      } catch (err) {
        verdicts.sdk = isAppError(err) ? `${err.status} ${err.code}` : String(err);
      }

      // the store's ingest, from a message some other producer put on the broker
      const raw = envelopeFor(c);
      const id = typeof raw.event_id === 'string' && raw.event_id !== 'nope' ? newEventId() : 'nope';
      raw.event_id = id;
      const text = JSON.stringify({ ...raw, payload: raw.payload });
      await transport.publish({
        exchange: EXCHANGE,
        routingKey: /^[a-z.]+$/.test(String(raw.event_type)) ? String(raw.event_type) : TYPE,
        body: Buffer.from(text),
        properties: { contentType: 'application/json', messageId: rid() },
      });
      verdicts.store = await waitFor(`the store's verdict on '${c.name}'`, 10_000, async () => {
        if (id !== 'nope' && (await store.store.get(id))) return 'accepted';
        const dead = await transport.peek(`${queue}.dlq`, 100).catch(() => []);
        const mine = dead.find((d) => d.body.toString('utf8') === text);
        return mine ? (c.refusal ?? '422 INVALID_ENVELOPE') : undefined;
      });

      const expected = c.accepted ? 'accepted' : (c.refusal ?? '422 INVALID_ENVELOPE');
      assert.deepEqual(
        verdicts,
        { gateway: expected, batch: expected, sdk: expected, store: expected },
        c.name,
      );
    });
  }
});
