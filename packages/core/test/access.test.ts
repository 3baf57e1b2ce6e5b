import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  AccessGuard,
  type AccessRequest,
  accessConfigFromEnv,
  hostOf,
  isAppError,
  isLoopbackHost,
  OPEN_ACCESS,
  parseTokenEntries,
  routeAccess,
} from '@33god/core';

const TOKENS = 'pub-token=svc-a:publish,read-token=alice:read,ops-token=bob:read+operate';

function guardWith(env: NodeJS.ProcessEnv = { AUTH_TOKENS: TOKENS }) {
  return new AccessGuard(accessConfigFromEnv(env));
}

function req(method: string, headers: Record<string, string> = {}): AccessRequest {
  return { method, headers: { host: '127.0.0.1:8080', ...headers } };
}

function refusal(fn: () => unknown): { code: string; status: number; message: string } {
  try {
    fn();
  } catch (err) {
    assert.ok(isAppError(err), `expected an AppError, got ${String(err)}`);
    return { code: err.code, status: err.status, message: err.message };
  }
  assert.fail('expected a refusal');
}

describe('token configuration', () => {
  it('parses principals and scopes, inline and from a file, and the legacy publish tokens', () => {
    const dir = mkdtempSync(join(tmpdir(), 'access-'));
    try {
      const file = join(dir, 'tokens');
      writeFileSync(file, '# ops\nfile-token=carol:read+operate\n\n');
      const config = accessConfigFromEnv({
        AUTH_TOKENS: 'a=alice:read',
        AUTH_TOKENS_FILE: file,
        BLOODBANK_AUTH_TOKENS: 'legacy=svc-b',
      });
      const g = new AccessGuard(config);
      assert.deepEqual([...(g.lookup('a')?.scopes ?? [])], ['read']);
      assert.equal(g.lookup('file-token')?.name, 'carol');
      assert.deepEqual([...(g.lookup('legacy')?.scopes ?? [])], ['publish']);
      assert.equal(g.lookup('nope'), undefined);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses malformed entries and unknown scopes without echoing the token', () => {
    const bad = refusal(() => parseTokenEntries('s3cret-value=alice', 'AUTH_TOKENS'));
    assert.equal(bad.code, 'CONFIG_INVALID');
    assert.doesNotMatch(bad.message, /s3cret-value/);
    const scope = refusal(() => parseTokenEntries('s3cret-value=alice:admin', 'AUTH_TOKENS'));
    assert.match(scope.message, /unknown scope 'admin'/);
    assert.doesNotMatch(scope.message, /s3cret-value/);
    const file = refusal(() => accessConfigFromEnv({ AUTH_TOKENS_FILE: '/nonexistent/tokens' }));
    assert.match(file.message, /AUTH_TOKENS_FILE: cannot read/);
  });

  it('refuses one token given to two principals', () => {
    const r = refusal(() => guardWith({ AUTH_TOKENS: 'same=alice:read,same=bob:read' }));
    assert.equal(r.code, 'CONFIG_INVALID');
  });
});

describe('the guard', () => {
  it('lets everything through without tokens, but still checks Host and Origin', () => {
    const g = new AccessGuard(OPEN_ACCESS);
    assert.equal(g.enabled, false);
    assert.equal(g.check(req('GET'), 'read'), null);
    assert.equal(refusal(() => g.check(req('GET', { host: 'evil.example' }), 'read')).status, 421);
    const ws = req('GET', { upgrade: 'websocket', origin: 'http://evil.example' });
    assert.equal(refusal(() => g.check(ws, 'read')).code, 'ORIGIN_NOT_ALLOWED');
  });

  it('answers 401 without a token, 401 for a bad one, 403 without the scope', () => {
    const g = guardWith();
    assert.equal(refusal(() => g.check(req('GET'), 'read')).status, 401);
    const bad = { authorization: 'Bearer wrong' };
    assert.equal(refusal(() => g.check(req('GET', bad), 'read')).status, 401);
    const pub = { authorization: 'Bearer pub-token' };
    const forbidden = refusal(() => g.check(req('GET', pub), 'read'));
    assert.equal(forbidden.code, 'FORBIDDEN_SCOPE');
    assert.equal(g.check(req('GET', { authorization: 'Bearer read-token' }), 'read')?.name, 'alice');
    const ops = { authorization: 'Bearer ops-token', 'content-type': 'application/json' };
    assert.equal(g.check(req('POST', ops), 'operate')?.name, 'bob');
    assert.equal(
      refusal(() => g.check(req('POST', { ...ops, authorization: 'Bearer read-token' }), 'operate')).status,
      403,
    );
  });

  it('keeps public routes open and signed routes free of token and content-type rules', () => {
    const g = guardWith();
    assert.equal(g.check(req('GET'), 'public'), null);
    assert.equal(g.check(req('GET', { authorization: 'Bearer wrong' }), 'public'), null);
    assert.equal(g.check(req('POST', { 'content-type': 'text/plain' }), 'signed'), null);
    assert.equal(refusal(() => g.check(req('POST', { host: 'evil.example' }), 'signed')).status, 421);
  });

  it('refuses CORS-simple POSTs: no JSON content type and no Authorization header', () => {
    const g = new AccessGuard(OPEN_ACCESS);
    for (const type of [
      undefined,
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
    ]) {
      const headers: Record<string, string> = type ? { 'content-type': type } : {};
      assert.equal(refusal(() => g.check(req('POST', headers), 'operate')).status, 415, String(type));
    }
    assert.equal(
      g.check(req('POST', { 'content-type': 'application/json; charset=utf-8' }), 'operate'),
      null,
    );
    assert.equal(g.check(req('POST', { 'content-type': 'application/cloudevents+json' }), 'publish'), null);
    assert.equal(g.check(req('POST', { 'content-type': 'application/x-ndjson' }), 'publish'), null);
    // a browser cannot attach Authorization cross-origin without a preflight
    const authed = guardWith();
    assert.equal(authed.check(req('POST', { authorization: 'Bearer ops-token' }), 'operate')?.name, 'bob');
  });

  it('accepts same-origin, trusted and configured origins, and refuses the rest (and null)', () => {
    const g = new AccessGuard(accessConfigFromEnv({ ALLOWED_ORIGINS: 'https://ops.example.com/' }), {
      trustedOrigins: ['http://127.0.0.1:3000'],
    });
    const post = (origin: string) =>
      req('POST', { origin, 'content-type': 'application/json', host: '127.0.0.1:8080' });
    assert.equal(g.check(post('http://127.0.0.1:8080'), 'operate'), null);
    assert.equal(g.check(post('http://127.0.0.1:3000'), 'operate'), null);
    assert.equal(g.check(post('https://ops.example.com'), 'operate'), null);
    assert.equal(refusal(() => g.check(post('http://127.0.0.1:3001'), 'operate')).status, 403);
    assert.equal(refusal(() => g.check(post('null'), 'operate')).status, 403);
    // reads need no Origin check: the browser's same-origin policy keeps their answers from the page
    assert.equal(g.check(req('GET', { origin: 'http://evil.example' }), 'read'), null);
  });

  it('answers only for loopback names, bound addresses and ALLOWED_HOSTS', () => {
    const g = new AccessGuard(
      accessConfigFromEnv({ AUTH_TOKENS: TOKENS, ALLOWED_HOSTS: 'bus.example.com,.corp.example' }),
    );
    g.bind('Test', '10.1.2.3', 'TEST_HOST', () => {});
    const read = (host: string) => g.check(req('GET', { host, authorization: 'Bearer read-token' }), 'read');
    for (const host of [
      'localhost:3000',
      '127.0.0.1',
      '[::1]:8080',
      'app.localhost',
      '10.1.2.3:8682',
      'bus.example.com',
      'a.corp.example',
    ]) {
      assert.equal(read(host)?.name, 'alice', host);
    }
    for (const host of [
      'evil.example',
      'bus.example.com.evil.example',
      '10.1.2.4',
      'corp.example.evil',
      // no plain authority, though each starts with a name served here
      '127.0.0.1:80@evil.example',
      'localhost@evil.example',
      '[::1]evil.example',
      'localhost:3000/evil.example',
      '127.0.0.1 evil.example',
    ]) {
      assert.equal(refusal(() => read(host)).code, 'HOST_NOT_ALLOWED', host);
    }
  });

  it('refuses a non-loopback bind without tokens unless ALLOW_UNAUTHENTICATED, which warns', () => {
    const refused = refusal(() =>
      new AccessGuard(OPEN_ACCESS).bind('Candystore', '0.0.0.0', 'CANDYSTORE_HOST', () => {}),
    );
    assert.equal(refused.code, 'CONFIG_INVALID');
    assert.match(refused.message, /AUTH_TOKENS/);
    assert.match(refused.message, /CANDYSTORE_HOST/);
    assert.match(refused.message, /ALLOW_UNAUTHENTICATED=true/);
    const warnings: string[] = [];
    new AccessGuard(accessConfigFromEnv({ ALLOW_UNAUTHENTICATED: 'true' })).bind(
      'X',
      '0.0.0.0',
      'X_HOST',
      (w) => warnings.push(w),
    );
    assert.equal(warnings.length, 1);
    new AccessGuard(OPEN_ACCESS).bind('X', '127.0.0.1', 'X_HOST', (w) => warnings.push(w));
    guardWith().bind('X', '0.0.0.0', 'X_HOST', (w) => warnings.push(w));
    assert.equal(warnings.length, 1);
  });

  it('closes routes that declare nothing', () => {
    assert.equal(routeAccess({ method: 'GET', headers: {} }), 'read');
    assert.equal(routeAccess({ method: 'DELETE', headers: {} }), 'operate');
    assert.equal(
      routeAccess({ method: 'POST', headers: {}, routeOptions: { config: { access: 'publish' } } } as never),
      'publish',
    );
  });
});

describe('addresses', () => {
  it('knows loopback names and strips ports', () => {
    assert.equal(hostOf('[::1]:3000'), '::1');
    assert.equal(hostOf('Example.COM.:80'), 'example.com');
    assert.equal(hostOf('::1'), '::1');
    for (const h of [
      'localhost',
      '127.0.0.1',
      '127.9.9.9',
      '::1',
      '[::1]',
      '::ffff:127.0.0.1',
      'x.localhost',
    ]) {
      assert.ok(isLoopbackHost(h), h);
    }
    for (const h of ['0.0.0.0', '::', '10.0.0.1', 'localhost.evil.example', '128.0.0.1']) {
      assert.ok(!isLoopbackHost(h), h);
    }
  });
});
