// The replays table through the EventStore: the SQL of the lease, progress and outcome,
// on both database backends.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { isAppError } from '@33god/core';
import { type EventStore, optionsFromEnv, startCandystore } from '../src/index.js';
import type { NewReplay } from '../src/storage/types.js';
import { BACKENDS, openTestStore } from './helpers.js';

const LEASE = 60_000;

function newReplay(extra: Partial<NewReplay> = {}): NewReplay {
  return {
    id: randomUUID(),
    filter: { type: 'test.replay.*' },
    target: { queue: 'q' },
    ratePerSecond: null,
    headPosition: '100',
    total: 10,
    ...extra,
  };
}

for (const backend of BACKENDS) {
  describe(`replays table (${backend.name})`, { timeout: 60_000 }, () => {
    let store: EventStore;
    let teardown: () => Promise<void>;
    before(async () => {
      ({ store, teardown } = await openTestStore(backend));
    });
    after(async () => {
      await teardown?.();
    });
    const lease = async (id: string) =>
      (
        await store.db.query<{ owner: string | null; lease_until: Date | null }>(
          'SELECT owner, lease_until FROM replays WHERE id = $1',
          [id],
        )
      )[0]!;

    test('a replay round-trips: the filter (time bounds, payload), target, rate and head', async () => {
      const r = newReplay({
        filter: {
          type: 'test.a.#',
          source: 'app-1',
          correlationId: randomUUID(),
          since: new Date('2024-01-02T03:04:05.678Z'),
          until: new Date('2025-01-01T00:00:00Z'),
          payload: [{ path: ['a', 'b'], values: ["it's", 3, null] }],
          maxPosition: '7',
        },
        target: { exchange: 'x.y' },
        ratePerSecond: 2.5,
        headPosition: '9007199254740993',
        total: 3,
      });
      const created = await store.createReplay(r, 'me', LEASE);
      const { maxPosition: _, ...filter } = r.filter;
      const got = await store.getReplay(r.id);
      assert.ok(got);
      for (const x of [created, got]) {
        assert.deepEqual(x.filter, filter);
        assert.ok(x.filter.since instanceof Date);
        assert.deepEqual(x.target, { exchange: 'x.y' });
        assert.equal(x.ratePerSecond, 2.5);
        assert.equal(x.headPosition, '9007199254740993');
        assert.equal(x.total, 3);
        assert.equal(x.published, 0);
        assert.equal(x.lastPosition, '0');
        assert.equal(x.status, 'running');
        assert.equal(x.finishedAt, null);
        assert.equal(x.error, null);
      }
      assert.equal((await lease(r.id)).owner, 'me');
      assert.equal(await store.getReplay(randomUUID()), null);
    });

    test('only the owner records progress; a cancel through the table ends its lease renewals', async () => {
      const r = newReplay();
      await store.createReplay(r, 'me', LEASE);
      assert.equal(
        await store.recordReplayProgress(r.id, 'other', { published: 9, lastPosition: '90' }, LEASE),
        false,
      );
      assert.equal(
        await store.recordReplayProgress(r.id, 'me', { published: 4, lastPosition: '40' }, LEASE),
        true,
      );
      const mid = await store.getReplay(r.id);
      assert.equal(mid?.published, 4);
      assert.equal(mid?.lastPosition, '40');
      const cancelled = await store.cancelReplay(r.id);
      assert.equal(cancelled?.status, 'cancelled');
      assert.ok(cancelled?.finishedAt);
      assert.equal(
        await store.recordReplayProgress(r.id, 'me', { published: 5, lastPosition: '50' }, LEASE),
        false,
      );
      // the owner's last word: what it published, the status kept, the lease given up
      await store.releaseReplay(r.id, 'me', { published: 6, lastPosition: '60' });
      const end = await store.getReplay(r.id);
      assert.equal(end?.status, 'cancelled');
      assert.equal(end?.published, 6);
      assert.equal((await lease(r.id)).owner, null);
      // a finished replay is not cancelled again
      assert.equal((await store.cancelReplay(r.id))?.finishedAt?.getTime(), end?.finishedAt?.getTime());
      assert.equal(await store.cancelReplay(randomUUID()), null);
    });

    test('retention deletes finished replays that ended before the cutoff, never running ones', async () => {
      const owner = 'pruner';
      const old = await store.createReplay(newReplay(), owner, LEASE);
      const running = await store.createReplay(newReplay(), owner, LEASE);
      const recent = await store.createReplay(newReplay(), owner, LEASE);
      const progress = { published: 10, lastPosition: '100' };
      await store.finishReplay(old.id, owner, progress, 'completed', null);
      await store.finishReplay(recent.id, owner, progress, 'cancelled', null);
      await store.db.query("UPDATE replays SET finished_at = now() - interval '40 days' WHERE id = $1", [
        old.id,
      ]);
      await store.db.query("UPDATE replays SET started_at = now() - interval '40 days' WHERE id = $1", [
        running.id,
      ]);
      const cutoff = new Date(Date.now() - 30 * 24 * 3600_000);
      assert.equal(await store.pruneReplays(cutoff), 1);
      assert.equal(await store.getReplay(old.id), null);
      assert.equal((await store.getReplay(running.id))?.status, 'running');
      assert.equal((await store.getReplay(recent.id))?.status, 'cancelled');
      assert.equal(await store.pruneReplays(cutoff), 0);
    });

    test('finish records the outcome; one cancelled meanwhile stays cancelled', async () => {
      const done = newReplay();
      await store.createReplay(done, 'me', LEASE);
      await store.finishReplay(done.id, 'other', { published: 1, lastPosition: '1' }, 'failed', 'nope');
      assert.equal((await store.getReplay(done.id))?.status, 'running', 'not the owner: no effect');
      await store.finishReplay(done.id, 'me', { published: 10, lastPosition: '99' }, 'completed', null);
      const got = await store.getReplay(done.id);
      assert.equal(got?.status, 'completed');
      assert.equal(got?.published, 10);
      assert.ok(got?.finishedAt);
      assert.equal((await lease(done.id)).owner, null);

      const raced = newReplay();
      await store.createReplay(raced, 'me', LEASE);
      await store.cancelReplay(raced.id);
      await store.finishReplay(raced.id, 'me', { published: 10, lastPosition: '99' }, 'failed', 'broker');
      const r = await store.getReplay(raced.id);
      assert.equal(r?.status, 'cancelled');
      assert.equal(r?.error, null);
      assert.equal(r?.published, 10);
    });

    test('claim: a held lease is not taken; a released or expired one goes to exactly one claimant', async () => {
      await store.db.query(
        "UPDATE replays SET status = 'cancelled', finished_at = now() WHERE status = 'running'",
      );
      const held = newReplay();
      const released = newReplay();
      const expired = newReplay();
      const mine = newReplay();
      await store.createReplay(held, 'a', LEASE);
      await store.createReplay(released, 'a', LEASE);
      await store.createReplay(expired, 'a', 1);
      await store.createReplay(mine, 'b', 1);
      await store.recordReplayProgress(released.id, 'a', { published: 3, lastPosition: '30' }, LEASE);
      await store.releaseReplay(released.id, 'a', { published: 4, lastPosition: '31' });
      await new Promise((r) => setTimeout(r, 20));
      const first = await store.claimReplays('b', LEASE, [mine.id]);
      assert.deepEqual(first.map((r) => r.id).sort(), [released.id, expired.id].sort());
      const r = first.find((x) => x.id === released.id)!;
      assert.equal(r.published, 4);
      assert.equal(r.lastPosition, '31');
      assert.equal((await lease(held.id)).owner, 'a');
      assert.equal((await lease(released.id)).owner, 'b');
      assert.equal((await lease(expired.id)).owner, 'b');
      // b's own lapsed lease is kept from b only while b says it runs it: anyone else takes it
      assert.deepEqual(
        (await store.claimReplays('c', LEASE, [])).map((x) => x.id),
        [mine.id],
      );
      assert.deepEqual(await store.claimReplays('d', LEASE, []), [], 'nothing left to claim');
    });

    test('the status is one of the four, and a running replay has no finish time', async () => {
      const r = newReplay();
      await store.createReplay(r, 'me', LEASE);
      await assert.rejects(store.db.query("UPDATE replays SET status = 'paused' WHERE id = $1", [r.id]));
      await assert.rejects(store.db.query('UPDATE replays SET finished_at = now() WHERE id = $1', [r.id]));
    });
  });
}

test('a replay lease too short for its renewals is refused before anything is opened', async () => {
  for (const replayLeaseMs of [0, 999, 1500.5]) {
    await assert.rejects(
      startCandystore({ replayLeaseMs, port: 0, logLevel: 'silent' }),
      (err) => isAppError(err) && err.code === 'CONFIG_INVALID',
      String(replayLeaseMs),
    );
  }
});

test('CANDYSTORE_REPLAY_LEASE_MS sets the lease; a value under a second is refused', () => {
  assert.equal(optionsFromEnv({}).replayLeaseMs, 15_000);
  assert.equal(optionsFromEnv({ CANDYSTORE_REPLAY_LEASE_MS: '20000' }).replayLeaseMs, 20_000);
  for (const bad of ['999', 'soon', '-5']) {
    assert.throws(
      () => optionsFromEnv({ CANDYSTORE_REPLAY_LEASE_MS: bad }),
      (err) => isAppError(err) && err.code === 'CONFIG_INVALID',
      bad,
    );
  }
});
