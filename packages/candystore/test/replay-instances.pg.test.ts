// Real PostgreSQL only: several store instances on one database share the replays table
// (PGlite is one process's database). The instances share one embedded broker.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { createEmbeddedTransport, EmbeddedBroker, type Transport } from '@33god/bloodbank';
import { type EventStore, openStore, type RunningCandystore, startCandystore } from '../src/index.js';
import {
  assertResumedInOrder,
  drainQueue,
  envelope,
  freshDatabase,
  json,
  newEvent,
  type PublishRecord,
  recordingTransport,
  replayTargetPool,
  rid,
  startReplay,
  waitFor,
} from './helpers.js';

describe('replays with several instances on one PostgreSQL database', { timeout: 120_000 }, () => {
  let url: string;
  let drop: () => Promise<void>;
  /** The test's own view of the database. */
  let db: EventStore;
  const broker = new EmbeddedBroker();
  let transport: Transport;
  const running = new Map<RunningCandystore, Transport>();
  const targets = replayTargetPool();

  before(async () => {
    ({ url, drop } = await freshDatabase());
    db = await openStore({ databaseUrl: url });
    transport = createEmbeddedTransport({ broker });
  });
  after(async () => {
    for (const svc of running.keys()) await stop(svc);
    await transport?.close();
    await db?.close();
    await drop?.();
  });

  const start = async (
    leaseMs?: number,
    replayMaxRunning?: number,
  ): Promise<{ svc: RunningCandystore; record: PublishRecord }> => {
    const t = createEmbeddedTransport({ broker });
    const { transport: recording, record } = recordingTransport(t);
    const svc = await startCandystore({
      databaseUrl: url,
      transport: recording,
      ingest: false,
      port: 0,
      host: '127.0.0.1',
      logLevel: 'silent',
      registry: targets.registry,
      ...(leaseMs !== undefined ? { replayLeaseMs: leaseMs } : {}),
      ...(replayMaxRunning !== undefined ? { replayMaxRunning } : {}),
    });
    running.set(svc, t);
    return { svc, record };
  };
  const stop = async (svc: RunningCandystore) => {
    await svc.close();
    await running.get(svc)?.close();
    running.delete(svc);
  };
  const targetQueue = async () => {
    const q = targets.next();
    await transport.assertQueue(q, { durable: false });
    return q;
  };
  const post = (svc: RunningCandystore, body: unknown) => startReplay(svc.url, body);
  const info = async (svc: RunningCandystore, id: string) => json(await fetch(`${svc.url}/replays/${id}`));
  const owner = async (id: string) =>
    (await db.db.query<{ owner: string | null }>('SELECT owner FROM replays WHERE id = $1', [id]))[0]?.owner;
  /** Stores `n` events of type `kind`; returns their ids in position order. */
  const storeEvents = async (kind: string, n: number): Promise<string[]> => {
    const events = Array.from({ length: n }, (_, i) => envelope(kind, { i }));
    await db.append(events.map(newEvent));
    return events.map((e) => e.event_id);
  };
  /** A replay of `n` events at 25/s, stopped by a shutdown after some progress. */
  const leftRunning = async (n: number) => {
    const kind = `test.instances${rid()}.kind`;
    const selected = await storeEvents(kind, n);
    const q = await targetQueue();
    const first = await start();
    const id = await post(first.svc, { filter: { type: kind }, target: { queue: q }, rate_per_second: 25 });
    await waitFor(async () => (await info(first.svc, id)).published >= 5, 10_000, 'progress');
    await stop(first.svc);
    const row = (await db.getReplay(id))!;
    assert.equal(row.status, 'running');
    // a graceful stop records every confirmed publish: the next run starts right after them
    assert.deepEqual(first.record.eventIds, selected.slice(0, row.published));
    return { id, q, selected, resumedAt: row.published };
  };

  test('a replay left running is resumed by exactly one of two instances starting at once', async () => {
    const { id, q, selected, resumedAt } = await leftRunning(40);
    const [a, b] = await Promise.all([start(), start()]);
    await waitFor(async () => (await info(a.svc, id)).status === 'completed', 15_000, 'completed');
    assert.equal((await info(b.svc, id)).published, selected.length);
    const resumers = [a, b].filter((x) => x.record.eventIds.length > 0);
    assert.equal(resumers.length, 1, 'one instance published, the other nothing');
    assert.deepEqual(resumers[0]!.record.eventIds, selected.slice(resumedAt));
    const got = await drainQueue(transport, q, selected.length);
    assertResumedInOrder(
      got.map((d) => JSON.parse(d.body.toString()).event_id),
      selected,
      resumedAt,
    );
    assert.equal(got.length, selected.length, 'a graceful stop leaves nothing to publish twice');
    await stop(a.svc);
    await stop(b.svc);
  });

  test('a replay whose instance died is taken over by one instance, only once its lease has expired', async () => {
    const { id, q, selected, resumedAt } = await leftRunning(30);
    // as a process that died leaves it: owned, with a lease running out in 1.5 s
    await db.db.query(
      "UPDATE replays SET owner = 'dead-instance', lease_until = now() + interval '1.5 seconds' WHERE id = $1",
      [id],
    );
    const [lease] = await db.db.query<{ expires: string }>(
      'SELECT extract(epoch FROM lease_until) * 1000 AS expires FROM replays WHERE id = $1',
      [id],
    );
    const expires = Number(lease!.expires);
    // short leases: the instances look for expired ones every third of a second
    const [a, b] = await Promise.all([start(1_000), start(1_000)]);
    await waitFor(async () => (await info(a.svc, id)).status === 'completed', 15_000, 'completed');
    const resumers = [a, b].filter((x) => x.record.eventIds.length > 0);
    assert.equal(resumers.length, 1, 'one instance published, the other nothing');
    assert.ok(
      resumers[0]!.record.firstAt! >= expires,
      `published ${expires - resumers[0]!.record.firstAt!} ms before the dead instance's lease expired`,
    );
    assert.deepEqual(resumers[0]!.record.eventIds, selected.slice(resumedAt));
    const got = await drainQueue(transport, q, selected.length);
    assertResumedInOrder(
      got.map((d) => JSON.parse(d.body.toString()).event_id),
      selected,
      resumedAt,
    );
    await stop(a.svc);
    await stop(b.svc);
  });

  test('a cancel made through another instance stops the instance running the replay', async () => {
    const kind = `test.instances${rid()}.cancel`;
    const selected = await storeEvents(kind, 60);
    const q = await targetQueue();
    const [a, b] = await Promise.all([start(), start()]);
    const id = await post(a.svc, { filter: { type: kind }, target: { queue: q }, rate_per_second: 20 });
    // b answers from the table for a's replay
    await waitFor(async () => (await info(b.svc, id)).published >= 3, 10_000, 'progress seen by b');
    const del = await fetch(`${b.svc.url}/replays/${id}`, { method: 'DELETE' });
    assert.equal(del.status, 200);
    const cancelled = await json(del);
    assert.equal(cancelled.status, 'cancelled');
    assert.ok(cancelled.finished_at);
    // a notices at its next progress write, stops, records what it published and lets go
    await waitFor(async () => (await owner(id)) === null, 5_000, 'a let go of the replay');
    const end = await info(a.svc, id);
    assert.equal(end.status, 'cancelled');
    const got = await drainQueue(transport, q, end.published, { quietMs: 1_000 });
    assert.equal(got.length, end.published, 'the row counts what was delivered');
    assert.ok(end.published < 30, `${end.published} of ${selected.length} published: stopped early`);
    assert.equal(a.record.eventIds.length, end.published);
    assert.deepEqual(
      got.map((d) => JSON.parse(d.body.toString()).event_id),
      selected.slice(0, end.published),
    );
    assert.equal(b.record.eventIds.length, 0);
    await stop(a.svc);
    await stop(b.svc);
  });

  test('the most replays running at once holds across instances, also for starts racing on both', async () => {
    await db.db.query(
      "UPDATE replays SET status = 'cancelled', finished_at = now() WHERE status = 'running'",
    );
    const kind = `test.instances${rid()}.bounded`;
    await storeEvents(kind, 20);
    const q = await targetQueue();
    const [a, b] = await Promise.all([start(undefined, 2), start(undefined, 2)]);
    const body = { filter: { type: kind }, target: { queue: q }, rate_per_second: 1 };
    const answers = await Promise.all(
      Array.from({ length: 6 }, async (_, i) => {
        const res = await fetch(`${(i % 2 ? a : b).svc.url}/replays`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
        return { status: res.status, body: await json(res) };
      }),
    );
    const accepted = answers.filter((r) => r.status === 202);
    assert.equal(accepted.length, 2, JSON.stringify(answers.map((r) => r.status)));
    for (const r of answers.filter((x) => x.status !== 202)) {
      assert.equal(r.status, 409);
      assert.equal(r.body.code, 'CONFLICT');
    }
    const [counted] = await db.db.query<{ n: string }>(
      "SELECT count(*) AS n FROM replays WHERE status = 'running'",
    );
    assert.equal(Number(counted!.n), 2);
    // a cancel through either instance makes room on the other
    assert.equal(
      (await fetch(`${a.svc.url}/replays/${accepted[0]!.body.id}`, { method: 'DELETE' })).status,
      200,
    );
    const third = await fetch(`${b.svc.url}/replays`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    assert.equal(third.status, 202);
    const thirdId = (await json(third)).id as string;
    for (const id of [accepted[1]!.body.id as string, thirdId]) {
      await fetch(`${a.svc.url}/replays/${id}`, { method: 'DELETE' });
    }
    await stop(a.svc);
    await stop(b.svc);
  });

  test('claims racing on separate connections take each replay exactly once', async () => {
    await db.db.query(
      "UPDATE replays SET status = 'cancelled', finished_at = now() WHERE status = 'running'",
    );
    const ids = Array.from({ length: 60 }, () => randomUUID());
    for (const id of ids) {
      await db.createReplay(
        { id, filter: {}, target: { queue: 'q' }, ratePerSecond: null, headPosition: '0', total: 0 },
        'gone',
        1,
      );
    }
    await new Promise((r) => setTimeout(r, 20));
    const stores = await Promise.all(Array.from({ length: 4 }, () => openStore({ databaseUrl: url })));
    try {
      const claims = await Promise.all(
        stores.flatMap((s, i) =>
          Array.from({ length: 3 }, (_, j) => s.claimReplays(`claimant-${i}-${j}`, 60_000, [])),
        ),
      );
      const claimed = claims.flat().map((r) => r.id);
      assert.equal(claimed.length, ids.length, 'no replay claimed twice');
      assert.deepEqual([...claimed].sort(), [...ids].sort());
    } finally {
      for (const s of stores) await s.close();
    }
  });
});
