import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  applyTopology,
  createDeadLetterOperations,
  createEmbeddedTransport,
  type Delivery,
  deadLetter,
  EmbeddedBroker,
  type Gateway,
  startGateway,
  type TopologySummary,
  type Transport,
} from '@33god/bloodbank';
import { type RunningCandystore, startCandystore } from '@33god/candystore';
import { type AccessConfig, OPEN_ACCESS, parseTokenEntries } from '@33god/core';
import { loadServiceRegistry } from '@33god/holyfields';
import type { Browser, Page } from 'playwright-core';
import { type CandybarServer, startCandybar } from '../../src/index.js';
import { waitFor } from '../helpers.js';
import { buildWebApp, collectPageErrors, launch, screenshot, text } from './browser.js';
import { takeOne } from './deliveries.js';

const READER = `reader-${randomBytes(12).toString('hex')}`;
const OPERATOR = `operator-${randomBytes(12).toString('hex')}`;
const SHOP = `shop-${randomBytes(12).toString('hex')}`;

/**
 * The same AUTH_TOKENS for every part, as an operator would set them: the dashboard asks for a
 * token once and passes it on to the real gateway and the real store, each of which checks it.
 * On the embedded broker: what is under test is the door, not the broker.
 */
const ACCESS: AccessConfig = {
  ...OPEN_ACCESS,
  tokens: parseTokenEntries(
    `${READER}=rita:read,${OPERATOR}=otto:read+operate,${SHOP}=shop:publish`,
    'e2e tokens',
  ),
};

describe('candybar login and scopes, every part with tokens (embedded broker)', { timeout: 120_000 }, () => {
  const id = randomBytes(4).toString('hex');
  const exchange = `test.${id}.events`;
  const dlx = `test.${id}.dlx`;
  const ordersQueue = `test.${id}.orders`;
  const storeQueue = `test.${id}.candystore`;
  let topology: TopologySummary;
  let transport: Transport;
  let store: RunningCandystore;
  let gateway: Gateway;
  let candybar: CandybarServer;
  let browser: Browser;

  before(async () => {
    const staticDir = buildWebApp();
    const dir = mkdtempSync(join(tmpdir(), 'candybar-auth-e2e-'));
    const registryPath = join(dir, 'registry.yaml');
    writeFileSync(
      registryPath,
      [
        'version: "1.0"',
        'exchange: { name: "bloodbank.events.v1", type: "topic", durable: true }',
        'services:',
        '  shop:',
        '    name: "shop"',
        '    description: "e2e producer"',
        '    type: "event-producer"',
        '    status: "active"',
        '    produces: ["shop.order.placed"]',
        '  orders:',
        '    name: "orders"',
        '    description: "e2e consumer"',
        '    type: "event-consumer"',
        '    status: "active"',
        `    queue_name: "${ordersQueue}"`,
        '    routing_keys: ["shop.order.#"]',
        '',
      ].join('\n'),
    );
    transport = createEmbeddedTransport({ broker: new EmbeddedBroker() });
    const registry = await loadServiceRegistry(registryPath);
    topology = await applyTopology(transport, registry, { exchange, dlx, monitorQueue: false });
    store = await startCandystore({
      port: 0,
      transport,
      exchange,
      queue: storeQueue,
      dlx,
      dataDir: join(dir, 'store'),
      batchMaxWaitMs: 10,
      logLevel: 'silent',
      access: ACCESS,
    });
    gateway = await startGateway({
      port: 0,
      transport,
      exchange,
      registryPath,
      unknownTypes: 'allow',
      healthIntervalMs: 0,
      watchSchemas: false,
      subscribeSchemaUpdates: false,
      deadLetters: createDeadLetterOperations(transport, { registry, topology: { exchange, dlx } }),
      logLevel: 'silent',
      access: ACCESS,
    });
    candybar = await startCandybar({
      port: 0,
      staticDir,
      registryPath,
      storeUrl: store.url,
      busUrl: gateway.url,
      access: ACCESS,
    });
    browser = await launch();
  });

  after(async () => {
    await browser?.close();
    await candybar?.close();
    await gateway?.close();
    await store?.close();
    if (transport) {
      for (const q of topology?.plan.queues.map((x) => x.name) ?? []) {
        await transport.deleteQueue(q).catch(() => undefined);
      }
      await transport.close();
    }
  });

  /** A dead letter in the orders queue, put there by the SDK's dead-letter path. */
  async function deadLetterOne(reason: string): Promise<string> {
    const res = await fetch(`${gateway.url}/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${SHOP}` },
      body: JSON.stringify({ event_type: 'shop.order.placed', payload: { reason } }),
    });
    assert.equal(res.status, 202, await res.clone().text());
    const { event_id } = (await res.json()) as { event_id: string };
    await takeFromOrders(event_id, (d) =>
      deadLetter(transport, d, { error: new Error(reason), handler: 'e2e-orders', attempts: 2 }, { dlx }),
    );
    await waitFor(
      async () => {
        const r = await fetch(`${gateway.url}/dead-letters/${encodeURIComponent(ordersQueue)}`, {
          headers: { authorization: `Bearer ${READER}` },
        });
        const body = (await r.json()) as { items?: { event_id: string }[] };
        return body.items?.some((d) => d.event_id === event_id);
      },
      10_000,
      'the dead letter',
    );
    return event_id;
  }

  const takeFromOrders = (eventId: string, settle?: (d: Delivery) => Promise<void>) =>
    takeOne(transport, ordersQueue, eventId, settle);

  /** A fresh browser (no cookies) at `path`, logged in with `token` through the login page. */
  async function logIn(token: string, path: string): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1500, height: 950 } });
    const page = await context.newPage();
    await page.goto(`${candybar.url}/${path}`);
    await page.locator('[data-testid="login"]').waitFor({ timeout: 10_000 });
    await page.fill('[data-testid="login"] input[name="token"]', token);
    await page.click('[data-testid="log-in"]');
    await page.locator('[data-testid="principal"]').waitFor({ timeout: 10_000 });
    return page;
  }

  test('the page asks for a token first and refuses a wrong one', { timeout: 30_000 }, async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const errors = collectPageErrors(page);
    await page.goto(`${candybar.url}/#/stream`);
    await page.locator('[data-testid="login"]').waitFor({ timeout: 10_000 });
    assert.equal(await page.locator('nav.nav').count(), 0, 'nothing else shown');
    await page.fill('[data-testid="login"] input[name="token"]', 'not-a-token');
    await page.click('[data-testid="log-in"]');
    const error = page.locator('[data-testid="login-error"]');
    await error.waitFor({ timeout: 5000 });
    assert.match(await text(error), /not valid/);
    await screenshot(page, 'login');
    // The token never reaches script-readable storage: the cookie is HttpOnly.
    await page.fill('[data-testid="login"] input[name="token"]', READER);
    await page.click('[data-testid="log-in"]');
    await page.locator('[data-testid="principal"]', { hasText: 'rita' }).waitFor({ timeout: 10_000 });
    assert.equal(await page.evaluate('document.cookie'), '');
    const [cookie] = await context.cookies();
    assert.equal(cookie?.name, 'candybar_session');
    assert.equal(cookie?.httpOnly, true);
    assert.equal(cookie?.sameSite, 'Strict');
    assert.deepEqual(errors, []);
    await context.close();
  });

  test('a read token: the live stream and the dead letters show, but no redrive, discard or publish', {
    timeout: 40_000,
  }, async () => {
    const eventId = await deadLetterOne('read-only can look');
    const page = await logIn(READER, '#/stream');
    // The stream socket reached the store with the session's token (the store has tokens on).
    await page.waitForFunction(
      `document.querySelector('[data-testid="live-status"]')?.textContent?.includes('live')`,
      null,
      { timeout: 10_000 },
    );
    await page.locator(`[data-event-id="${eventId}"]`).first().waitFor({ timeout: 10_000 });

    await page.goto(`${candybar.url}/#/dead-letters/${encodeURIComponent(ordersQueue)}`);
    const row = page.locator(`[data-dead-letter][data-event-id="${eventId}"]`);
    await row.waitFor({ timeout: 10_000 });
    assert.match(await text(row), /read-only can look/);
    await row.click();
    await page.locator('[data-testid="dlq-inspector"]').waitFor();
    assert.equal(await page.locator('[data-testid="redrive-selected"]').count(), 0);
    assert.equal(await page.locator('[data-testid="redrive-all"]').count(), 0);
    assert.equal(await page.locator('button', { hasText: /^(Redrive|Discard)/ }).count(), 0);
    await screenshot(page, 'dead-letters-read-only');

    await page.goto(`${candybar.url}/#/schemas/test.event.created`);
    await page.locator('[data-testid="schemas-view"] h2').waitFor({ timeout: 10_000 });
    assert.equal(await page.locator('[data-testid="publish-form"]').count(), 0);

    // What the page hides the server refuses: the gateway sees the session's read token.
    const status = await page.evaluate(
      `fetch('/api/bus/dead-letters/${encodeURIComponent(ordersQueue)}/redrive', {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }).then((r) => r.status)`,
    );
    assert.equal(status, 403);
    await page.context().close();
  });

  test('a read+operate token redrives a dead letter; logging out asks for the token again', {
    timeout: 40_000,
  }, async () => {
    const eventId = await deadLetterOne('operator will fix');
    const page = await logIn(OPERATOR, `#/dead-letters/${encodeURIComponent(ordersQueue)}`);
    assert.equal(await text(page.locator('[data-testid="principal"]')), 'otto');
    const row = page.locator(`[data-dead-letter][data-event-id="${eventId}"]`);
    await row.waitFor({ timeout: 10_000 });
    await row.click();
    await page.click('[data-testid="redrive-selected"]');
    await page.locator('role=dialog[name="Redrive dead letters?"]').waitFor();
    await page.click('[data-testid="confirm"]');
    await page.locator('[data-testid="toast"]', { hasText: '1 redriven' }).waitFor({ timeout: 5000 });
    await row.waitFor({ state: 'detached', timeout: 5000 });
    const again = await takeFromOrders(eventId);
    assert.equal(JSON.parse(again.body.toString('utf8')).event_id, eventId);

    await page.click('[data-testid="log-out"]');
    await page.locator('[data-testid="login"]').waitFor({ timeout: 5000 });
    assert.equal(await page.evaluate(`fetch('/api/registry').then((r) => r.status)`), 401);
    await page.context().close();
  });
});
