import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CLOSE_SLOW_CLIENT, type EventStore, type StreamMessage } from '../src/index.js';
import { eventBytes, StoreTail, StreamSession } from '../src/internal.js';
import { BACKENDS, envelope, newEvent, openTestStore, waitFor } from './helpers.js';

for (const backend of BACKENDS) {
  describe(`stream session (${backend.name})`, { timeout: 60_000 }, () => {
    let store: EventStore;
    let teardown: () => Promise<void>;
    let tail: StoreTail;
    before(async () => {
      ({ store, teardown } = await openTestStore(backend));
      tail = new StoreTail(store, { pollMs: 10 });
    });
    after(async () => {
      tail.close();
      await teardown();
    });

    const session = (
      from: string,
      sink: { buffered: () => number },
      extra: {
        maxPending?: number;
        maxPendingBytes?: number;
        maxBufferedBytes?: number;
        filter?: object;
      } = {},
    ) => {
      const got: StreamMessage[] = [];
      let closed: { code: number; reason: string } | null = null;
      const s = new StreamSession({
        store,
        tail,
        filter: extra.filter ?? {},
        from,
        heartbeatMs: 30,
        catchUpPage: 3,
        ...(extra.maxPending ? { maxPending: extra.maxPending } : {}),
        ...(extra.maxPendingBytes ? { maxPendingBytes: extra.maxPendingBytes } : {}),
        ...(extra.maxBufferedBytes ? { maxBufferedBytes: extra.maxBufferedBytes } : {}),
        sink: {
          send: (m) => got.push(m),
          bufferedAmount: sink.buffered,
          close: (code, reason) => {
            closed = { code, reason };
          },
        },
      });
      return { s, got, closed: () => closed as { code: number; reason: string } | null };
    };

    test('from a position: catch-up, one caught_up, live, heartbeats carrying the position', async () => {
      const first = await store.append(
        [1, 2, 3, 4, 5].map((i) => newEvent(envelope('test.stream.old', { i }))),
      );
      const from = first.stored[1]!.position;
      const { s, got } = session(from, { buffered: () => 0 });
      await s.start();
      const live = await store.append([newEvent(envelope('test.stream.new'))]);
      tail.poke();
      await waitFor(
        () => got.some((m) => m.kind === 'event' && m.event.position === live.stored[0]!.position),
        5000,
        'live',
      );
      const liveAt = () =>
        got.findIndex((m) => m.kind === 'event' && m.event.position === live.stored[0]!.position);
      await waitFor(
        () => got.slice(liveAt()).some((m) => m.kind === 'heartbeat'),
        5000,
        'heartbeat after the live event',
      );
      s.close();
      const events = got
        .filter((m) => m.kind === 'event')
        .map((m) => (m as { event: { position: string } }).event.position);
      assert.deepEqual(events, [...first.stored.slice(2).map((e) => e.position), live.stored[0]!.position]);
      const idx = got.findIndex((m) => m.kind === 'caught_up');
      assert.equal(got.filter((m) => m.kind === 'caught_up').length, 1);
      assert.equal((got[idx] as { position: string }).position, first.stored.at(-1)!.position);
      const hb = got.slice(liveAt()).find((m) => m.kind === 'heartbeat') as { position: string };
      assert.equal(hb.position, live.stored[0]!.position);
    });

    test('a client whose socket stays full is closed with a reason and its resume position', async () => {
      const { s, got, closed } = session('now', { buffered: () => 10_000_000 }, { maxBufferedBytes: 1000 });
      await s.start();
      const r = await store.append([newEvent(envelope('test.stream.flood'))]);
      tail.poke();
      await waitFor(() => closed() !== null, 5000, 'close');
      assert.equal(closed()!.code, CLOSE_SLOW_CLIENT);
      assert.match(closed()!.reason, /slow client; resume from=\d+/);
      const sent = got.filter((m) => m.kind === 'event');
      assert.equal(sent.length, 1);
      assert.equal(closed()!.reason, `slow client; resume from=${r.stored[0]!.position}`);
    });

    test('live events held during catch-up are bounded', async () => {
      await store.append(Array.from({ length: 30 }, (_, i) => newEvent(envelope('test.stream.bulk', { i }))));
      let buffered = 0;
      // catch-up stalls while the socket is "full"; live events pile up past maxPending
      const { s, closed } = session(
        '0',
        { buffered: () => buffered },
        { maxPending: 5, maxBufferedBytes: 100 },
      );
      buffered = 1000;
      const started = s.start();
      for (let i = 0; i < 3; i++) {
        await store.append(Array.from({ length: 4 }, () => newEvent(envelope('test.stream.more'))));
        tail.poke();
        await new Promise((r) => setTimeout(r, 30));
      }
      await waitFor(() => closed() !== null, 5000, 'close');
      assert.equal(closed()!.code, CLOSE_SLOW_CLIENT);
      buffered = 0;
      await started;
    });

    test('live events held during catch-up are bounded in bytes, not only in number', async () => {
      await store.append(Array.from({ length: 10 }, (_, i) => newEvent(envelope('test.stream.bulk', { i }))));
      let buffered = 1000;
      // a count bound far away (10 000 by default); three large events pass the byte bound
      const { s, got, closed } = session(
        '0',
        { buffered: () => buffered },
        { maxPendingBytes: 8192, maxBufferedBytes: 100 },
      );
      const started = s.start();
      const big = Array.from({ length: 3 }, (_, i) =>
        newEvent(envelope('test.stream.large', { i, blob: 'x'.repeat(4000) })),
      );
      await store.append(big);
      tail.poke();
      await waitFor(() => closed() !== null, 5000, 'close');
      assert.equal(closed()!.code, CLOSE_SLOW_CLIENT);
      assert.match(closed()!.reason, /slow client; resume from=\d+/);
      assert.ok(
        !got.some((m) => m.kind === 'event' && m.event.event_type === 'test.stream.large'),
        'nothing held was sent',
      );
      buffered = 0;
      await started;
    });

    test('an event is measured in bytes of the JSON the socket carries', async () => {
      const r = await store.append([newEvent(envelope('test.stream.size', { text: 'é'.repeat(100) }))]);
      const [event] = await store.list(
        { type: 'test.stream.size' },
        { order: 'asc', after: String(BigInt(r.stored[0]!.position) - 1n), limit: 1 },
      );
      const json = JSON.stringify(event);
      assert.equal(eventBytes(event!), Buffer.byteLength(json));
      assert.ok(eventBytes(event!) >= json.length + 100, 'bytes, not characters');
    });
  });
}
