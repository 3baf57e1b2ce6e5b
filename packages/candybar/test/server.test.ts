import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { type CandybarOptions, type CandybarServer, main, startCandybar } from '../src/index.js';
import { FIXTURE_REGISTRY, freePort, waitFor } from './helpers.js';

describe('candybar server', { timeout: 30_000 }, () => {
  let server: CandybarServer;
  let dead: number;
  let hung: Server;
  let hungPort: number;
  let hungServer: CandybarServer;
  const hungSockets = new Set<Socket>();
  const staticDir = mkdtempSync(join(tmpdir(), 'candybar-static-'));
  const registryDir = mkdtempSync(join(tmpdir(), 'candybar-registry-'));

  /** A dashboard whose store and gateway are the local stand-in on `port`. */
  const dashboardOn = (port: number, options: Partial<CandybarOptions> = {}) =>
    startCandybar({
      port: 0,
      staticDir,
      registryPath: FIXTURE_REGISTRY,
      storeUrl: `http://127.0.0.1:${port}`,
      busUrl: `http://127.0.0.1:${port}`,
      ...options,
    });

  before(async () => {
    mkdirSync(join(staticDir, 'assets'));
    writeFileSync(join(staticDir, 'index.html'), '<!doctype html><title>app shell</title>');
    writeFileSync(join(staticDir, 'assets', 'app.js'), 'console.log(1)');
    dead = await freePort();
    server = await startCandybar({
      port: 0,
      staticDir,
      registryPath: FIXTURE_REGISTRY,
      storeUrl: `http://127.0.0.1:${dead}`,
      busUrl: `http://127.0.0.1:${dead}`,
    });
    // A backend that accepts connections and never answers.
    hung = createServer((socket) => hungSockets.add(socket));
    await new Promise<void>((r) => hung.listen(0, '127.0.0.1', r));
    hungPort = (hung.address() as { port: number }).port;
    hungServer = await startCandybar({
      port: 0,
      staticDir,
      registryPath: FIXTURE_REGISTRY,
      storeUrl: `http://127.0.0.1:${hungPort}`,
      busUrl: `http://127.0.0.1:${hungPort}`,
      proxyTimeoutMs: 300,
    });
  });

  after(async () => {
    await server?.close();
    await hungServer?.close();
    for (const socket of hungSockets) socket.destroy();
    hung?.close();
  });

  test('/api/registry serves the normalized registry', async () => {
    const res = await fetch(`${server.url}/api/registry`);
    assert.equal(res.status, 200);
    const body = (await res.json()) as {
      services: { id: string; queues: string[] }[];
      layers: Record<string, string[]>;
    };
    assert.equal(body.services.length, 20);
    assert.deepEqual(body.services.find((s) => s.id === 'mutation-ledger')?.queues, [
      'services.hookd.mutation_ledger',
    ]);
    assert.ok(body.layers.infrastructure);
  });

  test('a missing registry file is a problem document, not a crash', async () => {
    const s = await startCandybar({ port: 0, staticDir, registryPath: join(registryDir, 'nope.yaml') });
    try {
      const res = await fetch(`${s.url}/api/registry`);
      assert.equal(res.status, 500);
      assert.equal(res.headers.get('content-type'), 'application/problem+json; charset=utf-8');
      const p = (await res.json()) as { code: string; detail: string };
      assert.equal(p.code, 'REGISTRY_INVALID');
      assert.match(p.detail, /nope\.yaml/);
      assert.doesNotMatch(JSON.stringify(p), /at \w+ \(|node:internal/, 'no stack trace');
    } finally {
      await s.close();
    }
  });

  test('a backend that is down gives 503 problem+json at once, for reads and writes', async () => {
    for (const [method, path] of [
      ['GET', '/api/store/events?limit=1'],
      ['POST', '/api/bus/events'],
      ['DELETE', '/api/bus/dead-letters/q.dlq'],
    ] as const) {
      const t0 = Date.now();
      const res = await fetch(`${server.url}${path}`, {
        method,
        headers: { 'content-type': 'application/json' },
        body: method === 'GET' ? undefined : '{"ids":["x"]}',
      });
      assert.equal(res.status, 503, `${method} ${path}`);
      const p = (await res.json()) as { code: string; detail: string; backend: string };
      assert.equal(p.code, 'SERVICE_UNAVAILABLE');
      assert.match(p.detail, /not reachable/);
      assert.ok(Date.now() - t0 < 2000);
    }
  });

  test('a body over the proxy limit is a 413 problem, not forwarded', async () => {
    const res = await fetch(`${server.url}/api/bus/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: 'x'.repeat(6 * 1024 * 1024),
    });
    assert.equal(res.status, 413);
    assert.equal(((await res.json()) as { code: string }).code, 'BODY_TOO_LARGE');
  });

  test('a backend that hangs gives 503 after the proxy timeout, never a hanging request', async () => {
    const t0 = Date.now();
    const res = await fetch(`${hungServer.url}/api/store/events`);
    assert.equal(res.status, 503);
    const p = (await res.json()) as { detail: string };
    assert.match(p.detail, /did not answer in time/);
    assert.ok(Date.now() - t0 < 3000);
  });

  test('the proxy passes status, body and query through (proxying to a real server: this one)', async () => {
    const port = await freePort();
    const self = await startCandybar({
      port,
      staticDir,
      registryPath: FIXTURE_REGISTRY,
      storeUrl: `http://127.0.0.1:${port}`,
      busUrl: `http://127.0.0.1:${port}/api`,
    });
    try {
      const direct = await (await fetch(`${self.url}/api/registry`)).json();
      const viaStore = await fetch(`${self.url}/api/store/api/registry?x=1`);
      assert.equal(viaStore.status, 200);
      assert.deepEqual(await viaStore.json(), direct);
      const viaBus = await fetch(`${self.url}/api/bus/registry`);
      assert.deepEqual(await viaBus.json(), direct);
      const missing = await fetch(`${self.url}/api/bus/nothing-here`);
      assert.equal(missing.status, 404);
      assert.equal(missing.headers.get('content-type'), 'application/problem+json; charset=utf-8');
    } finally {
      await self.close();
    }
  });

  test('the stream socket closes with a retry code when Candystore is down', async () => {
    const ws = new WebSocket(`${server.url.replace('http', 'ws')}/api/store/stream?from=now`);
    const code = await new Promise<number>((resolveClose) => ws.on('close', (c) => resolveClose(c)));
    assert.equal(code, 1013);
  });

  test('the stream asks Candystore for batch frames and passes every message on, in order', async () => {
    // A real WebSocket server standing in for Candystore's /stream.
    const { WebSocketServer } = await import('ws');
    const upstream = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise<void>((r) => upstream.once('listening', () => r()));
    const port = (upstream.address() as { port: number }).port;
    let requested = '';
    upstream.on('connection', (sock, req) => {
      requested = req.url ?? '';
      const ev = (n: number) => ({ kind: 'event', event: { position: String(n) } });
      sock.send(JSON.stringify(ev(1)));
      sock.send(JSON.stringify([ev(2), ev(3), ev(4)]));
      sock.send(JSON.stringify({ kind: 'caught_up', position: '4' }));
    });
    const s = await dashboardOn(port);
    try {
      const ws = new WebSocket(`${s.url.replace('http', 'ws')}/api/store/stream?from=0&type=a.b`);
      const got: { kind: string; event?: { position: string }; position?: string }[] = [];
      ws.on('message', (m) => {
        const frame = JSON.parse(String(m));
        got.push(...(Array.isArray(frame) ? frame : [frame]));
      });
      await waitFor(async () => got.some((m) => m.kind === 'caught_up'), 5000, 'caught_up');
      ws.close();
      assert.deepEqual(
        got.map((m) => m.event?.position ?? `caught_up ${m.position}`),
        ['1', '2', '3', '4', 'caught_up 4'],
      );
      const q = new URLSearchParams(requested.slice(requested.indexOf('?') + 1));
      assert.equal(q.get('batch'), 'true');
      assert.equal(q.get('from'), '0');
      assert.equal(q.get('type'), 'a.b');
    } finally {
      await s.close();
      upstream.close();
    }
  });

  test('a browser that stops reading is dropped, alone or when all together queue too much', async () => {
    // Candystore's stand-in sends 256 messages to each socket at once (16 MiB for the browsers
    // that never read).
    const { WebSocketServer } = await import('ws');
    const upstream = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise<void>((r) => upstream.once('listening', () => r()));
    const port = (upstream.address() as { port: number }).port;
    const framed = (bytes: number) =>
      JSON.stringify({ kind: 'event', event: { position: '1', pad: 'x'.repeat(bytes) } });
    let frame = framed(64 * 1024);
    // Counted per phase: a socket of an earlier phase closes late, when its dashboard stops.
    let phase = 0;
    let dropped = 0;
    upstream.on('connection', (sock) => {
      const opened = phase;
      sock.on('close', () => {
        if (opened === phase) dropped++;
      });
      for (let i = 0; i < 256; i++) sock.send(frame);
    });
    /** A socket that stops reading once open: what the proxy sends it piles up in the proxy. */
    const stalled = (url: string) =>
      new Promise<WebSocket>((resolveOpen, reject) => {
        const ws = new WebSocket(`${url.replace('http', 'ws')}/api/store/stream?from=0`);
        ws.once('open', () => {
          (ws as unknown as { _socket: Socket })._socket.pause();
          resolveOpen(ws);
        });
        ws.once('error', reject);
      });
    const cases = [
      { what: 'over its own bound', streamBuffer: { maxBufferedBytes: 1024 * 1024 }, sockets: 1 },
      {
        what: 'under its own bound, over the total',
        streamBuffer: { maxBufferedBytes: 1024 ** 3, maxTotalBufferedBytes: 2 * 1024 * 1024, checkMs: 50 },
        sockets: 2,
      },
    ];
    try {
      for (const { what, streamBuffer, sockets } of cases) {
        phase++;
        dropped = 0;
        const s = await dashboardOn(port, { streamBuffer });
        const browsers: WebSocket[] = [];
        try {
          for (let i = 0; i < sockets; i++) browsers.push(await stalled(s.url));
          // The proxy gives up on a browser by closing its upstream socket too.
          await waitFor(async () => dropped >= 1, 10_000, `a stalled browser dropped (${what})`);
        } finally {
          for (const b of browsers) b.terminate();
          await s.close();
        }
      }
      // The control: a browser that reads gets all 256 messages (1 MiB) under the same bounds.
      phase++;
      dropped = 0;
      frame = framed(4 * 1024);
      const s = await dashboardOn(port, {
        streamBuffer: { maxBufferedBytes: 1024 * 1024, maxTotalBufferedBytes: 2 * 1024 * 1024, checkMs: 50 },
      });
      try {
        const ws = new WebSocket(`${s.url.replace('http', 'ws')}/api/store/stream?from=0`);
        let got = 0;
        ws.on('message', (m) => {
          const f = JSON.parse(String(m));
          got += Array.isArray(f) ? f.length : 1;
        });
        await waitFor(async () => got === 256, 20_000, 'all 256 messages read');
        assert.equal(dropped, 0);
        ws.close();
      } finally {
        await s.close();
      }
    } finally {
      upstream.close();
    }
  });

  test('service health: up, down and unknown from each registry health endpoint', async () => {
    const closed = await freePort();
    const path = join(registryDir, 'registry.yaml');
    const s = await startCandybar({ port: 0, staticDir, registryPath: path, healthTimeoutMs: 500 });
    try {
      writeFileSync(
        path,
        [
          'services:',
          '  self:',
          `    endpoints: { health: "${s.url}/api/info" }`,
          '  gone:',
          `    endpoints: { health: "http://127.0.0.1:${closed}/health" }`,
          '  socket-only:',
          '    endpoints: { socket: "/run/x.sock" }',
          '  broken:',
          `    endpoints: { health: "${s.url}/api/nothing" }`,
        ].join('\n'),
      );
      const body = (await (await fetch(`${s.url}/api/health/services`)).json()) as {
        services: { id: string; status: string; http_status: number | null }[];
      };
      const by = Object.fromEntries(body.services.map((x) => [x.id, x]));
      assert.equal(by.self?.status, 'up');
      assert.equal(by.gone?.status, 'down');
      assert.equal(by['socket-only']?.status, 'unknown');
      assert.equal(by.broken?.status, 'down');
      assert.equal(by.broken?.http_status, 404);
    } finally {
      await s.close();
    }
  });

  test('deep links get the app shell; unknown API paths and files get 404 problems', async () => {
    const deep = await fetch(`${server.url}/chain/abc`, { headers: { accept: 'text/html' } });
    assert.equal(deep.status, 200);
    assert.match(await deep.text(), /app shell/);
    const asset = await fetch(`${server.url}/assets/app.js`);
    assert.equal(asset.status, 200);
    const api = await fetch(`${server.url}/api/nothing`);
    assert.equal(api.status, 404);
    assert.equal(((await api.json()) as { code: string }).code, 'NOT_FOUND');
    const file = await fetch(`${server.url}/assets/missing.js`);
    assert.equal(file.status, 404);
  });

  test('without a build, the root page says how to build', async () => {
    const s = await startCandybar({
      port: 0,
      staticDir: join(staticDir, 'nope'),
      registryPath: FIXTURE_REGISTRY,
    });
    try {
      const res = await fetch(s.url);
      assert.match(await res.text(), /npm run build/);
    } finally {
      await s.close();
    }
  });
});

describe('candybar CLI', { timeout: 20_000 }, () => {
  test('help, unknown commands and bad flags', async () => {
    const log = console.log;
    const err = console.error;
    console.log = () => undefined;
    console.error = () => undefined;
    try {
      assert.equal(await main(['--help']), 0);
      assert.equal(await main(['launch']), 2);
      assert.equal(await main(['serve', '--port', 'abc']), 1);
    } finally {
      console.log = log;
      console.error = err;
    }
  });

  test('serve listens on CANDYBAR_PORT and stops gracefully on SIGTERM', async () => {
    const port = await freePort();
    const log = console.log;
    console.log = () => undefined;
    try {
      const done = main(['serve'], {
        CANDYBAR_PORT: String(port),
        SERVICES_REGISTRY: FIXTURE_REGISTRY,
        LOG_LEVEL: 'silent',
      });
      await waitFor(
        async () => (await fetch(`http://127.0.0.1:${port}/api/registry`)).ok,
        5000,
        'the server',
      );
      process.emit('SIGTERM');
      assert.equal(await done, 0);
      await assert.rejects(fetch(`http://127.0.0.1:${port}/api/registry`));
    } finally {
      console.log = log;
    }
  });
});
