import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { EventStore, StoredEvent } from '../src/index.js';
import { matchesFilter, readThroughPayloadIndex, samplePercent } from '../src/internal.js';
import type { EventFilter } from '../src/storage/types.js';
import { BACKENDS, envelope, newEvent, openTestStore } from './helpers.js';

describe('how a page with a payload filter is read', () => {
  test('a filter the sample rarely finds goes through the payload index', () => {
    // 1,000,000 events, none of 2,000 sampled rows match: at most a few hundred matches
    assert.equal(readThroughPayloadIndex({ hits: 0, sampled: 2000, tableRows: 1_000_000, limit: 51 }), true);
    assert.equal(readThroughPayloadIndex({ hits: 3, sampled: 2000, tableRows: 1_000_000, limit: 51 }), true);
    // 30,000,000 events: still far cheaper than reading ~200,000 rows in order
    assert.equal(readThroughPayloadIndex({ hits: 0, sampled: 2000, tableRows: 30_000_000, limit: 51 }), true);
  });

  test('a filter that matches a large share is left to the planner', () => {
    // 2 %: 20,000 random reads against ~2,500 rows in position order
    assert.equal(
      readThroughPayloadIndex({ hits: 40, sampled: 2000, tableRows: 1_000_000, limit: 51 }),
      false,
    );
    // half the table
    assert.equal(
      readThroughPayloadIndex({ hits: 1000, sampled: 2000, tableRows: 1_000_000, limit: 51 }),
      false,
    );
    // 1 in 500 on a 30,000,000-event table: 60,000 matches
    assert.equal(
      readThroughPayloadIndex({ hits: 4, sampled: 2000, tableRows: 30_000_000, limit: 51 }),
      false,
    );
  });

  test('a sample too small to tell leaves the page to the planner', () => {
    assert.equal(readThroughPayloadIndex({ hits: 0, sampled: 50, tableRows: 1_000_000, limit: 51 }), false);
  });

  test('the sample aims at about 2,000 rows', () => {
    assert.equal(samplePercent(1_000_000), 0.2);
    assert.equal(samplePercent(1000), 100);
    assert.equal(samplePercent(0), 100);
  });
});

for (const backend of BACKENDS) {
  describe(`pages read through the payload index (${backend.name})`, { timeout: 60_000 }, () => {
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
          { task_id: `task-${i % 60}`, n: i, tags: i % 7 === 0 ? ['red'] : [] },
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
        assert.ok(
          sql.some((s) => s.includes('OFFSET 0) AS events')),
          'the pages were read through the payload index',
        );
      });
    }

    test('a payload filter that matches most events is left to the planner', async () => {
      const filter: EventFilter = { payload: [{ path: ['tags'], values: [[]] }] };
      sql.length = 0;
      const page = await store.list(filter, { order: 'desc', limit: 10 });
      assert.equal(page.length, 10);
      assert.ok(page.every((e) => matchesFilter(filter, e)));
      assert.ok(!sql.some((s) => s.includes('OFFSET 0) AS events')));
    });
  });
}
