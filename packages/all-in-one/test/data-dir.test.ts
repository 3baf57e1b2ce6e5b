import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { LOCK_FILE } from '../src/data-dir-lock.js';
import { npmStart, untilUp } from './npm-start.js';

// Two `npm start` on one data directory would open one PGlite database twice. The second is
// refused at once; a lock left by a killed one is taken over; a clean stop removes it.
describe('npm start owns its data directory', { timeout: 400_000 }, () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'data-dir-test-'));
  const lockPath = join(dataDir, LOCK_FILE);
  const started: ReturnType<typeof npmStart>[] = [];
  const start = () => {
    const run = npmStart(
      {
        LOG_LEVEL: 'info',
        STACK_DATA_DIR: dataDir,
        BLOODBANK_PORT: '0',
        CANDYSTORE_PORT: '0',
        CANDYBAR_PORT: '0',
        INFRA_DISPATCHER_PORT: '0',
      },
      true, // its own process group, so that it can be killed whole
    );
    started.push(run);
    return run;
  };
  const lockPid = () => (JSON.parse(readFileSync(lockPath, 'utf8')) as { pid: number }).pid;
  const dashboardOf = (out: string) => /dashboard \(Candybar\)\s+(http:\/\/\S+)/.exec(out)?.[1];
  after(() => {
    for (const { child } of started) {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {} // already gone
    }
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('refuses a second start, takes over after a kill, and frees the directory on a clean stop', async () => {
    const first = start();
    await untilUp(first);
    const owner = lockPid();
    process.kill(owner, 0); // the lock names a process that runs

    const second = start();
    const code = await second.closed;
    const out = second.io.out + second.io.err;
    assert.notEqual(code, 0, out);
    const refusals = second.io.err.split('\n').filter((l) => l.startsWith('error CONFLICT'));
    assert.equal(refusals.length, 1, out);
    assert.ok(
      refusals[0]!.includes(
        `data directory ${dataDir} is in use by another \`npm start\` (pid ${owner} on host ${hostname()}`,
      ),
      refusals[0],
    );
    assert.doesNotMatch(out, /\n\s+at /, 'no stack trace');
    assert.doesNotMatch(out, /Server listening at/, 'nothing of the second one started');
    // the first one runs on, undisturbed
    assert.equal(first.child.exitCode, null);
    assert.equal((await fetch(dashboardOf(first.io.out)!)).status, 200);

    // killed with no chance to clean up: its lock stays, naming a pid that is gone
    process.kill(-first.child.pid!, 'SIGKILL');
    await first.closed;
    assert.equal(lockPid(), owner);

    const third = start();
    await untilUp(third);
    assert.notEqual(lockPid(), owner);
    assert.equal((await fetch(dashboardOf(third.io.out)!)).status, 200);
    process.kill(-third.child.pid!, 'SIGTERM');
    await third.closed;
    assert.match(third.io.out, /\nstopped\.\n/);
    assert.equal(existsSync(lockPath), false, 'a clean stop removes the lock');
  });
});
