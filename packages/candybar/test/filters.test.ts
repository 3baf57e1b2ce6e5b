import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { compileFilter, EventBuffer, isEmptyFilter, toStoreQuery } from '../web/src/logic/filters.js';
import { storedEvent } from './helpers.js';

describe('stream filters', { timeout: 10_000 }, () => {
  const a = storedEvent({
    event_type: 'agent.thread.prompt',
    source: { app: 'Agent-Runner' },
    payload: { text: 'Hello World' },
  });
  const b = storedEvent({
    event_type: 'agent.feedback.requested',
    correlation_id: 'C0FFEE',
    payload: { n: 42 },
  });
  const c = storedEvent({ event_type: 'tool.mutation.write', source: { app: 'hookd' }, payload: null });

  test('type: topic patterns keep broker semantics, plain text also matches sub-types', () => {
    const pick = (type: string) => [a, b, c].filter(compileFilter({ type })).map((e) => e.event_type);
    assert.deepEqual(pick('agent.#'), ['agent.thread.prompt', 'agent.feedback.requested']);
    assert.deepEqual(pick('agent.*.prompt'), ['agent.thread.prompt']);
    assert.deepEqual(pick('*.prompt'), []);
    assert.deepEqual(pick('agent.thread'), ['agent.thread.prompt'], 'prefix of whole words');
    assert.deepEqual(pick('agent.thr'), [], 'not a prefix of a word');
    assert.deepEqual(pick('Tool.Mutation.Write'), ['tool.mutation.write'], 'case-insensitive');
  });

  test('source, correlation id and payload text; filters combine with AND', () => {
    assert.deepEqual([a, b, c].filter(compileFilter({ source: 'runner' })), [a]);
    assert.deepEqual([a, b, c].filter(compileFilter({ correlation: 'c0ffee' })), [b]);
    assert.deepEqual([a, b, c].filter(compileFilter({ text: 'hello world' })), [a]);
    assert.deepEqual([a, b, c].filter(compileFilter({ text: '42' })), [b]);
    assert.deepEqual([a, b, c].filter(compileFilter({ type: 'agent.#', text: '42' })), [b]);
    assert.deepEqual([a, b, c].filter(compileFilter({})), [a, b, c]);
    assert.ok(isEmptyFilter({ type: '' }));
    assert.ok(!isEmptyFilter({ text: 'x' }));
  });

  test('the same filter as a store query: patterns stay, plain prefixes become prefix.#', () => {
    assert.equal(
      toStoreQuery({ type: 'agent.*.prompt' }, 50).toString(),
      'type=agent.*.prompt&limit=50&order=desc',
    );
    assert.equal(
      toStoreQuery({ type: 'agent', correlation: 'x' }, 10).toString(),
      'type=agent.%23&correlation_id=x&limit=10&order=desc',
    );
  });
});

describe('EventBuffer (the live list)', { timeout: 10_000 }, () => {
  const ev = (i: number) => storedEvent({ event_type: 'x.y', event_id: `id-${i}` });

  test('newest first, visible only after a flush', () => {
    const buf = new EventBuffer(100);
    buf.push([ev(1), ev(2)]);
    assert.equal(buf.items.length, 0);
    assert.equal(buf.pendingCount, 2);
    assert.ok(buf.flush());
    assert.deepEqual(
      buf.items.map((e) => e.event_id),
      ['id-2', 'id-1'],
    );
    buf.push([ev(3)]);
    buf.flush();
    assert.deepEqual(
      buf.items.map((e) => e.event_id),
      ['id-3', 'id-2', 'id-1'],
    );
    assert.equal(buf.flush(), false, 'nothing pending, nothing changes');
  });

  test('pause holds arrivals without losing any, resume shows them in order', () => {
    const buf = new EventBuffer(1000);
    buf.push([ev(1)]);
    buf.flush();
    buf.pause();
    for (let i = 2; i <= 500; i++) buf.push([ev(i)]);
    assert.equal(buf.flush(), false);
    assert.equal(buf.items.length, 1);
    assert.equal(buf.pendingCount, 499);
    buf.resume();
    assert.equal(buf.items.length, 500);
    assert.equal(buf.items[0]?.event_id, 'id-500');
    assert.equal(buf.items[499]?.event_id, 'id-1');
    assert.equal(buf.received, 500);
  });

  test('capped: the oldest fall off and are counted', () => {
    const buf = new EventBuffer(10);
    for (let i = 1; i <= 25; i++) buf.push([ev(i)]);
    buf.flush();
    assert.equal(buf.items.length, 10);
    assert.equal(buf.items[0]?.event_id, 'id-25');
    assert.equal(buf.dropped, 15);
  });

  test('a resumed stream that repeats events does not duplicate them', () => {
    const buf = new EventBuffer(100);
    buf.push([ev(1), ev(2)]);
    buf.flush();
    buf.push([ev(2), ev(3)]);
    buf.flush();
    assert.deepEqual(
      buf.items.map((e) => e.event_id),
      ['id-3', 'id-2', 'id-1'],
    );
    buf.appendOlder([ev(1), ev(0)]);
    assert.deepEqual(
      buf.items.map((e) => e.event_id),
      ['id-3', 'id-2', 'id-1', 'id-0'],
    );
  });
});
