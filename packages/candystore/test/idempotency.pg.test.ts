// Real PostgreSQL only: concurrent appends of the same event ids from separate connections
// (PGlite has a single connection). Idempotency rests on the append lock: every append checks
// for stored ids and inserts under it, so no two writers can both find an id missing.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type EventStore, openStore } from '../src/index.js';
import { envelope, freshDatabase, newEvent } from './helpers.js';

let url: string;
let drop: () => Promise<void>;
const stores: EventStore[] = [];

before(async () => {
  ({ url, drop } = await freshDatabase());
});
after(async () => {
  for (const s of stores) await s.close().catch(() => {});
  await drop();
});

test('writers appending the same event ids at once store each id exactly once', {
  timeout: 60_000,
}, async () => {
  const writers = await Promise.all(Array.from({ length: 4 }, () => openStore({ databaseUrl: url })));
  stores.push(...writers);
  const ids = Array.from({ length: 400 }, (_, i) => envelope('test.same.id', { i }));
  let stored = 0;
  let duplicates = 0;
  // Each writer sends every id, in overlapping slices and its own order, and holds some
  // commits open so the others queue behind it with the same ids in hand.
  await Promise.all(
    writers.map(async (w, k) => {
      const order = k % 2 === 0 ? ids : [...ids].reverse();
      for (let from = 0; from < order.length; from += 50) {
        const slice = order.slice(from, from + 70).map((e) => newEvent(e));
        const r = await w.append(slice, {
          beforeCommit: async () =>
            void (await new Promise((res) => setTimeout(res, (from / 50 + k) % 3 === 0 ? 10 : 0))),
        });
        stored += r.stored.length;
        duplicates += r.duplicates;
      }
    }),
  );
  const rows = await writers[0]!.db.query<{ n: string; distinct_ids: string }>(
    'SELECT count(*)::text AS n, count(DISTINCT event_id)::text AS distinct_ids FROM events',
  );
  assert.equal(rows[0]!.n, '400');
  assert.equal(rows[0]!.distinct_ids, '400');
  assert.equal(stored, 400);
  assert.ok(duplicates > 0);
});
