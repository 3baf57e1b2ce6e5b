import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { completeEnvelope, isUuid, newEventId } from '../src/index.js';

const V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('event ids', () => {
  it('are RFC 9562 version 7 UUIDs whose first 48 bits are the Unix time in milliseconds', () => {
    const before = Date.now();
    const id = newEventId();
    const after = Date.now();
    assert.match(id, V7);
    assert.ok(isUuid(id));
    const ms = Number.parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
    assert.ok(ms >= before && ms <= after + 1, `${ms} not within [${before}, ${after}]`);
  });

  it('strictly increase, also many within one millisecond, and never repeat', () => {
    const ids = Array.from({ length: 50_000 }, () => newEventId());
    for (let i = 1; i < ids.length; i++) assert.ok(ids[i]! > ids[i - 1]!, `${ids[i]} <= ${ids[i - 1]}`);
    assert.equal(new Set(ids).size, ids.length);
    assert.ok(ids.every((id) => V7.test(id)));
  });

  it('keep increasing when the clock steps back', (t) => {
    const first = newEventId();
    t.mock.method(Date, 'now', () => 1_000);
    const later = Array.from({ length: 5_000 }, () => newEventId());
    t.mock.restoreAll();
    assert.ok(later[0]! > first);
    for (let i = 1; i < later.length; i++) assert.ok(later[i]! > later[i - 1]!);
  });

  it('completeEnvelope keeps given members and extensions, and fills the rest', () => {
    const env = completeEnvelope(
      { event_type: 'a.b.c', payload: { x: 1 }, causation_id: 'c', ext_flag: true, version: '2.0.0' },
      { app: 'app1', host: 'h1' },
    );
    assert.match(env.event_id, V7);
    assert.equal(env.correlation_id, env.event_id);
    assert.equal(env.causation_id, 'c');
    assert.equal(env.version, '2.0.0');
    assert.deepEqual(env.source, { app: 'app1', host: 'h1', trigger_type: 'api' });
    assert.equal(env.ext_flag, true);
    assert.deepEqual(Object.keys(env), [
      'event_id',
      'event_type',
      'timestamp',
      'version',
      'source',
      'correlation_id',
      'causation_id',
      'payload',
      'ext_flag',
    ]);
    const own = completeEnvelope(
      { event_type: 'a.b.c', payload: {}, source: { app: 'given', host: 'g', extra: 1 } as never },
      { app: 'default' },
    );
    assert.deepEqual(own.source, { app: 'given', host: 'g', extra: 1, trigger_type: 'api' });
  });
});
