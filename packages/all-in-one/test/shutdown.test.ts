import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { interruptHandler } from '../src/interrupts.js';
import { npmStart } from './npm-start.js';

describe('interruptHandler', () => {
  it('counts signals within the burst window as one, a later one as a second interrupt', () => {
    let t = 0;
    const calls: string[] = [];
    const handle = interruptHandler(
      () => calls.push('first'),
      () => calls.push('second'),
      1000,
      () => t,
    );
    handle();
    t = 5;
    handle(); // the same stop request, delivered again
    t = 1000;
    handle();
    assert.deepEqual(calls, ['first']);
    t = 1001;
    handle();
    assert.deepEqual(calls, ['first', 'second']);
  });
});

// The README's first command, stopped the way systemd (KillMode=control-group) or coreutils
// `timeout` stop it: SIGTERM to every process of the group. npm and the launcher pass the
// signal on as well, so the stack's process gets it more than once, milliseconds apart; it
// must still shut down cleanly rather than take a copy for a second Ctrl-C.
describe('npm start under a process manager', { timeout: 180_000 }, () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'shutdown-test-'));
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  it('finishes the clean shutdown', async () => {
    const { child, io, closed } = npmStart(
      {
        LOG_LEVEL: 'info',
        STACK_DATA_DIR: dataDir,
        BLOODBANK_PORT: '0',
        CANDYSTORE_PORT: '0',
        CANDYBAR_PORT: '0',
        INFRA_DISPATCHER_PORT: '0',
      },
      true, // its own process group, as under a process manager
    );
    try {
      const deadline = Date.now() + 150_000;
      while (!io.out.includes('Ctrl-C stops everything.')) {
        if (child.exitCode !== null) assert.fail(`npm start exited early:\n${io.out}\n${io.err}`);
        if (Date.now() > deadline) assert.fail(`npm start did not come up:\n${io.out}\n${io.err}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      // every part on the port its variable names (0: any free one), the dashboard included
      const dashboard = /dashboard \(Candybar\)\s+(http:\/\/\S+)/.exec(io.out)?.[1];
      assert.ok(dashboard && !dashboard.endsWith(':3000'), `CANDYBAR_PORT=0 taken: ${dashboard}`);
      assert.equal((await fetch(dashboard)).status, 200);
      // the banner says where the parts really listen: loopback only, by default
      assert.match(io.out, /^listening on 127\.0\.0\.1; no tokens configured$/m);
      process.kill(-child.pid!, 'SIGTERM');
      // npm, killed by the signal itself, has no exit code to report; the output closes
      // once the stack's process has finished
      await closed;
      assert.doesNotMatch(io.err, /second interrupt/);
      assert.match(io.out, /stopping: finishing in-flight events/);
      assert.match(io.out, /\nstopped\.\n/);
      // the parts' logs as readable lines (LOG_FORMAT=pretty, the default), none as raw JSON
      assert.match(
        io.out,
        /^\[\d\d:\d\d:\d\d\] INFO \(candystore\): Server listening at http:\/\/127\.0\.0\.1:\d+$/m,
      );
      assert.doesNotMatch(io.out, /^\{"level"/m);
    } finally {
      if (child.exitCode === null) process.kill(-child.pid!, 'SIGKILL');
    }
  });
});

describe('npm start with a bad LOG_FORMAT', { timeout: 180_000 }, () => {
  it('refuses it with a clear message, no stack trace', async () => {
    const { io, closed } = npmStart({ LOG_FORMAT: 'xml' });
    const code = await closed;
    const out = io.out + io.err;
    assert.equal(code, 1, out);
    assert.match(out, /LOG_FORMAT must be one of pretty, json, got 'xml'/);
    assert.doesNotMatch(out, /\n\s+at /);
  });
});
