// Publish-to-arrival latency on the store's live stream, measured at the same time in headless
// Chromium (a tiny page opening the WebSocket) and in a plain Node WebSocket client (the reference).
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium, type Page } from 'playwright-core';
import WebSocket from 'ws';
import { EVENT_TYPE, pacedPublish, wallClock } from './load.js';
import { waitFor } from './procs.js';

const here = dirname(fileURLToPath(import.meta.url));
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export interface Percentiles {
  p50: number;
  p99: number;
  received: number;
  missing: number;
}

export interface LatencyRun {
  browser: Percentiles;
  node: Percentiles;
  /** Publish to the gateway's 202 (the broker confirmed it): where the rest of the time goes. */
  accepted: Percentiles;
  /** Browser clock minus Node clock (ms), subtracted from the browser's arrival times. */
  clockOffsetMs: number;
  /** Pace the requests were issued at, and the pace their 202s came back at. */
  sentPerSecond: number;
  acceptedPerSecond: number;
}

function percentiles(lat: number[], expected: number): Percentiles {
  const s = [...lat].sort((a, b) => a - b);
  const at = (p: number) => s[Math.min(s.length - 1, Math.floor(s.length * p))] ?? Number.NaN;
  return { p50: at(0.5), p99: at(0.99), received: s.length, missing: expected - s.length };
}

/** Serves the probe page on loopback; the page then connects to the store by its own URL. */
async function servePage(): Promise<{ url: string; server: Server }> {
  const html = readFileSync(join(here, 'live.html'));
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  return { url: `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/live.html`, server };
}

/** Offset of the page's clock from ours, from the round trip with the smallest delay (NTP-style). */
async function clockOffset(page: Page): Promise<number> {
  let best = { rtt: Number.POSITIVE_INFINITY, offset: 0 };
  for (let i = 0; i < 30; i++) {
    const t0 = wallClock();
    const tb = await page.evaluate(() => performance.timeOrigin + performance.now());
    const t1 = wallClock();
    if (t1 - t0 < best.rtt) best = { rtt: t1 - t0, offset: tb - (t0 + t1) / 2 };
  }
  return best.offset;
}

/**
 * Opens both clients on `<storeUrl>/stream?type=…&from=now` (`&batch=true` when `batch`: a
 * frame may be an array of messages), publishes `warm + count` events
 * through the gateway at `perSecond` (the first `warm` are not counted), and returns the
 * latency percentiles of the counted ones on both clients.
 */
export async function measureLiveLatency(o: {
  gatewayUrl: string;
  storeUrl: string;
  perSecond: number;
  warm: number;
  count: number;
  batch: boolean;
  log(line: string): void;
}): Promise<LatencyRun> {
  const streamUrl = `${o.storeUrl.replace(/^http/, 'ws')}/stream?type=${EVENT_TYPE}&from=now${o.batch ? '&batch=true' : ''}`;
  const total = o.warm + o.count;
  const sentAt = new Float64Array(total);
  const ackedAt = new Float64Array(total);
  const nodeArrivals = new Float64Array(total).fill(Number.NaN);

  const page$ = await servePage();
  let browser: Browser | undefined;
  const ws = new WebSocket(streamUrl);
  try {
    ws.on('message', (data) => {
      const at = wallClock();
      type Msg = { kind: string; event?: { payload?: { message?: unknown } } };
      const frame = JSON.parse(String(data)) as Msg | Msg[];
      for (const msg of Array.isArray(frame) ? frame : [frame]) {
        const text = msg.event?.payload?.message;
        if (msg.kind === 'event' && typeof text === 'string' && text.startsWith('lat:')) {
          nodeArrivals[Number(text.slice(4))] = at;
        }
      }
    });
    const nodeOpen = new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    const page = await browser.newPage();
    await page.goto(`${page$.url}?stream=${encodeURIComponent(streamUrl)}`);
    await nodeOpen;
    await page.waitForFunction(
      () => (globalThis as unknown as { __probe: { open: boolean } }).__probe.open,
      null,
      {
        timeout: 15_000,
      },
    );
    const offset = await clockOffset(page);
    o.log(`browser clock offset ${offset.toFixed(3)} ms (corrected)`);
    // Both sockets are open; the server registers each session with its tail right after the
    // upgrade. The warm-up events cover any remaining gap and warm up every hop.
    await new Promise((r) => setTimeout(r, 300));

    await pacedPublish(o.gatewayUrl, o.perSecond, total, sentAt, ackedAt);

    const counted = (arr: ArrayLike<number>) => {
      let n = 0;
      for (let i = o.warm; i < total; i++) if (!Number.isNaN(arr[i]!)) n++;
      return n;
    };
    const readBrowser = async (): Promise<Float64Array> => {
      const flat = await page.evaluate(
        () => (globalThis as unknown as { __probe: { arrivals: number[] } }).__probe.arrivals,
      );
      const arr = new Float64Array(total).fill(Number.NaN);
      for (let k = 0; k + 1 < flat.length; k += 2) arr[flat[k]!] = flat[k + 1]! - offset;
      return arr;
    };
    let browserArrivals = await readBrowser();
    try {
      await waitFor(
        'every counted event on both live-stream clients',
        10_000,
        async () => {
          browserArrivals = await readBrowser();
          return counted(browserArrivals) === o.count && counted(nodeArrivals) === o.count ? true : undefined;
        },
        200,
      );
    } catch (err) {
      o.log(`warning: ${(err as Error).message}`);
    }
    const latencies = (arr: Float64Array) => {
      const out: number[] = [];
      for (let i = o.warm; i < total; i++) if (!Number.isNaN(arr[i]!)) out.push(arr[i]! - sentAt[i]!);
      return out;
    };
    let lastAck = 0;
    for (let i = o.warm; i < total; i++) lastAck = Math.max(lastAck, ackedAt[i]!);
    return {
      browser: percentiles(latencies(browserArrivals), o.count),
      node: percentiles(latencies(nodeArrivals), o.count),
      accepted: percentiles(latencies(ackedAt), o.count),
      clockOffsetMs: offset,
      sentPerSecond: o.count / ((sentAt[total - 1]! - sentAt[o.warm]!) / 1000),
      acceptedPerSecond: o.count / ((lastAck - sentAt[o.warm]!) / 1000),
    };
  } finally {
    ws.close();
    await browser?.close().catch(() => {});
    page$.server.close();
  }
}
