// Candybar in a real Chromium: the live stream at 2,000 events/s (does the list keep up, how busy
// is the main thread) and the first meaningful paint of the topology for the original 20-service
// registry. Events come from a local generator that speaks Candystore's stream protocol, through
// the dashboard's own server (the same path the browser uses in production); the generator's
// measured send rate, the same page with no traffic, and a blank page's paint are the references.
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startCandybar } from '@33god/candybar';
import { chromium, type Page } from 'playwright-core';
import { WebSocketServer } from 'ws';
import { type BenchSuite, result } from './types.js';

const ROOT = resolve(import.meta.dirname, '..');
const REGISTRY = resolve(ROOT, '../shared/fixtures/registry/registry.seed-c53b8c0.yaml');
const RATE = 2000;
const TYPES: [string, string][] = [
  ['tool.mutation.write', 'hookd-producer'],
  ['tool.mutation.bash', 'hookd-producer'],
  ['theboard.meeting.started', 'theboard-producer'],
  ['fireflies.transcript.ready', 'echobox'],
  ['agent.feedback.response', 'agent-feedback-router'],
  ['tts.response.completed', 'tonny-agent'],
];

function buildWebApp(): string {
  const out = mkdtempSync(join(tmpdir(), 'candybar-bench-'));
  const r = spawnSync(
    process.execPath,
    [
      join(ROOT, 'node_modules/vite/bin/vite.js'),
      'build',
      '--config',
      'web/vite.config.ts',
      '--outDir',
      out,
      '--logLevel',
      'error',
    ],
    { cwd: join(ROOT, 'packages/candybar'), encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`vite build failed: ${r.stderr}`);
  return out;
}

/** Candystore's stream protocol at a steady rate, plus an empty `/events` and a blank page. */
class Generator {
  readonly server: Server;
  readonly wss: WebSocketServer;
  rate = 0;
  sent = 0;
  #position = 0;
  #timer: ReturnType<typeof setInterval> | null = null;

  constructor() {
    this.server = createServer((req, res) => {
      if (req.url?.startsWith('/blank')) {
        res
          .writeHead(200, { 'content-type': 'text/html' })
          .end('<!doctype html><title>blank</title><p>blank page</p>');
        return;
      }
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ items: [], next_cursor: null, prev_cursor: null }));
    });
    this.wss = new WebSocketServer({ server: this.server, path: '/stream' });
    this.wss.on('connection', (ws) =>
      ws.send(JSON.stringify({ kind: 'caught_up', position: String(this.#position) })),
    );
  }

  async listen(): Promise<string> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(this.server.address() as { port: number }).port}`;
  }

  /** Sends `rate` events/s to every connected socket, catching up on timer jitter. */
  start(rate: number): void {
    this.rate = rate;
    this.sent = 0;
    const t0 = performance.now();
    this.#timer = setInterval(() => {
      const due = Math.floor(((performance.now() - t0) / 1000) * this.rate);
      while (this.sent < due) {
        const msg = JSON.stringify({ kind: 'event', event: this.#event() });
        for (const c of this.wss.clients) c.send(msg);
        this.sent++;
      }
    }, 5);
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  #event() {
    this.#position++;
    const [type, app] = TYPES[this.#position % TYPES.length]!;
    const now = new Date().toISOString();
    return {
      position: String(this.#position),
      event_id: randomUUID(),
      event_type: type,
      timestamp: now,
      version: '1.0.0',
      source: { app, host: 'bench', trigger_type: 'api' },
      correlation_id: randomUUID(),
      causation_id: null,
      payload: { seq: this.#position, file: `src/file-${this.#position % 97}.ts`, note: 'x'.repeat(120) },
      routing_key: type,
      headers: {},
      received_at: now,
      replay_id: null,
    };
  }

  async close(): Promise<void> {
    this.stop();
    for (const c of this.wss.clients) c.terminate();
    this.wss.close();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

interface Window {
  /** Least-squares trend of the backlog, events per second (0: keeping up). */
  backlogSlope: number;
  backlogMax: number;
  busyPct: number;
  received: number;
  rendered: number;
  backlogStart: number;
  backlogEnd: number;
  seconds: number;
  longTasks: number;
}

function slope(points: [number, number][]): number {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((a, [x]) => a + x, 0) / n;
  const my = points.reduce((a, [, y]) => a + y, 0) / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

async function measureWindow(page: Page, seconds: number): Promise<Window> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Performance.enable');
  const metric = async () => {
    const { metrics } = await cdp.send('Performance.getMetrics');
    return Object.fromEntries(metrics.map((m) => [m.name, m.value])) as Record<string, number>;
  };
  const stats = () =>
    page.evaluate(
      '({ ...(window.__candybarStream ?? { received: 0, rendered: 0 }), longTasks: window.__longTasks ?? 0 })',
    ) as Promise<{
      received: number;
      rendered: number;
      longTasks: number;
    }>;
  const m0 = await metric();
  const s0 = await stats();
  const t0 = performance.now();
  // The backlog saw-tooths with each flush of the list; its trend is what says "keeps up".
  const samples: [number, number][] = [];
  while (performance.now() - t0 < seconds * 1000) {
    const s = await stats();
    samples.push([(performance.now() - t0) / 1000, s.received - s.rendered]);
    await new Promise((r) => setTimeout(r, 50));
  }
  const m1 = await metric();
  const s1 = await stats();
  const elapsed = (performance.now() - t0) / 1000;
  return {
    backlogSlope: slope(samples),
    backlogMax: Math.max(0, ...samples.map(([, b]) => b)),
    busyPct: ((m1.TaskDuration! - m0.TaskDuration!) / elapsed) * 100,
    received: s1.received - s0.received,
    rendered: s1.rendered - s0.rendered,
    backlogStart: s0.received - s0.rendered,
    backlogEnd: s1.received - s1.rendered,
    seconds: elapsed,
    longTasks: s1.longTasks - s0.longTasks,
  };
}

const LONGTASKS = `window.__longTasks = 0; try { new PerformanceObserver((l) => { window.__longTasks += l.getEntries().length; }).observe({ type: 'longtask', buffered: true }); } catch {}`;

const PAINT_PROBE = `
  window.__topologyPaint = null;
  new MutationObserver((_m, obs) => {
    if (document.querySelectorAll('[data-node-id]').length >= 20) {
      obs.disconnect();
      requestAnimationFrame(() => setTimeout(() => { window.__topologyPaint = performance.now(); }, 0));
    }
  }).observe(document, { childList: true, subtree: true });
`;

export const suite: BenchSuite = async (ctx) => {
  const staticDir = buildWebApp();
  const gen = new Generator();
  const genUrl = await gen.listen();
  const bar = await startCandybar({
    port: 0,
    staticDir,
    registryPath: REGISTRY,
    storeUrl: genUrl,
    busUrl: genUrl,
    healthTimeoutMs: 200,
  });
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  const seconds = Math.max(3, Math.round(10 * ctx.scale));
  try {
    // Topology paint first, on a cold page, and a blank page's paint as the reference (median of 3 each).
    const paints: number[] = [];
    const blanks: number[] = [];
    for (let i = 0; i < 3; i++) {
      const p = await browser.newPage({ viewport: { width: 1600, height: 1200 } });
      await p.addInitScript(PAINT_PROBE);
      await p.goto(`${bar.url}/#/topology`);
      await p.waitForFunction('window.__topologyPaint !== null', null, { timeout: 15_000 });
      paints.push((await p.evaluate('window.__topologyPaint')) as number);
      await p.close();
      const b = await browser.newPage();
      await b.goto(`${genUrl}/blank`);
      await b.waitForFunction(`performance.getEntriesByName('first-contentful-paint').length > 0`, null, {
        timeout: 15_000,
      });
      blanks.push(
        (await b.evaluate(`performance.getEntriesByName('first-contentful-paint')[0].startTime`)) as number,
      );
      await b.close();
    }
    const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
    ctx.log(
      `topology paint ${paints.map((x) => x.toFixed(0)).join(', ')} ms; blank ${blanks.map((x) => x.toFixed(0)).join(', ')} ms`,
    );

    // The live stream: idle first (reference), then at 2,000 events/s.
    const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
    await page.addInitScript(LONGTASKS);
    await page.goto(`${bar.url}/#/stream`);
    await page.waitForFunction(
      `document.querySelector('[data-testid="live-status"]')?.textContent?.includes('live')`,
      null,
      {
        timeout: 15_000,
      },
    );
    const idle = await measureWindow(page, seconds);
    gen.start(RATE);
    await new Promise((r) => setTimeout(r, 1000)); // warm-up: the list fills to its cap
    const sentBefore = gen.sent;
    const busy = await measureWindow(page, seconds);
    const sentRate = (gen.sent - sentBefore) / busy.seconds;
    gen.stop();
    ctx.log(
      `stream: sent ${sentRate.toFixed(0)}/s, received ${(busy.received / busy.seconds).toFixed(0)}/s, rendered ${(busy.rendered / busy.seconds).toFixed(0)}/s, backlog ${busy.backlogStart} → ${busy.backlogEnd} (max ${busy.backlogMax}, trend ${busy.backlogSlope.toFixed(1)}/s), busy ${busy.busyPct.toFixed(1)}% (idle ${idle.busyPct.toFixed(1)}%), long tasks ${busy.longTasks}`,
    );
    await page.close();
    return [
      result(
        'candybar stream: events rendered/s at 2000/s offered',
        busy.rendered / busy.seconds,
        'events/s',
        'generator send rate',
        sentRate,
      ),
      result(
        'candybar stream: backlog growth, received minus shown (events/s trend, lower is better)',
        busy.backlogSlope,
        'events/s',
        'generator send rate',
        sentRate,
      ),
      result(
        'candybar stream: main-thread busy at 2000 ev/s (%, lower is better)',
        busy.busyPct,
        '%',
        'same page with no traffic',
        idle.busyPct,
      ),
      result(
        'candybar topology: first meaningful paint, 20 services (ms, lower is better)',
        median(paints),
        'ms',
        'blank page first paint',
        median(blanks),
      ),
    ];
  } finally {
    await browser.close();
    await bar.close();
    await gen.close();
  }
};
