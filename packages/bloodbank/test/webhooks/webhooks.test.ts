import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, test } from 'node:test';
import { isUuid } from '@33god/core';
import { v5 as uuidv5 } from 'uuid';
import { WEBHOOK_ID_NAMESPACE, webhookEventId } from '../../src/webhooks/ingest.js';
import { DEFAULT_PROVIDERS, type WebhookProvider } from '../../src/webhooks/providers.js';
import { signBody } from '../../src/webhooks/signature.js';
import { backends, type Harness, harness, json, rand } from '../gateway/helpers.js';

const T = { timeout: 30_000 };
const PLANE_SECRET = 'plane-secret-123';
const GITHUB_SECRET = 'github-secret-456';
const secrets = { webhookSecrets: { plane: PLANE_SECRET, github: GITHUB_SECRET } };

const hmac = (secret: string, body: string) => createHmac('sha256', secret).update(body).digest('hex');

function send(h: Harness, provider: string, body: string, headers: Record<string, string>) {
  return fetch(`${h.url}/webhooks/${provider}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });
}

const planeV1 = () => ({
  event: 'issue',
  action: 'created',
  webhook_id: 'wh-1',
  workspace_id: 'ws-1',
  data: { id: `issue-${rand()}`, name: 'Fix it', state: { name: 'Todo', group: 'unstarted' }, labels: [] },
  activity: { actor: { id: 'u1', display_name: 'Jane' } },
});

// Plane v2 names the action in the dot-notation event and sends no `action` member.
const planeV2 = (deliveryId: string) => ({
  event: 'workitem.created',
  delivery_id: deliveryId,
  event_id: `plane-evt-${rand()}`,
  webhook_id: 'wh-2',
  workspace_id: 'ws-1',
  data: { id: `wi-${rand()}`, name: 'New work item' },
  previous_attributes: null,
});

async function expectProblem(res: Response, status: number, code: string) {
  const text = await res.text();
  assert.equal(res.status, status, text);
  assert.match(res.headers.get('content-type') ?? '', /problem\+json/);
  assert.equal(JSON.parse(text).code, code);
}

for (const backend of backends) {
  describe(`webhooks (${backend.name})`, () => {
    test('signed Plane v1 webhook is published as webhook.plane.issue.created', T, async () => {
      const h = await harness(backend, secrets);
      try {
        const body = JSON.stringify(planeV1());
        const delivery = crypto.randomUUID();
        const res = await send(h, 'plane', body, {
          'x-plane-signature': hmac(PLANE_SECRET, body),
          'x-plane-delivery': delivery,
          'x-plane-event': 'issue',
        });
        assert.equal(res.status, 202);
        const answer = (await res.json()) as Record<string, unknown>;
        assert.equal(answer.event_type, 'webhook.plane.issue.created');
        assert.equal(answer.event_id, uuidv5(`plane:${delivery}`, WEBHOOK_ID_NAMESPACE));
        assert.equal(answer.duplicate, false);
        const [d] = await h.readBack.take(1);
        const env = json(d!);
        assert.equal(d!.routingKey, 'webhook.plane.issue.created');
        assert.equal(env.event_id, answer.event_id);
        assert.deepEqual(env.payload, JSON.parse(body));
        const source = env.source as Record<string, string>;
        assert.equal(source.app, 'plane');
        assert.equal(source.trigger_type, 'webhook');
        assert.ok(source.host);
        assert.equal(env.correlation_id, env.event_id);
      } finally {
        await h.close();
      }
    });

    test('signed Plane v2 webhook (dot-notation event, delivery_id in the body)', T, async () => {
      const h = await harness(backend, secrets);
      try {
        const delivery = crypto.randomUUID();
        const body = JSON.stringify(planeV2(delivery));
        // v2 without the header: the body's delivery_id is the delivery id.
        const res = await send(h, 'plane', body, { 'x-plane-signature': hmac(PLANE_SECRET, body) });
        assert.equal(res.status, 202);
        const answer = (await res.json()) as Record<string, unknown>;
        assert.equal(answer.event_type, 'webhook.plane.workitem.created');
        assert.equal(answer.delivery_id, delivery);
        assert.equal(answer.event_id, webhookEventId('plane', delivery));
        const [d] = await h.readBack.take(1);
        assert.equal(json(d!).event_type, 'webhook.plane.workitem.created');
        assert.deepEqual(json(d!).payload, JSON.parse(body));
      } finally {
        await h.close();
      }
    });

    test(
      'a redelivery answers 200 duplicate and is not republished; another instance derives the same id',
      T,
      async () => {
        const h = await harness(backend, secrets);
        try {
          const body = JSON.stringify(planeV1());
          const headers = {
            'x-plane-signature': hmac(PLANE_SECRET, body),
            'x-plane-delivery': crypto.randomUUID(),
          };
          const first = await send(h, 'plane', body, headers);
          assert.equal(first.status, 202);
          const id = ((await first.json()) as Record<string, string>).event_id;
          const [again, concurrent] = await Promise.all([
            send(h, 'plane', body, headers),
            send(h, 'plane', body, headers),
          ]);
          for (const r of [again, concurrent]) {
            assert.equal(r.status, 200);
            assert.deepEqual(
              { duplicate: true, event_id: id },
              (({ duplicate, event_id }) => ({ duplicate, event_id }))(
                (await r.json()) as Record<string, unknown>,
              ),
            );
          }
          await h.readBack.take(1);
          assert.equal(await h.readBack.settle(200), 1);
          // A second gateway (no shared memory) publishes again, with the same event id.
          const { startGateway } = await import('../../src/gateway/server.js');
          const other = await startGateway({
            port: 0,
            transport: h.transport,
            exchange: h.exchange,
            schemasDir: (await import('../gateway/helpers.js')).SCHEMAS_DIR,
            registryPath: null,
            healthIntervalMs: 0,
            watchSchemas: false,
            subscribeSchemaUpdates: false,
            logLevel: 'silent',
            ...secrets,
          });
          try {
            const res = await fetch(`${other.url}/webhooks/plane`, {
              method: 'POST',
              headers: { 'content-type': 'application/json', ...headers },
              body,
            });
            assert.equal(res.status, 202);
            const got = await h.readBack.take(2);
            assert.equal(json(got[1]!).event_id, id);
          } finally {
            await other.close();
          }
        } finally {
          await h.close();
        }
      },
    );

    test('GitHub provider: X-Hub-Signature-256 and X-GitHub-Event + action', T, async () => {
      const h = await harness(backend, secrets);
      try {
        const body = JSON.stringify({
          action: 'opened',
          issue: { number: 7, title: 'Bug' },
          repository: { full_name: 'o/r' },
        });
        const delivery = crypto.randomUUID();
        const res = await send(h, 'github', body, {
          'x-hub-signature-256': `sha256=${hmac(GITHUB_SECRET, body)}`,
          'x-github-delivery': delivery,
          'x-github-event': 'issues',
        });
        assert.equal(res.status, 202, await res.clone().text());
        const [d] = await h.readBack.take(1);
        const env = json(d!);
        assert.equal(env.event_type, 'webhook.github.issues.opened');
        assert.equal(env.event_id, webhookEventId('github', delivery));
        assert.equal((env.source as Record<string, string>).app, 'github');
        assert.deepEqual(env.payload, JSON.parse(body));
        // The Plane secret does not sign GitHub deliveries.
        const wrong = await send(h, 'github', body, {
          'x-hub-signature-256': `sha256=${hmac(PLANE_SECRET, body)}`,
          'x-github-delivery': crypto.randomUUID(),
          'x-github-event': 'issues',
        });
        await expectProblem(wrong, 401, 'WEBHOOK_SIGNATURE_INVALID');
        // Without the sha256= prefix the header does not match the scheme.
        const bare = await send(h, 'github', body, {
          'x-hub-signature-256': hmac(GITHUB_SECRET, body),
          'x-github-delivery': crypto.randomUUID(),
          'x-github-event': 'issues',
        });
        await expectProblem(bare, 401, 'WEBHOOK_SIGNATURE_INVALID');
        assert.equal(await h.readBack.settle(), 1);
      } finally {
        await h.close();
      }
    });

    test(
      'bad, missing or short signature, malformed JSON, oversized body: 4xx and nothing published',
      T,
      async () => {
        const h = await harness(backend, { ...secrets, bodyLimit: 4096 });
        try {
          const body = JSON.stringify(planeV1());
          const delivery = { 'x-plane-delivery': crypto.randomUUID() };
          await expectProblem(await send(h, 'plane', body, delivery), 401, 'WEBHOOK_SIGNATURE_MISSING');
          await expectProblem(
            await send(h, 'plane', body, { ...delivery, 'x-plane-signature': hmac('wrong-secret', body) }),
            401,
            'WEBHOOK_SIGNATURE_INVALID',
          );
          await expectProblem(
            await send(h, 'plane', body, { ...delivery, 'x-plane-signature': 'abc' }),
            401,
            'WEBHOOK_SIGNATURE_INVALID',
          );
          // Signed over a different body (tampered in transit).
          await expectProblem(
            await send(h, 'plane', body.replace('Fix it', 'Fix me'), {
              ...delivery,
              'x-plane-signature': hmac(PLANE_SECRET, body),
            }),
            401,
            'WEBHOOK_SIGNATURE_INVALID',
          );
          const broken = '{"event": "issue", "action": ';
          await expectProblem(
            await send(h, 'plane', broken, { ...delivery, 'x-plane-signature': hmac(PLANE_SECRET, broken) }),
            400,
            'MALFORMED_JSON',
          );
          const noName = JSON.stringify({ data: {} });
          await expectProblem(
            await send(h, 'plane', noName, { 'x-plane-signature': hmac(PLANE_SECRET, noName) }),
            422,
            'WEBHOOK_PAYLOAD_INVALID',
          );
          const huge = JSON.stringify({ ...planeV1(), data: { blob: 'x'.repeat(8192) } });
          await expectProblem(
            await send(h, 'plane', huge, { ...delivery, 'x-plane-signature': hmac(PLANE_SECRET, huge) }),
            413,
            'BODY_TOO_LARGE',
          );
          await expectProblem(await send(h, 'jira', body, {}), 404, 'WEBHOOK_UNKNOWN_PROVIDER');
          assert.equal(await h.readBack.settle(), 0);
          // The same delivery, correctly signed, still goes through: failures were not remembered.
          const ok = await send(h, 'plane', body, {
            ...delivery,
            'x-plane-signature': hmac(PLANE_SECRET, body),
          });
          assert.equal(ok.status, 202);
          await h.readBack.take(1);
        } finally {
          await h.close();
        }
      },
    );

    test(
      'a new provider is configuration only (sha512, base64, v1= prefix, event name in the body)',
      T,
      async () => {
        const acme: WebhookProvider = {
          id: 'acme',
          app: 'acme-ci',
          secretEnv: 'ACME_WEBHOOK_SECRET',
          signature: { header: 'x-acme-signature', algorithm: 'sha512', prefix: 'v1=', encoding: 'base64' },
          deliveryId: [{ header: 'x-acme-delivery' }],
          eventName: [{ body: 'kind' }],
          action: [{ body: 'status' }],
        };
        const h = await harness(backend, {
          webhookProviders: [...DEFAULT_PROVIDERS, acme],
          webhookSecrets: { acme: 's3' },
        });
        try {
          const body = JSON.stringify({ kind: 'Build', status: 'Passed', id: 9 });
          const res = await send(h, 'acme', body, {
            'x-acme-signature': signBody(acme.signature, 's3', body),
            'x-acme-delivery': 'd-1',
          });
          assert.equal(res.status, 202, await res.clone().text());
          const [d] = await h.readBack.take(1);
          assert.equal(json(d!).event_type, 'webhook.acme.build.passed');
          assert.equal(json(d!).event_id, webhookEventId('acme', 'd-1'));
          assert.equal((json(d!).source as Record<string, string>).app, 'acme-ci');
        } finally {
          await h.close();
        }
      },
    );

    test('secret unset: 503 WEBHOOK_NOT_CONFIGURED, even for a body that would verify', T, async () => {
      const h = await harness(backend, { webhookSecrets: { github: GITHUB_SECRET } });
      try {
        const body = JSON.stringify(planeV1());
        const res = await send(h, 'plane', body, { 'x-plane-signature': hmac('', body) });
        await expectProblem(res, 503, 'WEBHOOK_NOT_CONFIGURED');
        assert.equal(await h.readBack.settle(), 0);
        assert.ok(isUuid(webhookEventId('plane', 'x')));
      } finally {
        await h.close();
      }
    });
  });
}
