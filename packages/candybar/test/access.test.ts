import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, request, type Server } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type AccessConfig, isAppError, OPEN_ACCESS, parseTokenEntries } from '@33god/core';
import WebSocket, { WebSocketServer } from 'ws';
import { type CandybarServer, candybarOptionsFromEnv, startCandybar } from '../src/index.js';
import { FAILED_LOGIN_ADDRESSES, FAILED_LOGINS, failedLoginLimiter } from '../src/session/routes.js';
import { SessionStore } from '../src/session/store.js';
import { FIXTURE_REGISTRY } from './helpers.js';

const READER = 'reader-token-0123456789';
const OPERATOR = 'operator-token-0123456789';
const PUBLISHER = 'publisher-token-0123456789';
const ACCESS: AccessConfig = {
  ...OPEN_ACCESS,
  tokens: parseTokenEntries(
    `${READER}=alice:read,${OPERATOR}=olga:read+operate,${PUBLISHER}=shop:publish`,
    'test tokens',
  ),
};
const EVIL = 'http://evil.example';

/** What the backend was sent: a real HTTP and WebSocket server standing in for the store and the gateway. */
interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}

async function startUpstream(): Promise<{ url: string; seen: Seen[]; close(): Promise<void> }> {
  const seen: Seen[] = [];
  const server: Server = createServer((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"redriven":1}');
    });
  });
  const wss = new WebSocketServer({ server });
  wss.on('connection', (socket, req) => {
    seen.push({ method: 'UPGRADE', url: req.url ?? '', headers: req.headers });
    socket.send(JSON.stringify({ kind: 'caught_up', position: '0' }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: async () => {
      for (const c of wss.clients) c.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** A request with headers fetch will not send as given (Host). */
function rawRequest(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string; localAddress?: string },
): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  const { method = 'GET', headers, localAddress } = options;
  return new Promise((resolveRes, reject) => {
    const req = request(url, { method, headers, localAddress }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => resolveRes({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/** The status a WebSocket upgrade was refused with, or 101 when it opened. */
function upgradeStatus(url: string, headers: Record<string, string> = {}, origin?: string): Promise<number> {
  return new Promise((resolveStatus, reject) => {
    const ws = new WebSocket(url, { headers, ...(origin === undefined ? {} : { origin }) });
    ws.on('unexpected-response', (_req, res) => {
      resolveStatus(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.on('open', () => {
      resolveStatus(101);
      ws.close();
    });
    ws.on('error', (err) => reject(err));
  });
}

async function login(base: string, token: string): Promise<{ res: Response; cookie: string }> {
  const res = await fetch(`${base}/api/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token }),
  });
  const cookie = (res.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  return { res, cookie };
}

describe('candybar access: tokens configured', { timeout: 30_000 }, () => {
  let bar: CandybarServer;
  let upstream: Awaited<ReturnType<typeof startUpstream>>;
  const staticDir = mkdtempSync(join(tmpdir(), 'candybar-static-'));

  before(async () => {
    mkdirSync(join(staticDir, 'assets'));
    writeFileSync(join(staticDir, 'index.html'), '<!doctype html><title>app shell</title>');
    writeFileSync(join(staticDir, 'assets', 'app.js'), 'console.log(1)');
    upstream = await startUpstream();
    bar = await startCandybar({
      port: 0,
      staticDir,
      registryPath: FIXTURE_REGISTRY,
      storeUrl: upstream.url,
      busUrl: upstream.url,
      access: ACCESS,
    });
  });

  after(async () => {
    await bar?.close();
    await upstream?.close();
  });

  test('without a session every API route answers 401 problem+json, and nothing is proxied', async () => {
    const before = upstream.seen.length;
    for (const [method, path] of [
      ['GET', '/api/registry'],
      ['GET', '/api/info'],
      ['GET', '/api/health/services'],
      ['GET', '/api/store/events?limit=1'],
      ['GET', '/api/bus/dead-letters'],
      ['POST', '/api/bus/dead-letters/q/redrive'],
      ['DELETE', '/api/bus/dead-letters/q'],
      ['POST', '/api/bus/publish'],
    ] as const) {
      const res = await fetch(`${bar.url}${path}`, {
        method,
        headers: { 'content-type': 'application/json' },
        body: method === 'GET' ? undefined : '{}',
      });
      assert.equal(res.status, 401, `${method} ${path}`);
      assert.equal(res.headers.get('content-type'), 'application/problem+json; charset=utf-8');
      assert.equal(res.headers.get('www-authenticate'), 'Bearer');
      assert.equal(((await res.json()) as { code: string }).code, 'UNAUTHORIZED');
    }
    assert.equal(upstream.seen.length, before, 'the backend saw none of them');
    assert.equal(await upgradeStatus(`${bar.url.replace('http', 'ws')}/api/store/stream?from=0`), 401);
  });

  test('the page, its files, liveness and the session state are public', async () => {
    assert.match(await (await fetch(bar.url)).text(), /app shell/);
    assert.match(await (await fetch(`${bar.url}/chain/abc`)).text(), /app shell/, 'deep links');
    assert.equal((await fetch(`${bar.url}/assets/app.js`)).status, 200);
    assert.deepEqual(await (await fetch(`${bar.url}/health`)).json(), { status: 'ok' });
    assert.deepEqual(await (await fetch(`${bar.url}/api/session`)).json(), {
      auth: true,
      principal: null,
      scopes: [],
    });
  });

  test('a bad token does not log in', async () => {
    const { res } = await login(bar.url, 'not-a-token');
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('set-cookie'), null);
    assert.equal(((await res.json()) as { code: string }).code, 'UNAUTHORIZED');
    const empty = await fetch(`${bar.url}/api/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"token":""}',
    });
    assert.equal(empty.status, 400);
  });

  test('the login POST is held to Origin, Host and JSON like any state-changing route', async () => {
    const body = JSON.stringify({ token: OPERATOR });
    const cross = await fetch(`${bar.url}/api/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: EVIL },
      body,
    });
    assert.equal(cross.status, 403);
    assert.equal(((await cross.json()) as { code: string }).code, 'ORIGIN_NOT_ALLOWED');
    assert.equal(cross.headers.get('set-cookie'), null);
    const form = await fetch(`${bar.url}/api/session`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body,
    });
    assert.equal(form.status, 415);
    const rebound = await rawRequest(`${bar.url}/api/session`, {
      method: 'POST',
      headers: { host: 'evil.example', 'content-type': 'application/json' },
      body,
    });
    assert.equal(rebound.status, 421);
    assert.equal(rebound.headers['set-cookie'], undefined);
  });

  test('a login sets an HttpOnly, SameSite=Strict session cookie that then authenticates the browser', async () => {
    const { res, cookie } = await login(bar.url, READER);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { auth: true, principal: 'alice', scopes: ['read'] });
    const setCookie = res.headers.get('set-cookie') ?? '';
    assert.match(setCookie, /^candybar_session=[A-Za-z0-9_-]{43};/);
    const attributes = setCookie.split(';').map((a) => a.trim().toLowerCase());
    assert.ok(attributes.includes('httponly'), setCookie);
    assert.ok(attributes.includes('samesite=strict'), setCookie);
    assert.ok(attributes.includes('path=/'), setCookie);
    assert.ok(!attributes.includes('secure'), 'no Secure over plain http');
    assert.doesNotMatch(setCookie, new RegExp(READER), 'the cookie holds no token');

    const headers = { cookie };
    assert.deepEqual(await (await fetch(`${bar.url}/api/session`, { headers })).json(), {
      auth: true,
      principal: 'alice',
      scopes: ['read'],
    });
    assert.equal((await fetch(`${bar.url}/api/registry`, { headers })).status, 200);
    assert.equal((await fetch(`${bar.url}/api/store/events`, { headers })).status, 200);

    // Logging out ends the session on the server, not only in this browser.
    const out = await fetch(`${bar.url}/api/session`, { method: 'DELETE', headers });
    assert.equal(out.status, 204);
    assert.match(out.headers.get('set-cookie') ?? '', /^candybar_session=;.*Max-Age=0/);
    const after = await fetch(`${bar.url}/api/registry`, { headers });
    assert.equal(after.status, 401);
    assert.match(((await after.json()) as { detail: string }).detail, /expired or was logged out/);
  });

  test('behind a proxy that ends TLS (the page’s origin is https) the cookie is Secure', async () => {
    const s = await startCandybar({
      port: 0,
      staticDir,
      registryPath: FIXTURE_REGISTRY,
      access: { ...ACCESS, allowedHosts: ['dash.example.com'] },
    });
    try {
      const res = await rawRequest(`${s.url}/api/session`, {
        method: 'POST',
        headers: {
          host: 'dash.example.com',
          origin: 'https://dash.example.com',
          'content-type': 'application/json',
        },
        body: JSON.stringify({ token: READER }),
      });
      assert.equal(res.status, 200, res.body);
      assert.match(String(res.headers['set-cookie']), /; Secure$/);
    } finally {
      await s.close();
    }
  });

  test('scopes: a publish-only login reads nothing; a request may carry its own token instead', async () => {
    const { cookie } = await login(bar.url, PUBLISHER);
    const res = await fetch(`${bar.url}/api/registry`, { headers: { cookie } });
    assert.equal(res.status, 403);
    assert.equal(((await res.json()) as { code: string }).code, 'FORBIDDEN_SCOPE');
    const own = await fetch(`${bar.url}/api/registry`, { headers: { authorization: `Bearer ${READER}` } });
    assert.equal(own.status, 200);
    const bad = await fetch(`${bar.url}/api/registry`, { headers: { authorization: 'Bearer nope' } });
    assert.equal(bad.status, 401);
  });

  test('the proxy passes the session’s token on as Authorization, never Origin, Cookie or Host', async () => {
    const { cookie } = await login(bar.url, OPERATOR);
    upstream.seen.length = 0;
    const res = await fetch(`${bar.url}/api/bus/dead-letters/orders/redrive`, {
      method: 'POST',
      headers: { cookie, origin: new URL(bar.url).origin, 'content-type': 'application/json' },
      body: '{"ids":["x"]}',
    });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { redriven: 1 });
    const own = await fetch(`${bar.url}/api/store/events?limit=1`, {
      headers: { authorization: `Bearer ${READER}`, cookie: 'other=1' },
    });
    assert.equal(own.status, 200);
    const [redrive, read] = upstream.seen;
    assert.equal(redrive?.url, '/dead-letters/orders/redrive');
    assert.equal(redrive?.headers.authorization, `Bearer ${OPERATOR}`);
    assert.equal(redrive?.headers.origin, undefined);
    assert.equal(redrive?.headers.cookie, undefined);
    assert.equal(redrive?.headers.host, new URL(upstream.url).host);
    assert.equal(read?.headers.authorization, `Bearer ${READER}`, 'the caller’s own header');
    assert.equal(read?.headers.cookie, undefined);
  });

  test('the stream socket: the session’s token goes upstream, the browser’s Origin and Cookie do not', async () => {
    const { cookie } = await login(bar.url, READER);
    upstream.seen.length = 0;
    const origin = new URL(bar.url).origin;
    const ws = new WebSocket(`${bar.url.replace('http', 'ws')}/api/store/stream?from=0`, {
      headers: { cookie },
      origin,
    });
    const first = await new Promise<string>((resolveMsg, reject) => {
      ws.once('message', (m) => resolveMsg(String(m)));
      ws.once('error', reject);
    });
    ws.close();
    assert.match(first, /caught_up/);
    const up = upstream.seen.find((s) => s.method === 'UPGRADE');
    assert.ok(up, 'the upstream socket was opened');
    assert.equal(up.headers.authorization, `Bearer ${READER}`);
    assert.equal(up.headers.origin, undefined);
    assert.equal(up.headers.cookie, undefined);
    assert.equal(up.headers.host, new URL(upstream.url).host);
    // The same browser session from another site's page: refused before anything is opened.
    upstream.seen.length = 0;
    const status = await upgradeStatus(
      `${bar.url.replace('http', 'ws')}/api/store/stream?from=0`,
      { cookie },
      EVIL,
    );
    assert.equal(status, 403);
    assert.equal(upstream.seen.length, 0);
  });

  test('wrong tokens from one address are refused with 429 past the limit; right ones never count', async () => {
    const s = await startCandybar({ port: 0, staticDir, registryPath: FIXTURE_REGISTRY, access: ACCESS });
    const attempt = (token: string, localAddress = '127.0.0.1') =>
      rawRequest(`${s.url}/api/session`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ token }),
        localAddress,
      });
    const code = (a: { body: string }) => (JSON.parse(a.body) as { code: string }).code;
    try {
      for (let i = 1; i < FAILED_LOGINS.limit; i++) assert.equal((await attempt(`wrong-${i}`)).status, 401);
      // the control: right tokens in between are not counted, however many
      for (let i = 0; i < 3 * FAILED_LOGINS.limit; i++) assert.equal((await attempt(READER)).status, 200);
      const last = await attempt('wrong-last');
      assert.equal(last.status, 401, 'the limit-th wrong token is still only a wrong token');

      const refused = await attempt('wrong-again');
      assert.equal(refused.status, 429, refused.body);
      assert.equal(refused.headers['content-type'], 'application/problem+json; charset=utf-8');
      assert.equal(code(refused), 'RATE_LIMITED');
      assert.ok(
        Number(refused.headers['retry-after']) >= 1,
        `Retry-After: ${refused.headers['retry-after']}`,
      );
      const right = await attempt(OPERATOR);
      assert.equal(
        right.status,
        429,
        'while limited, a right token is refused too: the answer tells no guess',
      );
      assert.equal(right.headers['set-cookie'], undefined);

      // the control: another address logs in and is told a wrong token is wrong
      assert.equal((await attempt(OPERATOR, '127.0.0.2')).status, 200);
      assert.equal(code(await attempt('wrong', '127.0.0.2')), 'UNAUTHORIZED');
    } finally {
      await s.close();
    }
  });

  test('an idle session expires', async () => {
    const s = await startCandybar({
      port: 0,
      staticDir,
      registryPath: FIXTURE_REGISTRY,
      access: ACCESS,
      sessionIdleMs: 150,
    });
    try {
      const { cookie } = await login(s.url, READER);
      assert.equal((await fetch(`${s.url}/api/registry`, { headers: { cookie } })).status, 200);
      await new Promise((r) => setTimeout(r, 250));
      assert.equal((await fetch(`${s.url}/api/registry`, { headers: { cookie } })).status, 401);
      assert.equal(
        ((await (await fetch(`${s.url}/api/session`, { headers: { cookie } })).json()) as { principal: null })
          .principal,
        null,
      );
    } finally {
      await s.close();
    }
  });
});

describe('candybar access: no tokens (loopback only)', { timeout: 30_000 }, () => {
  let bar: CandybarServer;
  let upstream: Awaited<ReturnType<typeof startUpstream>>;

  before(async () => {
    upstream = await startUpstream();
    bar = await startCandybar({
      port: 0,
      staticDir: join(tmpdir(), 'candybar-no-build'),
      registryPath: FIXTURE_REGISTRY,
      storeUrl: upstream.url,
      busUrl: upstream.url,
    });
  });

  after(async () => {
    await bar?.close();
    await upstream?.close();
  });

  test('no login: the session says auth is off and grants every scope', async () => {
    assert.deepEqual(await (await fetch(`${bar.url}/api/session`)).json(), {
      auth: false,
      principal: null,
      scopes: ['publish', 'read', 'operate'],
    });
    assert.equal((await fetch(`${bar.url}/api/registry`)).status, 200);
    assert.equal((await login(bar.url, 'anything')).res.status, 409);
  });

  test('another site’s page cannot open the stream and read the history', async () => {
    upstream.seen.length = 0;
    const ws = `${bar.url.replace('http', 'ws')}/api/store/stream?from=0`;
    assert.equal(await upgradeStatus(ws, {}, EVIL), 403);
    assert.equal(await upgradeStatus(ws, {}, 'null'), 403, 'sandboxed pages send Origin: null');
    assert.equal(upstream.seen.length, 0, 'no upstream socket was opened');
    assert.equal(await upgradeStatus(ws, {}, new URL(bar.url).origin), 101, 'the dashboard’s own page');
  });

  test('a refused upgrade’s connection is closed by the server, not left open', async () => {
    const socket = connect(bar.port, '127.0.0.1');
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('data', (c: string) => {
      answer += c;
    });
    const ended = new Promise<void>((r, reject) => {
      const timer = setTimeout(() => reject(new Error('the server left the socket open')), 3000);
      socket.once('end', () => {
        clearTimeout(timer);
        r();
      });
    });
    socket.write(
      [
        'GET /api/store/stream?from=0 HTTP/1.1',
        `Host: 127.0.0.1:${bar.port}`,
        'Connection: Upgrade',
        'Upgrade: websocket',
        'Sec-WebSocket-Version: 13',
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
        `Origin: ${EVIL}`,
        '',
        '',
      ].join('\r\n'),
    );
    await ended;
    socket.destroy();
    assert.match(answer, /^HTTP\/1\.1 403/);
  });

  test('a no-cors POST (text/plain, no Authorization) is refused and never reaches the gateway', async () => {
    upstream.seen.length = 0;
    for (const [headers, status, code] of [
      // what `fetch(url, { mode: 'no-cors', method: 'POST', body: '{}' })` on another site sends
      [{ 'content-type': 'text/plain;charset=UTF-8', origin: EVIL }, 403, 'ORIGIN_NOT_ALLOWED'],
      // a browser that sends no Origin still cannot send JSON without a preflight
      [{ 'content-type': 'text/plain;charset=UTF-8' }, 415, 'UNSUPPORTED_MEDIA_TYPE'],
      [{ 'content-type': 'application/x-www-form-urlencoded' }, 415, 'UNSUPPORTED_MEDIA_TYPE'],
    ] as const) {
      const res = await fetch(`${bar.url}/api/bus/dead-letters/orders/redrive`, {
        method: 'POST',
        headers,
        body: '{}',
      });
      assert.equal(res.status, status, JSON.stringify(headers));
      assert.equal(((await res.json()) as { code: string }).code, code);
    }
    const cross = await fetch(`${bar.url}/api/bus/dead-letters/orders`, {
      method: 'DELETE',
      headers: { origin: EVIL },
    });
    assert.equal(cross.status, 403);
    assert.equal(upstream.seen.length, 0);
  });

  test('a request for another host name is 421 (DNS rebinding)', async () => {
    const res = await rawRequest(`${bar.url}/api/registry`, { headers: { host: 'evil.example' } });
    assert.equal(res.status, 421);
    assert.equal((JSON.parse(res.body) as { code: string }).code, 'HOST_NOT_ALLOWED');
    const ok = await rawRequest(`${bar.url}/api/registry`, { headers: { host: `localhost:${bar.port}` } });
    assert.equal(ok.status, 200);
  });

  test('it refuses to listen beyond loopback', async () => {
    await assert.rejects(
      startCandybar({ port: 0, host: '0.0.0.0', registryPath: FIXTURE_REGISTRY }),
      (err) => {
        assert.equal((err as { code?: string }).code, 'CONFIG_INVALID');
        assert.match((err as Error).message, /CANDYBAR_HOST/);
        return true;
      },
    );
  });
});

describe('candybar access: configuration and sessions', () => {
  test('candybarOptionsFromEnv reads the tokens and allowlists', () => {
    const o = candybarOptionsFromEnv({
      AUTH_TOKENS: `${READER}=alice:read`,
      ALLOWED_ORIGINS: 'https://ops.example.com',
    });
    assert.equal(o.access?.tokens.length, 1);
    assert.deepEqual(o.access?.allowedOrigins, ['https://ops.example.com']);
    assert.equal(candybarOptionsFromEnv({}).access?.tokens.length, 0);
  });

  test('the session store caps its size, evicting the least recently used', () => {
    let now = 0;
    const store = new SessionStore({ max: 2, idleMs: 1000, now: () => now });
    const a = store.create('ta');
    now = 1;
    const b = store.create('tb');
    now = 2;
    assert.equal(store.get(a)?.token, 'ta', 'a is now the most recent');
    now = 3;
    const c = store.create('tc');
    assert.equal(store.size, 2);
    assert.equal(store.get(b), undefined, 'b was least recently used');
    assert.equal(store.get(a)?.token, 'ta');
    assert.equal(store.get(c)?.token, 'tc');
    now = 2000;
    assert.equal(store.get(a), undefined, 'idle too long');
    assert.equal(store.get('not an id'), undefined);
  });

  test('one token logging in over and over ends only its own oldest sessions, never another token’s', () => {
    let now = 0;
    const store = new SessionStore({ now: () => now }); // the defaults: 1000 in all, 32 per token
    const b = store.create('token-b');
    const a: string[] = [];
    for (let i = 0; i < 1500; i++) {
      now += 1;
      a.push(store.create('token-a'));
    }
    assert.equal(store.get(b)?.token, 'token-b', 'the other token’s session survived 1500 logins');
    assert.equal(store.size, 33, '32 of token A, 1 of token B');
    assert.equal(store.get(a[0]!), undefined, 'A’s oldest session was ended');
    assert.equal(store.get(a[1500 - 32 - 1]!), undefined);
    for (const id of a.slice(-32)) assert.equal(store.get(id)?.token, 'token-a', 'A’s 32 newest live');

    // A's least recently used session goes first, not its oldest by creation
    const recent = a.at(-32)!;
    assert.equal(store.get(recent)?.token, 'token-a');
    store.create('token-a');
    assert.equal(store.get(recent)?.token, 'token-a', 'used just now: kept');
    assert.equal(store.get(a.at(-31)!), undefined, 'the least recently used of A went');
    assert.equal(store.get(b)?.token, 'token-b');
  });

  test('the global cap stays the last resort when many tokens each log in', () => {
    const store = new SessionStore({ max: 4, maxPerToken: 2 });
    const first = store.create('t1');
    for (const t of ['t1', 't2', 't2', 't3']) store.create(t);
    assert.equal(store.size, 4);
    assert.equal(store.get(first), undefined, 'the least recently used of all went');
    assert.throws(() => new SessionStore({ maxPerToken: 0 }), /maxPerToken/);
  });

  test('failed-login counts are bounded in memory, and a guessing address stays limited', () => {
    const limiter = failedLoginLimiter();
    const now = 1_000_000;
    const limited = (key: string) => {
      try {
        limiter.check(key, now);
        return false;
      } catch (err) {
        if (isAppError(err) && err.code === 'RATE_LIMITED') return true;
        throw err;
      }
    };
    for (let i = 0; i < FAILED_LOGINS.limit; i++) limiter.take('10.0.0.1', now);
    assert.ok(limited('10.0.0.1'));
    for (let i = 0; i < 3 * FAILED_LOGIN_ADDRESSES; i++) {
      limiter.take(`ip-${i}`, now);
      if (i % 1000 === 0) assert.ok(limited('10.0.0.1'), `still limited after ${i} sprayed addresses`);
    }
    assert.equal(limiter.size, FAILED_LOGIN_ADDRESSES);
    assert.ok(!limited('10.9.9.9'), 'an address with no failures is not limited, nor given a count');
    assert.equal(limiter.size, FAILED_LOGIN_ADDRESSES);
  });
});
