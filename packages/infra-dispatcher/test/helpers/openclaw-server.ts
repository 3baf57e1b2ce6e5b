import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A real HTTP server standing in for OpenClaw's `/hooks/agent`: it records every
 * request and answers from a script (`answers`, one status per request, then 200).
 */
export interface RecordedRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  readonly json: Record<string, unknown> | undefined;
  readonly status: number;
}

export interface FakeOpenClaw {
  readonly url: string;
  readonly requests: RecordedRequest[];
  /** Statuses for the next requests, in order; after them every request gets 200. */
  answers: number[];
  /** How long each answer is held back. */
  delayMs: number;
  /** Requests answered 2xx. */
  accepted(): RecordedRequest[];
  waitForRequests(n: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startOpenClaw(answers: number[] = []): Promise<FakeOpenClaw> {
  const requests: RecordedRequest[] = [];
  const waiters: Array<() => void> = [];
  const state = { answers: [...answers], delayMs: 0 };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let json: Record<string, unknown> | undefined;
      try {
        json = JSON.parse(body) as Record<string, unknown>;
      } catch {
        json = undefined;
      }
      const status = state.answers.shift() ?? 200;
      requests.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body,
        json,
        status,
      });
      for (const w of waiters.splice(0)) w();
      const n = requests.length;
      setTimeout(() => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify(
            status < 300 ? { ok: true, runId: `run-${n}` } : { ok: false, error: `scripted ${status}` },
          ),
        );
      }, state.delayMs);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks/agent`,
    requests,
    get answers() {
      return state.answers;
    },
    set answers(v: number[]) {
      state.answers = [...v];
    },
    get delayMs() {
      return state.delayMs;
    },
    set delayMs(v: number) {
      state.delayMs = v;
    },
    accepted: () => requests.filter((r) => r.status >= 200 && r.status < 300),
    async waitForRequests(n, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (requests.length < n) {
        if (Date.now() > deadline)
          throw new Error(`expected ${n} requests to OpenClaw, got ${requests.length}`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 100).unref();
        });
      }
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
