// The cluster load suite's load: a steady publish load through several gateways that records
// every answer with its time and reason, what each gateway's /health said about its broker
// meanwhile, and the refusal and ingest-pause figures drawn from them (also used by the bench).
import { createHmac, randomUUID } from 'node:crypto';
import { readyPlaneTicket } from '../faults/support.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// --- load ------------------------------------------------------------------------------

/** One HTTP answer (or its absence) from a gateway. */
export interface Answer {
  gateway: number;
  sentAt: number;
  answeredAt: number;
  /** HTTP status, or 0 when no answer came (connection refused, reset, timeout). */
  status: number;
  /** A refusal's problem code and detail, or the fetch error when no answer came. */
  why?: string;
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
    let why: string | undefined;
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
      else why = problemSummary(text);
    } catch (err) {
      status = 0;
      why = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    }
    load.answers.push({ gateway, sentAt, answeredAt: Date.now(), status, ...(why ? { why } : {}) });
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

/** "CODE: detail" of a problem document, or the start of a body that is not one. */
function problemSummary(text: string): string {
  try {
    const doc = JSON.parse(text) as { code?: string; detail?: string };
    if (doc.code) return `${doc.code}: ${doc.detail ?? ''}`;
  } catch {}
  return text.slice(0, 120);
}

/**
 * The refusals of one gateway in `[at, until)` grouped by reason, most frequent first:
 * "12 × BROKER_UNAVAILABLE: …".
 */
export function refusalReasons(
  answers: readonly Answer[],
  gateway: number,
  at: number,
  until: number,
): string[] {
  const counts = new Map<string, number>();
  for (const a of answers) {
    if (a.gateway !== gateway || a.status === 202 || a.answeredAt < at || a.sentAt >= until) continue;
    const key = `${a.status || 'no answer'} ${a.why ?? ''}`.trim();
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts.entries()].sort((x, y) => y[1] - x[1]).map(([k, n]) => `${n} × ${k}`);
}

// --- broker state as each gateway reports it -------------------------------------------------

/** One reading of a part's `/health` broker section. */
export interface BrokerReading {
  at: number;
  /** "connected c1@…", "disconnected c2@…", or "no answer". */
  state: string;
}

/**
 * Reads each `/health` URL every `everyMs` and keeps the changes of its broker state and node,
 * so a fault's report can say when each part lost its node, where it went, and when it was
 * connected again.
 */
export function watchBrokerStates(urls: readonly string[], everyMs = 200) {
  const readings: BrokerReading[][] = urls.map(() => []);
  let running = true;
  const watchOne = async (i: number) => {
    while (running) {
      let state = 'no answer';
      try {
        const res = await fetch(urls[i]!, { signal: AbortSignal.timeout(1500) });
        const doc = (await res.json()) as {
          broker?: { state?: string; node?: string; connected?: boolean; error?: string };
        };
        const b = doc.broker ?? {};
        const probe = b.state === 'connected' && b.connected === false ? ' (no answer to the probe)' : '';
        state = `${b.state ?? '?'}${probe} ${b.node ?? ''}${b.error ? ` (${b.error})` : ''}`.trim();
      } catch {}
      const list = readings[i]!;
      if (list.at(-1)?.state !== state) list.push({ at: Date.now(), state });
      await sleep(everyMs);
    }
  };
  const loops = urls.map((_, i) => watchOne(i));
  return {
    readings,
    /** The changes of part `i` in `[at, until)`, as "+0.12 s disconnected c1@…" lines. */
    timeline(i: number, at: number, until: number): string[] {
      const list = readings[i]!;
      const before = list.filter((r) => r.at < at).at(-1);
      const lines = before ? [`before: ${before.state}`] : [];
      for (const r of list) {
        if (r.at >= at && r.at < until) lines.push(`+${((r.at - at) / 1000).toFixed(2)} s ${r.state}`);
      }
      return lines;
    },
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
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
