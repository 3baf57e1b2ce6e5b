import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { createEmbeddedTransport, EmbeddedBroker, type Transport } from '@33god/bloodbank';
import { type AccessConfig, accessConfigFromEnv, isAppError, OPEN_ACCESS } from '@33god/core';
import { pino } from 'pino';
import { optionsFromEnv, type RunningCandystore, startCandystore } from '../src/index.js';
import { rid } from './helpers.js';

// The store's door: which token opens which route, what anonymous callers see, and which
// addresses, hosts and origins it refuses. Auth does not depend on the database, so PGlite.

const token = () => randomBytes(16).toString('hex');
const READ = token();
const PUBLISH = token();
const OPERATE = token();
const TRUSTED_ORIGIN = 'http://dashboard.example:3000';

const ACCESS: AccessConfig = {
  ...accessConfigFromEnv({
    AUTH_TOKENS: `${READ}=alice:read,${PUBLISH}=svc-a:publish,${OPERATE}=bob:operate`,
  }),
  allowedOrigins: [TRUSTED_ORIGIN],
};

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One HTTP request with exactly these headers (fetch would not send another Host). */
function call(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: options.method ?? 'GET', headers: options.headers ?? {} }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/**
 * A WebSocket handshake by hand: the status the server answers it with (101: upgraded). On a
 * connection of its own, as WebSocket clients do: a refused upgrade's socket is closed.
 */
function upgrade(url: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, {
      agent: false,
      headers: {
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-version': '13',
        'sec-websocket-key': randomBytes(16).toString('base64'),
        ...headers,
      },
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve(res.statusCode ?? 0);
    });
    req.on('response', (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
const problemCode = (a: Answer) => (JSON.parse(a.body) as { code: string }).code;

describe('Candystore access (tokens configured)', { timeout: 60_000 }, () => {
  let svc: RunningCandystore;
  let transport: Transport;
  const exchange = `test.${rid()}.events`;

  before(async () => {
    transport = createEmbeddedTransport({ broker: new EmbeddedBroker() });
    svc = await startCandystore({
      dataDir: null,
      transport,
      exchange,
      queue: `test.${rid()}.candystore`,
      dlx: `test.${rid()}.dlx`,
      registry: null,
      port: 0,
      access: ACCESS,
      logLevel: 'silent',
    });
  });
  after(async () => {
    await svc?.close();
    await transport?.close();
  });

  const replayBody = () => JSON.stringify({ target: { exchange }, since: new Date().toISOString() });
  const json = { 'content-type': 'application/json' };

  test('listens on 127.0.0.1 only by default, and its url is that address', () => {
    assert.ok(svc.addresses.length > 0);
    for (const a of svc.addresses) assert.equal(a.address, '127.0.0.1');
    assert.equal(svc.url, `http://127.0.0.1:${svc.port}`);
  });

  test('no token: 401 with WWW-Authenticate on every read and operate route', async () => {
    const corr = '0190a8b0-0000-7000-8000-000000000000';
    for (const [method, path, body] of [
      ['GET', '/events', undefined],
      ['GET', `/events/${corr}`, undefined],
      ['GET', `/correlations/${corr}`, undefined],
      ['GET', '/stats', undefined],
      ['GET', '/metrics', undefined],
      ['GET', `/replays/${corr}`, undefined],
      ['POST', '/replays', replayBody()],
      ['DELETE', `/replays/${corr}`, undefined],
      ['GET', '/no-such-route', undefined],
    ] as const) {
      const a = await call(`${svc.url}${path}`, {
        method,
        headers: body ? json : {},
        ...(body ? { body } : {}),
      });
      assert.equal(a.status, 401, `${method} ${path}`);
      assert.match(String(a.headers['www-authenticate']), /^Bearer\b/, `${method} ${path}`);
      assert.match(String(a.headers['content-type']), /application\/problem\+json/);
      assert.equal(problemCode(a), 'UNAUTHORIZED');
    }
    const bad = await call(`${svc.url}/events`, { headers: bearer('not-a-token') });
    assert.equal(bad.status, 401);
  });

  test('no token: the /stream upgrade is refused with 401, a read token upgrades', async () => {
    assert.equal(await upgrade(`${svc.url}/stream`), 401);
    assert.equal(await upgrade(`${svc.url}/stream`, bearer(PUBLISH)), 403);
    assert.equal(await upgrade(`${svc.url}/stream`, bearer(READ)), 101);
  });

  test("a refused upgrade's connection is closed by the server, not left open unparsed", async () => {
    const { port } = new URL(svc.url);
    const socket = connect(Number(port), '127.0.0.1');
    let answer = '';
    socket.on('data', (d: Buffer) => {
      answer += d.toString();
    });
    const ended = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 3000);
      socket.once('close', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
    socket.write(
      [
        'GET /stream HTTP/1.1',
        `Host: 127.0.0.1:${port}`,
        'Connection: Upgrade',
        'Upgrade: websocket',
        'Sec-WebSocket-Version: 13',
        `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`,
        '',
        '',
      ].join('\r\n'),
    );
    const closed = await ended;
    socket.destroy();
    assert.match(answer, /^HTTP\/1\.1 401 /);
    assert.ok(closed, 'the server closed the connection after its 401');
  });

  test('a read token reads, and gets 403 on POST and DELETE /replays', async () => {
    assert.equal((await call(`${svc.url}/events`, { headers: bearer(READ) })).status, 200);
    assert.equal((await call(`${svc.url}/stats`, { headers: bearer(READ) })).status, 200);
    assert.equal((await call(`${svc.url}/metrics`, { headers: bearer(READ) })).status, 200);
    const post = await call(`${svc.url}/replays`, {
      method: 'POST',
      headers: { ...json, ...bearer(READ) },
      body: replayBody(),
    });
    assert.equal(post.status, 403);
    assert.equal(problemCode(post), 'FORBIDDEN_SCOPE');
    const del = await call(`${svc.url}/replays/0190a8b0-0000-7000-8000-000000000000`, {
      method: 'DELETE',
      headers: bearer(READ),
    });
    assert.equal(del.status, 403);
  });

  test('a publish-only token gets 403 on /events and /correlations', async () => {
    const a = await call(`${svc.url}/events`, { headers: bearer(PUBLISH) });
    assert.equal(a.status, 403);
    assert.equal(problemCode(a), 'FORBIDDEN_SCOPE');
    const c = await call(`${svc.url}/correlations/0190a8b0-0000-7000-8000-000000000000`, {
      headers: bearer(PUBLISH),
    });
    assert.equal(c.status, 403);
  });

  test('an operate-only token starts and cancels a replay, and gets 403 on /events', async () => {
    assert.equal((await call(`${svc.url}/events`, { headers: bearer(OPERATE) })).status, 403);
    const post = await call(`${svc.url}/replays`, {
      method: 'POST',
      headers: { ...json, ...bearer(OPERATE) },
      body: replayBody(),
    });
    assert.equal(post.status, 202, post.body);
    const id = (JSON.parse(post.body) as { id: string }).id;
    // reading the replay is `read`, stopping it `operate`
    assert.equal((await call(`${svc.url}/replays/${id}`, { headers: bearer(OPERATE) })).status, 403);
    assert.equal((await call(`${svc.url}/replays/${id}`, { headers: bearer(READ) })).status, 200);
    const del = await call(`${svc.url}/replays/${id}`, { method: 'DELETE', headers: bearer(OPERATE) });
    assert.equal(del.status, 200, del.body);
  });

  test('/health is public but says only the status to anonymous callers', async () => {
    const anon = await call(`${svc.url}/health`);
    assert.equal(anon.status, 200);
    assert.deepEqual(JSON.parse(anon.body), { status: 'ok' });
    const withToken = JSON.parse((await call(`${svc.url}/health`, { headers: bearer(PUBLISH) })).body);
    assert.equal(withToken.status, 'ok');
    assert.equal(withToken.database.kind, 'pglite');
    assert.ok('broker' in withToken && 'ingest' in withToken);
  });

  test('the API documentation is public', async () => {
    assert.equal((await call(`${svc.url}/openapi.json`)).status, 200);
    const docs = await call(`${svc.url}/docs/`);
    assert.equal(docs.status, 200);
    assert.match(docs.body, /swagger/i);
    assert.equal((await call(`${svc.url}/docs/json`)).status, 200);
  });

  test('a Host it does not serve gets 421, on HTTP and on the WebSocket upgrade', async () => {
    const evil = { host: 'evil.example', ...bearer(READ) };
    const a = await call(`${svc.url}/events`, { headers: evil });
    assert.equal(a.status, 421);
    assert.equal(problemCode(a), 'HOST_NOT_ALLOWED');
    assert.equal((await call(`${svc.url}/health`, { headers: { host: 'evil.example' } })).status, 421);
    assert.equal(await upgrade(`${svc.url}/stream`, evil), 421);
    // the names it is reached by
    assert.equal(
      (await call(`${svc.url}/health`, { headers: { host: `localhost:${svc.port}` } })).status,
      200,
    );
  });

  test("another site's page cannot open the stream; an allowed origin can", async () => {
    assert.equal(await upgrade(`${svc.url}/stream`, { origin: 'http://evil.example', ...bearer(READ) }), 403);
    assert.equal(await upgrade(`${svc.url}/stream`, { origin: TRUSTED_ORIGIN, ...bearer(READ) }), 101);
    // same origin: a page the store's own host served
    assert.equal(
      await upgrade(`${svc.url}/stream`, { origin: `http://127.0.0.1:${svc.port}`, ...bearer(READ) }),
      101,
    );
    const post = await call(`${svc.url}/replays`, {
      method: 'POST',
      headers: { ...json, ...bearer(OPERATE), origin: 'http://evil.example' },
      body: replayBody(),
    });
    assert.equal(post.status, 403);
    assert.equal(problemCode(post), 'ORIGIN_NOT_ALLOWED');
  });
});

describe('Candystore access (no tokens)', { timeout: 60_000 }, () => {
  test('on loopback every route is open and /health is whole', async () => {
    const transport = createEmbeddedTransport({ broker: new EmbeddedBroker() });
    const svc = await startCandystore({
      dataDir: null,
      transport,
      exchange: `test.${rid()}.events`,
      queue: `test.${rid()}.candystore`,
      registry: null,
      port: 0,
      logLevel: 'silent',
    });
    try {
      assert.equal((await call(`${svc.url}/events`)).status, 200);
      const health = JSON.parse((await call(`${svc.url}/health`)).body);
      assert.equal(health.database.kind, 'pglite');
      // still no foreign Host (DNS rebinding needs no token to be refused)
      assert.equal((await call(`${svc.url}/events`, { headers: { host: 'evil.example' } })).status, 421);
    } finally {
      await svc.close();
      await transport.close();
    }
  });

  test('refuses to listen on every interface, naming what to set', async () => {
    await assert.rejects(
      startCandystore({ dataDir: null, registry: null, host: '0.0.0.0', port: 0, logLevel: 'silent' }),
      (err: unknown) => {
        assert.ok(isAppError(err));
        assert.equal(err.code, 'CONFIG_INVALID');
        for (const name of ['AUTH_TOKENS', 'AUTH_TOKENS_FILE', 'CANDYSTORE_HOST', 'ALLOW_UNAUTHENTICATED']) {
          assert.ok(err.message.includes(name), `the message names ${name}: ${err.message}`);
        }
        return true;
      },
    );
  });

  test('with ALLOW_UNAUTHENTICATED=true it listens on every interface and warns', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (l: string) => lines.push(l) });
    const transport = createEmbeddedTransport({ broker: new EmbeddedBroker() });
    const svc = await startCandystore({
      dataDir: null,
      transport,
      exchange: `test.${rid()}.events`,
      queue: `test.${rid()}.candystore`,
      registry: null,
      host: '0.0.0.0',
      port: 0,
      access: { ...OPEN_ACCESS, allowUnauthenticated: true },
      logger,
    });
    try {
      assert.deepEqual(
        svc.addresses.map((a) => a.address),
        ['0.0.0.0'],
      );
      assert.equal(svc.url, `http://127.0.0.1:${svc.port}`);
      assert.ok(
        lines.some((l) => /Candystore listens on 0\.0\.0\.0 with no tokens/.test(l)),
        `a warning: ${lines.join('')}`,
      );
      assert.equal((await call(`${svc.url}/events`)).status, 200);
    } finally {
      await svc.close();
      await transport.close();
    }
  });

  test('optionsFromEnv reads the access variables and defaults the host to loopback', () => {
    const o = optionsFromEnv({ AUTH_TOKENS: 'abc=alice:read', ALLOWED_HOSTS: 'bus.example.com' });
    assert.equal(o.host, '127.0.0.1');
    assert.equal(o.access?.tokens.length, 1);
    assert.deepEqual(o.access?.allowedHosts, ['bus.example.com']);
    assert.equal(optionsFromEnv({}).access?.tokens.length, 0);
  });
});
