import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  completeEnvelope,
  decodeEnvelope,
  type EventEnvelope,
  encodeEnvelope,
  envelopeViolations,
  isAppError,
} from '@33god/core';

const good = (): EventEnvelope =>
  completeEnvelope({ event_type: 'test.thing.happened', payload: { n: 1 } }, { app: 'codec-test' });

const pointers = (value: unknown, mode: 'input' | 'complete') =>
  envelopeViolations(value, { mode }).map((v) => v.pointer);

describe('envelope codec', () => {
  it('requires every standard member on the wire, only type and payload from a producer', () => {
    assert.deepEqual(pointers(good(), 'complete'), []);
    assert.deepEqual(pointers({ event_type: 'a.b', payload: {} }, 'input'), []);
    assert.deepEqual(pointers({ event_type: 'a.b', payload: {} }, 'complete'), [
      '/event_id',
      '/timestamp',
      '/version',
      '/source',
      '/correlation_id',
    ]);
  });

  it('applies one rule set to the members that are present, in both modes', () => {
    const bad = {
      event_id: 'nope',
      event_type: 'Not.Valid',
      timestamp: 'yesterday',
      version: '',
      source: { app: '', host: 7 },
      correlation_id: 'not-a-uuid',
      causation_id: 'also-not',
      payload: [],
    };
    const expected = [
      '/event_type',
      '/payload',
      '/event_id',
      '/timestamp',
      '/version',
      '/source/host',
      '/source/app',
      '/correlation_id',
      '/causation_id',
    ];
    assert.deepEqual(pointers(bad, 'input'), expected);
    assert.deepEqual(pointers(bad, 'complete'), expected);
    assert.deepEqual(pointers([], 'input'), ['']);
    assert.deepEqual(pointers({ ...good(), version: 'x'.repeat(65) }, 'complete'), ['/version']);
    assert.deepEqual(pointers({ ...good(), timestamp: '2026-01-15 10:30:00Z' }, 'complete'), []);
  });

  it('round-trips an envelope through a broker message, ids lowercased', () => {
    const e = good();
    e.correlation_id = e.event_id.toUpperCase();
    const message = encodeEnvelope(e);
    assert.equal(message.routingKey, e.event_type);
    assert.equal(message.properties.messageId, e.event_id);
    const decoded = decodeEnvelope(message.body);
    assert.ok(decoded.ok);
    assert.equal(decoded.envelope.correlation_id, e.event_id.toLowerCase());
    assert.deepEqual(decoded.envelope.payload, e.payload);
  });

  it('refuses what the store could not keep before it is published, and says why when decoding', () => {
    const nul = { ...good(), payload: { text: 'a\u0000b' } };
    assert.throws(
      () => encodeEnvelope(nul),
      (err: unknown) => isAppError(err) && err.code === 'INVALID_ENVELOPE',
    );
    const fromElsewhere = decodeEnvelope(Buffer.from(JSON.stringify(nul)));
    assert.ok(!fromElsewhere.ok && fromElsewhere.code === 'INVALID_ENVELOPE');
    const notJson = decodeEnvelope(Buffer.from('{nope'));
    assert.ok(!notJson.ok && notJson.code === 'MESSAGE_NOT_JSON');
    assert.throws(
      () => encodeEnvelope({ ...good(), correlation_id: 'free text' }),
      (err: unknown) => isAppError(err) && err.violations[0]?.pointer === '/correlation_id',
    );
  });
});
