import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { AccessGuard, accessConfigFromEnv, isAppError, OPEN_ACCESS } from '@33god/core';
import {
  buildHealthServer,
  type CliIo,
  configFromEnv,
  DispatchStateStore,
  type DispatchStats,
  main,
  startDispatcher,
} from '@33god/infra-dispatcher';

// The dispatcher's one HTTP server (/health): loopback unless tokens are configured, and then
// its report (state file path, queue, last error) only for a caller with a token.

const dir = mkdtempSync(join(tmpdir(), 'infra-access-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const stats: DispatchStats = {
  handled: 1,
  dispatched: 1,
  skipped: 0,
  ignored: 0,
  failed: 0,
  lastDispatch: null,
  lastError: { at: '2026-11-22T19:01:00.000Z', message: 'OpenClaw answered 400' },
};

const guarded = () => new AccessGuard(accessConfigFromEnv({ AUTH_TOKENS: 'ops-token=ops:operate' }));

describe('dispatcher /health with tokens configured', { timeout: 10_000 }, () => {
  it('gives anonymous callers the status alone, and a token holder the report', async () => {
    const state = await DispatchStateStore.open(join(dir, 'trim', 'state.json'));
    const app = buildHealthServer(
      { busState: () => 'connected', state, stats, queue: 'q' },
      'silent',
      guarded(),
    );
    try {
      const anon = await app.inject({ method: 'GET', url: '/health' });
      assert.equal(anon.statusCode, 200);
      assert.deepEqual(anon.json(), { status: 'ok' });
      const full = await app.inject({
        method: 'GET',
        url: '/health',
        headers: { authorization: 'Bearer ops-token' },
      });
      assert.equal(full.json().state_file.path, join(dir, 'trim', 'state.json'));
      assert.equal(full.json().last_error.message, 'OpenClaw answered 400');
      // a bad token on a public route is simply anonymous
      const bad = await app.inject({
        method: 'GET',
        url: '/health',
        headers: { authorization: 'Bearer nope' },
      });
      assert.deepEqual(bad.json(), { status: 'ok' });
    } finally {
      await app.close();
    }
  });

  it('keeps the status code when degraded', async () => {
    const state = await DispatchStateStore.open(join(dir, 'down', 'state.json'));
    const app = buildHealthServer(
      { busState: () => 'disconnected', state, stats, queue: 'q' },
      'silent',
      guarded(),
    );
    try {
      const anon = await app.inject({ method: 'GET', url: '/health' });
      assert.equal(anon.statusCode, 503);
      assert.deepEqual(anon.json(), { status: 'degraded' });
    } finally {
      await app.close();
    }
  });

  it('closes every other path: 401 with WWW-Authenticate, and 421 for a foreign Host', async () => {
    const state = await DispatchStateStore.open(join(dir, 'closed', 'state.json'));
    const app = buildHealthServer(
      { busState: () => 'connected', state, stats, queue: 'q' },
      'silent',
      guarded(),
    );
    try {
      const other = await app.inject({ method: 'GET', url: '/status' });
      assert.equal(other.statusCode, 401);
      assert.match(String(other.headers['www-authenticate']), /^Bearer\b/);
      assert.equal(other.json().code, 'UNAUTHORIZED');
      const evil = await app.inject({ method: 'GET', url: '/health', headers: { host: 'evil.example' } });
      assert.equal(evil.statusCode, 421);
    } finally {
      await app.close();
    }
  });
});

function captureIo(): CliIo & { errText: string[] } {
  const errText: string[] = [];
  return { errText, out: () => {}, err: (l) => errText.push(l) };
}

describe('dispatcher bind', { timeout: 60_000 }, () => {
  it('listens on 127.0.0.1 by default (INFRA_DISPATCHER_HOST)', async () => {
    assert.equal(configFromEnv({}).host, '127.0.0.1');
    assert.equal(configFromEnv({ INFRA_DISPATCHER_HOST: '::1' }).host, '::1');
    const d = await startDispatcher({
      config: { hookToken: 't', statePath: join(dir, 'default', 'state.json') },
      port: 0,
      logLevel: 'silent',
    });
    try {
      assert.deepEqual(
        d.addresses.map((a) => a.address),
        ['127.0.0.1'],
      );
      assert.equal(d.url, `http://127.0.0.1:${d.port}`);
    } finally {
      await d.close();
    }
  });

  it('refuses every interface without tokens, before opening anything, naming what to set', async () => {
    const statePath = join(dir, 'refused', 'state.json');
    await assert.rejects(
      startDispatcher({
        config: { hookToken: 't', statePath },
        host: '0.0.0.0',
        port: 0,
        logLevel: 'silent',
      }),
      (err: unknown) => {
        assert.ok(isAppError(err));
        assert.equal(err.code, 'CONFIG_INVALID');
        for (const name of ['AUTH_TOKENS', 'INFRA_DISPATCHER_HOST', 'ALLOW_UNAUTHENTICATED']) {
          assert.ok(err.message.includes(name), `names ${name}: ${err.message}`);
        }
        return true;
      },
    );
    assert.equal(existsSync(join(dir, 'refused')), false, 'no state file was opened');
    const io = captureIo();
    const code = await main(
      ['serve'],
      { OPENCLAW_HOOK_TOKEN: 't', INFRA_DISPATCHER_HOST: '0.0.0.0', INFRA_DISPATCH_STATE_PATH: statePath },
      io,
    );
    assert.equal(code, 1);
    assert.match(
      io.errText.join('\n'),
      /^error CONFIG_INVALID: .*Infra Dispatcher would listen on every interface \(0\.0\.0\.0\)/m,
    );
  });

  it('with tokens it listens on every interface, and the Host check knows its names', async () => {
    const d = await startDispatcher({
      config: { hookToken: 't', statePath: join(dir, 'wide', 'state.json') },
      host: '0.0.0.0',
      port: 0,
      access: accessConfigFromEnv({ AUTH_TOKENS: 'r=reader:read' }),
      logLevel: 'silent',
    });
    try {
      assert.deepEqual(
        d.addresses.map((a) => a.address),
        ['0.0.0.0'],
      );
      const anon = await fetch(`${d.url}/health`);
      assert.deepEqual(Object.keys((await anon.json()) as object), ['status']);
      const full = await fetch(`${d.url}/health`, { headers: { authorization: 'Bearer r' } });
      assert.ok('state_file' in ((await full.json()) as object));
    } finally {
      await d.close();
    }
  });

  it('with ALLOW_UNAUTHENTICATED=true it listens on every interface without tokens', async () => {
    const d = await startDispatcher({
      config: { hookToken: 't', statePath: join(dir, 'open', 'state.json') },
      host: '0.0.0.0',
      port: 0,
      access: { ...OPEN_ACCESS, allowUnauthenticated: true },
      logLevel: 'silent',
    });
    try {
      assert.ok('state_file' in ((await (await fetch(`${d.url}/health`)).json()) as object));
    } finally {
      await d.close();
    }
  });
});
