import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  buildChain,
  flattenChain,
  formatDuration,
  groupCorrelations,
  serviceColor,
  summarizeChain,
  timeTicks,
} from '../web/src/logic/chain.js';
import type { StoredEvent } from '../web/src/logic/types.js';
import { storedEvent } from './helpers.js';

const T0 = Date.UTC(2026, 0, 1);
function ev(id: string, cause: string | null, ms: number, type = `t.${id}.done`): StoredEvent {
  return storedEvent({
    event_id: id,
    event_type: type,
    causation_id: cause,
    correlation_id: 'corr',
    timestamp: new Date(T0 + ms).toISOString(),
    source: { app: `app-${id}` },
  });
}

describe('event chains', { timeout: 10_000 }, () => {
  // root ─┬─ a ─── a1
  //       └─ b
  // (missing m) ── orphan
  const events = [
    ev('b', 'root', 40),
    ev('a1', 'a', 250),
    ev('root', null, 0),
    ev('a', 'root', 10),
    ev('orphan', 'm', 300),
  ];

  test('builds the causation tree, children in time order, with time since the cause', () => {
    const { roots, gaps } = buildChain(events);
    assert.deepEqual(
      roots.map((r) => r.event_id),
      ['root', 'm'],
    );
    const root = roots[0]!;
    assert.deepEqual(
      root.children.map((c) => c.event_id),
      ['a', 'b'],
    );
    assert.equal(root.children[0]?.delta_ms, 10);
    assert.equal(root.children[0]?.children[0]?.delta_ms, 240);
    assert.equal(roots[1]?.missing, true);
    assert.deepEqual(gaps, [{ missing_event_id: 'm', referenced_by: ['orphan'] }]);
  });

  test('flattens depth-first with tree guides and waterfall offsets', () => {
    const rows = flattenChain(buildChain(events).roots);
    assert.deepEqual(
      rows.map((r) => [r.eventId, r.depth, r.offsetMs, r.deltaMs, r.parentOffsetMs, r.isLast]),
      [
        ['root', 0, 0, null, null, false],
        ['a', 1, 10, 10, 0, false],
        ['a1', 2, 250, 240, 10, true],
        ['b', 1, 40, 40, 0, true],
        ['m', 0, 300, null, null, true],
        ['orphan', 1, 300, null, null, true],
      ],
    );
    // a1 sits under a, which has a sibling after it (b): the guide for that level continues.
    assert.deepEqual(rows[2]?.guides, [false, true]);
    assert.equal(rows[0]?.descendants, 3);
    assert.equal(rows[4]?.missing, true);
  });

  test('the summary names the slowest step and counts gaps', () => {
    const s = summarizeChain(flattenChain(buildChain(events).roots));
    assert.equal(s.events, 5);
    assert.equal(s.missing, 1);
    assert.equal(s.spanMs, 300);
    assert.equal(s.maxDepth, 2);
    assert.equal(s.slowest?.eventId, 'a1');
    assert.equal(s.sources.length, 5);
  });

  test('uses the store’s own tree when given, keeping its delta_ms', () => {
    const root = ev('r', null, 0);
    const child = ev('c', 'r', 5);
    const rows = flattenChain([
      {
        event: root,
        event_id: 'r',
        missing: false,
        delta_ms: null,
        children: [{ event: child, event_id: 'c', missing: false, delta_ms: 5, children: [] }],
      },
    ]);
    assert.deepEqual(
      rows.map((r) => [r.eventId, r.deltaMs]),
      [
        ['r', null],
        ['c', 5],
      ],
    );
  });

  test('a causation cycle does not hide its events or loop forever', () => {
    const { roots } = buildChain([ev('x', 'y', 0), ev('y', 'x', 5)]);
    const rows = flattenChain(roots);
    assert.deepEqual(rows.map((r) => r.eventId).sort(), ['x', 'y']);
  });

  test('an event that names itself as its cause is a root', () => {
    const { roots } = buildChain([ev('s', 's', 0)]);
    assert.deepEqual(
      roots.map((r) => r.event_id),
      ['s'],
    );
  });

  test('time axis ticks are round and cover the span; durations read well', () => {
    assert.deepEqual(timeTicks(300, 6), [0, 50, 100, 150, 200, 250, 300]);
    assert.deepEqual(timeTicks(0), [0]);
    const t = timeTicks(7300, 5);
    assert.equal(t[1], 2000);
    assert.equal(formatDuration(0.5), '0.50 ms');
    assert.equal(formatDuration(12), '12 ms');
    assert.equal(formatDuration(1500), '1.50 s');
    assert.equal(formatDuration(125_000), '2 min 5 s');
    assert.equal(formatDuration(null), '–');
  });

  test('each service keeps one colour', () => {
    assert.equal(serviceColor('shop'), serviceColor('shop'));
    assert.notEqual(serviceColor('shop'), serviceColor('orders'));
    assert.match(serviceColor(undefined), /^hsl\(\d+ 60% 52%\)$/);
  });
});

describe('recent correlations', () => {
  const at = (corr: string | null, type: string, ms: number) =>
    storedEvent({ event_type: type, correlation_id: corr, timestamp: new Date(T0 + ms).toISOString() });

  test('chains of two events or more come apart from lone events, newest activity first', () => {
    const { chains, singles } = groupCorrelations([
      at('lone-1', 'candystore.event.persisted', 900),
      at('a', 'order.shipped', 800),
      at('c', 'user.created', 700),
      at('a', 'order.paid', 500),
      at('lone-2', 'candystore.event.persisted', 450),
      at(null, 'uncorrelated', 400),
      at('a', 'order.paid', 300),
      at('c', 'user.invited', 100),
    ]);
    assert.deepEqual(
      chains.map((g) => [g.id, g.count, g.types, g.last]),
      [
        ['a', 3, ['order.shipped', 'order.paid'], new Date(T0 + 800).toISOString()],
        ['c', 2, ['user.created', 'user.invited'], new Date(T0 + 700).toISOString()],
      ],
    );
    assert.deepEqual(
      singles.map((g) => g.id),
      ['lone-1', 'lone-2'],
    );
  });

  test('the newest event decides the order whatever order the page came in', () => {
    const { chains } = groupCorrelations([
      at('old', 'x', 100),
      at('new', 'x', 200),
      at('old', 'x', 150),
      at('new', 'x', 900),
    ]);
    assert.deepEqual(
      chains.map((g) => g.id),
      ['new', 'old'],
    );
  });
});
