// The attacks of issue 21, each against the whole system as `npm start -- --demo` runs it, on
// the real RabbitMQ and PostgreSQL, with tokens configured: every one must be refused. Each
// part's own suite tests its refusals in detail; this one proves they hold where the parts
// meet (the dashboard's proxy, the dispatcher behind the gateway, the store behind the
// dashboard), and keeps a control for each refusal that shows the same request, made
// legitimately, goes through.
import assert from 'node:assert/strict';
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { type RunningStack, startStack } from '@33god/all-in-one';
import { createTransport, DEFAULT_RETRY_TIERS_MS, retryQueueName } from '@33god/bloodbank';
import { isAppError } from '@33god/core';
import pg from 'pg';
import WebSocket from 'ws';
import { TEST_AMQP_URL, TEST_DATABASE_URL, waitFor } from '../faults/support.js';

const id = randomBytes(4).toString('hex');
const exchange = `test.${id}.events`;
const dlx = `test.${id}.dlx`;
const dbName = `security_test_${id}`;
const PLANE_SECRET = randomBytes(16).toString('hex');
const T = {
  publish: randomBytes(16).toString('hex'), // theboard: may publish meeting.*
  read: randomBytes(16).toString('hex'),
  operate: randomBytes(16).toString('hex'),
};

const readyTicket = (issueId: string) => ({
  event: 'issue',
  action: 'updated',
  webhook_id: 'security-test',
  workspace_id: 'security-test',
  data: {
    id: issueId,
    name: 'forged or not',
    sequence_id: 7,
    project: 'p-infra',
    state: { name: 'Todo', group: 'unstarted' },
    labels: ['ready', 'automation:go', 'comp:candybar', 'agent:grolf'].map((name) => ({
      id: randomUUID(),
      name,
    })),
  },
});

/** A raw HTTP request: fetch() would not send a forged Host header. */
function raw(
  url: string,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string,
): Promise<{ status: number; body: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const r = request({ host: u.hostname, port: u.port, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
      );
    });
    r.on('error', reject);
    r.end(body);
  });
}

/** Opens a WebSocket; resolves with the HTTP status of a refused upgrade, or 101. */
function upgrade(url: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.on('open', () => {
      ws.close();
      resolve(101);
    });
    ws.on('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
      ws.terminate();
    });
    ws.on('error', (err) => reject(err));
  });
}

/** A valid `meeting.converged` payload: theboard's own event type. */
const converged = () => ({
  meeting_id: randomUUID(),
  round_num: 4,
  avg_novelty: 0.12,
  novelty_threshold: 0.2,
  total_comments: 37,
});

const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
const json = { 'content-type': 'application/json' };

describe('attacks on the whole system (RabbitMQ, PostgreSQL, tokens on)', { timeout: 240_000 }, () => {
  let stack: RunningStack;
  const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });

  before(async () => {
    await admin.connect();
    await admin.query(`CREATE DATABASE ${dbName}`);
    const dbUrl = new URL(TEST_DATABASE_URL);
    dbUrl.pathname = `/${dbName}`;
    stack = await startStack({
      demo: true,
      inMemory: true,
      ports: { gateway: 0, store: 0, dashboard: 0, dispatcher: 0 },
      demoTicketIntervalSeconds: 5,
      env: {
        PATH: process.env.PATH,
        LOG_LEVEL: 'silent',
        AMQP_URL: TEST_AMQP_URL,
        DATABASE_URL: dbUrl.toString(),
        BLOODBANK_EXCHANGE: exchange,
        BLOODBANK_DLX: dlx,
        CANDYSTORE_QUEUE: `test.${id}.candystore`,
        INFRA_DISPATCH_QUEUE: `test.${id}.dispatcher`,
        PLANE_WEBHOOK_SECRET: PLANE_SECRET,
        AUTH_TOKENS: `${T.publish}=theboard:publish,${T.read}=auditor:read,${T.operate}=oncall:read+operate`,
      },
    });
  });

  after(async () => {
    await stack?.close();
    await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    await admin.end();
    const t = await createTransport({ url: TEST_AMQP_URL });
    const queues = [
      'agent_runner.dispatches',
      'theboard.tasks',
      'worktree_manager.events',
      'smoke_tester.events',
      `test.${id}.candystore`,
      `test.${id}.dispatcher`,
      `${dlx}.monitor`,
      `${exchange}.unroutable`,
    ];
    for (const q of queues)
      for (const name of [q, `${q}.dlq`, ...DEFAULT_RETRY_TIERS_MS.map((tier) => retryQueueName(q, tier))])
        await t.deleteQueue(name).catch(() => {});
    for (const x of [exchange, dlx, `${exchange}.unroutable`]) await t.deleteExchange(x).catch(() => {});
    await t.close();
  });

  async function dispatchEventsFor(issueId: string): Promise<unknown[]> {
    const res = await fetch(
      `${stack.store.url}/events?type=infra.dispatch.%23&payload.issue_id=${issueId}&limit=10`,
      { headers: bearer(T.read) },
    );
    assert.equal(res.status, 200);
    return ((await res.json()) as { items: unknown[] }).items;
  }

  it('a forged Plane ticket is refused on every publishing route and never reaches the dispatcher; the signed one does', async () => {
    const forged = randomUUID();
    const envelope = { event_type: 'webhook.plane.issue.updated', payload: readyTicket(forged) };
    const gw = stack.gateway.url;
    const attempts: [string, RequestInit][] = [
      [
        '/publish',
        { method: 'POST', headers: { ...json, ...bearer(T.publish) }, body: JSON.stringify(envelope) },
      ],
      [
        '/events',
        { method: 'POST', headers: { ...json, ...bearer(T.publish) }, body: JSON.stringify(envelope) },
      ],
      [
        '/events/batch',
        { method: 'POST', headers: { ...json, ...bearer(T.publish) }, body: JSON.stringify([envelope]) },
      ],
      [
        '/events',
        {
          method: 'POST',
          headers: { 'content-type': 'application/cloudevents+json', ...bearer(T.publish) },
          body: JSON.stringify({
            specversion: '1.0',
            id: randomUUID(),
            source: '/plane',
            type: envelope.event_type,
            data: envelope.payload,
          }),
        },
      ],
      [
        '/events',
        {
          method: 'POST',
          headers: {
            ...json,
            ...bearer(T.publish),
            'ce-specversion': '1.0',
            'ce-id': randomUUID(),
            'ce-source': '/plane',
            'ce-type': envelope.event_type,
          },
          body: JSON.stringify(envelope.payload),
        },
      ],
      // an allowed type that claims to come from a webhook
      [
        '/events',
        {
          method: 'POST',
          headers: { ...json, ...bearer(T.publish) },
          body: JSON.stringify({
            event_type: 'meeting.converged',
            source: { trigger_type: 'webhook' },
            payload: converged(),
          }),
        },
      ],
    ];
    for (const [path, init] of attempts) {
      const res = await fetch(`${gw}${path}`, init);
      const doc = (await res.json()) as { code: string };
      assert.equal(res.status, 403, `${path} ${String(init.body).slice(0, 80)}`);
      assert.equal(doc.code, 'WEBHOOK_TYPE_FORBIDDEN', path);
      assert.equal(res.headers.get('content-type'), 'application/problem+json; charset=utf-8');
    }
    // without a token the door answers first
    const anonymous = await fetch(`${gw}/publish`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify(envelope),
    });
    assert.equal(anonymous.status, 401);

    // The control: the same ticket, signed by Plane's secret, dispatches.
    const control = randomUUID();
    const body = JSON.stringify(readyTicket(control));
    const signed = await fetch(`${gw}/webhooks/plane`, {
      method: 'POST',
      headers: {
        ...json,
        'x-plane-event': 'issue',
        'x-plane-delivery': randomUUID(),
        'x-plane-signature': createHmac('sha256', PLANE_SECRET).update(body).digest('hex'),
      },
      body,
    });
    assert.equal(signed.status, 202);
    await waitFor('the signed ticket to be handled by the dispatcher', 60_000, async () => {
      const items = await dispatchEventsFor(control);
      return items.length > 0 ? items : undefined;
    });
    // The dispatcher's queue is in order: the forged attempts came before the control.
    assert.deepEqual(await dispatchEventsFor(forged), [], 'a forged ticket reached the dispatcher');
  });

  it('a producer cannot speak for another service; its own name is filled in', async () => {
    const payload = converged();
    const spoof = await fetch(`${stack.gateway.url}/events`, {
      method: 'POST',
      headers: { ...json, ...bearer(T.publish) },
      body: JSON.stringify({ event_type: 'meeting.converged', source: { app: 'agent-runner' }, payload }),
    });
    assert.equal(spoof.status, 403);
    assert.equal(((await spoof.json()) as { code: string }).code, 'FORBIDDEN_SOURCE');
    const own = await fetch(`${stack.gateway.url}/events`, {
      method: 'POST',
      headers: { ...json, ...bearer(T.publish) },
      body: JSON.stringify({ event_type: 'meeting.converged', payload }),
    });
    assert.equal(own.status, 202, await own.clone().text());
    const { event_id } = (await own.json()) as { event_id: string };
    const stored = await waitFor('the event in the store', 30_000, async () => {
      const res = await fetch(`${stack.store.url}/events/${event_id}`, { headers: bearer(T.read) });
      return res.status === 200 ? ((await res.json()) as { source: { app: string } }) : undefined;
    });
    assert.equal(stored.source.app, 'theboard');
  });

  it('each scope opens only its own routes, on every part and through the dashboard', async () => {
    const gw = stack.gateway.url;
    const store = stack.store.url;
    const dash = stack.dashboard.url;
    const publishBody = JSON.stringify({ event_type: 'meeting.converged', payload: converged() });
    const replayBody = JSON.stringify({ target: { exchange }, filter: { type: 'none.such.type' } });
    // [what, url, method, body, expected status for none, publish, read, operate]
    const matrix: [string, string, string, string | undefined, number[]][] = [
      ['publish', `${gw}/events`, 'POST', publishBody, [401, 202, 403, 403]],
      ['schemas', `${gw}/schemas`, 'GET', undefined, [401, 403, 200, 200]],
      ['dead letters', `${gw}/dead-letters`, 'GET', undefined, [401, 403, 200, 200]],
      ['query', `${store}/events?limit=1`, 'GET', undefined, [401, 403, 200, 200]],
      ['stats', `${store}/stats`, 'GET', undefined, [401, 403, 200, 200]],
      // past the door, the store looks the chain up (and finds none)
      ['correlations', `${store}/correlations/${randomUUID()}`, 'GET', undefined, [401, 403, 404, 404]],
      ['replay', `${store}/replays`, 'POST', replayBody, [401, 403, 403, 202]],
      ['query via dashboard', `${dash}/api/store/events?limit=1`, 'GET', undefined, [401, 403, 200, 200]],
      ['registry via dashboard', `${dash}/api/registry`, 'GET', undefined, [401, 403, 200, 200]],
    ];
    const tokens = [null, T.publish, T.read, T.operate];
    for (const [what, url, method, body, expected] of matrix) {
      const got: number[] = [];
      for (const t of tokens) {
        const res = await fetch(url, {
          method,
          headers: { ...json, ...(t ? bearer(t) : {}) },
          ...(body ? { body } : {}),
        });
        got.push(res.status);
        if (res.status === 401) assert.match(String(res.headers.get('www-authenticate')), /^Bearer/, what);
        await res.arrayBuffer();
      }
      assert.deepEqual(got, expected, `${what}: statuses for no token, publish, read, operate`);
    }
    const health = await fetch(`${store}/health`);
    assert.deepEqual(Object.keys((await health.json()) as object), ['status']);
  });

  it('replays go only into the main exchange or a registry queue', async () => {
    const res = await fetch(`${stack.store.url}/replays`, {
      method: 'POST',
      headers: { ...json, ...bearer(T.operate) },
      body: JSON.stringify({ target: { queue: 'attacker.inbox' }, filter: { type: 'meeting.#' } }),
    });
    assert.equal(res.status, 403);
    assert.equal(((await res.json()) as { code: string }).code, 'REPLAY_TARGET_FORBIDDEN');
  });

  it('browsers are held to Host and Origin on every part, HTTP and WebSocket', async () => {
    const parts = [stack.gateway.url, stack.store.url, stack.dashboard.url, stack.dispatcher!.url];
    for (const url of parts) {
      const rebound = await raw(url, 'GET', '/health', { host: 'attacker.example:80' });
      assert.equal(rebound.status, 421, `${url} with a rebound Host`);
      assert.equal((JSON.parse(rebound.body) as { code: string }).code, 'HOST_NOT_ALLOWED');
    }
    const storeWs = `${stack.store.url.replace('http', 'ws')}/stream?from=0`;
    const dashWs = `${stack.dashboard.url.replace('http', 'ws')}/api/store/stream?from=0`;
    assert.equal(await upgrade(storeWs, { origin: 'http://attacker.example', ...bearer(T.read) }), 403);
    assert.equal(await upgrade(dashWs, { origin: 'http://attacker.example', ...bearer(T.read) }), 403);
    assert.equal(await upgrade(storeWs, bearer(T.read)), 101, 'the control: a client without Origin');
    assert.equal(
      await upgrade(dashWs, { origin: stack.dashboard.url, ...bearer(T.read) }),
      101,
      'the dashboard itself',
    );
    // a no-cors POST from another page: text/plain, no Authorization (the cookie would ride along)
    for (const [url, path] of [
      [stack.gateway.url, '/dead-letters/theboard.tasks/redrive'],
      [stack.dashboard.url, '/api/bus/dead-letters/theboard.tasks/redrive'],
    ] as const) {
      const simple = await raw(
        url,
        'POST',
        path,
        { host: new URL(url).host, 'content-type': 'text/plain' },
        '',
      );
      assert.ok([401, 403, 415].includes(simple.status), `${url}${path}: ${simple.status}`);
      const crossSite = await raw(
        url,
        'POST',
        path,
        {
          host: new URL(url).host,
          origin: 'http://attacker.example',
          'content-type': 'application/json',
          ...bearer(T.operate),
        },
        '{}',
      );
      assert.equal(crossSite.status, 403, `${url}${path} from another origin`);
    }
  });

  it('a pathological pattern is refused before it reaches the matcher', async () => {
    const pattern = `${'#.'.repeat(126)}zz`;
    const viaDashboard = await fetch(
      `${stack.dashboard.url}/api/store/events?type=${encodeURIComponent(pattern)}&limit=1`,
      { headers: bearer(T.read) },
    );
    assert.equal(viaDashboard.status, 400);
    assert.match(((await viaDashboard.json()) as { detail: string }).detail, /at most/);
    const ws = `${stack.store.url.replace('http', 'ws')}/stream?type=${encodeURIComponent(pattern)}`;
    assert.equal(await upgrade(ws, bearer(T.read)), 400);
  });

  it('refuses to start on every interface without tokens', async () => {
    await assert.rejects(
      startStack({ inMemory: true, host: '0.0.0.0', env: { PATH: process.env.PATH, LOG_LEVEL: 'silent' } }),
      (err: unknown) => isAppError(err) && err.code === 'CONFIG_INVALID' && /AUTH_TOKENS/.test(err.message),
    );
  });
});
