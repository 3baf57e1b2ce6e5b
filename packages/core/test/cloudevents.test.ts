import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  AppError,
  binaryHttpToEnvelope,
  cloudEventToEnvelope,
  completeEnvelope,
  type EventEnvelope,
  envelopeToBinaryHttp,
  envelopeToCloudEvent,
  isUuid,
} from '@33god/core';

const base: EventEnvelope = {
  event_id: '0190b6a0-7a4e-7cc1-9d6b-2f3b0c6a9e11',
  event_type: 'agent.task.completed',
  timestamp: '2026-11-22T10:00:00.123Z',
  version: '1.0.0',
  source: { app: 'agent-runner', host: 'box-1', trigger_type: 'event', user_id: 'tonny é/ü' },
  correlation_id: '0190b6a0-7a4e-7cc1-9d6b-2f3b0c6a9e00',
  causation_id: '0190b6a0-7a4e-7cc1-9d6b-2f3b0c6a9e01',
  payload: { task_id: 'abc', nested: { list: [1, 'two', null] } },
  meeting_id: '0190b6a0-7a4e-7cc1-9d6b-2f3b0c6a9e99',
  tenant: 'acme',
};

describe('CloudEvents mapping', () => {
  it('structured mode round-trips losslessly', () => {
    const ce = envelopeToCloudEvent(base);
    assert.equal(ce.specversion, '1.0');
    assert.equal(ce.id, base.event_id);
    assert.equal(ce.type, base.event_type);
    assert.equal(ce.time, base.timestamp);
    assert.equal(ce.correlationid, base.correlation_id);
    assert.equal(ce.causationid, base.causation_id);
    assert.equal(ce.tenant, 'acme');
    assert.deepEqual(ce.data, base.payload);
    const back = cloudEventToEnvelope(JSON.parse(JSON.stringify(ce)));
    assert.deepEqual(back, base);
  });

  it('binary mode round-trips losslessly, header names case-insensitive', () => {
    const { headers, body } = envelopeToBinaryHttp(base);
    assert.equal(headers['ce-id'], base.event_id);
    const shouted = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toUpperCase(), v]));
    const back = binaryHttpToEnvelope(shouted, JSON.parse(body));
    assert.deepEqual(back, base);
  });

  it('keeps a foreign CloudEvent source verbatim both ways', () => {
    const foreign = {
      specversion: '1.0',
      id: 'delivery-1',
      type: 'com.github.push',
      source: 'https://github.com/acme/repo',
      data: { ref: 'main' },
    };
    const env = cloudEventToEnvelope(foreign);
    assert.equal(env.source.app, 'github.com');
    assert.equal(env.source.uri, foreign.source);
    assert.equal(envelopeToCloudEvent(env).source, foreign.source);
  });

  it('names every missing required attribute', () => {
    assert.throws(
      () => cloudEventToEnvelope({ specversion: '0.3', data: {} }),
      (err: unknown) => {
        assert.ok(err instanceof AppError);
        assert.equal(err.code, 'INVALID_CLOUDEVENT');
        assert.deepEqual(
          err.violations.map((v) => v.pointer),
          ['/specversion', '/id', '/type', '/source'],
        );
        return true;
      },
    );
  });
});

describe('completeEnvelope', () => {
  it('fills id, time, version, source and a correlation id; keeps what was given', () => {
    const env = completeEnvelope(
      { event_type: 'test.event.created', payload: { message: 'hi' } },
      { app: 'cli' },
    );
    assert.ok(isUuid(env.event_id));
    assert.equal(env.event_id[14], '7', 'UUIDv7');
    assert.equal(env.correlation_id, env.event_id);
    assert.equal(env.source.app, 'cli');
    assert.equal(env.source.trigger_type, 'api');
    assert.ok(!Number.isNaN(Date.parse(env.timestamp)));
    const kept = completeEnvelope({ ...base }, { app: 'other' });
    assert.deepEqual(kept, base);
  });
});
