import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { resolveDispatcherConfig, runCheck, runComponentCheck } from '@33god/infra-dispatcher';

const dir = mkdtempSync(join(tmpdir(), 'infra-checks-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A pid is gone when signalling it fails or it is a zombie waiting to be reaped. */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

async function waitGone(pid: number, ms = 3000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return !isAlive(pid);
}

async function readPid(file: string): Promise<number> {
  const deadline = Date.now() + 3000;
  while (!existsSync(file) || readFileSync(file, 'utf8').trim() === '') {
    if (Date.now() > deadline) throw new Error(`${file} never written`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return Number(readFileSync(file, 'utf8').trim());
}

describe('component checks', { timeout: 30_000 }, () => {
  it('reports a passing command with its exit code, duration and output', async () => {
    const r = await runCheck({
      component: 'c',
      command: 'echo hello; echo oops >&2',
      cwd: dir,
      timeoutMs: 5000,
    });
    assert.equal(r.status, 'passed');
    assert.equal(r.exit_code, 0);
    assert.equal(r.timed_out, false);
    assert.match(r.output_tail, /hello/);
    assert.match(r.output_tail, /oops/);
    assert.ok(r.duration_ms >= 0);
  });

  it('reports a failing command with its exit code', async () => {
    const r = await runCheck({ component: 'c', command: 'echo broken; exit 3', cwd: dir, timeoutMs: 5000 });
    assert.equal(r.status, 'failed');
    assert.equal(r.exit_code, 3);
    assert.match(r.output_tail, /broken/);
  });

  it('keeps only the tail of long output', async () => {
    const r = await runCheck({
      component: 'c',
      command: `node -e "for (let i = 0; i < 5000; i++) console.log('line ' + i)"`,
      cwd: dir,
      timeoutMs: 10_000,
      tailBytes: 1024,
    });
    assert.equal(r.status, 'passed');
    assert.ok(Buffer.byteLength(r.output_tail) <= 1024);
    assert.match(r.output_tail, /line 4999\n$/);
    assert.doesNotMatch(r.output_tail, /line 10\n/);
  });

  it('kills a check that runs over its timeout, with every process it started', async () => {
    const pidFile = join(dir, 'sleeper.pid');
    let pgid = 0;
    const r = await runCheck({
      component: 'slow',
      command: `echo started; sleep 30 & echo $! > ${pidFile}; wait`,
      cwd: dir,
      timeoutMs: 400,
      killGraceMs: 2000,
      onStart: (p) => {
        pgid = p;
      },
    });
    assert.equal(r.status, 'timeout');
    assert.equal(r.timed_out, true);
    assert.match(r.reason ?? '', /timed out after 400 ms/);
    assert.match(r.output_tail, /started/);
    const sleeper = await readPid(pidFile);
    assert.ok(await waitGone(sleeper), `the grandchild ${sleeper} is still running`);
    assert.ok(await waitGone(pgid), `the shell ${pgid} is still running`);
  });

  it('escalates to SIGKILL when the check ignores SIGTERM', async () => {
    const pidFile = join(dir, 'stubborn.pid');
    const r = await runCheck({
      component: 'stubborn',
      command: `trap '' TERM; sleep 30 & echo $! > ${pidFile}; wait; wait`,
      cwd: dir,
      timeoutMs: 300,
      killGraceMs: 300,
    });
    assert.equal(r.status, 'timeout');
    assert.match(r.reason ?? '', /SIGKILL/);
    const sleeper = await readPid(pidFile);
    assert.ok(await waitGone(sleeper), `the grandchild ${sleeper} survived SIGKILL of its group`);
  });

  it('reports a working directory that does not exist without running anything', async () => {
    const r = await runCheck({ component: 'c', command: 'true', cwd: join(dir, 'missing'), timeoutMs: 1000 });
    assert.equal(r.status, 'error');
    assert.match(r.reason ?? '', /does not exist/);
  });

  it('runs the configured check for the component, relative to the checks root', async () => {
    const cfg = resolveDispatcherConfig({
      checksRoot: dir,
      checks: {
        bloodbank: { command: 'pwd; echo $CHECK_FLAG', cwd: '.', env: { CHECK_FLAG: 'set-by-config' } },
      },
    });
    const r = await runComponentCheck(cfg, 'BloodBank');
    assert.equal(r.status, 'passed');
    assert.ok('output_tail' in r);
    assert.match(r.output_tail, /set-by-config/);
    assert.equal((await runComponentCheck(cfg, undefined)).status, 'no_component');
    assert.equal((await runComponentCheck(cfg, 'candybar')).status, 'not_configured');
    assert.equal((await runComponentCheck({ ...cfg, runChecks: false }, 'bloodbank')).status, 'disabled');
  });
});
