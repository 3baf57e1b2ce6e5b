import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { accessConfigFromEnv, OPEN_ACCESS } from '@33god/core';
import { startGateway } from '../../src/gateway/server.js';
import {
  embedded,
  expectProblem,
  type Harness,
  harness,
  json,
  rand,
  rawRequest,
  registryFile,
  SCHEMAS_DIR,
} from './helpers.js';

// The door (`@33god/core`'s AccessGuard) in front of the gateway's routes. What it decides does
// not depend on the broker, so these run on the embedded one; the policy tests run on both.

const T = { timeout: 30_000 };
const TOKENS =
  'tok-pub=svc:publish,tok-read=viewer:read,tok-op=ops:operate,tok-admin=admin:publish+read+operate';
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const valid = { event_type: 'test.event.created', payload: { message: 'x' } };

async function withTokens(queue: string): Promise<Harness> {
  return harness(embedded, {
    registryPath: registryFile({ svc: ['test.event.created'] }, { svc: queue }),
    access: accessConfigFromEnv({ AUTH_TOKENS: TOKENS }),
  });
}

function call(
  h: Harness,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: unknown,
) {
  return fetch(`${h.url}${path}`, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

describe('gateway access (embedded)', () => {
  test('no token: 401 with WWW-Authenticate on every guarded route, 404s included', T, async () => {
    const queue = `test.${rand()}.svc`;
    const h = await withTokens(queue);
    try {
      for (const [method, path, body] of [
        ['POST', '/events', valid],
        ['POST', '/publish', valid],
        ['POST', '/events/batch', [valid]],
        ['GET', '/schemas', undefined],
        ['GET', '/schemas/test.event.created', undefined],
        ['GET', '/metrics', undefined],
        ['GET', '/dead-letters', undefined],
        ['GET', `/dead-letters/${queue}`, undefined],
        ['POST', `/dead-letters/${queue}/redrive`, {}],
        ['DELETE', `/dead-letters/${queue}`, {}],
        // closed by default: an unknown route says nothing to a stranger
        ['GET', '/nope', undefined],
      ] as const) {
        const res = await call(h, method, path, {}, body);
        const doc = await expectProblem(res, 401, 'UNAUTHORIZED');
        assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer/, `${method} ${path}`);
        assert.ok(doc.detail, `${method} ${path}`);
      }
      const wrong = await call(h, 'POST', '/events', bearer('not-a-token'), valid);
      await expectProblem(wrong, 401, 'UNAUTHORIZED');
      assert.match(wrong.headers.get('www-authenticate') ?? '', /^Bearer/);
      assert.equal(await h.readBack.settle(), 0);
    } finally {
      await h.close();
    }
  });

  test('public routes: /health trimmed to its status for anonymous callers, docs open', T, async () => {
    const h = await withTokens(`test.${rand()}.svc`);
    try {
      for (const headers of [{}, bearer('not-a-token')]) {
        const anonymous = await call(h, 'GET', '/health', headers);
        assert.equal(anonymous.status, 200);
        assert.deepEqual(await anonymous.json(), { status: 'ok' });
      }
      for (const token of ['tok-read', 'tok-pub', 'tok-op']) {
        const full = (await (await call(h, 'GET', '/health', bearer(token))).json()) as Record<
          string,
          unknown
        >;
        assert.equal(full.status, 'ok');
        assert.equal((full.broker as Record<string, unknown>).kind, 'embedded', token);
      }
      const spec = await call(h, 'GET', '/openapi.json');
      assert.equal(spec.status, 200);
      assert.ok(((await spec.json()) as { paths: Record<string, unknown> }).paths['/events']);
      const docs = await call(h, 'GET', '/docs');
      assert.equal(docs.status, 200);
      assert.match(await docs.text(), /swagger/i);
      assert.equal((await call(h, 'GET', '/docs/json')).status, 200);
    } finally {
      await h.close();
    }
  });

  test('each scope opens its routes and no other (scopes do not imply each other)', T, async () => {
    const queue = `test.${rand()}.svc`;
    const h = await withTokens(queue);
    try {
      await h.transport.assertQueue(queue, { durable: false });
      await h.transport.assertQueue(`${queue}.dlq`, { durable: false });
      const asPub = bearer('tok-pub');
      const asRead = bearer('tok-read');
      const asOp = bearer('tok-op');

      // publish: publishes, reads and operates nothing
      assert.equal((await call(h, 'POST', '/events', asPub, valid)).status, 202);
      assert.equal((await call(h, 'POST', '/events/batch', asPub, [valid])).status, 202);
      for (const [method, path, body] of [
        ['GET', '/dead-letters', undefined],
        ['GET', `/dead-letters/${queue}`, undefined],
        ['GET', `/dead-letters/${queue}/some-id`, undefined],
        ['POST', `/dead-letters/${queue}/redrive`, {}],
        ['DELETE', `/dead-letters/${queue}`, {}],
        ['GET', '/schemas', undefined],
        ['GET', '/metrics', undefined],
      ] as const) {
        await expectProblem(await call(h, method, path, asPub, body), 403, 'FORBIDDEN_SCOPE');
      }

      // read: lists and shows, neither publishes nor operates
      for (const path of [
        '/schemas',
        '/schemas/test.event.created',
        '/metrics',
        '/dead-letters',
        `/dead-letters/${queue}`,
      ]) {
        assert.equal((await call(h, 'GET', path, asRead)).status, 200, path);
      }
      for (const [method, path, body] of [
        ['POST', '/events', valid],
        ['POST', '/publish', valid],
        ['POST', `/dead-letters/${queue}/redrive`, {}],
        ['DELETE', `/dead-letters/${queue}`, {}],
      ] as const) {
        await expectProblem(await call(h, method, path, asRead, body), 403, 'FORBIDDEN_SCOPE');
      }

      // operate: redrives and purges, neither publishes nor reads
      const redrive = await call(h, 'POST', `/dead-letters/${queue}/redrive`, asOp, {});
      assert.equal(redrive.status, 200, await redrive.clone().text());
      assert.equal((await call(h, 'DELETE', `/dead-letters/${queue}`, asOp, {})).status, 200);
      for (const [method, path, body] of [
        ['POST', '/events', valid],
        ['POST', '/publish', valid],
        ['POST', '/events/batch', [valid]],
        ['GET', '/dead-letters', undefined],
      ] as const) {
        await expectProblem(await call(h, method, path, asOp, body), 403, 'FORBIDDEN_SCOPE');
      }

      // every scope, but the registry still decides what a principal produces
      await expectProblem(
        await call(h, 'POST', '/events', bearer('tok-admin'), valid),
        403,
        'FORBIDDEN_EVENT_TYPE',
      );

      const got = await h.readBack.take(2);
      assert.deepEqual(
        got.map((d) => (json(d).source as Record<string, string>).app),
        ['svc', 'svc'],
      );
      assert.equal(await h.readBack.settle(), 2);
    } finally {
      await h.transport.deleteQueue(queue).catch(() => {});
      await h.transport.deleteQueue(`${queue}.dlq`).catch(() => {});
      await h.close();
    }
  });

  test('Host, Origin and content type are checked before the token', T, async () => {
    const h = await harness(embedded, {
      registryPath: registryFile({ svc: ['test.event.created'] }),
      access: accessConfigFromEnv({ AUTH_TOKENS: TOKENS, ALLOWED_HOSTS: 'bus.example.com' }),
    });
    try {
      const port = new URL(h.url).port;
      const body = JSON.stringify(valid);
      const asPub = { 'content-type': 'application/json', ...bearer('tok-pub') };
      // DNS rebinding: a page of evil.example whose name now resolves to this machine
      for (const [method, path] of [
        ['GET', '/health'],
        ['POST', '/events'],
      ]) {
        const rebound = await rawRequest(`${h.url}${path}`, {
          method,
          headers: { ...asPub, host: `evil.example:${port}` },
          body: method === 'POST' ? body : undefined,
        });
        await expectProblem(rebound, 421, 'HOST_NOT_ALLOWED');
      }
      for (const host of [`localhost:${port}`, `bus.example.com:${port}`]) {
        const ok = await rawRequest(`${h.url}/events`, { method: 'POST', headers: { ...asPub, host }, body });
        assert.equal(ok.status, 202, host);
      }
      // another site's page posting with the visitor's browser
      const crossOrigin = await call(
        h,
        'POST',
        '/events',
        { ...bearer('tok-pub'), origin: 'https://evil.example' },
        valid,
      );
      await expectProblem(crossOrigin, 403, 'ORIGIN_NOT_ALLOWED');
      const sameOrigin = await call(h, 'POST', '/events', { ...bearer('tok-pub'), origin: h.url }, valid);
      assert.equal(sameOrigin.status, 202);
      // a CORS-simple POST (what a form or a no-cors fetch can send): 415 before any 401
      for (const type of [
        'text/plain',
        'application/x-www-form-urlencoded',
        'multipart/form-data; boundary=x',
      ]) {
        const simple = await fetch(`${h.url}/publish`, {
          method: 'POST',
          headers: { 'content-type': type },
          body,
        });
        await expectProblem(simple, 415, 'UNSUPPORTED_MEDIA_TYPE');
      }
      assert.equal((await h.readBack.take(3)).length, 3);
      assert.equal(await h.readBack.settle(), 3);
    } finally {
      await h.close();
    }
  });

  test('rate limits are per principal: two tokens of one principal share a bucket', T, async () => {
    const h = await harness(embedded, {
      registryPath: registryFile({ svc: ['test.event.created'], other: ['test.event.created'] }),
      access: accessConfigFromEnv({ AUTH_TOKENS: 'a1=svc:publish,a2=svc:publish,b=other:publish' }),
      rateLimit: '2/min',
    });
    try {
      assert.equal((await call(h, 'POST', '/publish', bearer('a1'), valid)).status, 202);
      assert.equal((await call(h, 'POST', '/publish', bearer('a2'), valid)).status, 202);
      await expectProblem(await call(h, 'POST', '/publish', bearer('a1'), valid), 429, 'RATE_LIMITED');
      assert.equal((await call(h, 'POST', '/publish', bearer('b'), valid)).status, 202);
    } finally {
      await h.close();
    }
  });
});

describe('gateway bind (embedded)', () => {
  const base = {
    port: 0,
    schemasDir: SCHEMAS_DIR,
    registryPath: null,
    healthIntervalMs: 0,
    watchSchemas: false,
    logLevel: 'silent',
  } as const;

  test('loopback by default; the url is the address really bound', T, async () => {
    const gw = await startGateway(base);
    try {
      assert.match(gw.url, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.equal((await fetch(`${gw.url}/health`)).status, 200);
    } finally {
      await gw.close();
    }
    const local = await startGateway({ ...base, host: 'localhost' });
    try {
      assert.match(local.url, /^http:\/\/(127\.0\.0\.1|\[::1\]):\d+$/);
      assert.equal((await fetch(`${local.url}/health`)).status, 200);
    } finally {
      await local.close();
    }
  });

  test('every interface without tokens is refused unless ALLOW_UNAUTHENTICATED', T, async () => {
    await assert.rejects(startGateway({ ...base, host: '0.0.0.0' }), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'CONFIG_INVALID');
      assert.match(err.message, /every interface \(0\.0\.0\.0\) with no tokens/);
      assert.match(err.message, /BLOODBANK_HOST/);
      assert.match(err.message, /ALLOW_UNAUTHENTICATED/);
      return true;
    });
    const open = await startGateway({
      ...base,
      host: '0.0.0.0',
      access: { ...OPEN_ACCESS, allowUnauthenticated: true },
    });
    try {
      assert.match(open.url, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.equal((await fetch(`${open.url}/health`)).status, 200);
    } finally {
      await open.close();
    }
    const guarded = await startGateway({
      ...base,
      host: '0.0.0.0',
      access: accessConfigFromEnv({ AUTH_TOKENS: TOKENS }),
    });
    try {
      const anonymous = await fetch(`${guarded.url}/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(valid),
      });
      await expectProblem(anonymous, 401, 'UNAUTHORIZED');
    } finally {
      await guarded.close();
    }
  });
});
