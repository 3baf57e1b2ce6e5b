// Load generators of the end-to-end bench: fixed-count and timed HTTP publish (autocannon),
// a paced publisher that records each send time, and the side load that keeps the
// dispatcher (signed Plane webhooks) and the dashboard (reads, its live-stream proxy) busy.
import { createHmac, randomUUID } from 'node:crypto';
import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';
import WebSocket from 'ws';

export const EVENT_TYPE = 'test.event.created';
export const CONNECTIONS = 64;

/** Wall clock in ms with sub-ms resolution, comparable with a browser's timeOrigin + now(). */
export const wallClock = (): number => performance.timeOrigin + performance.now();

export interface HttpLoad {
  /** Requests answered 2xx (202: the broker confirmed the publish). */
  accepted: number;
  failed: number;
  seconds: number;
}

/** POSTs one event per request to `/events`, `amount` requests, or for `seconds`. */
export async function hammer(
  gatewayUrl: string,
  opts: { amount?: number; seconds?: number; connections?: number },
): Promise<HttpLoad> {
  const t0 = performance.now();
  const r = await autocannon({
    url: `${gatewayUrl}/events`,
    method: 'POST',
    connections: opts.connections ?? CONNECTIONS,
    ...(opts.amount ? { amount: opts.amount } : { duration: opts.seconds ?? 10 }),
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ event_type: EVENT_TYPE, payload: { message: 'e2e bench' } }),
  });
  return {
    accepted: r['2xx'],
    failed: r.non2xx + r.errors + r.timeouts,
    seconds: (performance.now() - t0) / 1000,
  };
}

/**
 * Publishes `count` events at `perSecond`, each with its own event_id and its index in the
 * message, over keep-alive connections (as many as the pace takes, up to 256). `sentAt[i]` is
 * the wall clock when request i was issued (so waiting for a free connection counts),
 * `ackedAt[i]` when its 202 arrived.
 * Resolves when every request was answered; rejects on the first non-202.
 */
export async function pacedPublish(
  gatewayUrl: string,
  perSecond: number,
  count: number,
  sentAt: Float64Array,
  ackedAt: Float64Array,
): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const { hostname, port } = new URL(gatewayUrl);
  let failure: Error | null = null;
  let answered = 0;
  let allAnswered: () => void = () => {};
  const done = new Promise<void>((r) => {
    allAnswered = r;
  });
  const send = (i: number) => {
    const body = JSON.stringify({
      event_id: randomUUID(),
      event_type: EVENT_TYPE,
      payload: { message: `lat:${i}` },
    });
    sentAt[i] = wallClock();
    const req = request(
      {
        agent,
        hostname,
        port,
        path: '/events',
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        res.resume();
        res.on('end', () => {
          ackedAt[i] = wallClock();
          if (res.statusCode !== 202) failure ??= new Error(`gateway answered ${res.statusCode}`);
          if (++answered === count) allAnswered();
        });
      },
    );
    req.on('error', (err) => {
      failure ??= err;
      if (++answered === count) allAnswered();
    });
    req.end(body);
  };
  const start = performance.now();
  let sent = 0;
  while (sent < count && !failure) {
    const due = Math.min(count, Math.floor(((performance.now() - start) * perSecond) / 1000) + 1);
    while (sent < due) send(sent++);
    await new Promise((r) => setTimeout(r, 1));
  }
  if (!failure) await done;
  agent.destroy();
  if (failure) throw failure;
}

export interface SideLoadStats {
  webhooks: number;
  webhookFailures: number;
  dashboardReads: number;
  dashboardReadFailures: number;
  dashboardStreamed: number;
}

/**
 * What the dispatcher and the dashboard do under load: signed Plane webhooks for ready tickets
 * (each dispatched to the OpenClaw stand-in) at `webhooksPerSecond`, and a dashboard user with
 * the live view open (its store-stream proxy) refreshing the event list and service health.
 */
export function startSideLoad(o: {
  gatewayUrl: string;
  planeSecret: string;
  dashboardUrl?: string;
  webhooksPerSecond: number;
}): { stop(): Promise<SideLoadStats> } {
  const stats: SideLoadStats = {
    webhooks: 0,
    webhookFailures: 0,
    dashboardReads: 0,
    dashboardReadFailures: 0,
    dashboardStreamed: 0,
  };
  let sequence = 1;
  const webhookTimer = setInterval(() => {
    const body = JSON.stringify({
      event: 'issue',
      action: 'updated',
      webhook_id: 'bench-webhook',
      workspace_id: 'bench-workspace',
      data: {
        id: randomUUID(),
        name: 'bench ticket',
        sequence_id: sequence++,
        project: 'p-bench',
        state: { name: 'Todo', group: 'unstarted' },
        labels: [
          { id: randomUUID(), name: 'ready' },
          { id: randomUUID(), name: 'automation:go' },
          { id: randomUUID(), name: 'comp:bloodbank' },
          { id: randomUUID(), name: 'agent:grolf' },
        ],
      },
    });
    fetch(`${o.gatewayUrl}/webhooks/plane`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-plane-delivery': randomUUID(),
        'x-plane-event': 'issue',
        'x-plane-signature': createHmac('sha256', o.planeSecret).update(body).digest('hex'),
      },
      body,
    }).then(
      async (res) => {
        await res.arrayBuffer();
        if (res.status < 300) stats.webhooks++;
        else stats.webhookFailures++;
      },
      () => stats.webhookFailures++,
    );
  }, 1000 / o.webhooksPerSecond);

  let ws: WebSocket | null = null;
  let readTimer: NodeJS.Timeout | null = null;
  if (o.dashboardUrl) {
    const base = o.dashboardUrl;
    ws = new WebSocket(`${base.replace(/^http/, 'ws')}/api/store/stream?from=now`);
    ws.on('message', (data) => {
      // The dashboard coalesces stream messages into JSON-array frames.
      const m = JSON.parse(String(data)) as { kind?: string } | { kind?: string }[];
      for (const one of Array.isArray(m) ? m : [m]) if (one.kind === 'event') stats.dashboardStreamed++;
    });
    ws.on('error', () => stats.dashboardReadFailures++);
    let tick = 0;
    readTimer = setInterval(() => {
      const path = tick++ % 4 === 0 ? '/api/health/services' : '/api/store/events?limit=50';
      fetch(`${base}${path}`).then(
        async (res) => {
          await res.arrayBuffer();
          if (res.ok) stats.dashboardReads++;
          else stats.dashboardReadFailures++;
        },
        () => stats.dashboardReadFailures++,
      );
    }, 250);
  }

  return {
    async stop() {
      clearInterval(webhookTimer);
      if (readTimer) clearInterval(readTimer);
      ws?.close();
      // Let the last requests answer so their counts are in.
      await new Promise((r) => setTimeout(r, 300));
      return { ...stats };
    },
  };
}

/** Bench events stored by a store, through its public `/stats` (the embedded database has no other door). */
export async function storedViaApi(storeUrl: string): Promise<number> {
  const res = await fetch(`${storeUrl}/stats?bucket=86400`);
  if (!res.ok) throw new Error(`${storeUrl}/stats answered ${res.status}`);
  const s = (await res.json()) as { by_type: { key: string; count: number }[] };
  return s.by_type.filter((b) => b.key === EVENT_TYPE).reduce((n, b) => n + b.count, 0);
}
