import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { waitFor } from '../helpers.js';
import { collectPageErrors, screenshot, text } from './browser.js';
import { type Stack, startStack } from './stack.js';

const SCHEMAS = resolve(import.meta.dirname, '../../../../schemas');

/**
 * The topology and the service panel show a push subscription: its URL from the registry, its
 * state and recent failures from the real gateway's /health, which runs the subscription
 * against a real local endpoint that keeps failing (so the circuit opens).
 */
describe('push subscriptions in Chromium', { timeout: 120_000 }, () => {
  let endpoint: Server;
  let stack: Stack;

  before(async () => {
    endpoint = createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(503).end('maintenance window'));
    });
    await new Promise<void>((r) => endpoint.listen(0, '127.0.0.1', r));
    const port = (endpoint.address() as AddressInfo).port;
    stack = await startStack({
      backend: 'embedded',
      registry: `services:\n  hook:\n    name: "hook"\n    routing_keys: ["test.#"]\n    push:\n      url: "http://127.0.0.1:${port}/in?token=hidden"\n      ordered: true\n`,
      gateway: {
        // The default exchange, and schema updates subscribed to, as `npm start` runs it.
        exchange: undefined,
        subscribeSchemaUpdates: undefined,
        schemasDir: SCHEMAS,
        push: {
          retry: { maxAttempts: 20, initialDelayMs: 20, maxDelayMs: 50, jitter: 0 },
          breaker: { failureThreshold: 2, cooldownMs: 60_000 },
        },
      },
    });
    const res = await fetch(`${stack.gateway.url}/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ event_type: 'test.thing.happened', payload: { n: 1 } }),
    });
    assert.equal(res.status, 202);
    await waitFor(
      async () => stack.gateway.push?.status()[0]?.state === 'paused',
      20_000,
      'the circuit to open',
    );
  });

  after(async () => {
    await stack?.stop();
    await new Promise<void>((r) => (endpoint ? endpoint.close(() => r()) : r()));
  });

  test('the node shows the push state, the panel the URL, the state and the failures', async () => {
    const page = await stack.browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const errors = collectPageErrors(page);
    await page.goto(`${stack.candybar.url}/#/topology`);
    const badge = page.locator('[data-node-id="hook"] [data-push]');
    await badge.waitFor({ timeout: 10_000 });
    await waitFor(
      async () => (await badge.getAttribute('data-push')) === 'paused',
      15_000,
      'the badge to say paused',
    );
    assert.match(await text(badge), /push paused · \d+ failing/);

    await page.click('[data-node-id="hook"]');
    const panel = page.locator('[data-testid="push-section"]');
    await panel.waitFor({ timeout: 10_000 });
    const url = await text(panel.locator('[data-push-url]'));
    assert.match(url, /POST http:\/\/127\.0\.0\.1:\d+\/in$/);
    assert.ok(!url.includes('token'), 'the query (it may hold a token) is not shown');
    assert.equal(await panel.locator('[data-push-state]').getAttribute('data-push-state'), 'paused');
    assert.match(await text(panel), /ordered by correlation/);
    const failures = panel.locator('[data-testid="push-failures"] tr');
    assert.ok((await failures.count()) >= 2);
    assert.match(await text(failures.first()), /503.*endpoint answered 503: maintenance window/);
    await screenshot(page, 'push-panel');
    assert.deepEqual(errors, []);
    await page.close();
  });
});
