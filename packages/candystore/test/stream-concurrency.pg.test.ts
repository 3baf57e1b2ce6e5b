// Real PostgreSQL only: concurrent writers on separate connections are what can commit
// positions out of order; PGlite has a single connection.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type EventStore, openStore, type StoredEvent, type StreamMessage } from '../src/index.js';
import { StoreTail, StreamSession } from '../src/internal.js';
import { envelope, freshDatabase, newEvent, waitFor } from './helpers.js';

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

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Collected {
  from: string;
  events: StoredEvent[];
  caughtUp: number;
  session: StreamSession;
}

test('readers following positions never skip or repeat an event while writers commit out of order', {
  timeout: 120_000,
}, async () => {
  const writers = await Promise.all(Array.from({ length: 4 }, () => openStore({ databaseUrl: url })));
  const reader = await openStore({ databaseUrl: url, poolSize: 4 });
  stores.push(...writers, reader);
  const tail = new StoreTail(reader, { pollMs: 5 });

  let writing = true;
  const writeLoop = async (w: EventStore, k: number) => {
    let i = 0;
    while (writing) {
      const n = 1 + ((i * 7 + k) % 9);
      const batch = Array.from({ length: n }, (_, j) =>
        newEvent(envelope('test.concurrent.written', { k, i, j })),
      );
      // Some commits are held open after their positions were assigned: without the append
      // lock, a later writer would commit a higher position first and readers would skip.
      await w.append(batch, { beforeCommit: async () => void (await sleep((i + k) % 3 === 0 ? 15 : 0)) });
      i++;
      if (i % 5 === 0) tail.poke();
    }
  };

  // a plain poller: position > cursor, like any client paging the store
  const polled: string[] = [];
  let polling = true;
  const pollLoop = (async () => {
    let cursor = '0';
    while (polling) {
      const rows = await reader.list({}, { order: 'asc', after: cursor, limit: 200 });
      for (const r of rows) polled.push(r.position);
      if (rows.length) cursor = rows.at(-1)!.position;
      else await sleep(1);
    }
  })();

  const sessions: Collected[] = [];
  const startSession = async (from: string) => {
    const c: Collected = { from, events: [], caughtUp: 0, session: undefined as unknown as StreamSession };
    c.session = new StreamSession({
      store: reader,
      tail,
      filter: {},
      from,
      catchUpPage: 17,
      heartbeatMs: 60_000,
      sink: {
        send: (m: StreamMessage) => {
          if (m.kind === 'event') c.events.push(m.event);
          if (m.kind === 'caught_up') c.caughtUp++;
        },
        bufferedAmount: () => 0,
        close: () => {},
      },
    });
    sessions.push(c);
    await c.session.start();
  };

  const loops = writers.map((w, k) => writeLoop(w, k));
  await startSession('0');
  for (let round = 0; round < 8; round++) {
    await sleep(150);
    const head = await reader.headPosition();
    const from = round % 3 === 0 ? 'now' : String(BigInt(head) / 2n);
    await startSession(from === 'now' ? head : from);
  }
  await sleep(300);
  writing = false;
  await Promise.all(loops);
  const final = await reader.headPosition();
  tail.poke();
  await waitFor(
    () => sessions.every((s) => s.events.at(-1)?.position === final),
    20_000,
    'sessions to reach the head',
  );
  await waitFor(() => polled.at(-1) === final, 20_000, 'poller to reach the head');
  polling = false;
  await pollLoop;

  const all = (await reader.list({}, { order: 'asc', limit: 1_000_000 })).map((e) => e.position);
  assert.ok(all.length > 200, `only ${all.length} events were written`);
  assert.deepEqual(polled, all, 'the poller saw every position exactly once, in order');
  for (const s of sessions) {
    const expected = all.filter((p) => BigInt(p) > BigInt(s.from));
    const got = s.events.map((e) => e.position);
    assert.equal(s.caughtUp, 1);
    assert.equal(got.length, expected.length, `session from ${s.from}: ${got.length} of ${expected.length}`);
    assert.deepEqual(got, expected, `session from ${s.from} skipped or repeated an event`);
    s.session.close();
  }
  tail.close();
});
