import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import {
  createEmbeddedTransport,
  createTransport,
  EmbeddedBroker,
  type Gateway,
  startGateway,
  type Transport,
} from '@33god/bloodbank';
import { type RunningCandystore, startCandystore } from '@33god/candystore';
import type { Browser } from 'playwright-core';
import { type CandybarServer, startCandybar } from '../../src/index.js';
import { waitFor } from '../helpers.js';
import { buildWebApp, collectPageErrors, launch, screenshot } from './browser.js';

const AMQP_URL = process.env.TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const TRACE_URL = 'http://traces.example.test/trace/{trace_id}';

/** The chain view names the chain's trace and links it: to the event list and to a trace UI. */
const backends: { name: string; transport: () => Promise<Transport> }[] = [
  { name: 'rabbitmq', transport: () => createTransport({ url: AMQP_URL }) },
  { name: 'embedded', transport: async () => createEmbeddedTransport({ broker: new EmbeddedBroker() }) },
];

for (const backend of backends) {
  describe(`candybar trace links (${backend.name})`, { timeout: 180_000 }, () => {
    const id = randomBytes(4).toString('hex');
    const exchange = `test.${id}.events`;
    const dlx = `test.${id}.dlx`;
    const storeQueue = `test.${id}.candystore`;
    let transport: Transport;
    let store: RunningCandystore;
    let gateway: Gateway;
    let candybar: CandybarServer;
    let browser: Browser;

    before(async () => {
      const staticDir = buildWebApp();
      transport = await backend.transport();
      store = await startCandystore({
        port: 0,
        transport,
        exchange,
        queue: storeQueue,
        dlx,
        dataDir: null,
        batchMaxWaitMs: 10,
        logLevel: 'silent',
      });
      gateway = await startGateway({
        port: 0,
        transport,
        exchange,
        dlx,
        registryPath: null,
        unknownTypes: 'allow',
        healthIntervalMs: 0,
        watchSchemas: false,
        subscribeSchemaUpdates: false,
        deadLetterMonitor: false,
        logLevel: 'silent',
      });
      candybar = await startCandybar({
        port: 0,
        staticDir,
        storeUrl: store.url,
        busUrl: gateway.url,
        traceUrl: TRACE_URL,
      });
      browser = await launch();
    });

    after(async () => {
      await browser?.close();
      await candybar?.close();
      await gateway?.close();
      await store?.close();
      if (transport) {
        for (const q of [storeQueue, `${storeQueue}.dlq`, `${exchange}.unroutable`, `${dlx}.monitor`]) {
          await transport.deleteQueue(q).catch(() => undefined);
        }
        for (const ex of [exchange, `${exchange}.unroutable`, dlx]) {
          await transport.deleteExchange(ex).catch(() => undefined);
        }
        await transport.close();
      }
    });

    async function publish(body: Record<string, unknown>, headers: Record<string, string> = {}) {
      const res = await fetch(`${gateway.url}/events`, {
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
          const r = await fetch(`${store.url}/events?type=shop.trace.%23`);
          return ((await r.json()) as { items: unknown[] }).items.length === 3;
        },
        15_000,
        'the store to hold the events',
      );

      const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
      const errors = collectPageErrors(page);
      await page.goto(`${candybar.url}/#/chain/${root.correlation_id}`);
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
        storeUrl: store.url,
        busUrl: gateway.url,
      });
      try {
        const root = await publish({ event_type: 'shop.trace.plain', payload: {} });
        await waitFor(
          async () => (await fetch(`${store.url}/events/${root.event_id}`)).status === 200,
          15_000,
          'the store to hold the event',
        );
        const page = await browser.newPage();
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
