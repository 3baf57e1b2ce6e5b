import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { startCandybar } from '../../src/index.js';
import { waitFor } from '../helpers.js';
import { buildWebApp, collectPageErrors, screenshot } from './browser.js';
import { BACKENDS, type Stack, stackNames, startStack } from './stack.js';

const TRACE_URL = 'http://traces.example.test/trace/{trace_id}';

/** The chain view names the chain's trace and links it: to the event list and to a trace UI. */
for (const backend of BACKENDS) {
  describe(`candybar trace links (${backend})`, { timeout: 180_000 }, () => {
    const names = stackNames();
    let stack: Stack;

    before(async () => {
      stack = await startStack({
        backend,
        names,
        store: 'memory',
        gateway: { dlx: names.dlx, deadLetterMonitor: false },
        candybar: { traceUrl: TRACE_URL },
      });
    });

    after(async () => {
      await stack?.stop();
    });

    async function publish(body: Record<string, unknown>, headers: Record<string, string> = {}) {
      const res = await fetch(`${stack.gateway.url}/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify(body),
      });
      assert.equal(res.status, 202, await res.clone().text());
      return (await res.json()) as { event_id: string; correlation_id: string };
    }

    test('the chain view shows the trace id and links it', { timeout: 60_000 }, async () => {
      const traceId = randomBytes(16).toString('hex');
      const root = await publish(
        { event_type: 'shop.trace.started', payload: { n: 0 } },
        { traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01` },
      );
      const child = await publish({
        event_type: 'shop.trace.finished',
        payload: { n: 1 },
        correlation_id: root.correlation_id,
        causation_id: root.event_id,
        traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01`,
      });
      // Another trace, which the filtered list must leave out.
      const stranger = await publish({
        event_type: 'shop.trace.stranger',
        payload: { marker: randomUUID() },
      });
      await waitFor(
        async () => {
          const r = await fetch(`${stack.store.url}/events?type=shop.trace.%23`);
          return ((await r.json()) as { items: unknown[] }).items.length === 3;
        },
        15_000,
        'the store to hold the events',
      );

      const page = await stack.browser.newPage({ viewport: { width: 1400, height: 900 } });
      const errors = collectPageErrors(page);
      await page.goto(`${stack.candybar.url}/#/chain/${root.correlation_id}`);
      const trace = page.locator('[data-testid="chain-trace-id"]');
      await trace.waitFor({ timeout: 10_000 });
      assert.equal(await trace.count(), 1, 'both events are in one trace');
      assert.equal(await trace.getAttribute('data-trace-id'), traceId);
      assert.ok(((await trace.textContent()) ?? '').includes(traceId));
      const external = page.locator('[data-testid="trace-ui-link"]');
      assert.equal(await external.getAttribute('href'), TRACE_URL.replace('{trace_id}', traceId));
      assert.equal(await external.getAttribute('target'), '_blank');
      await screenshot(page, 'chain-trace');

      // The list filtered by the trace id: the chain's two events, not the stranger.
      await page.click('[data-testid="trace-events-link"]');
      await page.waitForSelector(`[data-event-id="${root.event_id}"]`, { timeout: 10_000 });
      await page.waitForSelector(`[data-event-id="${child.event_id}"]`, { timeout: 10_000 });
      assert.match(page.url(), new RegExp(`trace=${traceId}`));
      assert.equal(await page.locator(`[data-event-id="${stranger.event_id}"]`).count(), 0);
      assert.equal(await page.inputValue('input[name="trace"]'), traceId);
      assert.deepEqual(errors, []);
      await page.close();
    });

    test('without CANDYBAR_TRACE_URL there is no external link', { timeout: 60_000 }, async () => {
      const plain = await startCandybar({
        port: 0,
        staticDir: buildWebApp(),
        storeUrl: stack.store.url,
        busUrl: stack.gateway.url,
      });
      try {
        const root = await publish({ event_type: 'shop.trace.plain', payload: {} });
        await waitFor(
          async () => (await fetch(`${stack.store.url}/events/${root.event_id}`)).status === 200,
          15_000,
          'the store to hold the event',
        );
        const page = await stack.browser.newPage();
        await page.goto(`${plain.url}/#/chain/${root.correlation_id}`);
        await page.locator('[data-testid="chain-trace-id"]').waitFor({ timeout: 10_000 });
        assert.equal(await page.locator('[data-testid="trace-events-link"]').count(), 1);
        assert.equal(await page.locator('[data-testid="trace-ui-link"]').count(), 0);
        await page.close();
      } finally {
        await plain.close();
      }
    });
  });
}
