import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { type Delivery, deadLetter } from '@33god/bloodbank';
import { type AccessConfig, OPEN_ACCESS, parseTokenEntries } from '@33god/core';
import type { Page } from 'playwright-core';
import { waitFor } from '../helpers.js';
import { collectPageErrors, screenshot, text } from './browser.js';
import { takeOne } from './deliveries.js';
import { type Stack, shopRegistry, stackNames, startStack } from './stack.js';

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
  const names = stackNames();
  const { dlx, ordersQueue } = names;
  let stack: Stack;

  before(async () => {
    stack = await startStack({
      backend: 'embedded',
      names,
      registry: shopRegistry(ordersQueue, ['shop.order.placed']),
      topology: true,
      store: 'disk',
      access: ACCESS,
    });
  });

  after(async () => {
    await stack?.stop();
  });

  /** A dead letter in the orders queue, put there by the SDK's dead-letter path. */
  async function deadLetterOne(reason: string): Promise<string> {
    const res = await fetch(`${stack.gateway.url}/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${SHOP}` },
      body: JSON.stringify({ event_type: 'shop.order.placed', payload: { reason } }),
    });
    assert.equal(res.status, 202, await res.clone().text());
    const { event_id } = (await res.json()) as { event_id: string };
    await takeFromOrders(event_id, (d) =>
      deadLetter(
        stack.transport,
        d,
        { error: new Error(reason), handler: 'e2e-orders', attempts: 2 },
        { dlx },
      ),
    );
    await waitFor(
      async () => {
        const r = await fetch(`${stack.gateway.url}/dead-letters/${encodeURIComponent(ordersQueue)}`, {
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
    takeOne(stack.transport, ordersQueue, eventId, settle);

  /** A fresh browser (no cookies) at `path`, logged in with `token` through the login page. */
  async function logIn(token: string, path: string): Promise<Page> {
    const context = await stack.browser.newContext({ viewport: { width: 1500, height: 950 } });
    const page = await context.newPage();
    await page.goto(`${stack.candybar.url}/${path}`);
    await page.locator('[data-testid="login"]').waitFor({ timeout: 10_000 });
    await page.fill('[data-testid="login"] input[name="token"]', token);
    await page.click('[data-testid="log-in"]');
    await page.locator('[data-testid="principal"]').waitFor({ timeout: 10_000 });
    return page;
  }

  test('the page asks for a token first and refuses a wrong one', { timeout: 30_000 }, async () => {
    const context = await stack.browser.newContext();
    const page = await context.newPage();
    const errors = collectPageErrors(page);
    await page.goto(`${stack.candybar.url}/#/stream`);
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

    await page.goto(`${stack.candybar.url}/#/dead-letters/${encodeURIComponent(ordersQueue)}`);
    const row = page.locator(`[data-dead-letter][data-event-id="${eventId}"]`);
    await row.waitFor({ timeout: 10_000 });
    assert.match(await text(row), /read-only can look/);
    await row.click();
    await page.locator('[data-testid="dlq-inspector"]').waitFor();
    assert.equal(await page.locator('[data-testid="redrive-selected"]').count(), 0);
    assert.equal(await page.locator('[data-testid="redrive-all"]').count(), 0);
    assert.equal(await page.locator('button', { hasText: /^(Redrive|Discard)/ }).count(), 0);
    await screenshot(page, 'dead-letters-read-only');

    await page.goto(`${stack.candybar.url}/#/schemas/test.event.created`);
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
