// The gateway runs the registry's push subscriptions and shows them on /health and /metrics.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { AppError } from '@33god/core';
import { startGateway } from '../../src/gateway/server.js';
import { createEmbeddedTransport, EmbeddedBroker } from '../../src/transport/index.js';
import { SCHEMAS_DIR } from '../gateway/helpers.js';
import { waitFor } from '../sdk/backends.js';
import { startReceiver } from './receiver.js';

const T = { timeout: 30_000 };

function registry(url: string, secretEnv = 'HOOK_SECRET'): string {
  const dir = mkdtempSync(join(tmpdir(), 'bb-push-'));
  const file = join(dir, 'registry.yaml');
  writeFileSync(
    file,
    `services:\n  hook:\n    queue_name: "test.hook.push"\n    routing_keys: ["test.#"]\n    push:\n      url: "${url}"\n      secret_env: "${secretEnv}"\n`,
  );
  return file;
}

const base = {
  port: 0,
  schemasDir: SCHEMAS_DIR,
  healthIntervalMs: 0,
  watchSchemas: false,
  unknownTypes: 'allow' as const,
  exchange: 'test.push.events',
  dlx: 'test.push.dlx',
  logLevel: 'silent',
};

describe('push subscriptions in the gateway', () => {
  test('delivers published events and reports the subscription on /health and /metrics', T, async () => {
    const receiver = await startReceiver();
    const transport = createEmbeddedTransport({ broker: new EmbeddedBroker() });
    const gw = await startGateway({
      ...base,
      transport,
      registryPath: registry(`${receiver.url}?token=do-not-show`),
      env: { HOOK_SECRET: 'whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ=' },
    });
    try {
      const res = await fetch(`${gw.url}/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ event_type: 'test.thing.happened', payload: { n: 1 } }),
      });
      assert.equal(res.status, 202);
      await waitFor(() => receiver.received.length === 1, 'the pushed event');
      assert.match(String(receiver.received[0]!.headers['webhook-signature']), /^v1,/);
      await waitFor(() => gw.push?.status()[0]?.delivered === 1, 'the delivery counted');
      const health = (await (await fetch(`${gw.url}/health`)).json()) as {
        push: { service: string; url: string; state: string; signed: boolean }[];
      };
      assert.equal(health.push.length, 1);
      assert.equal(health.push[0]!.service, 'hook');
      assert.equal(health.push[0]!.state, 'delivering');
      assert.equal(health.push[0]!.url, receiver.url, 'no query string (it may hold a token)');
      assert.equal(health.push[0]!.signed, true);
      assert.ok(!JSON.stringify(health).includes('c2VjcmV0'), 'the secret is never shown');
      const metrics = await (await fetch(`${gw.url}/metrics`)).text();
      assert.match(metrics, /bloodbank_push_deliveries_total\{service="hook",outcome="delivered"\} 1/);
      assert.match(metrics, /bloodbank_push_state\{service="hook",state="delivering"\} 1/);
    } finally {
      await gw.close();
      await transport.close();
      await receiver.close();
    }
  });

  test('a push subscription whose secret_env is unset refuses the start, naming the path', T, async () => {
    const transport = createEmbeddedTransport({ broker: new EmbeddedBroker() });
    try {
      await assert.rejects(
        startGateway({
          ...base,
          transport,
          registryPath: registry('http://127.0.0.1:9/x', 'UNSET_SECRET'),
          env: {},
        }),
        (e: unknown) =>
          e instanceof AppError &&
          e.code === 'PUSH_CONFIG_INVALID' &&
          /services\.hook\.push\.secret_env names UNSET_SECRET, which is not set/.test(e.message),
      );
    } finally {
      await transport.close();
    }
  });

  test('push: false leaves the subscriptions to `bloodbank push`', T, async () => {
    const transport = createEmbeddedTransport({ broker: new EmbeddedBroker() });
    const gw = await startGateway({
      ...base,
      transport,
      registryPath: registry('http://127.0.0.1:9/x', 'UNSET'),
      push: false,
    });
    try {
      assert.equal(gw.push, null);
    } finally {
      await gw.close();
      await transport.close();
    }
  });
});
