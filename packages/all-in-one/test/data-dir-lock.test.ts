import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { isAppError } from '@33god/core';
import { LOCK_FILE, type LockOwner, lockDataDir, newOwner, takeOver } from '../src/data-dir-lock.js';

/** The lock of an `npm start` that was killed: its pid no longer runs here. */
function deadOwner(): LockOwner {
  const { pid } = spawnSync(process.execPath, ['-e', '']);
  return { pid: pid!, host: hostname(), since: new Date().toISOString(), id: `dead${pid}` };
}

function plant(path: string, owner: LockOwner): void {
  writeFileSync(path, JSON.stringify(owner));
}

function ownerOf(path: string): LockOwner {
  return JSON.parse(readFileSync(path, 'utf8')) as LockOwner;
}

const isConflict = (pid: number) => (err: unknown) =>
  isAppError(err) && err.code === 'CONFLICT' && err.message.includes(`pid ${pid} on host ${hostname()}`);

describe('data directory lock', () => {
  let dir: string;
  let path: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'data-dir-lock-'));
    path = join(dir, LOCK_FILE);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('has one owner at a time and is gone once released', async () => {
    const lock = await lockDataDir(join(dir, 'new'));
    assert.equal(ownerOf(lock.path).pid, process.pid);
    await assert.rejects(lockDataDir(join(dir, 'new')), isConflict(process.pid));
    await lock.release();
    assert.equal(existsSync(lock.path), false);
    const again = await lockDataDir(join(dir, 'new'));
    await again.release();
  });

  it('takes over a lock whose owner is gone', async () => {
    plant(path, deadOwner());
    const lock = await lockDataDir(dir);
    assert.equal(ownerOf(path).id, lock.owner.id);
    await lock.release();
    assert.deepEqual(readdirSync(dir), [], 'no claim or temporary file left behind');
  });

  it('refuses a lock of a live process, and one held on another host', async () => {
    plant(path, { ...newOwner(), pid: process.ppid, id: 'parent' });
    await assert.rejects(lockDataDir(dir), isConflict(process.ppid));
    plant(path, { ...deadOwner(), host: 'elsewhere.example' });
    await assert.rejects(
      lockDataDir(dir),
      (err: unknown) =>
        isAppError(err) && /on host elsewhere\.example.*remove .*stack\.lock/.test(err.message),
    );
  });

  it('two starts racing to take over one stale lock: one wins', async () => {
    for (let round = 0; round < 20; round++) {
      plant(path, deadOwner());
      const results = await Promise.allSettled([lockDataDir(dir), lockDataDir(dir)]);
      const won = results.filter((r) => r.status === 'fulfilled');
      assert.equal(won.length, 1, `round ${round}: ${results.map((r) => r.status).join(', ')}`);
      const winner = (won[0] as PromiseFulfilledResult<Awaited<ReturnType<typeof lockDataDir>>>).value;
      const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      assert.ok(isConflict(process.pid)(lost.reason), String(lost.reason));
      assert.equal(ownerOf(path).id, winner.owner.id);
      await winner.release();
    }
  });

  it('a start that read the stale lock before another took it over does not replace the new owner', async () => {
    const stale = deadOwner();
    plant(path, stale);
    // two other starts, alive (a pid that runs)
    const first = { ...newOwner(), pid: process.ppid };
    const late = { ...newOwner(), pid: process.ppid };
    // both read `stale`; the first finishes its takeover before the late one acts on what it read
    assert.equal(await takeOver(path, stale, first), true);
    assert.equal(await takeOver(path, stale, late), false);
    assert.equal(ownerOf(path).id, first.id);
    // and at the same time: exactly one of the two replaces it
    plant(path, stale);
    const both = await Promise.all(
      [takeOver(path, stale, first), takeOver(path, stale, late)].map((p) => p.catch(() => false)),
    );
    assert.deepEqual(both.filter(Boolean), [true]);
    assert.ok([first.id, late.id].includes(ownerOf(path).id));
  });

  it('a takeover killed half-way is itself taken over', async () => {
    const stale = deadOwner();
    plant(path, stale);
    plant(`${path}.${stale.id}`, deadOwner()); // the right to replace it, held by a dead start
    const lock = await lockDataDir(dir);
    assert.equal(ownerOf(path).id, lock.owner.id);
    await lock.release();
    assert.deepEqual(readdirSync(dir), []);
  });

  it('refuses a lock file it did not write, naming it', async () => {
    writeFileSync(path, 'not json');
    await assert.rejects(
      lockDataDir(dir),
      (err: unknown) => isAppError(err) && err.code === 'CONFLICT' && err.message.includes(path),
    );
  });
});
