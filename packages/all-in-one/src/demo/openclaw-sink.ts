import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';

/**
 * DEMO ONLY, not OpenClaw: a loopback HTTP endpoint that accepts the dispatcher's
 * `/hooks/agent` calls (checking the bearer token) so the demo can show the whole
 * Plane → dispatcher → agent path without an OpenClaw installation. It answers 202
 * and keeps the last requests for `GET /hooks/agent` to inspect.
 */
export interface OpenClawDemoSink {
  readonly url: string;
  readonly token: string;
  readonly received: readonly unknown[];
  close(): Promise<void>;
}

export async function startOpenClawDemoSink(): Promise<OpenClawDemoSink> {
  const token = randomBytes(16).toString('hex');
  const received: unknown[] = [];
  const server: Server = createServer((req, res) => {
    if (req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ note: 'demo sink, not OpenClaw', received: received.slice(-50) }));
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.headers.authorization !== `Bearer ${token}`) {
        res.writeHead(401).end();
        return;
      }
      try {
        received.push(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        if (received.length > 200) received.splice(0, received.length - 200);
      } catch {
        res.writeHead(400).end();
        return;
      }
      res.writeHead(202, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ok: true, runId: `demo-${received.length}` }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}/hooks/agent`,
    token,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
