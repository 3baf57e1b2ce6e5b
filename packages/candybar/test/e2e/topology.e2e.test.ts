import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { TopologyIndex } from '../../web/src/logic/topology.js';
import { FIXTURE_REGISTRY, fixtureRegistry, freePort } from '../helpers.js';
import { collectPageErrors, screenshot, text } from './browser.js';
import { type Stack, startStack } from './stack.js';

describe('topology in Chromium (original 20-service registry)', { timeout: 90_000 }, () => {
  let stack: Stack;

  before(async () => {
    // A port nothing listens on: the dashboard must render the registry with both backends down.
    const dead = await freePort();
    stack = await startStack({
      registry: { path: FIXTURE_REGISTRY },
      candybar: {
        storeUrl: `http://127.0.0.1:${dead}`,
        busUrl: `http://127.0.0.1:${dead}`,
        healthTimeoutMs: 300,
      },
    });
  });

  after(async () => {
    await stack?.stop();
  });

  test('renders every service as a node, with status, layers and links', { timeout: 30_000 }, async () => {
    const page = await stack.browser.newPage({ viewport: { width: 1600, height: 1500 } });
    const errors = collectPageErrors(page);
    await page.goto(`${stack.candybar.url}/#/topology`);
    await page.waitForSelector('[data-node-id]', { timeout: 10_000 });
    const reg = fixtureRegistry();
    const ids = await page.$$eval('[data-node-id]', (els) => els.map((e) => e.getAttribute('data-node-id')));
    assert.deepEqual(new Set(ids), new Set(reg.services.map((s) => s.id)));
    assert.equal(ids.length, 20);
    for (const s of reg.services) {
      const status = await page.getAttribute(`[data-node-id="${s.id}"]`, 'data-status');
      assert.equal(status, s.status, `${s.id} shows its status`);
      // Each node is actually drawn with a size, not just present in the DOM.
      const box = await page.locator(`[data-node-id="${s.id}"]`).boundingBox();
      assert.ok(box && box.width > 50 && box.height > 20, `${s.id} has a visible box`);
    }
    const groups = await page.$$eval('[data-group]', (els) => els.map((e) => e.getAttribute('data-group')));
    assert.deepEqual(groups.slice(0, Object.keys(reg.layers).length), Object.keys(reg.layers));
    const expected = new TopologyIndex(reg).edges;
    const drawn = await page.$$eval('path[data-edge]', (els) =>
      els.map((e) => e.getAttribute('data-edge')).sort(),
    );
    assert.deepEqual(
      drawn,
      expected
        .filter((e) => !e.catchAll)
        .map((e) => e.id)
        .sort(),
      'every direct link is drawn',
    );
    assert.equal(
      await page.locator('[data-tap="event-store-manager"]').count(),
      1,
      'the # consumer taps the exchange',
    );
    // Hovering the catch-all consumer reveals its links too.
    await page.hover('[data-node-id="event-store-manager"]');
    assert.equal(await page.locator('path[data-edge]').count(), expected.length);
    await page.mouse.move(1, 1);
    assert.ok(await page.locator('text=bloodbank.events.v1').count(), 'the exchange is shown');
    await screenshot(page, 'topology');
    assert.deepEqual(errors, []);
    await page.close();
  });

  test('clicking a node opens its queues, bindings and links, and the URL keeps the selection', {
    timeout: 30_000,
  }, async () => {
    const page = await stack.browser.newPage({ viewport: { width: 1600, height: 1100 } });
    await page.goto(`${stack.candybar.url}/#/topology`);
    await page.click('[data-node-id="theboard-meeting-trigger"]');
    const panel = page.locator('[data-testid="node-panel"]');
    await panel.waitFor({ timeout: 5000 });
    const panelText = await text(panel);
    for (const q of [
      'services.theboard.meeting_trigger',
      'services.theboard.decision_analysis',
      'decision.analysis.required',
    ]) {
      assert.ok(panelText.includes(q), `panel lists ${q}`);
    }
    assert.match(page.url(), /#\/topology\?node=theboard-meeting-trigger$/);
    // Health was probed through the server: the fixture's endpoints do not answer here.
    await page.waitForSelector('[data-node-id="event-store-manager"] [data-health="down"]', {
      timeout: 10_000,
    });
    await screenshot(page, 'topology-node');
    // The link is shareable: a fresh page opens with the same panel.
    const again = await stack.browser.newPage({ viewport: { width: 1600, height: 1100 } });
    await again.goto(page.url());
    await again.locator('[data-testid="node-panel"]').waitFor({ timeout: 5000 });
    await again.close();
    await page.close();
  });

  test('the dark theme applies and the help overlay lists the shortcuts', { timeout: 30_000 }, async () => {
    const page = await stack.browser.newPage({
      viewport: { width: 1400, height: 1000 },
      colorScheme: 'dark',
    });
    await page.goto(`${stack.candybar.url}/#/topology`);
    await page.waitForSelector('[data-node-id]');
    const bg = await page.evaluate('getComputedStyle(document.body).backgroundColor');
    assert.equal(bg, 'rgb(20, 20, 27)');
    // The toggle overrides the system preference: system → light → dark.
    await page.keyboard.press('t');
    assert.equal(await page.evaluate('document.documentElement.dataset.theme'), 'light');
    assert.equal(
      await page.evaluate('getComputedStyle(document.body).backgroundColor'),
      'rgb(247, 247, 250)',
    );
    await page.keyboard.press('t');
    assert.equal(await page.evaluate('document.documentElement.dataset.theme'), 'dark');
    await page.keyboard.press('?');
    await page.locator('role=dialog[name="Keyboard shortcuts"]').waitFor({ timeout: 5000 });
    await screenshot(page, 'help-dark');
    await page.keyboard.press('Escape');
    await page.keyboard.press('2');
    await page.waitForSelector('[data-testid="stream-view"]');
    assert.match(page.url(), /#\/stream$/);
    await page.close();
  });

  test('installable: the web app manifest is valid and its icons load', { timeout: 30_000 }, async () => {
    const page = await stack.browser.newPage();
    await page.goto(`${stack.candybar.url}/#/topology`);
    await page.waitForSelector('[data-node-id]');
    const cdp = await page.context().newCDPSession(page);
    const manifest = (await cdp.send('Page.getAppManifest')) as {
      errors: unknown[];
      data?: string;
      url: string;
    };
    assert.deepEqual(manifest.errors, []);
    const data = JSON.parse(manifest.data ?? '{}') as {
      name: string;
      display: string;
      icons: { src: string }[];
    };
    assert.equal(data.display, 'standalone');
    assert.match(data.name, /Candybar/);
    for (const icon of data.icons) {
      const res = await fetch(new URL(icon.src, manifest.url));
      assert.equal(res.status, 200, icon.src);
    }
    const installability = (await cdp.send('Page.getInstallabilityErrors')) as {
      installabilityErrors: { errorId: string }[];
    };
    // A Playwright context is an incognito profile, which alone blocks installing; anything else is ours.
    assert.deepEqual(
      installability.installabilityErrors.map((e) => e.errorId).filter((id) => id !== 'in-incognito'),
      [],
      'Chromium sees no reason the app cannot be installed',
    );
    await page.close();
  });
});
