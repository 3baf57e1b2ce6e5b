import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  acceptedTraceparent,
  acceptedTracestate,
  childOf,
  cloudEventToEnvelope,
  completeEnvelope,
  envelopeAmqpProperties,
  envelopeErrorCode,
  envelopeToCloudEvent,
  envelopeViolations,
  formatTraceparent,
  newTrace,
  parseTraceparent,
  tracestateProblem,
} from '@33god/core';

const TRACE = '0af7651916cd43dd8448eb211c80319c';
const SPAN = 'b7ad6b7169203331';
const VALID = `00-${TRACE}-${SPAN}-01`;

describe('traceparent (W3C Trace Context Level 1)', () => {
  test('parses version 00', () => {
    assert.deepEqual(parseTraceparent(VALID), { traceId: TRACE, spanId: SPAN, flags: 1 });
    assert.deepEqual(parseTraceparent(`00-${TRACE}-${SPAN}-00`), { traceId: TRACE, spanId: SPAN, flags: 0 });
    assert.equal(formatTraceparent(parseTraceparent(VALID)!), VALID);
  });

  test('refuses malformed values', () => {
    const bad = [
      '',
      'nope',
      `00-${TRACE}-${SPAN}`, // no flags
      `00-${TRACE}-${SPAN}-01-`, // version 00 is exactly 55 characters
      `00-${TRACE}-${SPAN}-01-extra`,
      `00-${TRACE.toUpperCase()}-${SPAN}-01`, // upper case hex
      `00-${TRACE}-${SPAN.toUpperCase()}-01`,
      `00-${'0'.repeat(32)}-${SPAN}-01`, // all-zero trace id
      `00-${TRACE}-${'0'.repeat(16)}-01`, // all-zero span id
      `ff-${TRACE}-${SPAN}-01`, // version ff is invalid
      `0g-${TRACE}-${SPAN}-01`,
      `00_${TRACE}-${SPAN}-01`,
      `00-${TRACE.slice(1)}x-${SPAN}-01`,
      `00-${TRACE}-${SPAN}-0x`,
      ` 00-${TRACE}-${SPAN}-01`.slice(0, 55),
      `00-${TRACE}-${SPAN}-01`.replace('-01', '-1'),
    ];
    for (const v of bad) assert.equal(parseTraceparent(v), null, v);
    assert.equal(parseTraceparent(42), null);
    assert.equal(parseTraceparent(undefined), null);
  });

  test('reads a later version as far as version 00 defines it', () => {
    assert.deepEqual(parseTraceparent(`01-${TRACE}-${SPAN}-01`), { traceId: TRACE, spanId: SPAN, flags: 1 });
    assert.deepEqual(parseTraceparent(`cc-${TRACE}-${SPAN}-09-what-the-future-holds`), {
      traceId: TRACE,
      spanId: SPAN,
      flags: 9,
    });
    // What follows the flags must start with a dash.
    assert.equal(parseTraceparent(`cc-${TRACE}-${SPAN}-01x`), null);
    // Written back as version 00 only.
    assert.equal(formatTraceparent(parseTraceparent(`cc-${TRACE}-${SPAN}-09-x`)!), `00-${TRACE}-${SPAN}-09`);
  });

  test('new trace and child span', () => {
    const root = newTrace();
    assert.match(root.traceId, /^[0-9a-f]{32}$/);
    assert.match(root.spanId, /^[0-9a-f]{16}$/);
    assert.equal(root.flags, 1);
    assert.ok(parseTraceparent(formatTraceparent(root)));
    const child = childOf({ traceId: TRACE, spanId: SPAN, flags: 0 });
    assert.equal(child.traceId, TRACE);
    assert.notEqual(child.spanId, SPAN);
    assert.equal(child.flags, 0);
    const ids = new Set(Array.from({ length: 2000 }, () => newTrace().spanId));
    assert.equal(ids.size, 2000);
  });

  test('headers: invalid or repeated traceparent is ignored', () => {
    assert.deepEqual(acceptedTraceparent(VALID), { traceId: TRACE, spanId: SPAN, flags: 1 });
    assert.equal(acceptedTraceparent('garbage'), undefined);
    assert.equal(acceptedTraceparent([VALID, VALID]), undefined);
    assert.equal(acceptedTraceparent(undefined), undefined);
  });
});

describe('tracestate', () => {
  test('accepts the spec examples', () => {
    for (const v of [
      'congo=t61rcWkgMzE',
      'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE',
      'rojo=00f067aa0ba902b7 , congo=t61rcWkgMzE',
      'a=1,,b=2',
      'tenant@vendor=value',
      '1tenant@v*x=val ue',
      '',
    ]) {
      assert.equal(tracestateProblem(v), null, v);
    }
  });

  test('refuses malformed lists', () => {
    for (const v of [
      'novalue',
      '=v',
      'Upper=1',
      '1abc=1', // a simple key starts with a letter
      'a=1,a=2', // a key twice
      'a=b=c',
      'tenant@Vendor=1',
      `tenant@${'v'.repeat(15)}=1`,
      `${'a'.repeat(257)}=1`,
      `a=${'x'.repeat(257)}`,
    ]) {
      assert.notEqual(tracestateProblem(v), null, v);
    }
    assert.notEqual(tracestateProblem(5), null);
  });

  test('bounded: at most 32 members and 512 characters', () => {
    const members = (n: number) => Array.from({ length: n }, (_, i) => `k${i}=v`).join(',');
    assert.equal(tracestateProblem(members(32)), null);
    assert.match(tracestateProblem(members(33)) ?? '', /32/);
    assert.match(tracestateProblem(`a=${'x'.repeat(511)}`) ?? '', /512/);
    assert.equal(acceptedTracestate(members(33)), undefined);
    assert.equal(acceptedTracestate(['a=1', 'b=2']), 'a=1,b=2');
  });
});

describe('trace context in the envelope', () => {
  const envelope = () =>
    completeEnvelope({ event_type: 'test.trace.done', payload: {} }, { app: 'test', host: 'h' });

  test('the codec checks traceparent and tracestate members', () => {
    assert.deepEqual(
      envelopeViolations({ ...envelope(), traceparent: VALID, tracestate: 'a=1' }, { mode: 'complete' }),
      [],
    );
    const bad = envelopeViolations({ ...envelope(), traceparent: 'nope' }, { mode: 'complete' });
    assert.deepEqual(
      bad.map((v) => v.pointer),
      ['/traceparent'],
    );
    assert.equal(envelopeErrorCode(bad), 'INVALID_TRACE_CONTEXT');
    const orphan = envelopeViolations({ ...envelope(), tracestate: 'a=1' }, { mode: 'complete' });
    assert.deepEqual(
      orphan.map((v) => v.pointer),
      ['/tracestate'],
    );
    const mixed = envelopeViolations(
      { ...envelope(), event_id: 'x', traceparent: 'nope' },
      { mode: 'complete' },
    );
    assert.equal(envelopeErrorCode(mixed), 'INVALID_ENVELOPE');
  });

  test('AMQP headers carry it', () => {
    const props = envelopeAmqpProperties({ ...envelope(), traceparent: VALID, tracestate: 'a=1' });
    assert.equal(props.headers.traceparent, VALID);
    assert.equal(props.headers.tracestate, 'a=1');
    assert.equal(envelopeAmqpProperties(envelope()).headers.traceparent, undefined);
  });

  test('CloudEvents: the distributed tracing extension, both ways', () => {
    const e = { ...envelope(), traceparent: VALID, tracestate: 'a=1' };
    const ce = envelopeToCloudEvent(e);
    assert.equal(ce.traceparent, VALID);
    assert.equal(ce.tracestate, 'a=1');
    assert.equal(ce.envelopeext, undefined);
    const back = cloudEventToEnvelope(ce);
    assert.equal(back.traceparent, VALID);
    assert.equal(back.tracestate, 'a=1');
  });
});
