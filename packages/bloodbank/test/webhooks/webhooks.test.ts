import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { describe, test } from 'node:test';
import { accessConfigFromEnv, isUuid } from '@33god/core';
import { v5 as uuidv5 } from 'uuid';
import { startGateway } from '../../src/gateway/server.js';
import { WEBHOOK_ID_NAMESPACE, webhookEventId } from '../../src/webhooks/ingest.js';
import { DEFAULT_PROVIDERS, type WebhookProvider } from '../../src/webhooks/providers.js';
import { signBody } from '../../src/webhooks/signature.js';
import {
  backends,
  expectProblem,
  type Harness,
  harness,
  json,
  rand,
  SCHEMAS_DIR,
} from '../gateway/helpers.js';

const T = { timeout: 30_000 };
const PLANE_SECRET = 'plane-secret-123';
const GITHUB_SECRET = 'github-secret-456';
const secrets = { webhookSecrets: { plane: PLANE_SECRET, github: GITHUB_SECRET } };

const hmac = (secret: string, body: string) => createHmac('sha256', secret).update(body).digest('hex');
/** The delivery key of a provider that signs no delivery id: the body's digest. */
const bodyKey = (body: string) => `sha256:${createHash('sha256').update(body).digest('hex')}`;

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

/** A second gateway on the same exchange: no memory shared with the first. */
function otherInstance(h: Harness) {
  return startGateway({
    port: 0,
    transport: h.transport,
    exchange: h.exchange,
    // the first gateway's dead-letter exchange (the harness deletes it), not the default's
    dlx: `${h.exchange}.dlx`,
    schemasDir: SCHEMAS_DIR,
    registryPath: null,
    healthIntervalMs: 0,
    watchSchemas: false,
    subscribeSchemaUpdates: false,
    logLevel: 'silent',
    ...secrets,
  });
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
        // v1 signs no delivery id: the event is known by its body (the header is reported).
        assert.equal(answer.event_id, uuidv5(`plane:${bodyKey(body)}`, WEBHOOK_ID_NAMESPACE));
        assert.equal(answer.delivery_id, delivery);
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
          const other = await otherInstance(h);
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

    test(
      'GitHub: a redelivery with a fresh X-GitHub-Delivery but the same signed body is a duplicate',
      T,
      async () => {
        const h = await harness(backend, secrets);
        try {
          const body = JSON.stringify({ action: 'labeled', issue: { number: 8, title: rand() } });
          const signed = {
            'x-hub-signature-256': `sha256=${hmac(GITHUB_SECRET, body)}`,
            'x-github-event': 'issues',
          };
          const first = await send(h, 'github', body, {
            ...signed,
            'x-github-delivery': crypto.randomUUID(),
          });
          assert.equal(first.status, 202);
          const id = ((await first.json()) as Record<string, string>).event_id;
          assert.equal(id, webhookEventId('github', bodyKey(body)));
          // The header is not covered by the HMAC: whoever captured the delivery can change it.
          const replay = await send(h, 'github', body, {
            ...signed,
            'x-github-delivery': crypto.randomUUID(),
          });
          assert.equal(replay.status, 200);
          assert.deepEqual(
            (({ duplicate, event_id }) => ({ duplicate, event_id }))(
              (await replay.json()) as Record<string, unknown>,
            ),
            { duplicate: true, event_id: id },
          );
          await h.readBack.take(1);
          assert.equal(await h.readBack.settle(200), 1);
          // Another instance, or this one after its memory moved on, derives the same id, so
          // consumers that keep event ids (the store, the dispatcher) drop the replay.
          const other = await otherInstance(h);
          try {
            const again = await fetch(`${other.url}/webhooks/github`, {
              method: 'POST',
              headers: {
                'content-type': 'application/json',
                ...signed,
                'x-github-delivery': crypto.randomUUID(),
              },
              body,
            });
            assert.equal(again.status, 202);
            assert.equal(json((await h.readBack.take(2))[1]!).event_id, id);
          } finally {
            await other.close();
          }
          // A different body is a different delivery, whatever its header says.
          const next = JSON.stringify({ action: 'unlabeled', issue: { number: 8 } });
          const distinct = await send(h, 'github', next, {
            'x-hub-signature-256': `sha256=${hmac(GITHUB_SECRET, next)}`,
            'x-github-event': 'issues',
          });
          assert.equal(distinct.status, 202);
          assert.notEqual(((await distinct.json()) as Record<string, string>).event_id, id);
        } finally {
          await h.close();
        }
      },
    );

    test('Plane: the signed delivery_id is the key, not the X-Plane-Delivery header', T, async () => {
      const h = await harness(backend, secrets);
      try {
        const delivery = crypto.randomUUID();
        const v2 = JSON.stringify(planeV2(delivery));
        const v2Signed = { 'x-plane-signature': hmac(PLANE_SECRET, v2) };
        const first = await send(h, 'plane', v2, { ...v2Signed, 'x-plane-delivery': crypto.randomUUID() });
        assert.equal(first.status, 202);
        const answer = (await first.json()) as Record<string, unknown>;
        assert.equal(answer.delivery_id, delivery);
        assert.equal(answer.event_id, webhookEventId('plane', delivery));
        const replay = await send(h, 'plane', v2, { ...v2Signed, 'x-plane-delivery': crypto.randomUUID() });
        assert.equal(replay.status, 200);
        assert.equal(((await replay.json()) as Record<string, unknown>).duplicate, true);
        // v1 carries no id in its body: the body is the key, so a fresh header does not help either.
        const v1 = JSON.stringify(planeV1());
        const v1Signed = { 'x-plane-signature': hmac(PLANE_SECRET, v1) };
        assert.equal((await send(h, 'plane', v1, { ...v1Signed, 'x-plane-delivery': 'a' })).status, 202);
        assert.equal((await send(h, 'plane', v1, { ...v1Signed, 'x-plane-delivery': 'b' })).status, 200);
        await h.readBack.take(2);
        assert.equal(await h.readBack.settle(200), 2);
      } finally {
        await h.close();
      }
    });

    test(
      'with tokens on, a webhook needs its signature and no token; its source stays the provider',
      T,
      async () => {
        const h = await harness(backend, {
          ...secrets,
          access: accessConfigFromEnv({ AUTH_TOKENS: 'tok-svc=svc:publish+read+operate' }),
        });
        try {
          const body = JSON.stringify(planeV1());
          // Providers send no bearer token (and may label the body as they like).
          const res = await fetch(`${h.url}/webhooks/plane`, {
            method: 'POST',
            headers: { 'content-type': 'text/plain', 'x-plane-signature': hmac(PLANE_SECRET, body) },
            body,
          });
          assert.equal(res.status, 202, await res.clone().text());
          const [d] = await h.readBack.take(1);
          assert.equal((json(d!).source as Record<string, string>).app, 'plane');
          assert.equal((json(d!).source as Record<string, string>).trigger_type, 'webhook');
          await expectProblem(
            await send(h, 'plane', body, { 'x-plane-signature': hmac('guess', body) }),
            401,
            'WEBHOOK_SIGNATURE_INVALID',
          );
          assert.equal(await h.readBack.settle(), 1);
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
        assert.equal(((await res.json()) as Record<string, unknown>).delivery_id, delivery);
        const [d] = await h.readBack.take(1);
        const env = json(d!);
        assert.equal(env.event_type, 'webhook.github.issues.opened');
        assert.equal(env.event_id, webhookEventId('github', bodyKey(body)));
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

    test('bad, missing or short signature, malformed JSON: 4xx and nothing published', T, async () => {
      const h = await harness(backend, secrets);
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
        // Named, but not what the webhook.plane schema describes (no data): checked by the pipeline.
        const noData = JSON.stringify({ event: 'issue', action: 'updated' });
        await expectProblem(
          await send(h, 'plane', noData, { 'x-plane-signature': hmac(PLANE_SECRET, noData) }),
          422,
          'WEBHOOK_PAYLOAD_INVALID',
        );
        // Bodies over the webhook limit: provider-deliveries.test.ts.
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
    });

    test(
      'a new provider is configuration only (sha512, base64, v1= prefix, event name in the body)',
      T,
      async () => {
        const acme: WebhookProvider = {
          id: 'acme',
          app: 'acme-ci',
          secretEnv: 'ACME_WEBHOOK_SECRET',
          signature: { header: 'x-acme-signature', algorithm: 'sha512', prefix: 'v1=', encoding: 'base64' },
          deliveryId: [{ body: 'delivery.id' }],
          deliveryHeader: 'x-acme-delivery',
          eventName: [{ body: 'kind' }],
          action: [{ body: 'status' }],
        };
        const h = await harness(backend, {
          webhookProviders: [...DEFAULT_PROVIDERS, acme],
          webhookSecrets: { acme: 's3' },
        });
        try {
          const body = JSON.stringify({ kind: 'Build', status: 'Passed', id: 9, delivery: { id: 'd-1' } });
          const res = await send(h, 'acme', body, {
            'x-acme-signature': signBody(acme.signature, 's3', body),
            'x-acme-delivery': 'unsigned-1',
          });
          assert.equal(res.status, 202, await res.clone().text());
          // The signed body's id wins over the header.
          assert.equal(((await res.json()) as Record<string, unknown>).delivery_id, 'd-1');
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
