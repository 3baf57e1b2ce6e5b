// Bad push configuration is refused at start, each mistake named by its registry path.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AppError } from '@33god/core';
import { parseServiceRegistry } from '@33god/holyfields';
import { resolvePushSubscriptions } from '../../src/push/config.js';
import { answerError, deliveryRequest, retryAfterMs } from '../../src/push/delivery.js';
import { decodeWebhookSecret } from '../../src/push/signature.js';
import type { TopologyService } from '../../src/topology/registry.js';

const SECRET = `whsec_${Buffer.from('a secret of thirty-two bytes!!!!').toString('base64')}`;

function service(push: Record<string, unknown>, extra: Partial<TopologyService> = {}): TopologyService {
  return {
    id: 'foo',
    queues: ['foo.inbox'],
    routingKeys: ['order.#'],
    push: push as unknown as NonNullable<TopologyService['push']>,
    ...extra,
  };
}

function refused(services: TopologyService[], env: NodeJS.ProcessEnv, path: RegExp): void {
  assert.throws(
    () => resolvePushSubscriptions({ services }, env),
    (e: unknown) => e instanceof AppError && e.code === 'PUSH_CONFIG_INVALID' && path.test(e.message),
  );
}

describe('push configuration', () => {
  test('a complete subscription resolves with its defaults', () => {
    const [sub] = resolvePushSubscriptions(
      {
        services: [
          service({ url: 'https://hooks.example.test/in?token=x', secretEnv: 'S', routingKeys: ['pay.#'] }),
        ],
      },
      { S: SECRET },
    );
    assert.equal(sub!.queue, 'foo.inbox');
    assert.deepEqual(sub!.patterns, ['order.#', 'pay.#']);
    assert.equal(sub!.concurrency, 8);
    assert.equal(sub!.timeoutMs, 10_000);
    assert.equal(sub!.ordered, false);
    assert.deepEqual(sub!.secret, Buffer.from('a secret of thirty-two bytes!!!!'));
  });

  test('no URL, a non-http(s) URL, an unset or non-base64 secret, bad concurrency and timeout are refused by path', () => {
    refused([service({})], {}, /services\.foo\.push\.url is required/);
    refused([service({ url: 'ftp://files.example.test/x' })], {}, /services\.foo\.push\.url must be an http/);
    refused([service({ url: 'not a url' })], {}, /services\.foo\.push\.url is not a URL/);
    refused(
      [service({ url: 'http://127.0.0.1/x', secretEnv: 'NOPE' })],
      {},
      /services\.foo\.push\.secret_env names NOPE, which is not set/,
    );
    refused(
      [service({ url: 'http://127.0.0.1/x', secretEnv: 'S' })],
      { S: 'not base64!' },
      /services\.foo\.push\.secret_env names S, whose value is not base64/,
    );
    refused(
      [service({ url: 'http://127.0.0.1/x', concurrency: 0 })],
      {},
      /services\.foo\.push\.concurrency must be a whole number from 1 to 256, got 0/,
    );
    refused(
      [service({ url: 'http://127.0.0.1/x', concurrency: 2.5 })],
      {},
      /services\.foo\.push\.concurrency/,
    );
    refused([service({ url: 'http://127.0.0.1/x', timeoutMs: 5 })], {}, /services\.foo\.push\.timeout_ms/);
    refused(
      [service({ url: 'http://127.0.0.1/x' }, { queues: ['a', 'b'] })],
      {},
      /services\.foo\.push needs the service to have one queue/,
    );
  });

  test('every mistake is reported at once, and the secret value never appears', () => {
    const bad = 'whsec_!!!secret-value!!!';
    try {
      resolvePushSubscriptions(
        { services: [service({ secretEnv: 'S' }), { ...service({ url: 'gopher://x' }), id: 'bar' }] },
        { S: bad },
      );
      assert.fail('expected a refusal');
    } catch (e) {
      assert.ok(e instanceof AppError);
      assert.match(e.message, /services\.foo\.push\.url/);
      assert.match(e.message, /services\.foo\.push\.secret_env/);
      assert.match(e.message, /services\.bar\.push\.url/);
      assert.equal(e.violations.length, 3);
      assert.ok(!e.message.includes('secret-value'));
    }
  });

  test('deprecated services and services without push are skipped', () => {
    const subs = resolvePushSubscriptions(
      {
        services: [service({}, { status: 'deprecated' }), { id: 'plain', queues: ['p'], routingKeys: ['#'] }],
      },
      {},
    );
    assert.deepEqual(subs, []);
  });

  test('the registry file: schema and lint refuse bad push entries with their path', () => {
    const yaml = (push: string) => `services:\n  foo:\n    routing_keys: ["order.#"]\n    push: ${push}\n`;
    const ok = parseServiceRegistry(
      yaml('{ url: "http://127.0.0.1:9/x", routing_keys: ["pay.#"], ordered: true }'),
    );
    const foo = ok.services[0]!;
    assert.deepEqual(foo.queues, ['foo.push'], 'a push service without a queue gets <id>.push');
    assert.deepEqual(foo.routingKeys, ['order.#', 'pay.#']);
    assert.equal(foo.push?.ordered, true);
    const invalid = (push: string, what: RegExp) =>
      assert.throws(
        () => parseServiceRegistry(yaml(push)),
        (e: unknown) =>
          e instanceof AppError &&
          e.code === 'REGISTRY_INVALID' &&
          e.violations.some((v) => what.test(`${v.pointer} ${v.message}`)),
      );
    invalid('{ url: "file:///etc/passwd" }', /services\.foo\.push\.url must be an http/);
    invalid('{ ordered: true }', /services\.foo\.push\.url is required/);
    invalid('{ url: "http://x/", concurrency: 0 }', /\/services\/foo\/push\/concurrency/);
    invalid('{ url: "http://x/", secret_env: "1BAD" }', /\/services\/foo\/push\/secret_env/);
    invalid('{ url: "http://x/", follow: true }', /\/services\/foo\/push/);
  });
});

describe('push delivery rules', () => {
  test('secrets: whsec_ prefix optional, base64 required', () => {
    assert.deepEqual(decodeWebhookSecret('whsec_AAEC'), Buffer.from([0, 1, 2]));
    assert.deepEqual(decodeWebhookSecret('AAEC'), Buffer.from([0, 1, 2]));
    assert.equal(decodeWebhookSecret('whsec_'), null);
    assert.equal(decodeWebhookSecret('a-b_c'), null);
  });

  test('answers: 2xx taken; 408, 429, 5xx retryable; other 4xx and 3xx rejected', () => {
    const a = (status: number, retryAfter?: string) => answerError({ status, retryAfter, body: 'why' });
    assert.equal(a(200), null);
    assert.equal(a(204), null);
    for (const s of [408, 429, 500, 502, 503]) assert.equal(a(s)?.code, 'PUSH_DELIVERY_FAILED', String(s));
    for (const s of [400, 401, 404, 410, 422]) assert.equal(a(s)?.code, 'PUSH_DELIVERY_REJECTED', String(s));
    assert.match(a(302)!.message, /redirects are not followed/);
    assert.equal(a(429, '7')?.extra.retry_after_ms, 7000);
  });

  test('Retry-After: seconds or an HTTP date, bounded', () => {
    const now = () => Date.parse('2026-12-07T00:00:00Z');
    assert.equal(retryAfterMs('3', now), 3000);
    assert.equal(retryAfterMs('Mon, 07 Dec 2026 00:00:10 GMT', now), 10_000);
    assert.equal(retryAfterMs('999999', now), 600_000);
    assert.equal(retryAfterMs('soon', now), undefined);
  });

  test('unsigned without a key; trace headers only when well-formed', () => {
    const event = {
      event_id: '0193a0c4-0000-7000-8000-000000000001',
      event_type: 'order.item.added',
      timestamp: '2026-12-07T00:00:00.000Z',
      version: '1.0.0',
      source: { app: 'shop', host: 'h', trigger_type: 'api' as const },
      correlation_id: null,
      causation_id: null,
      payload: {},
      traceparent: 'bad\r\nheader: injected',
    };
    const r = deliveryRequest(event, null);
    assert.equal(r.headers['webhook-signature'], undefined);
    assert.equal(r.headers['webhook-id'], event.event_id);
    assert.equal(r.headers.traceparent, undefined);
  });
});
