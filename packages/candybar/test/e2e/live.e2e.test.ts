import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { type Delivery, deadLetter } from '@33god/bloodbank';
import type { Page } from 'playwright-core';
import { waitFor } from '../helpers.js';
import { collectPageErrors, screenshot, text } from './browser.js';
import { takeOne } from './deliveries.js';
import { BACKENDS, type Stack, shopRegistry, stackNames, startStack } from './stack.js';

/**
 * The dashboard against the real gateway and the real store (PGlite on disk), on each
 * broker: RabbitMQ, and the embedded in-process broker `npm start` runs. Every part is the
 * production code; names are the test's own (`test.<id>.*`) and removed afterwards.
 */
for (const backend of BACKENDS) {
  describe(`candybar with the real gateway and store (${backend})`, { timeout: 180_000 }, () => {
    const names = stackNames();
    const { dlx, ordersQueue } = names;
    let stack: Stack;

    before(async () => {
      // The registry's topology first (exchange with its alternate exchange, queues, dead-letter
      // queues), as `bloodbank topology apply` would; the store and the gateway find it in place.
      // PGlite on disk, so a restarted store keeps its events and positions.
      stack = await startStack({
        backend,
        names,
        registry: shopRegistry(ordersQueue, ['shop.order.placed', 'shop.order.paid', 'shop.order.shipped']),
        topology: true,
        store: 'disk',
      });
    });

    after(async () => {
      await stack?.stop();
    });

    async function publish(
      env: Record<string, unknown>,
    ): Promise<{ event_id: string; correlation_id: string }> {
      const res = await fetch(`${stack.gateway.url}/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ source: { app: 'shop', host: 'e2e', trigger_type: 'manual' }, ...env }),
      });
      assert.equal(res.status, 202, await res.clone().text());
      return (await res.json()) as { event_id: string; correlation_id: string };
    }
    const takeFromOrders = (eventId: string, settle?: (d: Delivery) => Promise<void>) =>
      takeOne(stack.transport, ordersQueue, eventId, settle);

    async function openLive(path: string): Promise<Page> {
      const page = await stack.browser.newPage({ viewport: { width: 1500, height: 950 } });
      await page.goto(`${stack.candybar.url}/${path}`);
      await page.waitForFunction(
        `document.querySelector('[data-testid="live-status"]')?.textContent?.includes('live')`,
        null,
        {
          timeout: 10_000,
        },
      );
      return page;
    }

    test('an event published through the gateway appears in the live stream within 2 s', {
      timeout: 40_000,
    }, async () => {
      const page = await openLive('#/stream');
      const errors = collectPageErrors(page);
      const marker = randomUUID();
      const t0 = Date.now();
      const { event_id } = await publish({ event_type: 'shop.order.placed', payload: { marker, total: 42 } });
      await page.waitForSelector(`[data-event-id="${event_id}"]`, { timeout: 2000 });
      const elapsed = Date.now() - t0;
      assert.ok(elapsed <= 2000, `shown after ${elapsed} ms`);
      // The inspector opens on click and the URL names the event.
      await page.click(`[data-event-id="${event_id}"]`);
      await page.locator('[data-testid="inspector"]').waitFor({ timeout: 5000 });
      assert.ok((await text(page.locator('[data-testid="inspector"]'))).includes(marker));
      assert.match(page.url(), new RegExp(`event=${event_id}`));
      // Filters narrow the list live, and the URL carries them.
      await page.fill('input[name="payload"]', 'no-such-text-anywhere');
      await page.waitForSelector(`[data-event-id="${event_id}"]`, { state: 'detached', timeout: 5000 });
      assert.match(page.url(), /q=no-such-text-anywhere/);
      await page.fill('input[name="payload"]', marker);
      await page.waitForSelector(`[data-event-id="${event_id}"]`, { timeout: 5000 });
      await screenshot(page, 'stream');
      assert.deepEqual(errors, []);
      await page.close();
    });

    test('a row pressed while new events push it down opens that row’s event', {
      timeout: 40_000,
    }, async () => {
      const page = await openLive('#/stream?type=shop.order.pressed');
      const marker = randomUUID();
      const { event_id } = await publish({ event_type: 'shop.order.pressed', payload: { marker } });
      await page.waitForSelector(`[data-event-id="${event_id}"]`, { timeout: 5000 });
      // The button goes down on the row; newer events then arrive above it and push it
      // down, out from under the pointer, before the button comes up. The press selects.
      const box = await page.locator(`[data-event-id="${event_id}"]`).boundingBox();
      assert.ok(box, 'the row is on screen');
      await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
      await page.mouse.down();
      for (let i = 0; i < 3; i++) await publish({ event_type: 'shop.order.pressed', payload: { filler: i } });
      await page.waitForFunction(
        `(() => {
          const row = document.querySelector('[data-event-id="${event_id}"]');
          return !row || row.getBoundingClientRect().y >= ${box.y + box.height};
        })()`,
        null,
        { timeout: 5000 },
      );
      await page.mouse.up();
      await page.locator('[data-testid="inspector"]').waitFor({ timeout: 5000 });
      assert.ok((await text(page.locator('[data-testid="inspector"]'))).includes(marker));
      assert.match(page.url(), new RegExp(`event=${event_id}`));
      await page.close();
    });

    test('the topology shows live traffic: edge rate, a pulse per event, node rates', {
      timeout: 40_000,
    }, async () => {
      const page = await openLive('#/topology');
      await page.waitForSelector('path[data-edge="shop->orders"]');
      assert.equal(
        await page.locator('path[data-edge="shop->orders"].hot').count(),
        0,
        'quiet before traffic',
      );
      for (let i = 0; i < 10; i++) await publish({ event_type: 'shop.order.placed', payload: { i } });
      await page.waitForSelector('path[data-edge="shop->orders"].hot', { timeout: 5000 });
      await page.waitForSelector('circle.pulse', { state: 'attached', timeout: 5000 });
      await page.waitForFunction(
        `/in [0-9.]+\\/(s|min)/.test(document.querySelector('[data-node-id="orders"]')?.textContent ?? '')`,
        null,
        { timeout: 5000 },
      );
      assert.doesNotMatch(await text(page.locator('[data-testid="bus-rate"]')), /^0\/s$/);
      await page.click('[data-node-id="orders"]');
      const panel = await text(page.locator('[data-testid="node-panel"]'));
      assert.ok(panel.includes(ordersQueue), 'the node panel lists the queue');
      assert.ok(panel.includes('shop.order.#'), 'and its binding');
      await screenshot(page, 'topology-live');
      await page.close();
    });

    test('pausing holds new events and resuming shows them all', { timeout: 40_000 }, async () => {
      const page = await openLive('#/stream?type=shop.order.paid');
      await page.click('[data-testid="pause"]');
      await page.locator('[data-testid="paused-banner"]').waitFor();
      const ids: string[] = [];
      for (let i = 0; i < 5; i++)
        ids.push((await publish({ event_type: 'shop.order.paid', payload: { i } })).event_id);
      await page.waitForFunction('/5 new matching events held/.test(document.body.textContent)', null, {
        timeout: 5000,
      });
      for (const e of ids)
        assert.equal(await page.locator(`[data-event-id="${e}"]`).count(), 0, 'held while paused');
      await page.keyboard.press('Space');
      for (const e of ids) await page.waitForSelector(`[data-event-id="${e}"]`, { timeout: 3000 });
      await page.close();
    });

    test('when Candystore restarts, the page reconnects by itself and misses nothing', {
      timeout: 40_000,
    }, async () => {
      const page = await openLive('#/stream?type=shop.order.restarted');
      const before = await publish({ event_type: 'shop.order.restarted', payload: { n: 1 } });
      await page.waitForSelector(`[data-event-id="${before.event_id}"]`, { timeout: 3000 });
      const port = stack.store.port;
      await stack.store.close();
      await page.waitForFunction(
        `document.querySelector('[data-testid="live-status"]')?.textContent?.includes('reconnecting')`,
        null,
        { timeout: 10_000 },
      );
      // Accepted by the gateway while the store is down: it waits in the store's queue.
      const during = await publish({ event_type: 'shop.order.restarted', payload: { n: 2 } });
      await stack.startStore(port);
      await page.waitForSelector(`[data-event-id="${during.event_id}"]`, { timeout: 20_000 });
      const after = await publish({ event_type: 'shop.order.restarted', payload: { n: 3 } });
      await page.waitForSelector(`[data-event-id="${after.event_id}"]`, { timeout: 5000 });
      assert.equal(await page.locator('[data-event-id]').count(), 3, 'each event once');
      await page.close();
    });

    test('a correlation chain of several events renders as a tree and a waterfall', {
      timeout: 40_000,
    }, async () => {
      const correlation_id = randomUUID();
      const root = await publish({
        event_type: 'shop.order.placed',
        correlation_id,
        payload: { step: 'root' },
      });
      const paid = await publish({
        event_type: 'shop.order.paid',
        correlation_id,
        causation_id: root.event_id,
        payload: { step: 'paid' },
      });
      await new Promise((r) => setTimeout(r, 30));
      const shipped = await publish({
        event_type: 'shop.order.shipped',
        correlation_id,
        causation_id: paid.event_id,
        payload: {},
      });
      const note = await publish({
        event_type: 'shop.order.noted',
        correlation_id,
        causation_id: root.event_id,
        payload: {},
      });
      const missingCause = randomUUID();
      const orphan = await publish({
        event_type: 'shop.order.audited',
        correlation_id,
        causation_id: missingCause,
        payload: {},
      });
      await waitFor(
        async () => {
          const r = await fetch(`${stack.store.url}/correlations/${correlation_id}`);
          return r.ok && ((await r.json()) as { count: number }).count === 5;
        },
        10_000,
        'the store to hold the chain',
      );
      const page = await stack.browser.newPage({ viewport: { width: 1500, height: 950 } });
      await page.goto(`${stack.candybar.url}/#/chain/${correlation_id}`);
      await page.waitForSelector('[data-testid="chain-waterfall"] [data-chain-row]', { timeout: 10_000 });
      const rows = await page.$$eval('[data-chain-row]', (els) =>
        els.map((e) => [
          e.getAttribute('data-chain-row'),
          e.getAttribute('data-depth'),
          e.getAttribute('data-missing'),
        ]),
      );
      const depth = Object.fromEntries(rows.map(([rid, d]) => [rid, Number(d)]));
      assert.equal(depth[root.event_id], 0);
      assert.equal(depth[paid.event_id], 1);
      assert.equal(depth[note.event_id], 1);
      assert.equal(depth[shipped.event_id], 2);
      assert.equal(depth[missingCause], 0, 'the missing cause is a marked root');
      assert.equal(depth[orphan.event_id], 1);
      assert.deepEqual(rows.find(([rid]) => rid === missingCause)?.[2], 'true');
      // Depth-first: shipped comes right after paid (its cause), before the sibling note.
      const order = rows.map(([rid]) => rid);
      assert.equal(order.indexOf(shipped.event_id), order.indexOf(paid.event_id) + 1);
      // The node-link tree has the same nodes.
      assert.equal(await page.locator('[data-testid="chain-tree"] [data-tree-node]').count(), 6);
      const summary = await text(page.locator('[data-testid="chain-summary"]'));
      assert.match(summary, /5\s*events/);
      assert.match(summary, /1\s*missing causes/);
      await page.click(`[data-chain-row="${shipped.event_id}"]`);
      await page.locator('[data-testid="chain-inspector"]').waitFor();
      await screenshot(page, 'chain');

      // Without an id the view lists the recent chains; a lone event (a correlation of its
      // own) only on request.
      const lone = await publish({ event_type: 'shop.order.viewed', payload: {} });
      await waitFor(
        async () => (await fetch(`${stack.store.url}/events/${lone.event_id}`)).ok,
        10_000,
        'the lone event',
      );
      await page.goto(`${stack.candybar.url}/#/chain`);
      const chainRow = page.locator(
        `[data-testid="recent-correlations"] [data-correlation="${correlation_id}"]`,
      );
      await chainRow.waitFor({ timeout: 10_000 });
      // the count column (a match on the row's whole text also found the 5 of a date in December)
      assert.equal((await text(chainRow.locator('td').nth(1))).trim(), '5');
      const loneRow = `[data-testid="recent-correlations"] [data-correlation="${lone.correlation_id}"]`;
      assert.equal(await page.locator(loneRow).count(), 0, 'a lone event is not listed among the chains');
      await page.check('[data-testid="include-singles"]');
      await page.locator(loneRow).waitFor({ timeout: 5_000 });
      await chainRow.locator('a').click();
      await page.waitForSelector('[data-testid="chain-waterfall"] [data-chain-row]', { timeout: 10_000 });
      assert.equal(await page.locator('[data-chain-row]').count(), 6);
      await page.close();
    });

    test('a dead letter can be inspected and redriven from the page', { timeout: 40_000 }, async () => {
      // A real consumer gives up on a real message: the SDK's dead-letter path puts it in the DLQ.
      const { event_id } = await publish({ event_type: 'shop.order.placed', payload: { doomed: true } });
      await takeFromOrders(event_id, (d) =>
        deadLetter(
          stack.transport,
          d,
          { error: new Error('payment provider said no'), handler: 'e2e-orders', attempts: 3 },
          { dlx },
        ),
      );
      await waitFor(
        async () => {
          const r = (await (await fetch(`${stack.gateway.url}/dead-letters`)).json()) as {
            queues: { queue: string; count: number }[];
          };
          return r.queues.find((q) => q.queue === ordersQueue)?.count === 1;
        },
        5000,
        'the dead letter',
      );

      const page = await stack.browser.newPage({ viewport: { width: 1500, height: 950 } });
      await page.goto(`${stack.candybar.url}/#/dead-letters`);
      await page.click(`a[href="#/dead-letters/${encodeURIComponent(ordersQueue)}"]`);
      const row = page.locator(`[data-event-id="${event_id}"]`);
      await row.waitFor({ timeout: 10_000 });
      assert.match(await text(row), /payment provider said no/);
      assert.equal(await text(row.locator('td').nth(3)), '3', 'attempts column');
      await row.click();
      await page.locator('[data-testid="dlq-inspector"]').waitFor();
      await page.click('[data-testid="redrive-selected"]');
      const dialog = page.locator('role=dialog[name="Redrive dead letters?"]');
      await dialog.waitFor();
      await screenshot(page, 'dead-letters');
      await page.click('[data-testid="confirm"]');
      await page.locator('[data-testid="toast"]', { hasText: '1 redriven' }).waitFor({ timeout: 5000 });
      await row.waitFor({ state: 'detached', timeout: 5000 });

      // Back in its queue, the message is delivered again.
      const again = await takeFromOrders(event_id);
      assert.equal(JSON.parse(again.body.toString('utf8')).event_id, event_id);

      // Discarding asks first; cancelling keeps the letter, confirming deletes it for good.
      const doomed = await publish({ event_type: 'shop.order.placed', payload: { doomed: 'again' } });
      await takeFromOrders(doomed.event_id, (d) =>
        deadLetter(
          stack.transport,
          d,
          { error: new Error('still no'), handler: 'e2e-orders', attempts: 1 },
          { dlx },
        ),
      );
      await page.reload();
      const row2 = page.locator(`[data-event-id="${doomed.event_id}"]`);
      await row2.waitFor({ timeout: 10_000 });
      await row2.click();
      await page.click('[data-testid="dlq-inspector"] button.danger');
      await page.locator('role=dialog[name="Discard dead letters?"]').waitFor();
      await page.click('role=dialog >> text=Cancel');
      await page.locator('role=dialog').waitFor({ state: 'detached' });
      assert.equal(await row2.count(), 1, 'cancel keeps it');
      await page.click('[data-testid="dlq-inspector"] button.danger');
      await page.click('[data-testid="confirm"]');
      await page.locator('[data-testid="toast"]', { hasText: '1 discarded' }).waitFor({ timeout: 5000 });
      await row2.waitFor({ state: 'detached', timeout: 5000 });
      const left = (await (await fetch(`${stack.gateway.url}/dead-letters`)).json()) as {
        queues: { queue: string; count: number }[];
      };
      assert.equal(left.queues.find((q) => q.queue === ordersQueue)?.count, 0);
      await page.close();
    });

    test('schemas: publish a test event from the generated form; health shows every part', {
      timeout: 40_000,
    }, async () => {
      const page = await openLive('#/schemas/test.event.created');
      const form = page.locator('[data-testid="publish-form"]');
      await form.waitFor({ timeout: 10_000 });
      await page.fill('[data-testid="publish-form"] input[name="message"]', 'hello from the form');
      await page.click('[data-testid="publish"]');
      const result = page.locator('[data-testid="publish-result"]');
      await result.waitFor({ timeout: 5000 });
      assert.match(await text(result), /Accepted as/);
      const eventId = (await text(result)).match(/Accepted as ([0-9a-f-]{36})/)?.[1];
      assert.ok(eventId);
      await waitFor(
        async () => (await fetch(`${stack.store.url}/events/${eventId}`)).ok,
        5000,
        'the form event in the store',
      );
      const stored = (await (await fetch(`${stack.store.url}/events/${eventId}`)).json()) as {
        payload: { message: string };
      };
      assert.equal(stored.payload.message, 'hello from the form');
      await screenshot(page, 'schemas');

      await page.goto(`${stack.candybar.url}/#/health`);
      await page.waitForSelector('[data-testid="health-gateway"][data-status="ok"]', { timeout: 10_000 });
      await page.waitForSelector('[data-testid="health-store"][data-status="ok"]', { timeout: 10_000 });
      await page.waitForSelector('[data-testid="health-broker"][data-status="ok"]', { timeout: 10_000 });
      await screenshot(page, 'health');
      await page.close();
    });
  });
}
