import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { EventStore, StoredEvent } from '../src/index.js';
import { choosePayloadPlan, MAX_WINDOW, MIN_WINDOW, matchesFilter, samplePercent } from '../src/internal.js';
import type { EventFilter } from '../src/storage/types.js';
import { BACKENDS, envelope, newEvent, openTestStore } from './helpers.js';

describe('how a page with a payload filter is read', () => {
  const plan = (hits: number, tableRows: number, limit = 51, sampled = 2000) =>
    choosePayloadPlan({ hits, sampled, tableRows, limit });

  test('a filter the sample rarely finds goes through the payload index', () => {
    // 1,000,000 events, none or a few of 2,000 sampled rows match: a few hundred matches
    assert.deepEqual(plan(0, 1_000_000), { kind: 'index' });
    assert.deepEqual(plan(3, 1_000_000), { kind: 'index' });
    // 30,000,000 events: still cheaper than ~200,000 rows read in order
    assert.deepEqual(plan(0, 30_000_000), { kind: 'index' });
  });

  test('a filter that matches a large share is read in a window of rows in position order', () => {
    // 2 %: 20,000 random reads against ~2,500 rows in order; the window holds ~4 pages of matches
    assert.deepEqual(plan(40, 1_000_000), { kind: 'ordered', window: 10_075 });
    // half the table: the smallest window
    assert.deepEqual(plan(1000, 1_000_000), { kind: 'ordered', window: MIN_WINDOW });
    // 1 in 500 of 30,000,000: 60,000 random reads against a window of ~90,000 rows
    assert.deepEqual(plan(4, 30_000_000), { kind: 'ordered', window: 90_667 });
    // the largest window still holds two pages of matches
    assert.deepEqual(plan(2, 100_000_000), { kind: 'ordered', window: MAX_WINDOW });
  });

  test('when the largest window would not hold a page of matches, the payload index', () => {
    assert.deepEqual(plan(0, 1_000_000_000), { kind: 'index' });
  });

  test('a sample too small to tell leaves the page to the planner', () => {
    assert.deepEqual(plan(0, 1_000_000, 51, 50), { kind: 'planner' });
  });

  test('the sample aims at about 2,000 rows', () => {
    assert.equal(samplePercent(1_000_000), 0.2);
    assert.equal(samplePercent(1000), 100);
    assert.equal(samplePercent(0), 100);
  });
});

for (const backend of BACKENDS) {
  describe(`pages with a payload filter (${backend.name})`, { timeout: 60_000 }, () => {
    let store: EventStore;
    let teardown: () => Promise<void>;
    const sql: string[] = [];
    const stored: StoredEvent[] = [];
    before(async () => {
      // every table size qualifies, so the selective filters below are read through the index
      ({ store, teardown } = await openTestStore(backend, { payloadPlanMinRows: 0 }));
      const evs = Array.from({ length: 600 }, (_, i) =>
        envelope(
          `plan.item.kind${i % 3}`,
          { task_id: `task-${i % 60}`, n: i, tags: i % 7 === 0 ? ['red'] : [], era: i < 100 ? 'old' : 'new' },
          { source: { app: `app${i % 2}`, host: 'h', trigger_type: 'api' } },
        ),
      );
      await store.append(evs.map(newEvent));
      // the row count the choice starts from comes from the statistics
      await store.db.query('ANALYZE events');
      stored.push(...(await store.list({}, { order: 'asc', limit: 1000 })));
      assert.equal(stored.length, 600);
      const query = store.db.query.bind(store.db);
      store.db.query = ((text: string, params?: readonly unknown[]) => {
        sql.push(text);
        return query(text, params);
      }) as typeof store.db.query;
    });
    after(async () => teardown());

    /** Every page of `filter` in `order`, following the last position as the cursor. */
    async function allPages(filter: EventFilter, order: 'asc' | 'desc', limit: number) {
      const out: StoredEvent[] = [];
      let after: string | undefined;
      for (;;) {
        const page = await store.list(filter, { order, limit, ...(after ? { after } : {}) });
        out.push(...page);
        if (page.length < limit) return out;
        after = page.at(-1)!.position;
      }
    }

    const viaIndex = (sql: string) => sql.includes('OFFSET 0) AS events');
    const inWindow = (sql: string) => /LIMIT \$\d+\) AS events/.test(sql);

    const filters: [string, EventFilter][] = [
      ['a payload field alone', { payload: [{ path: ['task_id'], values: ['task-7'] }] }],
      [
        'type, source and a payload field',
        { type: 'plan.item.kind1', source: 'app0', payload: [{ path: ['task_id'], values: ['task-4'] }] },
      ],
      [
        'a type pattern and a payload field with two values',
        { type: 'plan.item.*', payload: [{ path: ['task_id'], values: ['task-1', 'task-2'] }] },
      ],
      [
        'two payload fields',
        {
          payload: [
            { path: ['task_id'], values: ['task-0'] },
            { path: ['tags'], values: [['red']] },
          ],
        },
      ],
    ];
    for (const [name, filter] of filters) {
      test(`${name}: the same events, in order, on every page`, async () => {
        const want = stored.filter((e) => matchesFilter(filter, e)).map((e) => e.event_id);
        assert.ok(want.length > 0, 'the filter matches some events');
        sql.length = 0;
        const asc = await allPages(filter, 'asc', 4);
        assert.deepEqual(
          asc.map((e) => e.event_id),
          want,
        );
        const desc = await allPages(filter, 'desc', 3);
        assert.deepEqual(
          desc.map((e) => e.event_id),
          [...want].reverse(),
        );
        assert.ok(sql.some(viaIndex), 'the pages were read through the payload index');
      });
    }

    test('a payload filter that matches most events is read in a window in position order', async () => {
      const filter: EventFilter = { type: 'plan.item.*', payload: [{ path: ['tags'], values: [[]] }] };
      const want = stored.filter((e) => matchesFilter(filter, e)).map((e) => e.event_id);
      sql.length = 0;
      const desc = await allPages(filter, 'desc', 10);
      assert.deepEqual(
        desc.map((e) => e.event_id),
        [...want].reverse(),
      );
      const asc = await allPages(filter, 'asc', 10);
      assert.deepEqual(
        asc.map((e) => e.event_id),
        want,
      );
      assert.ok(sql.some(inWindow), 'pages were read in a window');
      assert.ok(!sql.some(viaIndex));
    });

    test('a window with fewer matches than a page falls back to the planner, and misses nothing', async () => {
      // 100 of 600 events, all older than the newest 500: the newest-first window holds none
      const filter: EventFilter = { payload: [{ path: ['era'], values: ['old'] }] };
      const want = stored.filter((e) => matchesFilter(filter, e)).map((e) => e.event_id);
      assert.equal(want.length, 100);
      sql.length = 0;
      const first = await store.list(filter, { order: 'desc', limit: 10 });
      assert.deepEqual(
        first.map((e) => e.event_id),
        want.slice(-10).reverse(),
      );
      assert.ok(sql.some(inWindow), 'the window was tried');
      assert.ok(
        sql.some((s) => !inWindow(s) && !viaIndex(s) && s.includes('payload @>')),
        'then the plain query',
      );
      const all = await allPages(filter, 'desc', 7);
      assert.deepEqual(
        all.map((e) => e.event_id),
        [...want].reverse(),
      );
    });
  });
}
