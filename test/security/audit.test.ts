// An adversarial audit of every network surface of the system as `npm start` runs it (the
// embedded broker and PGlite, in one process), with tokens configured: each attack below must
// be refused, with a problem+json answer and nothing published. It adds to
// attacks.rabbitmq.test.ts (forged tickets, scope matrix, Origin on sockets, replay queues),
// envelope-verdicts.test.ts and the fuzz run (test/faults/fuzz.test.ts), and does not repeat
// them: here are path spellings and unusual methods, the limits Node and the WebSocket library
// enforce before any route (slow clients, huge headers, malformed HTTP, oversized frames,
// upgrades of routes that are no WebSocket), Host headers that only start with a loopback
// name, static-file traversal, webhook signatures, the dashboard's session cookie, CORS, what
// answers and logs reveal, and the demo's OpenClaw stand-in.
import assert from 'node:assert/strict';
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type RunningStack, startOpenClawDemoSink, startStack } from '@33god/all-in-one';
import WebSocket from 'ws';
import { npmStart, untilUp } from '../../packages/all-in-one/test/npm-start.js';
import { leak, problemDefect, readyPlaneTicket, rid, waitFor } from '../faults/support.js';

const PLANE_SECRET = randomBytes(16).toString('hex');
const HOOK_TOKEN = randomBytes(16).toString('hex');
const T = {
  publish: randomBytes(32).toString('hex'), // theboard: may publish meeting.*
  read: randomBytes(32).toString('hex'),
  operate: randomBytes(32).toString('hex'),
};
const SECRETS = [PLANE_SECRET, HOOK_TOKEN, ...Object.values(T)];
const GARBAGE = randomBytes(32).toString('hex');
const STREAMS_PER_CLIENT = 3;
const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
const json = { 'content-type': 'application/json' };

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A raw HTTP request: fetch() normalizes paths and would not send a forged Host. */
function send(
  url: string,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string | Buffer,
): Promise<Answer> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    let answered = false;
    const r = request({ host: u.hostname, port: u.port, method, path, headers, agent: false }, (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      const done = () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        });
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', done);
      // a server that refuses a large body answers before reading it, then hangs up
      res.on('error', done);
    });
    r.on('error', (err) => {
      if (!answered) reject(err);
    });
    r.end(body);
  });
}

/** Bytes on a bare TCP connection, and the raw answer until the server closes it. */
function tcp(
  url: string,
  first: string,
  drip?: { text: string; everyMs: number },
): Promise<{ status: number; contentType: string; body: string; ms: number }> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const started = Date.now();
    const socket = connect(Number(u.port), u.hostname);
    const chunks: Buffer[] = [];
    let timer: NodeJS.Timeout | undefined;
    const giveUp = setTimeout(() => socket.destroy(), 120_000);
    socket.on('connect', () => {
      socket.write(first);
      if (drip) timer = setInterval(() => socket.writable && socket.write(drip.text), drip.everyMs);
    });
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearInterval(timer);
      clearTimeout(giveUp);
      const text = Buffer.concat(chunks).toString('utf8');
      const [head = '', body = ''] = text.split('\r\n\r\n', 2);
      resolve({
        status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0),
        contentType: /\r\ncontent-type: *([^\r\n]*)/i.exec(head)?.[1] ?? '',
        body,
        ms: Date.now() - started,
      });
    });
  });
}

/** Opens a WebSocket: the HTTP status of a refused upgrade, or 101 and the open socket. */
function upgrade(url: string, headers: Record<string, string>): Promise<{ status: number; ws?: WebSocket }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.on('open', () => resolve({ status: 101, ws }));
    ws.on('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode ?? 0 });
      res.resume();
      ws.terminate();
    });
    ws.on('error', (err) => reject(err));
  });
}

/** Asserts a refusal: its status, a problem+json body (none for HEAD), its code, no leak. */
function refused(a: Answer, status: number, code: string | null, what: string, head = false): void {
  assert.equal(a.status, status, `${what}: answered ${a.status} ${a.body.slice(0, 200)}`);
  const contentType = String(a.headers['content-type']);
  if (head) {
    assert.match(contentType, /^application\/problem\+json/, what);
    return;
  }
  assert.equal(problemDefect(a.status, contentType, a.body), null, `${what}: ${a.body.slice(0, 200)}`);
  if (code !== null) assert.equal((JSON.parse(a.body) as { code: string }).code, code, what);
  assert.equal(leak(a.body), null, what);
  for (const s of SECRETS) assert.ok(!a.body.includes(s), `${what}: the answer holds a secret`);
}

/** A valid `meeting.converged` payload: theboard's own event type; `meeting_id` marks it. */
const converged = (meetingId = randomUUID()) => ({
  meeting_id: meetingId,
  round_num: 4,
  avg_novelty: 0.12,
  novelty_threshold: 0.2,
  total_comments: 37,
});

describe('security audit of every surface (embedded broker and PGlite, tokens on)', {
  timeout: 240_000,
}, () => {
  const id = rid();
  const dataDir = mkdtempSync(join(tmpdir(), 'audit-'));
  const verifyQueue = `audit.${id}.verify`;
  /** Every message on the main exchange while the tests run, as raw text. */
  const delivered: string[] = [];
  const published = (marker: string) => delivered.some((m) => m.includes(marker));
  let stack: RunningStack;
  let parts: { name: string; url: string }[];
  /** Slow clients started before the other tests and judged by the last one. */
  let slowClients: Promise<{ what: string; status: number; contentType: string; body: string; ms: number }>[];

  before(async () => {
    stack = await startStack({
      inMemory: true,
      ports: { gateway: 0, store: 0, dashboard: 0, dispatcher: 0 },
      env: {
        PATH: process.env.PATH,
        LOG_LEVEL: 'silent',
        STACK_DATA_DIR: dataDir,
        AUTH_TOKENS: `${T.publish}=theboard:publish,${T.read}=auditor:read,${T.operate}=oncall:read+operate`,
        PLANE_WEBHOOK_SECRET: PLANE_SECRET,
        // The dispatcher runs (its port is a surface); it is never handed a ready ticket here.
        OPENCLAW_HOOK_TOKEN: HOOK_TOKEN,
        OPENCLAW_HOOK_URL: 'http://127.0.0.1:9/hooks/agent',
        CANDYSTORE_STREAM_MAX_PER_CLIENT: String(STREAMS_PER_CLIENT),
        ALLOWED_ORIGINS: 'https://dash.example',
        ALLOWED_HOSTS: 'dash.example',
      },
    });
    parts = [
      { name: 'gateway', url: stack.gateway.url },
      { name: 'store', url: stack.store.url },
      { name: 'dashboard', url: stack.dashboard.url },
      { name: 'dispatcher', url: stack.dispatcher!.url },
    ];
    await stack.transport.assertQueue(verifyQueue, { durable: false });
    await stack.transport.bindQueue(verifyQueue, 'bloodbank.events.v1', '#');
    await stack.transport.consume(
      verifyQueue,
      (d) => {
        delivered.push(d.body.toString('utf8'));
        d.ack();
      },
      { prefetch: 100 },
    );
    // Slowloris: a body a byte a second, or headers a line a second. Node's own limits are off
    // under Fastify unless set; each part must answer 408 and hang up within about a minute.
    const host = (url: string) => `Host: ${new URL(url).host}\r\n`;
    const slowBody = (url: string, path: string, token: string) =>
      tcp(
        url,
        `POST ${path} HTTP/1.1\r\n${host(url)}Authorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{`,
        { text: ' ', everyMs: 1000 },
      );
    const slowHeaders = (url: string, path: string) =>
      tcp(url, `GET ${path} HTTP/1.1\r\n${host(url)}`, { text: 'X-Slow: 1\r\n', everyMs: 1000 });
    const label = <T extends object>(what: string, p: Promise<T>) => p.then((r) => ({ what, ...r }));
    slowClients = [
      label('gateway, slow body', slowBody(stack.gateway.url, '/events', T.publish)),
      label('store, slow body', slowBody(stack.store.url, '/replays', T.operate)),
      label('dashboard, slow headers', slowHeaders(stack.dashboard.url, '/api/session')),
      label('dispatcher, slow headers', slowHeaders(stack.dispatcher!.url, '/health')),
    ];
  });

  after(async () => {
    await stack?.transport.deleteQueue(verifyQueue).catch(() => {});
    await stack?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('no token, a garbage token or the wrong scope is refused on every route, however the path is spelt and whatever the method', async () => {
    const gw = stack.gateway.url;
    const store = stack.store.url;
    const dash = stack.dashboard.url;
    const disp = stack.dispatcher!.url;
    // [base, method, path, the scope it needs]
    const routes: [string, string, string, 'read' | 'publish' | 'operate'][] = [
      [gw, 'POST', '/events', 'publish'],
      [gw, 'POST', '/publish', 'publish'],
      [gw, 'POST', '/events/batch', 'publish'],
      [gw, 'GET', '/schemas', 'read'],
      [gw, 'GET', '/schemas/meeting.converged', 'read'],
      [gw, 'GET', '/metrics', 'read'],
      [gw, 'GET', '/dead-letters', 'read'],
      [gw, 'GET', '/dead-letters/theboard.tasks', 'read'],
      [gw, 'POST', '/dead-letters/theboard.tasks/redrive', 'operate'],
      [gw, 'DELETE', '/dead-letters/theboard.tasks', 'operate'],
      [store, 'GET', '/events', 'read'],
      [store, 'GET', `/events/${randomUUID()}`, 'read'],
      [store, 'GET', `/correlations/${randomUUID()}`, 'read'],
      [store, 'GET', '/stats', 'read'],
      [store, 'GET', '/metrics', 'read'],
      [store, 'GET', `/replays/${randomUUID()}`, 'read'],
      [store, 'POST', '/replays', 'operate'],
      [store, 'DELETE', `/replays/${randomUUID()}`, 'operate'],
      [dash, 'GET', '/api/registry', 'read'],
      [dash, 'GET', '/api/info', 'read'],
      [dash, 'GET', '/api/health/services', 'read'],
      [dash, 'GET', '/api/store/events', 'read'],
      [dash, 'GET', '/api/bus/dead-letters', 'read'],
      [disp, 'GET', '/metrics', 'read'],
    ];
    const lacking = { read: T.publish, publish: T.read, operate: T.read } as const;
    for (const [base, method, path, scope] of routes) {
      const body = method === 'POST' ? '{}' : undefined;
      const headers = method === 'POST' ? json : {};
      const what = `${method} ${base}${path}`;
      const none = await send(base, method, path, headers, body);
      refused(none, 401, 'UNAUTHORIZED', `${what} without a token`);
      assert.match(String(none.headers['www-authenticate']), /^Bearer/, what);
      refused(
        await send(base, method, path, { ...headers, ...bearer(GARBAGE) }, body),
        401,
        'UNAUTHORIZED',
        `${what} with an unknown token`,
      );
      refused(
        await send(base, method, path, { ...headers, authorization: `Basic ${T.operate}` }, body),
        401,
        'UNAUTHORIZED',
        `${what} with a Basic credential`,
      );
      refused(
        await send(base, method, path, { ...headers, ...bearer(lacking[scope]) }, body),
        403,
        'FORBIDDEN_SCOPE',
        `${what} with a token lacking '${scope}'`,
      );
    }

    // Other spellings of protected paths, unusual methods: never an answer with data.
    const spellings = (p: string) => [
      `${p}/`,
      `/${p}`,
      p.toUpperCase(),
      `/%${p.charCodeAt(1).toString(16)}${p.slice(2)}`,
      `${p}?`,
      `${p};x=1`,
      `/.${p}`,
      `/x/..${p}`,
      `/x/%2e%2e${p}`,
    ];
    const variants: [string, string][] = [
      [gw, '/schemas'],
      [gw, '/dead-letters'],
      [store, '/events'],
      [store, '/stats'],
      [dash, '/api/registry'],
      [dash, '/api/store/events'],
    ];
    for (const [base, p] of variants) {
      for (const path of spellings(p)) {
        for (const method of ['GET', 'HEAD', 'OPTIONS', 'PROPFIND', 'TRACE']) {
          const a = await send(base, method, path);
          const what = `${method} ${base}${path} without a token`;
          if (a.status < 400) {
            // the dashboard's app shell answers deep links: public HTML, no data
            assert.equal(base, dash, `${what}: ${a.status} ${a.body.slice(0, 120)}`);
            assert.match(String(a.headers['content-type']), /^text\/html/, what);
            assert.ok(!a.body.includes('"items"') && !a.body.includes('"services"'), what);
            continue;
          }
          assert.ok([400, 401, 404, 405].includes(a.status), `${what}: ${a.status}`);
          if (method !== 'HEAD') refused(a, a.status, null, what);
        }
      }
    }
  });

  it('the live stream takes no token from the query string, nor a token without read', async () => {
    for (const base of [stack.store.url, `${stack.dashboard.url}/api/store`]) {
      const ws = `${base.replace('http', 'ws')}/stream`;
      assert.equal((await upgrade(ws, {})).status, 401, `${ws} without a token`);
      for (const q of ['token', 'access_token', 'authorization', 'bearer']) {
        assert.equal((await upgrade(`${ws}?${q}=${T.read}`, {})).status, 401, `${ws}?${q}=<token>`);
      }
      assert.equal((await upgrade(ws, bearer(GARBAGE))).status, 401, `${ws} with an unknown token`);
      assert.equal((await upgrade(ws, bearer(T.publish))).status, 403, `${ws} with a publish token`);
      assert.equal(
        (await upgrade(ws, { cookie: `candybar_session=${randomBytes(32).toString('base64url')}` })).status,
        401,
        `${ws} with a forged session cookie`,
      );
    }
  });

  it('one client holds at most its share of live streams, then gets 429 before any upgrade', async () => {
    const ws = `${stack.store.url.replace('http', 'ws')}/stream`;
    const open: WebSocket[] = [];
    try {
      for (let i = 0; i < STREAMS_PER_CLIENT; i++) {
        const r = await upgrade(ws, bearer(T.read));
        assert.equal(r.status, 101, `stream ${i + 1}`);
        open.push(r.ws!);
      }
      for (let i = 0; i < 5; i++) {
        assert.equal((await upgrade(ws, bearer(T.read))).status, 429, 'a stream beyond the share');
      }
      const over = await send(stack.store.url, 'GET', '/stream', {
        ...bearer(T.read),
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-version': '13',
        'sec-websocket-key': randomBytes(16).toString('base64'),
      });
      refused(over, 429, 'TOO_MANY_STREAMS', 'a stream beyond the share');
    } finally {
      for (const s of open) s.terminate();
    }
    // the slots come back when the sockets close
    await waitFor('a stream slot to be free again', 5000, async () => {
      const r = await upgrade(ws, bearer(T.read));
      r.ws?.terminate();
      return r.status === 101;
    });
  });

  it('no route but the live stream takes a WebSocket upgrade, public ones included', async () => {
    const ws = (url: string) => url.replace('http', 'ws');
    for (const [url, path, headers] of [
      [stack.store.url, '/health', {}],
      [stack.store.url, '/docs', {}],
      [stack.store.url, '/openapi.json', {}],
      [stack.store.url, '/events', bearer(T.read)],
      [stack.store.url, '/stream/', bearer(T.read)],
      [stack.dashboard.url, '/', {}],
      [stack.dashboard.url, '/health', {}],
      [stack.dashboard.url, '/api/session', {}],
      [stack.dashboard.url, '/index.html', {}],
      [stack.dashboard.url, '/api/registry', bearer(T.read)],
      [stack.dashboard.url, '/api/store/events', bearer(T.read)],
    ] as const) {
      // many at once: each would otherwise be a socket held until its close handshake times out
      const answers = await Promise.all(
        Array.from({ length: 20 }, () => upgrade(`${ws(url)}${path}`, headers)),
      );
      for (const a of answers) a.ws?.terminate();
      assert.deepEqual(
        [...new Set(answers.map((a) => a.status))],
        [404],
        `a WebSocket upgrade of ${url}${path}`,
      );
      const raw = await send(url, 'GET', path, {
        ...headers,
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-version': '13',
        'sec-websocket-key': randomBytes(16).toString('base64'),
      });
      refused(raw, 404, 'NOT_FOUND', `a WebSocket upgrade of ${url}${path}`);
    }
    // the gateway and the dispatcher speak no WebSocket at all
    for (const url of [stack.gateway.url, stack.dispatcher!.url]) {
      assert.notEqual((await upgrade(`${ws(url)}/health`, {}).catch(() => ({ status: 0 }))).status, 101, url);
    }
  });

  it('an oversized WebSocket message closes the socket (1009) on the store and on the dashboard', async () => {
    const sockets = [
      `${stack.store.url.replace('http', 'ws')}/stream`,
      `${stack.dashboard.url.replace('http', 'ws')}/api/store/stream`,
    ];
    for (const url of sockets) {
      const { status, ws } = await upgrade(url, bearer(T.read));
      assert.equal(status, 101, url);
      const code = await new Promise<number>((resolve) => {
        const t = setTimeout(() => resolve(0), 5000);
        ws!.on('close', (c) => {
          clearTimeout(t);
          resolve(c);
        });
        ws!.on('error', () => {});
        ws!.send(Buffer.alloc(512 * 1024, 'a').toString());
      });
      ws!.terminate();
      assert.equal(code, 1009, `${url}: a 512 KiB message must close the socket as too big`);
    }
  });

  it('headers over 16 KiB, malformed HTTP and malformed URLs get problem+json on every part', async () => {
    for (const { name, url } of parts) {
      const big = await send(url, 'GET', '/health', { 'x-padding': 'x'.repeat(20_000) }).catch(
        (err: Error) => ({ status: -1, headers: {}, body: err.message }),
      );
      refused(big as Answer, 431, 'HEADERS_TOO_LARGE', `${name}: 20 KB of headers`);

      const host = `Host: ${new URL(url).host}\r\n`;
      for (const [what, text] of [
        [
          'Content-Length with Transfer-Encoding (request smuggling)',
          `POST /health HTTP/1.1\r\n${host}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
        ],
        ['a garbage request line', 'HELLO THERE\r\n\r\n'],
        ['a bad header name', `GET /health HTTP/1.1\r\n${host}Bad Header: x\r\n\r\n`],
        [
          'two Content-Lengths',
          `POST /health HTTP/1.1\r\n${host}Content-Length: 1\r\nContent-Length: 2\r\n\r\nab`,
        ],
      ] as const) {
        const a = await tcp(url, text);
        assert.equal(a.status, 400, `${name}: ${what}`);
        assert.equal(
          problemDefect(a.status, a.contentType, a.body),
          null,
          `${name}: ${what}: ${a.contentType} ${a.body}`,
        );
      }
      for (const path of ['/%ZZ', '/api/%E0%A4%A', '/%ED%A0%80']) {
        const a = await send(url, 'GET', path, bearer(T.read));
        refused(a, 400, null, `${name}: GET ${path}`);
      }
    }
  });

  it('every answer of every part, refusals and pages alike, carries nosniff, no-referrer and no framing', async () => {
    const hardened = (a: Answer, what: string) => {
      assert.equal(a.headers['x-content-type-options'], 'nosniff', what);
      assert.equal(a.headers['referrer-policy'], 'no-referrer', what);
      assert.equal(a.headers['x-frame-options'], 'DENY', what);
      assert.match(String(a.headers['content-security-policy']), /frame-ancestors 'none'/, what);
    };
    const huge = { 'x-padding': 'x'.repeat(20_000) };
    for (const { name, url } of parts) {
      // [what, method, path, headers, status]: the controls (200) and each kind of refusal
      const rows: [string, string, string, Record<string, string>, number][] = [
        ['liveness', 'GET', '/health', {}, 200],
        ['no token', 'GET', name === 'dashboard' ? '/api/info' : '/api/no-such-route', {}, 401],
        ['no route', 'GET', '/api/no-such-route', bearer(T.read), 404],
        ['a malformed URL (refused before any hook)', 'GET', '/%ZZ', bearer(T.read), 400],
        ['a rebound Host', 'GET', '/health', { host: 'evil.example' }, 421],
        ['20 KB of headers (refused by Node)', 'GET', '/health', huge, 431],
      ];
      if (name === 'gateway' || name === 'store')
        rows.push(['the API description', 'GET', '/openapi.json', {}, 200]);
      if (name === 'dashboard') {
        rows.push(
          ['the page', 'GET', '/', {}, 200],
          ['a deep link', 'GET', '/chain/abc', {}, 200],
          ['a wrong login', 'POST', '/api/session', json, 401],
          ['a proxied read', 'GET', '/api/store/events?limit=1', bearer(T.read), 200],
        );
      }
      for (const [what, method, path, headers, status] of rows) {
        const body = method === 'POST' ? JSON.stringify({ token: GARBAGE }) : undefined;
        const a = await send(url, method, path, headers, body);
        assert.equal(a.status, status, `${name}: ${what}: ${a.body.slice(0, 200)}`);
        hardened(a, `${name}: ${what}`);
      }
    }
  });

  it('a Host that only starts with a loopback name is refused on every part (DNS rebinding)', async () => {
    for (const { name, url } of parts) {
      const port = new URL(url).port;
      const path = name === 'dashboard' ? '/api/session' : '/health';
      for (const host of [
        `127.0.0.1:${port}@evil.example`,
        `localhost@evil.example`,
        `[::1]evil.example`,
        `[::1]:${port}@evil.example`,
        `localhost:${port}/evil.example`,
        `127.0.0.1 evil.example`,
        `127.0.0.1.evil.example`,
        `localhost.evil.example:${port}`,
        'evil.example',
        'dash.example.evil.example',
      ]) {
        refused(await send(url, 'GET', path, { host }), 421, 'HOST_NOT_ALLOWED', `${name} with Host ${host}`);
      }
      // the controls: names this part does answer to
      for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`, 'dash.example']) {
        assert.equal((await send(url, 'GET', path, { host })).status, 200, `${name} with Host ${host}`);
      }
    }
  });

  it('the API docs are behind the same door, with problem+json refusals', async () => {
    for (const url of [stack.gateway.url, stack.store.url]) {
      for (const path of ['/docs', '/docs/', '/docs/json', '/docs/static/index.html', '/openapi.json']) {
        refused(
          await send(url, 'GET', path, { host: 'evil.example' }),
          421,
          'HOST_NOT_ALLOWED',
          `${url}${path} with a rebound Host`,
        );
        refused(
          await send(url, 'POST', path, { 'content-type': 'text/plain' }, 'x'),
          415,
          'UNSUPPORTED_MEDIA_TYPE',
          `a simple POST to ${url}${path}`,
        );
      }
    }
  });

  it('static files and the API docs cannot be walked out of', async () => {
    const attempts = [
      '/../../../../etc/passwd',
      '/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd',
      '/..%2f..%2f..%2f..%2fetc%2fpasswd',
      '/assets/..%2f..%2f..%2fpackage.json',
      '/assets/%2e%2e%2f%2e%2e%2f%2e%2e%2fpackage.json',
      '/assets/..%5c..%5c..%5cpackage.json',
      '/assets/..\\..\\..\\package.json',
      '/index.html%00.js',
      '/%00',
      '//etc/passwd',
      '/.env',
      '/.git/config',
      '/%252e%252e/%252e%252e/package.json',
      '/docs/static/..%2f..%2f..%2f..%2fpackage.json',
      '/docs/static/%2e%2e/%2e%2e/%2e%2e/package.json',
      '/docs/static/../../../../etc/passwd',
    ];
    for (const { name, url } of parts.slice(0, 3)) {
      for (const path of attempts) {
        const a = await send(url, 'GET', path);
        const what = `${name} GET ${path}`;
        assert.ok(!/root:x:0:0|"name": "@?33god|\[core\]/.test(a.body), `${what} served a file outside`);
        if (a.status >= 400) refused(a, a.status, null, what);
        else {
          // only the dashboard's app shell may answer: a deep link into the single-page app
          assert.equal(name, 'dashboard', `${what}: ${a.status}`);
          assert.match(String(a.headers['content-type']), /^text\/html/, what);
        }
      }
    }
  });

  it('a webhook needs its exact signature; a replayed delivery publishes nothing new', async () => {
    const gw = stack.gateway.url;
    const deliveryId = randomUUID();
    // an issue the dispatcher ignores: no labels
    const doc = JSON.parse(readyPlaneTicket(randomUUID())) as {
      data: { labels: unknown[]; id: string };
      delivery_id?: string;
    };
    doc.data.labels = [];
    doc.delivery_id = deliveryId;
    const body = JSON.stringify(doc);
    const marker = doc.data.id;
    const sig = createHmac('sha256', PLANE_SECRET).update(body).digest('hex');
    const post = (headers: Record<string, string>, b: string = body) =>
      send(gw, 'POST', '/webhooks/plane', { ...json, 'x-plane-event': 'issue', ...headers }, b);
    const attempts: [string, Record<string, string>, string | undefined, string][] = [
      ['no signature', {}, undefined, 'WEBHOOK_SIGNATURE_MISSING'],
      ['an empty signature', { 'x-plane-signature': '' }, undefined, 'WEBHOOK_SIGNATURE_MISSING'],
      ['a wrong signature', { 'x-plane-signature': 'f'.repeat(64) }, undefined, 'WEBHOOK_SIGNATURE_INVALID'],
      [
        'a truncated signature',
        { 'x-plane-signature': sig.slice(0, 32) },
        undefined,
        'WEBHOOK_SIGNATURE_INVALID',
      ],
      [
        'a signature one digit short',
        { 'x-plane-signature': sig.slice(0, -1) },
        undefined,
        'WEBHOOK_SIGNATURE_INVALID',
      ],
      [
        'a signature with a digit more',
        { 'x-plane-signature': `${sig}0` },
        undefined,
        'WEBHOOK_SIGNATURE_INVALID',
      ],
      [
        'a prefixed signature',
        { 'x-plane-signature': `sha256=${sig}` },
        undefined,
        'WEBHOOK_SIGNATURE_INVALID',
      ],
      [
        'the signature in base64',
        { 'x-plane-signature': createHmac('sha256', PLANE_SECRET).update(body).digest('base64') },
        undefined,
        'WEBHOOK_SIGNATURE_INVALID',
      ],
      [
        'a signature by another secret',
        { 'x-plane-signature': createHmac('sha256', 'guess').update(body).digest('hex') },
        undefined,
        'WEBHOOK_SIGNATURE_INVALID',
      ],
      [
        'a SHA-1 signature',
        { 'x-plane-signature': createHmac('sha1', PLANE_SECRET).update(body).digest('hex') },
        undefined,
        'WEBHOOK_SIGNATURE_INVALID',
      ],
      [
        'the signature of another body',
        { 'x-plane-signature': sig },
        `${body} `,
        'WEBHOOK_SIGNATURE_INVALID',
      ],
      [
        'the signature in the GitHub header',
        { 'x-hub-signature-256': `sha256=${sig}` },
        undefined,
        'WEBHOOK_SIGNATURE_MISSING',
      ],
      ['a token instead of a signature', bearer(T.publish), undefined, 'WEBHOOK_SIGNATURE_MISSING'],
    ];
    for (const [what, headers, other, code] of attempts) {
      refused(await post(headers, other), 401, code, `webhook with ${what}`);
    }
    // the control: signed (hex is case-insensitive, so an upper-case digest is the same one)
    const first = await post({ 'x-plane-signature': sig.toUpperCase(), 'x-plane-delivery': deliveryId });
    assert.equal(first.status, 202, first.body);
    const eventId = (JSON.parse(first.body) as { event_id: string }).event_id;
    // a replay, with a fresh delivery header, or another body under the same signed delivery id
    const again = await post({ 'x-plane-signature': sig, 'x-plane-delivery': randomUUID() });
    assert.equal(again.status, 200, again.body);
    assert.deepEqual(JSON.parse(again.body), { ...JSON.parse(first.body), duplicate: true });
    const altered = JSON.stringify({ ...doc, action: 'deleted' });
    const sameId = await post(
      { 'x-plane-signature': createHmac('sha256', PLANE_SECRET).update(altered).digest('hex') },
      altered,
    );
    assert.equal(sameId.status, 200, sameId.body);
    assert.equal((JSON.parse(sameId.body) as { event_id: string }).event_id, eventId);
    await waitFor('the signed delivery on the bus', 10_000, () => published(eventId));
    await new Promise((r) => setTimeout(r, 300));
    // (the dispatcher's own answer to the ticket names it too; only webhook events count here)
    assert.equal(
      delivered.filter((m) => m.includes(marker) && m.includes('"event_type":"webhook.plane.')).length,
      1,
      'the delivery was published once, and no refused attempt was',
    );
  });

  it('no CORS: a preflight or a read from another origin is granted nothing', async () => {
    for (const { name, url } of parts) {
      for (const path of ['/health', '/events', '/api/session', '/replays', '/api/bus/events']) {
        for (const [method, extra] of [
          [
            'OPTIONS',
            { 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization' },
          ],
          ['GET', bearer(T.read)],
        ] as const) {
          const a = await send(url, method, path, { origin: 'http://evil.example', ...extra });
          for (const h of Object.keys(a.headers)) {
            assert.ok(!h.startsWith('access-control-'), `${name} ${method} ${path}: ${h}: ${a.headers[h]}`);
          }
        }
      }
    }
  });

  it('the dashboard session: HttpOnly, SameSite=Strict, Secure over https, not fixable, ended by logout, no CSRF', async () => {
    const dash = stack.dashboard.url;
    const login = (token: string, headers: Record<string, string> = {}) =>
      send(dash, 'POST', '/api/session', { ...json, ...headers }, JSON.stringify({ token }));
    const ok = await login(T.operate);
    assert.equal(ok.status, 200, ok.body);
    const setCookie = String(ok.headers['set-cookie']);
    const flags = setCookie.split(';').map((s) => s.trim().toLowerCase());
    for (const f of ['httponly', 'samesite=strict', 'path=/'])
      assert.ok(flags.includes(f), `${f} in ${setCookie}`);
    assert.ok(!flags.includes('secure'), 'no Secure over plain http (the browser would drop the cookie)');
    assert.ok(!setCookie.includes(T.operate), 'the cookie is an id, never the token');
    const cookie = setCookie.split(';')[0]!;
    assert.equal((await send(dash, 'GET', '/api/info', { cookie })).status, 200, 'the control');

    // behind a TLS proxy: the page's https origin says so
    const tls = await login(T.read, { host: 'dash.example', origin: 'https://dash.example' });
    assert.equal(tls.status, 200, tls.body);
    assert.match(String(tls.headers['set-cookie']), /;\s*Secure/i);

    // fixation: a session id the server did not hand out is nobody
    const forged = `candybar_session=${randomBytes(32).toString('base64url')}`;
    refused(
      await send(dash, 'GET', '/api/info', { cookie: forged }),
      401,
      'UNAUTHORIZED',
      'a forged session',
    );
    const fixed = await login(T.read, { cookie: forged });
    assert.ok(
      !String(fixed.headers['set-cookie']).includes(forged.split('=')[1]!),
      'a chosen id is not kept',
    );

    // a wrong token, an oversized one, a form or text body, another origin: no session
    for (const [what, a, status, code] of [
      ['a wrong token', await login(GARBAGE), 401, 'UNAUTHORIZED'],
      ['an oversized token', await login('x'.repeat(5000)), 400, 'INVALID_REQUEST'],
      [
        'a form',
        await send(
          dash,
          'POST',
          '/api/session',
          { 'content-type': 'application/x-www-form-urlencoded' },
          `token=${T.read}`,
        ),
        415,
        'UNSUPPORTED_MEDIA_TYPE',
      ],
      [
        'text/plain JSON',
        await send(
          dash,
          'POST',
          '/api/session',
          { 'content-type': 'text/plain' },
          JSON.stringify({ token: T.read }),
        ),
        415,
        'UNSUPPORTED_MEDIA_TYPE',
      ],
      ['another origin', await login(T.read, { origin: 'http://evil.example' }), 403, 'ORIGIN_NOT_ALLOWED'],
      [
        'a body over 16 KiB',
        await send(
          dash,
          'POST',
          '/api/session',
          json,
          JSON.stringify({ token: T.read, pad: 'x'.repeat(20_000) }),
        ),
        413,
        'BODY_TOO_LARGE',
      ],
    ] as const) {
      refused(a, status, code, `login with ${what}`);
      assert.equal(a.headers['set-cookie'], undefined, `login with ${what} set a cookie`);
    }

    // CSRF with the session cookie: another page's POST, JSON or simple, changes nothing
    const meeting = randomUUID();
    const event = JSON.stringify({ event_type: 'meeting.converged', payload: converged(meeting) });
    const redrive = '/api/bus/dead-letters/theboard.tasks/redrive';
    refused(
      await send(dash, 'POST', '/api/bus/events', { ...json, cookie, origin: 'http://evil.example' }, event),
      403,
      'ORIGIN_NOT_ALLOWED',
      'a cross-site JSON publish with the cookie',
    );
    refused(
      await send(dash, 'POST', '/api/bus/events', { 'content-type': 'text/plain', cookie }, event),
      415,
      'UNSUPPORTED_MEDIA_TYPE',
      'a simple (no-cors) publish with the cookie',
    );
    refused(
      await send(dash, 'POST', redrive, { cookie, origin: 'null' }, ''),
      403,
      'ORIGIN_NOT_ALLOWED',
      'a redrive from a sandboxed page (Origin: null)',
    );
    refused(
      await send(dash, 'DELETE', '/api/session', { cookie, origin: 'http://evil.example' }),
      403,
      'ORIGIN_NOT_ALLOWED',
      'a cross-site logout',
    );

    // logout ends the session for good
    const out = await send(dash, 'DELETE', '/api/session', { cookie });
    assert.equal(out.status, 204);
    assert.match(String(out.headers['set-cookie']), /Max-Age=0/);
    refused(
      await send(dash, 'GET', '/api/info', { cookie }),
      401,
      'UNAUTHORIZED',
      'the session after logout',
    );
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(!published(meeting), 'a refused cross-site publish reached the bus');
  });

  it('replays reach neither another exchange nor a queue outside the registry, nor without operate', async () => {
    const targets: unknown[] = [
      { exchange: 'amq.direct' },
      { exchange: 'amq.topic' },
      { exchange: 'amq.fanout' },
      { exchange: 'bloodbank.dlx' },
      { exchange: 'bloodbank.events.v1.unroutable' },
      { exchange: '' },
      { queue: 'candystore.events.dlq' },
      { queue: 'theboard.tasks.dlq' },
      { queue: 'amq.gen-attacker' },
      { queue: '' },
      { queue: '../theboard.tasks' },
      { queue: 'theboard.tasks', exchange: 'amq.direct' },
    ];
    for (const target of targets) {
      const body = JSON.stringify({ target, filter: { type: 'meeting.#' } });
      const a = await send(stack.store.url, 'POST', '/replays', { ...json, ...bearer(T.operate) }, body);
      assert.ok(
        [400, 403].includes(a.status),
        `${JSON.stringify(target)}: ${a.status} ${a.body.slice(0, 200)}`,
      );
      refused(a, a.status, null, `a replay into ${JSON.stringify(target)}`);
      for (const t of [T.read, T.publish]) {
        refused(
          await send(stack.store.url, 'POST', '/replays', { ...json, ...bearer(t) }, body),
          403,
          'FORBIDDEN_SCOPE',
          'a replay without operate',
        );
      }
    }
  });

  it('absurd bounds are refused: pagination, patterns, parameters, bodies', async () => {
    const store = stack.store.url;
    const read = bearer(T.read);
    for (const q of [
      'limit=1000000000',
      'limit=1e9',
      'limit=-1',
      'limit=0',
      'limit=1.5',
      'limit=99999999999999999999',
      'offset=-5',
      'cursor=-1',
      `cursor=${'A'.repeat(5000)}`,
      'limit=1&limit=2',
      `type=${encodeURIComponent(`${'*.'.repeat(40)}x`)}`,
      `type=${encodeURIComponent(`${'#.'.repeat(20)}x`)}`,
      `type=${'a'.repeat(10_000)}`,
      Array.from({ length: 50 }, (_, i) => `payload.k${i}=v`).join('&'),
      Array.from({ length: 1000 }, (_, i) => `p${i}=1`).join('&'),
      `payload.a=${'x'.repeat(1000)}`,
    ]) {
      const a = await send(store, 'GET', `/events?${q}`, read);
      assert.ok([400, 414].includes(a.status), `/events?${q.slice(0, 60)}: ${a.status}`);
      if (a.status === 400) refused(a, 400, null, `/events?${q.slice(0, 60)}`);
    }
    for (const q of ['limit=1000000000', 'limit=-1', 'limit=0', 'limit=abc']) {
      refused(
        await send(stack.gateway.url, 'GET', `/dead-letters/theboard.tasks?${q}`, read),
        400,
        'INVALID_REQUEST',
        `dead letters ?${q}`,
      );
    }
    const deep = `{"target":{"exchange":"bloodbank.events.v1"},"filter":{"type":"a.b"},"x":${'['.repeat(20_000)}${']'.repeat(20_000)}}`;
    const a = await send(store, 'POST', '/replays', { ...json, ...bearer(T.operate) }, deep);
    assert.ok(a.status >= 400 && a.status < 500, `a deeply nested replay request: ${a.status}`);
    refused(a, a.status, null, 'a deeply nested replay request');
    refused(
      await send(
        store,
        'POST',
        '/replays',
        { ...json, ...bearer(T.operate) },
        `{"x":"${'x'.repeat(100_000)}"}`,
      ),
      413,
      'BODY_TOO_LARGE',
      'a 100 KB replay request',
    );
    const huge = Buffer.alloc(6 * 1024 * 1024, 'x');
    const proxied = await send(
      stack.dashboard.url,
      'POST',
      '/api/bus/events',
      { ...json, ...bearer(T.publish) },
      huge,
    );
    refused(proxied, 413, 'BODY_TOO_LARGE', 'a 6 MiB body through the dashboard');
  });

  it('anonymous health is the status alone; no answer, metrics included, holds a token or secret', async () => {
    for (const { name, url } of parts) {
      const a = await send(url, 'GET', '/health');
      assert.equal(a.status, 200, name);
      assert.deepEqual(Object.keys(JSON.parse(a.body) as object), ['status'], `${name} /health anonymous`);
      const garbage = await send(url, 'GET', '/health', bearer(GARBAGE));
      assert.deepEqual(
        Object.keys(JSON.parse(garbage.body) as object),
        ['status'],
        `${name} with a bad token`,
      );
    }
    for (const url of [stack.gateway.url, stack.store.url, stack.dispatcher!.url]) {
      for (const path of ['/metrics', '/health']) {
        const a = await send(url, 'GET', path, bearer(T.operate));
        if (a.status === 404) continue;
        for (const s of SECRETS) assert.ok(!a.body.includes(s), `${url}${path} holds a token or secret`);
      }
    }
    const info = await send(stack.dashboard.url, 'GET', '/api/info', bearer(T.read));
    for (const s of SECRETS) assert.ok(!info.body.includes(s), '/api/info holds a token or secret');
  });

  it('a producer token refused elsewhere publishes nothing; the control does', async () => {
    const meeting = randomUUID();
    const event = JSON.stringify({ event_type: 'meeting.converged', payload: converged(meeting) });
    const gw = stack.gateway.url;
    // wrong scope, wrong route spelling, wrong method, a form body, a foreign origin
    for (const [method, path, headers] of [
      ['POST', '/events', { ...json, ...bearer(T.read) }],
      ['POST', '/events', { ...json, ...bearer(T.operate) }],
      ['POST', '/events/', { ...json, ...bearer(T.publish) }],
      ['POST', '//events', { ...json, ...bearer(T.publish) }],
      ['PUT', '/events', { ...json, ...bearer(T.publish) }],
      ['PATCH', '/publish', { ...json, ...bearer(T.publish) }],
      ['POST', '/events', { 'content-type': 'text/plain', ...bearer(T.publish) }],
      ['POST', '/events', { ...json, ...bearer(T.publish), origin: 'http://evil.example' }],
      ['POST', '/events', { ...json, ...bearer(T.publish), host: 'evil.example' }],
    ] as const) {
      const a = await send(gw, method, path, headers, event);
      assert.ok(
        a.status >= 400 && a.status < 500,
        `${method} ${path} ${JSON.stringify(headers)}: ${a.status}`,
      );
      refused(a, a.status, null, `${method} ${path}`);
    }
    const control = await send(gw, 'POST', '/events', { ...json, ...bearer(T.publish) }, event);
    assert.equal(control.status, 202, control.body);
    await waitFor('the control on the bus', 10_000, () => published(meeting));
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(delivered.filter((m) => m.includes(meeting)).length, 1, 'only the control was published');
  });

  it('slow clients are answered 408 and cut off within a minute on every part', {
    timeout: 130_000,
  }, async () => {
    const results = await Promise.all(slowClients);
    for (const r of results) {
      assert.equal(r.status, 408, `${r.what}: answered ${r.status} after ${r.ms} ms ${r.body.slice(0, 200)}`);
      assert.equal(
        problemDefect(r.status, r.contentType, r.body),
        null,
        `${r.what}: ${r.contentType} ${r.body}`,
      );
      assert.equal((JSON.parse(r.body) as { code: string }).code, 'REQUEST_TIMEOUT', r.what);
      assert.ok(r.ms < 75_000, `${r.what}: held for ${r.ms} ms`);
    }
  });
});

describe('the demo OpenClaw sink (npm start -- --demo without OPENCLAW_HOOK_TOKEN)', () => {
  it('answers only its token: no reading the dispatches without it, bounded bodies, one path', async () => {
    const sink = await startOpenClawDemoSink();
    try {
      const { origin, pathname } = new URL(sink.url);
      const dispatch = JSON.stringify({ message: `audit ${randomUUID()}`, name: 'audit' });
      for (const [what, method, headers] of [
        ['a read without a token', 'GET', {}],
        ['a read with a wrong token', 'GET', bearer(GARBAGE)],
        ['a dispatch without a token', 'POST', json],
        ['a dispatch with a wrong token', 'POST', { ...json, ...bearer(GARBAGE) }],
        [
          'a dispatch with the token one character short',
          'POST',
          { ...json, ...bearer(sink.token.slice(1)) },
        ],
      ] as const) {
        refused(
          await send(origin, method, pathname, headers, method === 'POST' ? dispatch : undefined),
          401,
          'UNAUTHORIZED',
          what,
        );
      }
      refused(await send(origin, 'GET', '/anything', bearer(sink.token)), 404, 'NOT_FOUND', 'another path');
      refused(
        await send(
          origin,
          'POST',
          pathname,
          { ...json, ...bearer(sink.token) },
          Buffer.alloc(2 * 1024 * 1024, 'x'),
        ),
        413,
        'BODY_TOO_LARGE',
        'a 2 MiB dispatch',
      );
      assert.equal(sink.received.length, 0, 'nothing refused was kept');
      // the control: the dispatcher's own call, then the inspection with the token
      const ok = await send(origin, 'POST', pathname, { ...json, ...bearer(sink.token) }, dispatch);
      assert.equal(ok.status, 202, ok.body);
      const seen = await send(origin, 'GET', pathname, bearer(sink.token));
      assert.equal(seen.status, 200);
      assert.ok(seen.body.includes(JSON.parse(dispatch).message));
    } finally {
      await sink.close();
    }
  });
});

describe('what `npm start -- --demo` logs (tokens on, LOG_LEVEL=debug)', { timeout: 240_000 }, () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'audit-logs-'));
  let run: ReturnType<typeof npmStart> | undefined;

  after(async () => {
    if (run && run.child.exitCode === null) {
      try {
        process.kill(-run.child.pid!, 'SIGKILL');
      } catch {} // already gone
      await run.closed;
    }
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('holds no token, session, signature or secret, whatever was sent', async () => {
    const garbage = randomBytes(24).toString('hex');
    const badSignature = randomBytes(32).toString('hex');
    run = npmStart(
      {
        LOG_LEVEL: 'debug',
        LOG_FORMAT: 'json',
        STACK_DATA_DIR: dataDir,
        BLOODBANK_PORT: '0',
        CANDYSTORE_PORT: '0',
        CANDYBAR_PORT: '0',
        INFRA_DISPATCHER_PORT: '0',
        AUTH_TOKENS: `${T.publish}=theboard:publish,${T.read}=auditor:read,${T.operate}=oncall:read+operate`,
        PLANE_WEBHOOK_SECRET: PLANE_SECRET,
      },
      true, // its own process group, so that the cleanup can end every process npm started
      ['--demo'],
    );
    await untilUp(run);
    const urlOf = (part: string) => {
      const m = new RegExp(`${part} \\([^)]*\\)\\s+(http://\\S+)`).exec(run!.io.out);
      assert.ok(m, `the banner names the ${part}: ${run!.io.out}`);
      return m[1]!;
    };
    const gw = urlOf('gateway');
    const store = urlOf('store');
    const dash = urlOf('dashboard');
    const login = await send(dash, 'POST', '/api/session', json, JSON.stringify({ token: T.read }));
    assert.equal(login.status, 200, login.body);
    const cookie = String(login.headers['set-cookie']).split(';')[0]!;
    const sessionId = cookie.split('=')[1]!;
    const event = JSON.stringify({ event_type: 'meeting.converged', payload: converged() });
    const body = readyPlaneTicket(randomUUID());
    const calls: [string, string, string, Record<string, string>, string?][] = [
      [gw, 'POST', '/events', { ...json, ...bearer(T.publish) }, event],
      [gw, 'POST', '/events', { ...json, ...bearer(garbage) }, event],
      [gw, 'POST', '/events', { ...json, ...bearer(T.read) }, event],
      [gw, 'GET', `/schemas?token=${garbage}`, bearer(T.read)],
      [gw, 'POST', '/webhooks/plane', { ...json, 'x-plane-signature': badSignature }, body],
      [store, 'GET', '/events?limit=1', bearer(T.operate)],
      [store, 'GET', `/events?access_token=${garbage}`, bearer(garbage)],
      [store, 'POST', '/replays', { ...json, ...bearer(T.operate) }, '{"target":{"queue":"x"}}'],
      [dash, 'GET', '/api/store/events?limit=1', { cookie }],
      [dash, 'GET', '/api/info', { cookie: `candybar_session=${garbage}` }],
      [dash, 'POST', '/api/session', json, JSON.stringify({ token: garbage })],
      [dash, 'GET', '/%ZZ', bearer(garbage)],
    ];
    for (const [base, method, path, headers, b] of calls) await send(base, method, path, headers, b);
    await new Promise((r) => setTimeout(r, 1500));
    // the whole process group, as a terminal's Ctrl-C (npm alone does not pass SIGTERM on)
    process.kill(-run.child.pid!, 'SIGTERM');
    await run.closed;
    const logs = `${run.io.out}\n${run.io.err}`;
    assert.ok(logs.includes('stopped.'), 'the run ended cleanly');
    for (const [what, secret] of [
      ...Object.entries(T).map(([k, v]) => [`the ${k} token`, v] as const),
      ['an unknown token sent', garbage],
      ['the Plane secret', PLANE_SECRET],
      ['the session id', sessionId],
      ['a webhook signature sent', badSignature],
    ] as const) {
      const line = logs.split('\n').find((l) => l.includes(secret));
      assert.equal(line, undefined, `the logs hold ${what}`);
    }
    // the demo's own token and the demo sink's are minted in memory: no bearer credential at all
    assert.doesNotMatch(logs, /bearer\s+[0-9a-z]{16,}/i, 'a bearer credential in the logs');
    assert.doesNotMatch(logs, /"authorization"|"cookie"/i, 'request credentials logged');
  });
});
