import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { EventEnvelope } from '@33god/core';
import type { EventStore } from '../src/index.js';
import { BACKENDS, envelope, newEvent, openTestStore } from './helpers.js';

for (const backend of BACKENDS) {
  describe(`event store (${backend.name})`, { timeout: 60_000 }, () => {
    let store: EventStore;
    let teardown: () => Promise<void>;
    before(async () => {
      ({ store, teardown } = await openTestStore(backend));
    });
    after(async () => teardown());

    test('append assigns increasing positions and skips event ids already stored', async () => {
      const a = envelope('test.thing.created', { n: 1 });
      const b = envelope('test.thing.updated', { n: 2 });
      const first = await store.append([newEvent(a), newEvent(b), newEvent(a)]);
      assert.equal(first.stored.length, 2);
      assert.equal(first.duplicates, 1);
      assert.ok(BigInt(first.stored[1]!.position) > BigInt(first.stored[0]!.position));
      const again = await store.append([newEvent(b), newEvent(a)]);
      assert.equal(again.stored.length, 0);
      assert.equal(again.duplicates, 2);
      const got = await store.get(a.event_id);
      assert.equal(got?.event_type, 'test.thing.created');
      assert.deepEqual(got?.payload, { n: 1 });
      assert.equal(got?.position, first.stored[0]!.position);
    });

    test('an envelope given as the text it arrived in is stored as sent: digits, extensions, ids', async () => {
      const e = envelope('test.thing.sent', { n: 1 });
      const text = JSON.stringify({ ...e, event_id: e.event_id.toUpperCase(), x_trace: 't1' }).replace(
        '"n":1',
        '"n":12345678901234567890123',
      );
      const parsed = JSON.parse(text) as EventEnvelope;
      const r = await store.append([
        {
          envelope: { ...parsed, event_id: e.event_id },
          body: text,
          routingKey: e.event_type,
          headers: {},
          replayId: null,
        },
      ]);
      assert.deepEqual(
        r.stored.map((s) => s.event_id),
        [e.event_id],
      );
      const rows = await store.db.query<{ n: string; ext: string; id: string }>(
        "SELECT payload->>'n' AS n, extensions::text AS ext, event_id::text AS id FROM events WHERE event_id = $1",
        [e.event_id],
      );
      // JSON.parse and JSON.stringify in Node would have rounded the number
      assert.deepEqual(rows, [{ n: '12345678901234567890123', ext: '{"x_trace": "t1"}', id: e.event_id }]);
      const again = await store.append([newEvent(e)]);
      assert.equal(again.duplicates, 1);
    });

    test('a replay page carries each envelope as JSON text equal to what was stored, extensions included', async () => {
      const cause = envelope('test.replay.caused', { n: 0 });
      const plain = envelope(
        'test.replay.body',
        { text: 'quote " backslash \\ newline \n tab \t ü 🚀', nested: { list: [1, null, true] } },
        { causation_id: cause.event_id, correlation_id: cause.correlation_id },
      );
      const withExtensions = { ...envelope('test.replay.body', { n: 2 }), x_trace: 't1', x_tags: ['a', 'b'] };
      await store.append([newEvent(plain), newEvent(withExtensions as EventEnvelope)]);
      const rows = await store.replayPage({ type: 'test.replay.body' }, '0', 10);
      assert.equal(rows.length, 2);
      const bodies = rows.map((r) => JSON.parse(r.body) as Record<string, unknown>);
      for (const [i, want] of [plain, withExtensions as EventEnvelope].entries()) {
        const { timestamp, ...rest } = bodies[i]!;
        const { timestamp: wantTime, ...wantRest } = want;
        assert.deepEqual(rest, { causation_id: null, ...wantRest });
        assert.equal(Date.parse(timestamp as string), Date.parse(wantTime));
        assert.equal(rows[i]!.event_id, want.event_id);
        assert.equal(rows[i]!.ts, timestamp);
      }
      assert.equal(bodies[0]!.causation_id, cause.event_id);
    });

    test('list filters by type pattern, source, payload and pages by position', async () => {
      const evs = [
        envelope(
          'shop.order.placed',
          { order: { id: 'o1' }, total: 5 },
          { source: { app: 'shop', host: 'h', trigger_type: 'api' } },
        ),
        envelope(
          'shop.order.shipped',
          { order: { id: 'o1' } },
          { source: { app: 'shop', host: 'h', trigger_type: 'api' } },
        ),
        envelope(
          'shop.cart.emptied',
          { order: { id: 'o2' } },
          { source: { app: 'cart', host: 'h', trigger_type: 'api' } },
        ),
      ];
      await store.append(evs.map(newEvent));
      const orders = await store.list({ type: 'shop.order.*' }, { order: 'asc', limit: 10 });
      assert.deepEqual(
        orders.map((e) => e.event_type),
        ['shop.order.placed', 'shop.order.shipped'],
      );
      const hash = await store.list({ type: 'shop.#' }, { order: 'desc', limit: 10 });
      assert.equal(hash.length, 3);
      assert.equal(hash[0]!.event_type, 'shop.cart.emptied');
      const bySource = await store.list({ source: 'cart' }, { order: 'asc', limit: 10 });
      assert.equal(bySource.length, 1);
      const byPayload = await store.list(
        { payload: [{ path: ['order', 'id'], values: ['o1'] }] },
        { order: 'asc', limit: 10 },
      );
      assert.equal(byPayload.length, 2);
      const byNumber = await store.list(
        { payload: [{ path: ['total'], values: ['5', 5] }] },
        { order: 'asc', limit: 10 },
      );
      assert.equal(byNumber.length, 1);
      const page2 = await store.list(
        { type: 'shop.#' },
        { order: 'asc', after: orders[0]!.position, limit: 10 },
      );
      assert.deepEqual(
        page2.map((e) => e.event_type),
        ['shop.order.shipped', 'shop.cart.emptied'],
      );
    });

    test('head position is the highest committed position', async () => {
      const r = await store.append([newEvent(envelope('test.head.moved'))]);
      assert.equal(await store.headPosition(), r.stored[0]!.position);
    });

    test('an event id stored in an older partition is not stored again', async () => {
      const old = await storeInMonth(store, '2002-07-15T00:00:00Z', envelope('test.old.redelivered'));
      const fresh = envelope('test.new.thing');
      const r = await store.append([newEvent(old), newEvent(fresh)]);
      assert.deepEqual(
        r.stored.map((e) => e.event_id),
        [fresh.event_id],
      );
      assert.equal(r.duplicates, 1);
      const rows = await store.db.query<{ n: string }>(
        'SELECT count(*)::text AS n FROM events WHERE event_id = $1::uuid',
        [old.event_id],
      );
      assert.equal(rows[0]!.n, '1');
      await store.dropPartitionsBefore(new Date('2003-01-01T00:00:00Z'));
    });

    test('retention drops whole partitions older than the cutoff and forgets their ids', async () => {
      // a partition for an old month, with one event in it
      const old = await storeInMonth(store, '2001-03-15T00:00:00Z', envelope('test.old.thing'));
      assert.ok(await store.get(old.event_id));
      const dropped = await store.dropPartitionsBefore(new Date('2010-01-01T00:00:00Z'));
      assert.deepEqual(dropped, ['events_p200103']);
      assert.equal(await store.get(old.event_id), null);
      assert.equal((await store.existingIds([old.event_id])).size, 0);
      // the current partition is untouched and ingest still works
      const r = await store.append([newEvent(envelope('test.after.retention'))]);
      assert.equal(r.stored.length, 1);
      assert.ok((await store.partitions()).every((p) => p.name !== 'events_p200103'));
    });
  });
}

/** Stores `e` straight into the partition of an old month (as if received then). */
async function storeInMonth(store: EventStore, receivedAt: string, e: EventEnvelope): Promise<EventEnvelope> {
  await store.db.query('SELECT candystore_ensure_partition($1::timestamptz)', [receivedAt]);
  await store.db.query(
    `INSERT INTO events (received_at, event_id, event_type, "timestamp", version, source, source_app, payload, routing_key)
     VALUES ($1::timestamptz, $2::uuid, $3, now(), '1.0.0', '{"app":"x"}', 'x', '{}', $3)`,
    [receivedAt, e.event_id, e.event_type],
  );
  return e;
}
