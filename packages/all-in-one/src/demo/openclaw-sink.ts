import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { AppError, SERVER_LIMITS, toProblem } from '@33god/core';

/**
 * DEMO ONLY, not OpenClaw: a loopback HTTP endpoint that accepts the dispatcher's
 * `/hooks/agent` calls (checking the bearer token) so the demo can show the whole
 * Plane → dispatcher → agent path without an OpenClaw installation. It answers 202
 * and keeps the last requests for `GET /hooks/agent` (with the same token) to inspect.
 */
export interface OpenClawDemoSink {
  readonly url: string;
  readonly token: string;
  readonly received: readonly unknown[];
  close(): Promise<void>;
}

/** Largest dispatch accepted: the dispatcher's messages are a few KiB. */
const MAX_BODY = 1024 * 1024;

export async function startOpenClawDemoSink(): Promise<OpenClawDemoSink> {
  const token = randomBytes(16).toString('hex');
  const expected = digest(`Bearer ${token}`);
  const received: unknown[] = [];
  const server: Server = createServer((req, res) => {
    // The token before anything else, GET included: what the dispatcher sent names tickets
    // and prompts. Compared as digests, in constant time.
    const given = req.headers.authorization;
    if (given === undefined || !timingSafeEqual(digest(given), expected)) {
      refuse(res, new AppError('UNAUTHORIZED', 'send the demo sink token as Authorization: Bearer'));
      req.resume();
      return;
    }
    if (req.url?.split('?')[0] !== '/hooks/agent') {
      refuse(res, new AppError('NOT_FOUND', 'the demo sink serves /hooks/agent only'));
      req.resume();
      return;
    }
    if (req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ note: 'demo sink, not OpenClaw', received: received.slice(-50) }));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        // the answer first, then the connection: nothing more of the body is read
        if (!res.headersSent) res.once('finish', () => req.destroy());
        refuse(res, new AppError('BODY_TOO_LARGE', `at most ${MAX_BODY} bytes`));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (size > MAX_BODY) return;
      try {
        received.push(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        if (received.length > 200) received.splice(0, received.length - 200);
      } catch {
        refuse(res, new AppError('MALFORMED_JSON', 'the body is not JSON'));
        return;
      }
      res.writeHead(202, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ok: true, runId: `demo-${received.length}` }));
    });
  });
  server.requestTimeout = SERVER_LIMITS.requestTimeout;
  server.headersTimeout = SERVER_LIMITS.http.headersTimeout;
  server.on('clientError', SERVER_LIMITS.clientErrorHandler);
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

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

function refuse(res: ServerResponse, err: AppError): void {
  if (res.headersSent) return;
  res.writeHead(err.status, {
    'content-type': 'application/problem+json; charset=utf-8',
    connection: 'close',
  });
  res.end(JSON.stringify(toProblem(err)));
}
