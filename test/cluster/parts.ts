// What the cluster load suite runs beside the cluster: each part as its own `serve` process
// (from the sources, configured only by its environment), a local OpenClaw stand-in, and a
// steady publish load through several gateways that records every answer with its time.
import { type ChildProcess, spawn } from 'node:child_process';
import { createHmac, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { readyPlaneTicket } from '../faults/support.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One part, run as `<part> serve` from its sources, as its bin runs the compiled CLI. */
export class Part {
  #child: ChildProcess | null = null;
  #output: string[] = [];
  starts = 0;

  constructor(
    readonly name: string,
    readonly cli: string,
    readonly env: NodeJS.ProcessEnv,
    readonly healthUrl: string,
  ) {}

  start(): void {
    const code = `import(${JSON.stringify(resolve(ROOT, this.cli))}).then((m) => m.main(process.argv.slice(1))).then((c) => { process.exitCode = c; })`;
    const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', '-e', code, 'serve'], {
      cwd: ROOT,
      env: this.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keep = (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) this.#output.push(line);
      if (this.#output.length > 80) this.#output.splice(0, this.#output.length - 80);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.#child = child;
    this.starts++;
  }

  get pid(): number | undefined {
    return this.alive ? this.#child?.pid : undefined;
  }

  get alive(): boolean {
    return this.#child !== null && this.#child.exitCode === null && this.#child.signalCode === null;
  }

  /** Resolves once /health answers 200; fails at once when the process exited. */
  async healthy(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    for (;;) {
      if (!this.alive) throw new Error(`${this.name} exited:\n${this.tail()}`);
      try {
        const res = await fetch(this.healthUrl, { signal: AbortSignal.timeout(2000) });
        last = `${res.status} ${(await res.text()).slice(0, 300)}`;
        if (res.status === 200) return;
      } catch (err) {
        last = String(err);
      }
      if (Date.now() > deadline) {
        throw new Error(
          `${this.name} did not answer /health with 200 within ${timeoutMs} ms (last: ${last})`,
        );
      }
      await sleep(200);
    }
  }

  /** SIGKILL: no drain, no goodbye. */
  async kill9(): Promise<void> {
    const child = this.#child;
    if (!child || !this.alive) return;
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
  }

  /** SIGTERM, then SIGKILL after 10 s. */
  async stop(): Promise<void> {
    const child = this.#child;
    if (!child || !this.alive) return;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }

  tail(): string {
    return this.#output.slice(-30).join('\n');
  }
}

// --- OpenClaw stand-in -----------------------------------------------------------------

export interface OpenClawStandIn {
  url: string;
  token: string;
  /** Requests received, by session key (`hook:infra:<issue id>`). */
  bySession: Map<string, number>;
  close(): Promise<void>;
}

/** Takes every authorised hook request, counts it by session and answers 200 after `answerMs`. */
export async function startOpenClaw(token: string, answerMs = 50): Promise<OpenClawStandIn> {
  const bySession = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.headers.authorization !== `Bearer ${token}`) {
        res.writeHead(401).end();
        return;
      }
      let session = '?';
      try {
        session = String(
          (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { sessionKey?: string }).sessionKey,
        );
      } catch {}
      bySession.set(session, (bySession.get(session) ?? 0) + 1);
      setTimeout(() => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ ok: true, runId: randomUUID() }));
      }, answerMs);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks/agent`,
    token,
    bySession,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

// --- load ------------------------------------------------------------------------------

/** One HTTP answer (or its absence) from a gateway. */
export interface Answer {
  gateway: number;
  sentAt: number;
  answeredAt: number;
  /** HTTP status, or 0 when no answer came (connection refused, reset, timeout). */
  status: number;
}

export interface Load {
  /** Every answer, in the order they came. */
  answers: Answer[];
  /** Event ids answered 202 (events and webhooks). */
  accepted: Set<string>;
  /** Plane issue id → the event id of its webhook, for ready tickets answered 202. */
  readyTickets: Map<string, string>;
  /** Requests given up after every attempt was refused. */
  abandoned: number;
  stop(): Promise<void>;
}

/**
 * `eventsPerSecond` events (each with its own event_id) spread over the gateways in turn, and
 * a signed ready Plane ticket every `ticketEveryMs` (0: none). A request that is refused or gets no
 * answer is sent again with the same body (so the same event id, or the same Plane delivery
 * id) to the next gateway after 300 ms, up to 20 times, as a producer with the SDK would.
 */
export function startLoad(o: {
  gateways: readonly string[];
  eventsPerSecond: number;
  ticketEveryMs: number;
  planeSecret: string;
}): Load {
  const load: Load = {
    answers: [],
    accepted: new Set(),
    readyTickets: new Map(),
    abandoned: 0,
    stop: async () => {},
  };
  let running = true;
  const inflight = new Set<Promise<void>>();
  let turn = 0;

  const post = async (gateway: number, path: string, body: string, headers: Record<string, string>) => {
    const sentAt = Date.now();
    let status = 0;
    let eventId: string | null = null;
    try {
      const res = await fetch(`${o.gateways[gateway]}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body,
        signal: AbortSignal.timeout(15_000),
      });
      const text = await res.text();
      status = res.status;
      if (status === 202) eventId = (JSON.parse(text) as { event_id: string }).event_id;
    } catch {
      status = 0;
    }
    load.answers.push({ gateway, sentAt, answeredAt: Date.now(), status });
    return eventId;
  };

  const send = async (path: string, body: string, headers: Record<string, string>) => {
    let gateway = turn++ % o.gateways.length;
    for (let attempt = 0; attempt < 20; attempt++) {
      const id = await post(gateway, path, body, headers);
      if (id) return id;
      await sleep(300);
      gateway = (gateway + 1) % o.gateways.length;
    }
    load.abandoned++;
    return null;
  };

  const event = async () => {
    const body = JSON.stringify({
      event_id: randomUUID(),
      event_type: 'test.event.created',
      payload: { message: 'cluster load' },
    });
    const id = await send('/events', body, {});
    if (id) load.accepted.add(id);
  };

  const ticket = async () => {
    const issueId = randomUUID();
    const raw = readyPlaneTicket(issueId, 'Cluster-test ticket');
    const id = await send('/webhooks/plane', raw, {
      'x-plane-delivery': randomUUID(),
      'x-plane-event': 'issue',
      'x-plane-signature': createHmac('sha256', o.planeSecret).update(raw).digest('hex'),
    });
    if (id) {
      load.accepted.add(id);
      load.readyTickets.set(issueId, id);
    }
  };

  const track = (p: Promise<void>) => {
    inflight.add(p);
    void p.finally(() => inflight.delete(p));
  };
  const loop = (async () => {
    const interval = 1000 / o.eventsPerSecond;
    const ticketEvery = Math.max(1, Math.round(o.ticketEveryMs / interval));
    let next = performance.now();
    for (let n = 0; running; n++) {
      // an outage must not pile up unbounded requests
      if (inflight.size < 400) {
        track(event());
        if (o.ticketEveryMs > 0 && n % ticketEvery === 0) track(ticket());
      }
      next += interval;
      const wait = next - performance.now();
      if (wait > 0) await sleep(wait);
      else if (wait < -1000) next = performance.now();
    }
  })();
  load.stop = async () => {
    running = false;
    await loop;
    await Promise.all([...inflight]);
  };
  return load;
}

/**
 * How long one gateway refused publishing after a fault at `at`: from its first refusal (non-202
 * or no answer) answered after `at` to the first 202 for a request sent after that refusal (a
 * 202 for a request already in flight says nothing about the refusing). Null when it refused
 * nothing in `[at, until)`. `slowestAcceptedMs`: its longest 202 round trip in the window (a
 * publish held while the queue elected a leader, rather than refused).
 */
export function refusalWindow(
  answers: readonly Answer[],
  gateway: number,
  at: number,
  until: number,
): { refusedMs: number | null; refusals: number; slowestAcceptedMs: number } {
  const mine = answers.filter((a) => a.gateway === gateway && a.answeredAt >= at && a.sentAt < until);
  const firstRefusal = mine
    .filter((a) => a.status !== 202)
    .reduce((t, a) => Math.min(t, a.answeredAt), Number.POSITIVE_INFINITY);
  const slowestAcceptedMs = mine
    .filter((a) => a.status === 202)
    .reduce((m, a) => Math.max(m, a.answeredAt - a.sentAt), 0);
  const refusals = mine.filter((a) => a.status !== 202).length;
  if (!Number.isFinite(firstRefusal)) return { refusedMs: null, refusals, slowestAcceptedMs };
  const firstAccepted = mine
    .filter((a) => a.status === 202 && a.sentAt >= firstRefusal)
    .reduce((t, a) => Math.min(t, a.answeredAt), Number.POSITIVE_INFINITY);
  return {
    refusedMs: Number.isFinite(firstAccepted) ? firstAccepted - firstRefusal : null,
    refusals,
    slowestAcceptedMs,
  };
}

/**
 * The longest time after `at` (and before `until`) during which no event was committed, from
 * the commit times (PostgreSQL's `received_at`, ms) in ascending order: the ingest's pause.
 */
export function ingestPause(commitTimes: readonly number[], at: number, until: number): number {
  let pause = 0;
  let previous = at;
  for (const t of commitTimes) {
    if (t <= at) continue;
    if (t > until) break;
    pause = Math.max(pause, t - previous);
    previous = t;
  }
  return Math.round(pause);
}
