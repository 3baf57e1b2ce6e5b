import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { buildHealthServer, DispatchStateStore, type DispatchStats } from '@33god/infra-dispatcher';

const dir = mkdtempSync(join(tmpdir(), 'infra-health-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const stats: DispatchStats = {
  handled: 3,
  dispatched: 1,
  skipped: 1,
  ignored: 0,
  failed: 1,
  lastDispatch: { at: '2026-11-22T19:00:00.000Z', issue_id: 'i-1', ticket: 'INFRA-1' },
  lastError: { at: '2026-11-22T19:01:00.000Z', message: 'OpenClaw answered 400' },
};

describe('/health', { timeout: 10_000 }, () => {
  it('is 200 when the bus is connected and the state file writable, with the last dispatch and error', async () => {
    const state = await DispatchStateStore.open(join(dir, 'ok', 'state.json'));
    const app = buildHealthServer({ busState: () => 'connected', state, stats, queue: 'q' }, 'silent');
    const res = await app.inject({ method: 'GET', url: '/health' });
    assert.equal(res.statusCode, 200);
    const body = res.json();
    assert.equal(body.status, 'ok');
    assert.deepEqual(body.last_dispatch, stats.lastDispatch);
    assert.equal(body.last_error.message, 'OpenClaw answered 400');
    await app.close();
  });

  it('is 503 when the bus is down', async () => {
    const state = await DispatchStateStore.open(join(dir, 'down', 'state.json'));
    const app = buildHealthServer({ busState: () => 'disconnected', state, stats, queue: 'q' }, 'silent');
    const res = await app.inject({ method: 'GET', url: '/health' });
    assert.equal(res.statusCode, 503);
    assert.equal(res.json().bus.state, 'disconnected');
    await app.close();
  });

  it('is 503 when the state file cannot be written', async () => {
    const state = await DispatchStateStore.open(join(dir, 'blocked', 'state.json'));
    writeFileSync(join(dir, 'blocked'), 'a file where the directory should be');
    const app = buildHealthServer({ busState: () => 'connected', state, stats, queue: 'q' }, 'silent');
    const res = await app.inject({ method: 'GET', url: '/health' });
    assert.equal(res.statusCode, 503);
    assert.equal(res.json().state_file.writable, false);
    await app.close();
  });

  it('answers unknown paths with problem+json', async () => {
    const state = await DispatchStateStore.open(join(dir, 'nf', 'state.json'));
    const app = buildHealthServer({ busState: () => 'connected', state, stats, queue: 'q' }, 'silent');
    const res = await app.inject({ method: 'GET', url: '/nope' });
    assert.equal(res.statusCode, 404);
    assert.match(String(res.headers['content-type']), /application\/problem\+json/);
    assert.equal(res.json().code, 'NOT_FOUND');
    await app.close();
  });
});
