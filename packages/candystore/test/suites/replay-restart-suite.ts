// Replays across a restart of the service on the same database, run by
// replay-restart.test.ts (embedded broker) and replay-restart.rabbitmq.test.ts.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Transport } from '@33god/bloodbank';
import { openStore, type RunningCandystore, startCandystore } from '../../src/index.js';
import {
  assertResumedInOrder,
  type DurableBackend,
  drainQueue,
  envelope,
  json,
  newEvent,
  replayTargetPool,
  rid,
  startReplay,
  waitFor,
} from '../helpers.js';

/** A database that outlives the service (PGlite: a data directory, not memory). */
/** New connections to one broker that outlives the service. */
export interface BrokerFactory {
  name: string;
  connect(): Promise<Transport>;
}

export function replayRestartSuite(backend: DurableBackend, broker: BrokerFactory): void {
  describe(`replays across a restart (${backend.name}, ${broker.name})`, { timeout: 120_000 }, () => {
    let options: { databaseUrl?: string; dataDir?: string };
    let teardown: () => Promise<void>;
    let transport: Transport;
    const queues: string[] = [];
    const running = new Map<RunningCandystore, Transport>();
    const targets = replayTargetPool();

    before(async () => {
      ({ options, teardown } = await backend.setup());
      transport = await broker.connect();
    });
    after(async () => {
      for (const svc of running.keys()) await stop(svc);
      for (const q of queues) await transport?.deleteQueue(q).catch(() => {});
      await transport?.close();
      await teardown?.();
    });

    const start = async (): Promise<RunningCandystore> => {
      const t = await broker.connect();
      const svc = await startCandystore({
        ...options,
        transport: t,
        ingest: false,
        port: 0,
        host: '127.0.0.1',
        logLevel: 'silent',
        registry: targets.registry,
      });
      running.set(svc, t);
      return svc;
    };
    const stop = async (svc: RunningCandystore) => {
      await svc.close();
      await running.get(svc)?.close();
      running.delete(svc);
    };
    const targetQueue = async () => {
      const q = targets.next();
      await transport.assertQueue(q, { durable: false });
      queues.push(q);
      return q;
    };
    const post = (svc: RunningCandystore, body: unknown) => startReplay(svc.url, body);
    const info = async (svc: RunningCandystore, id: string) => {
      const res = await fetch(`${svc.url}/replays/${id}`);
      assert.equal(res.status, 200);
      return json(res);
    };
    /** Stores `n` events, two in three of type `kind`; returns the ids of those, in order. */
    const store = async (svc: RunningCandystore, kind: string, n: number): Promise<string[]> => {
      const events = Array.from({ length: n }, (_, i) =>
        envelope(i % 3 === 0 ? `${kind}-other` : kind, { i }),
      );
      await svc.store.append(events.map(newEvent));
      return events.filter((e) => e.event_type === kind).map((e) => e.event_id);
    };

    test('finished replays are still answered after the service restarts, and are not run again', async () => {
      const svc1 = await start();
      const kind = `test.restart${rid()}.done`;
      const selected = await store(svc1, kind, 30);
      const q = await targetQueue();
      const done = await post(svc1, { filter: { type: kind }, target: { queue: q } });
      await waitFor(async () => (await info(svc1, done)).status === 'completed', 15_000, 'completed');
      const completed = await info(svc1, done);
      assert.equal(completed.published, selected.length);
      const stopped = await post(svc1, { filter: { type: kind }, target: { queue: q }, rate_per_second: 10 });
      await new Promise((r) => setTimeout(r, 250));
      const del = await fetch(`${svc1.url}/replays/${stopped}`, { method: 'DELETE' });
      const cancelled = await json(del);
      assert.equal(cancelled.status, 'cancelled');
      await stop(svc1);

      const svc2 = await start();
      assert.deepEqual(await info(svc2, done), completed);
      assert.deepEqual(await info(svc2, stopped), cancelled);
      const unknown = await fetch(`${svc2.url}/replays/${crypto.randomUUID()}`);
      assert.equal(unknown.status, 404);
      assert.equal((await json(unknown)).code, 'REPLAY_NOT_FOUND');
      assert.equal((await fetch(`${svc2.url}/replays/nope`)).status, 400);
      // nothing was resumed: the queue holds the two runs' copies and no more
      const got = await drainQueue(transport, q, selected.length + cancelled.published, { quietMs: 500 });
      assert.equal(got.length, selected.length + cancelled.published);
      await stop(svc2);
    });

    test('a replay stopped by close() stays running with its progress, and the next start finishes it', async () => {
      const svc1 = await start();
      const kind = `test.restart${rid()}.slow`;
      const selected = await store(svc1, kind, 60);
      const q = await targetQueue();
      const id = await post(svc1, { filter: { type: kind }, target: { queue: q }, rate_per_second: 25 });
      // the table shows progress while the replay runs
      await waitFor(async () => (await info(svc1, id)).published >= 8, 10_000, 'progress recorded');
      await stop(svc1);

      const between = await openStore(options);
      const row = await between.getReplay(id);
      const [lease] = await between.db.query<{ owner: string | null }>(
        'SELECT owner FROM replays WHERE id = $1',
        [id],
      );
      await between.close();
      assert.equal(row?.status, 'running', 'not cancelled by close()');
      assert.equal(row?.finishedAt, null);
      assert.equal(lease?.owner, null, 'the lease was given up');
      const resumedAt = row!.published;
      assert.ok(
        resumedAt >= 8 && resumedAt < selected.length,
        `stopped after ${resumedAt} of ${selected.length}`,
      );

      const svc2 = await start();
      await waitFor(
        async () => (await info(svc2, id)).status === 'completed',
        15_000,
        'completed after the restart',
      );
      const end = await info(svc2, id);
      assert.equal(end.total, selected.length);
      assert.equal(end.published, selected.length);
      const got = await drainQueue(transport, q, selected.length);
      assert.ok(got.every((d) => d.properties.headers?.['x-replay-id'] === id));
      assertResumedInOrder(
        got.map((d) => JSON.parse(d.body.toString()).event_id),
        selected,
        resumedAt,
      );
      await stop(svc2);
    });
  });
}
